package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// DefaultGrace is how long a cancelled engine gets after SIGINT to release
// its state lock and exit before it is killed.
const DefaultGrace = 30 * time.Second

// pollInterval is how often the output of a running command is read for
// its live log.
const pollInterval = 20 * time.Millisecond

// killKey is the context key of a kill switch (see WithKill).
type killKey struct{}

type killSwitch struct {
	kill <-chan struct{}
	say  func(msg string)
}

// WithKill returns a context whose engine commands, once the context is
// cancelled and the engine got its SIGINT, are killed at once when kill
// is closed, instead of at the end of their grace period: a second Ctrl-C
// is how a person says not to wait. say, when not nil, is told of each
// engine killed that way, with a message for the person.
func WithKill(ctx context.Context, kill <-chan struct{}, say func(msg string)) context.Context {
	return context.WithValue(ctx, killKey{}, killSwitch{kill: kill, say: say})
}

// Command is one engine subprocess. On cancellation of its context the
// whole process group gets SIGINT, as a terminal's Ctrl-C would send, and
// is killed only if it is still running after Grace, or at once when the
// context's kill switch (WithKill) is thrown.
//
// The engine's standard output and error are not pipes but anonymous
// in-memory files (memfd on Linux) that Run reads as they grow. So:
//
//   - if Sluice itself dies (kill -9, a crash), the engine never gets
//     SIGPIPE for writing to a pipe nobody reads — with a pipe, Terraform
//     dies on its next line of output and leaves its state lock held. On
//     Linux the engine is also sent SIGINT when Sluice dies
//     (PR_SET_PDEATHSIG), so it stops as on Ctrl-C and releases the lock;
//   - once the engine has exited, Run returns after reading what it wrote,
//     even when a process it started (a provisioner's daemon) still holds
//     the output open.
type Command struct {
	Path  string
	Args  []string
	Dir   string
	Env   []string // the complete environment
	Log   LineFunc // receives output lines as they come; may be nil
	Grace time.Duration
	// Sandbox, when set, confines the command and all it starts; when the
	// machine cannot confine it, the command does not run.
	Sandbox *Sandbox
}

// Output is what a finished command printed.
type Output struct {
	Stdout string
	Stderr string
}

