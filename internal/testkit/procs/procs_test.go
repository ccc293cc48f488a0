package procs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestSweep(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	dead := filepath.Join(base, fmt.Sprintf("%d-server", gone.Process.Pid))
	mine := filepath.Join(base, fmt.Sprintf("%d-server", os.Getpid()))
	other := filepath.Join(base, "not-a-pid")
	for _, d := range []string{dead, mine, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var stopped []string
	Sweep(base, func(dir string) { stopped = append(stopped, dir) })
	if len(stopped) != 1 || stopped[0] != dead {
		t.Errorf("stopped %q, want only %s", stopped, dead)
	}
	for dir, want := range map[string]bool{dead: false, mine: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", dir, err == nil, want)
		}
	}
	if PIDFile(filepath.Join(base, "missing")) != 0 {
		t.Error("a missing pid file must read as 0")
	}
}
