//go:build !linux

package engine

import "fmt"

// SandboxSupport fails: only Linux (Landlock) can confine engines.
func SandboxSupport() (string, error) {
	return "", fmt.Errorf("%w: confining engines needs Linux with Landlock", ErrNoSandbox)
}

func (s *Sandbox) ruleset() (int, uint32, error) {
	_, err := SandboxSupport()
	return -1, 0, err
}

func confineThread(int, uint32) error { return ErrNoSandbox }

func closeRuleset(int) {}
