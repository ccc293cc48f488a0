package engine

import (
	"fmt"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// The sandbox is Landlock (no privileges needed), as much of it as the
// kernel has: the file system (and, from version 9, connecting to a UNIX
// socket outside the allowed paths: a database's local socket), and from
// version 6 signals to processes outside the sandbox (Sluice, other
// engines). The network is not restricted: engines reach their clouds.
var landlockConfig = landlock.Config{
	HandledAccessFS: landlock.V11.HandledAccessFS,
	Scoped:          landlock.V11.Scoped,
}.BestEffort()

// SandboxSupport says how this machine confines engine processes, or
// fails wrapping ErrNoSandbox when it cannot: a kernel without Landlock,
// or with it turned off (the lsm= boot parameter), or one whose Landlock
// cannot express what Sluice needs (version 1 cannot let an engine move
// files between directories, which engines do).
func SandboxSupport() (string, error) {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil {
		return "", fmt.Errorf("%w: the kernel has no Landlock (%v); it needs Linux 5.19 or later with Landlock enabled (lsm=...,landlock)", ErrNoSandbox, err)
	}
	if abi < 2 {
		return "", fmt.Errorf("%w: the kernel's Landlock is version %d; it needs version 2 (Linux 5.19) or later", ErrNoSandbox, abi)
	}
	return fmt.Sprintf("Landlock version %d", abi), nil
}

// ruleset builds the Landlock ruleset of s. Its file descriptor is closed
// by the caller once the process it confines has started.
func (s *Sandbox) ruleset() (fd int, flags uint32, err error) {
	var rules []landlock.Rule
	add := func(paths []string, write bool) {
		for _, p := range paths {
			dir, ok := kind(p)
			switch {
			case !ok:
			case dir && write:
				rules = append(rules, landlock.RWDirs(p).WithRefer().WithResolveUnix().IgnoreIfMissing())
			case dir:
				rules = append(rules, landlock.RODirs(p).IgnoreIfMissing())
			case write:
				rules = append(rules, landlock.RWFiles(p).WithResolveUnix().IgnoreIfMissing())
			default:
				rules = append(rules, landlock.ROFiles(p).IgnoreIfMissing())
			}
		}
	}
	add(s.Read, false)
	add(s.Write, true)
	fd, flags, err = landlockConfig.NewRulesetFD(rules...)
	if err != nil {
		return -1, 0, fmt.Errorf("building the engine's sandbox: %w", err)
	}
	if fd < 0 {
		return -1, 0, fmt.Errorf("building the engine's sandbox: %w", ErrNoSandbox)
	}
	return fd, flags, nil
}

// confineThread confines the calling OS thread, and every process it
// starts from now on, to the ruleset. The thread can never be freed of
// it: its goroutine must stay locked to it and end locked, so that the
// Go runtime ends the thread instead of running other goroutines on it.
func confineThread(fd int, flags uint32) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("confining the engine: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if err := ll.LandlockRestrictSelf(fd, flags); err != nil {
		return fmt.Errorf("confining the engine: landlock_restrict_self: %w", err)
	}
	return nil
}

func closeRuleset(fd int) { _ = unix.Close(fd) }
