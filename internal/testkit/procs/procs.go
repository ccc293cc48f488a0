// Package procs holds what the test servers started by the test suite
// (PostgreSQL, Gitea) share: one server per test binary, started on first
// use and stopped once the tests have run; free ports; and the sweep of
// directories left by test binaries that died without cleaning up.
package procs

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Shared is the one server of a test binary, shared by its tests: Get
// starts it on first use, and Wrap, which the package's TestMain calls,
// stops it once the tests have run. A package keeps it in a package
// variable, because its tests share it and Wrap must find it.
type Shared[S any] struct {
	// Name is the package running the server, e.g. "pgtest", for messages.
	Name string
	// Start starts the server. An error wrapping Missing means a tool is
	// missing: the tests skip, or fail when SLUICE_TEST_REQUIRE_TOOLS=1.
	Start   func(t testing.TB) (S, error)
	Missing error
	// Stop stops the server and removes what it left.
	Stop func(S) error

	mu      sync.Mutex
	inMain  bool
	running bool
	srv     S
	err     error // from the first start, repeated to every later caller
	skip    string
}

// Wrap runs the tests (m.Run, or another package's Wrap of it) and then
// stops the server, if one was started; it returns run's status. It lets
// one TestMain use several such servers.
func (s *Shared[S]) Wrap(run func() int) int {
	s.mu.Lock()
	s.inMain = true
	s.mu.Unlock()

	code := run()

	s.mu.Lock()
	if s.running {
		if err := s.Stop(s.srv); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
		}
		var none S
		s.srv, s.running = none, false
	}
	s.mu.Unlock()
	return code
}

// Get returns the server, starting it on first use.
func (s *Shared[S]) Get(t testing.TB) S {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inMain {
		t.Fatalf("%s: the package's TestMain must call %s.Main(m), which stops the server", s.Name, s.Name)
	}
	if !s.running && s.err == nil && s.skip == "" {
		s.srv, s.err = s.Start(t)
		switch {
		case errors.Is(s.err, s.Missing):
			s.skip, s.err = s.err.Error(), nil
		case s.err == nil:
			s.running = true
		}
	}
	switch {
	case s.skip != "" && os.Getenv("SLUICE_TEST_REQUIRE_TOOLS") == "1":
		t.Fatalf("required test tool missing: %s", s.skip)
	case s.skip != "":
		t.Skipf("skipping: %s", s.skip)
	case s.err != nil:
		t.Fatalf("%s: %v", s.Name, s.err)
	}
	return s.srv
}

// Dir makes the directory of a new server in $TMPDIR/name, named after the
// test binary's process id, once Sweep has stopped (with stop) and removed
// what dead test binaries left there.
func Dir(name string, stop func(dir string)) (string, error) {
	base := filepath.Join(os.TempDir(), name)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	Sweep(base, stop)
	return os.MkdirTemp(base, strconv.Itoa(os.Getpid())+"-")
}

// Start starts cmd from a goroutine locked to an OS thread of its own that
// lives exactly as long as the process: the Pdeathsig of
// cmd.SysProcAttr fires when the thread that forked the child ends, not
// the test binary. done is closed once the process has exited.
func Start(cmd *exec.Cmd) (done <-chan struct{}, err error) {
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		defer close(exited)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Alive reports whether a process exists.
func Alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Sweep removes the directories under base named PID-... whose test
// binary (PID) is gone, first calling stop on each so it can end the
// server that binary left running there.
func Sweep(base string, stop func(dir string)) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		owner, _, ok := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(owner)
		if !ok || err != nil || Alive(pid) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		stop(dir)
		_ = os.RemoveAll(dir)
	}
}

// PIDFile reads a process id from the first line of a file; 0 when there
// is none.
func PIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	return pid
}