// Run starts the command and waits for it. A non-zero exit is returned as
// an *exec.ExitError; a command that failed after its context was
// cancelled as an error wrapping ctx.Err(). An engine that still exits 0
// after the interrupt finished its work, and that is not an error.
func (c Command) Run(ctx context.Context) (Output, error) {
	if err := ctx.Err(); err != nil {
		return Output{}, err
	}
	stdout, err := newOutputFile("sluice-engine-stdout")
	if err != nil {
		return Output{}, fmt.Errorf("capturing the output of %s: %w", c.Path, err)
	}
	defer stdout.Close()
	stderr, err := newOutputFile("sluice-engine-stderr")
	if err != nil {
		return Output{}, fmt.Errorf("capturing the output of %s: %w", c.Path, err)
	}
	defer stderr.Close()

	// Opened here, not by Start: a sandboxed Start runs confined.
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return Output{}, err
	}
	defer stdin.Close()

	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = sysProcAttr()

	exited := make(chan struct{})
	if err := c.start(cmd, exited); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return Output{}, fmt.Errorf("%s: %w", c.Path, ErrBinaryNotFound)
		}
		return Output{}, err
	}

	out := &capture{f: stdout, stream: "stdout"}
	errOut := &capture{f: stderr, stream: "stderr"}
	read := make(chan struct{})
	go func() {
		defer close(read)
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		for {
			out.drain(c.Log)
			errOut.drain(c.Log)
			select {
			case <-exited:
				out.drain(c.Log)
				errOut.drain(c.Log)
				out.flush(c.Log)
				errOut.flush(c.Log)
				return
			case <-t.C:
			}
		}
	}()

	ks, _ := ctx.Value(killKey{}).(killSwitch)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-exited:
			return
		case <-ctx.Done():
		}
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGINT)
		grace := c.Grace
		if grace <= 0 {
			grace = DefaultGrace
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case <-ks.kill: // a nil channel (no kill switch) never fires
			select {
			case <-exited:
				return
			default:
			}
			if ks.say != nil {
				ks.say(fmt.Sprintf("second interrupt: killing %s now; its state lock may be left held", filepath.Base(c.Path)))
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()

	err = cmd.Wait()
	// What the engine left running in its process group (a provider or a
	// program it started that did not exit with it) does not outlive it:
	// it would go on with the engine's credentials, and could change the
	// project's files after Sluice checked them.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	close(exited)
	<-stopped
	<-read
	res := Output{Stdout: out.buf.String(), Stderr: errOut.buf.String()}
	if err != nil && ctx.Err() != nil {
		return res, fmt.Errorf("%s interrupted: %w", c.Path, ctx.Err())
	}
	return res, err
}

// start starts cmd from an OS thread of its own, confined first when the
// command has a sandbox, and keeps that thread until exited is closed.
//
// The parent-death signal fires when the thread that started the child
// exits, not the process, so the thread must live as long as the child.
// A sandbox confines the thread that applies it and every process it
// starts, for good, so a confined thread must never run another
// goroutine: its goroutine stays locked to it and ends locked, and the Go
// runtime then ends the thread.
func (c Command) start(cmd *exec.Cmd, exited <-chan struct{}) error {
	ruleset := -1
	var flags uint32
	switch {
	case c.Sandbox != nil && c.Sandbox.Isolate:
		// The launcher confines itself, in the engine's namespace.
		if err := isolated(cmd, c.Sandbox); err != nil {
			return err
		}
	case c.Sandbox != nil:
		var err error
		if ruleset, flags, err = c.Sandbox.ruleset(); err != nil {
			return err
		}
		defer closeRuleset(ruleset)
	}
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		if ruleset >= 0 {
			if err := confineThread(ruleset, flags); err != nil {
				started <- err
				return // still locked: the thread may be half confined
			}
		}
		err := cmd.Start()
		started <- err
		if err == nil {
			<-exited
		}
		if ruleset < 0 {
			runtime.UnlockOSThread()
		}
	}()
	return <-started
}

// capture reads one output file of a running command from its own offset
// (the child writes at the shared file offset; ReadAt leaves it alone).
type capture struct {
	f       *os.File
	stream  string
	off     int64
	dropped int64 // bytes before this offset were handed back to the kernel
	buf     strings.Builder
	line    []byte // an incomplete last line
	chunk   []byte
}

func (c *capture) drain(log LineFunc) {
	if c.chunk == nil {
		c.chunk = make([]byte, 64*1024)
	}
	for {
		n, err := c.f.ReadAt(c.chunk, c.off)
		if n > 0 {
			c.off += int64(n)
			c.buf.Write(c.chunk[:n])
			if log != nil {
				c.lines(c.chunk[:n], log)
			}
		}
		if err != nil || n == 0 {
			break
		}
	}
	if c.off-c.dropped >= 1<<20 {
		// What was read is copied; free the file's memory up to here.
		if releaseOutput(c.f, c.off) {
			c.dropped = c.off
		}
	}
}

func (c *capture) lines(b []byte, log LineFunc) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.line = append(c.line, b...)
			return
		}
		c.line = append(c.line, b[:i]...)
		log(c.stream, strings.TrimRight(string(c.line), "\r"))
		c.line = c.line[:0]
		b = b[i+1:]
	}
}

// flush hands on the last line when the output does not end in a newline.
func (c *capture) flush(log LineFunc) {
	if log != nil && len(c.line) > 0 {
		log(c.stream, strings.TrimRight(string(c.line), "\r"))
		c.line = c.line[:0]
	}
}
