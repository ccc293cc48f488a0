package engine

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the engine in its own process group, so a terminal's
// Ctrl-C reaches Sluice and Sluice decides what the engine gets, and has
// the kernel send it SIGINT if Sluice dies first, so it stops as on
// Ctrl-C and releases its state lock.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
}

// newOutputFile returns an anonymous in-memory file for an engine's
// output: it never touches a disk (the output of `show -json` holds
// secrets) and, unlike a pipe, writing to it never fails when its reader
// is gone.
func newOutputFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// releaseOutput frees the memory of the first n bytes of an output file
// that have been read, keeping its size and offsets.
func releaseOutput(f *os.File, n int64) bool {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, n) == nil
}
