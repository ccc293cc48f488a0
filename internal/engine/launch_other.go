//go:build !linux

package engine

import (
	"fmt"
	"os/exec"
)

// IsolationSupport fails: only Linux has the namespaces.
func IsolationSupport() error {
	return fmt.Errorf("%w: it needs Linux", ErrNoIsolation)
}

func isolated(*exec.Cmd, *Sandbox) error { return ErrNoIsolation }
