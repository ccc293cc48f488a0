package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
)

// An isolated engine runs as the second process of a PID namespace of its
// own, whose first is Sluice's own binary started as its launcher: when the
// engine exits, the launcher exits with its status, and the kernel kills
// every process left in the namespace, including those that put themselves
// in a session of their own. Nothing an engine starts outlives it to tamper
// with later runs. The launcher confines itself with the sandbox before it
// starts the engine: the namespace must be made by an unconfined thread
// (mapping the user into a new user namespace writes /proc).

// launchArg is the first argument that makes any binary linking this
// package the launcher (see init).
const launchArg = "__sluice_engine_launcher"

// launchSignal is how Sluice's death reaches the launcher
// (PR_SET_PDEATHSIG), which passes it on to the engine as SIGINT, as
// Ctrl-C would. The engine gets every other signal from Sluice directly,
// in their process group: the launcher passes none on, or Terraform would
// take one SIGINT for two ("Two interrupts received. Exiting immediately").
const launchSignal = syscall.SIGUSR2

func init() {
	if len(os.Args) > 2 && os.Args[1] == launchArg {
		os.Exit(launch(os.Args[2], os.Args[3:]))
	}
}

// launch is the launcher: spec is the sandbox, argv the engine's command.
func launch(spec string, argv []string) int {
	var sb Sandbox
	if err := json.Unmarshal([]byte(spec), &sb); err != nil || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "sluice: the engine launcher was started wrongly: %v\n", err)
		return 126
	}
	// The signals the engine gets with it, in their process group, are
	// caught and dropped, not ignored: an ignored signal stays ignored
	// across exec, and a shell could then not trap it.
	dropped := make(chan os.Signal, 8)
	signal.Notify(dropped, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	go func() {
		for range dropped {
		}
	}()
	dying := make(chan os.Signal, 1)
	signal.Notify(dying, launchSignal)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	started := make(chan error, 1)
	exited := make(chan struct{})
	fd, flags, err := sb.ruleset()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice: %v\n", err)
		return 126
	}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is confined
		if err := confineThread(fd, flags); err != nil {
			started <- err
			return
		}
		started <- cmd.Start()
		<-exited
	}()
	if err := <-started; err != nil {
		fmt.Fprintf(os.Stderr, "sluice: starting %s: %v\n", argv[0], err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	closeRuleset(fd)
	go func() {
		for range dying {
			_ = cmd.Process.Signal(syscall.SIGINT)
		}
	}()
	err = cmd.Wait()
	close(exited)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "sluice: waiting for %s: %v\n", argv[0], err)
	return 126
}

// launcher is how to start an isolated engine: Sluice's own binary, and
// the flags of the new namespaces.
func launcher() (string, *syscall.SysProcAttr, error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: launchSignal, Cloneflags: syscall.CLONE_NEWPID}
	if os.Geteuid() != 0 {
		// A PID namespace needs privileges, which a user namespace of its
		// own gives; the user is mapped onto itself, so files keep their
		// owners.
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	return self, attr, nil
}

// isolated is the command that runs cmd's engine isolated in sb.
func isolated(cmd *exec.Cmd, sb *Sandbox) error {
	self, attr, err := launcher()
	if err != nil {
		return err
	}
	spec, err := json.Marshal(sb)
	if err != nil {
		return err
	}
	cmd.Args = append([]string{self, launchArg, string(spec), cmd.Path}, cmd.Args[1:]...)
	cmd.Path = self
	cmd.SysProcAttr = attr
	return nil
}

var isolation struct {
	once sync.Once
	err  error
}

// IsolationSupport says whether engines can run isolated here: in a PID
// namespace of their own (with a user namespace of their own when Sluice
// is not root), started by a launcher that confines them. It fails, once
// and for good, when the kernel (or a policy such as AppArmor's on
// unprivileged user namespaces) refuses.
func IsolationSupport() error {
	isolation.once.Do(func() {
		if _, err := SandboxSupport(); err != nil {
			isolation.err = err
			return
		}
		c := Command{Path: "/bin/sh", Args: []string{"-c", "exit 0"}, Sandbox: &Sandbox{Read: SystemRead, Write: SystemWrite, Isolate: true}}
		out, err := c.Run(context.Background())
		if err != nil {
			isolation.err = fmt.Errorf("%w: a PID namespace of their own: %v %s", ErrNoIsolation, err, out.Stderr)
		}
	})
	return isolation.err
}
