package engine

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCommandStreamsLines(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	c := Command{
		Path: "/bin/sh",
		Args: []string{"-c", "echo one; echo two >&2; printf 'three'"},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Log: func(stream, line string) {
			mu.Lock()
			got = append(got, stream+":"+line)
			mu.Unlock()
		},
	}
	out, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "one\nthree" || out.Stderr != "two\n" {
		t.Errorf("output = %+v", out)
	}
	want := map[string]bool{"stdout:one": true, "stderr:two": true, "stdout:three": true}
	if len(got) != 3 {
		t.Fatalf("lines = %q", got)
	}
	for _, l := range got {
		if !want[l] {
			t.Errorf("unexpected line %q", l)
		}
	}
}

func TestCommandExitError(t *testing.T) {
	_, err := Command{Path: "/bin/sh", Args: []string{"-c", "exit 3"}}.Run(context.Background())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("err = %v, want exit status 3", err)
	}
}

func TestCommandMissingBinary(t *testing.T) {
	_, err := Command{Path: "no-such-engine-binary"}.Run(context.Background())
	if !errors.Is(err, ErrBinaryNotFound) {
		t.Fatalf("err = %v, want ErrBinaryNotFound", err)
	}
}

// startAndCancel runs script, cancels once it printed "ready", and
// returns the output and how long the command took after the cancel.
func startAndCancel(t *testing.T, script string, grace time.Duration) (Output, error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt time.Time
	var once sync.Once
	c := Command{
		Path:  "/bin/sh",
		Args:  []string{"-c", script},
		Env:   []string{"PATH=/usr/bin:/bin"},
		Grace: grace,
		Log: func(_, line string) {
			if line == "ready" {
				once.Do(func() { cancelledAt = time.Now(); cancel() })
			}
		},
	}
	out, err := c.Run(ctx)
	return out, err, time.Since(cancelledAt)
}

func TestCommandCancelSendsInterruptFirst(t *testing.T) {
	// The script cleans up on SIGINT, as terraform releases its state lock.
	out, err, _ := startAndCancel(t, `trap 'echo released-lock; exit 130' INT; echo ready; while :; do sleep 0.05; done`, 10*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if !strings.Contains(out.Stdout, "released-lock") {
		t.Errorf("the process did not get SIGINT: %q", out.Stdout)
	}
}

func TestCommandKillsAfterGrace(t *testing.T) {
	// A process that ignores SIGINT is killed once the grace period ends.
	_, err, took := startAndCancel(t, `trap '' INT; echo ready; while :; do sleep 0.05; done`, 200*time.Millisecond)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if took > 20*time.Second {
		t.Errorf("the process was not killed after the grace period (took %v)", took)
	}
}
