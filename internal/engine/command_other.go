//go:build !linux

package engine

import (
	"os"
	"syscall"
)

// sysProcAttr puts the engine in its own process group, so a terminal's
// Ctrl-C reaches Sluice and Sluice decides what the engine gets. Only
// Linux can also signal the engine when Sluice dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// newOutputFile returns an unlinked temporary file for an engine's output:
// unlike a pipe, writing to it never fails when its reader is gone.
func newOutputFile(name string) (*os.File, error) {
	f, err := os.CreateTemp("", name+"-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func releaseOutput(*os.File, int64) bool { return false }
