// Package procs holds what the test servers started by the test suite
// (PostgreSQL, Gitea) share: free ports, and the sweep of directories left
// by test binaries that died without cleaning up.
package procs

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

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
