package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
func startAndCancel(t *testing.T, script string, grace time.Duration) (Output, time.Duration, error) {
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
	return out, time.Since(cancelledAt), err
}

func TestCommandCancelSendsInterruptFirst(t *testing.T) {
	// The script cleans up on SIGINT, as terraform releases its state lock.
	out, _, err := startAndCancel(t, `trap 'echo released-lock; exit 130' INT; echo ready; while :; do sleep 0.05; done`, 10*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if !strings.Contains(out.Stdout, "released-lock") {
		t.Errorf("the process did not get SIGINT: %q", out.Stdout)
	}
}

func TestCommandKillsAfterGrace(t *testing.T) {
	// A process that ignores SIGINT is killed once the grace period ends.
	_, took, err := startAndCancel(t, `trap '' INT; echo ready; while :; do sleep 0.05; done`, 200*time.Millisecond)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if took > 20*time.Second {
		t.Errorf("the process was not killed after the grace period (took %v)", took)
	}
}

func TestCommandExitZeroAfterInterruptIsNotAnError(t *testing.T) {
	// An engine that finishes its work after SIGINT and exits 0 succeeded.
	out, _, err := startAndCancel(t, `trap 'echo finished; exit 0' INT; echo ready; while :; do sleep 0.05; done`, 10*time.Second)
	if err != nil {
		t.Errorf("err = %v, want nil", err)
	}
	if !strings.Contains(out.Stdout, "finished") {
		t.Errorf("stdout = %q", out.Stdout)
	}
}

func TestCommandDoesNotWaitForOrphans(t *testing.T) {
	// A process the engine starts in its own session keeps the engine's
	// output open long after the engine exited.
	mark := filepath.Join(t.TempDir(), "orphan.pid")
	script := `setsid sh -c 'echo $$ > ` + mark + `; sleep 30' & echo done`
	t.Cleanup(func() {
		if b, err := os.ReadFile(mark); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	start := time.Now()
	res := make(chan error, 1)
	var out Output
	go func() {
		var err error
		out, err = Command{Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}}.Run(context.Background())
		res <- err
	}()
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
		if out.Stdout != "done\n" {
			t.Errorf("stdout = %q", out.Stdout)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Run took %v", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run still waits for a process the engine left behind")
	}
}

// TestCommandLeavesNothingRunning: a process the engine started in its
// process group and left running is killed when the engine exits.
func TestCommandLeavesNothingRunning(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "left.pid")
	script := `sleep 30 & echo $! > ` + mark + `; echo done`
	if _, err := (Command{Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(mark)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Gone, or a zombie waiting for its reaper (this test's process,
		// which it was reparented to, or init).
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the engine's child %d still runs after the engine exited", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCommandLargeOutput(t *testing.T) {
	// Several MiB, more than one release of the output file's memory.
	var n int
	c := Command{
		Path: "/bin/sh",
		Args: []string{"-c", `i=0; while [ $i -lt 3000 ]; do printf '%01000d\n' $i; i=$((i+1)); done; printf 'last'`},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Log:  func(string, string) { n++ },
	}
	out, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Stdout) != 3000*1001+4 || n != 3001 || !strings.HasSuffix(out.Stdout, "\nlast") {
		t.Errorf("got %d bytes, %d lines", len(out.Stdout), n)
	}
	if !strings.HasPrefix(out.Stdout, strings.Repeat("0", 1000)+"\n") {
		t.Errorf("output starts with %q", out.Stdout[:20])
	}
}

// TestMain lets the test binary act as a process that runs an engine
// command and is then killed (see TestEngineStopsWhenSluiceDies).
func TestMain(m *testing.M) {
	if script := os.Getenv("SLUICE_TEST_RUN_COMMAND"); script != "" {
		c := Command{
			Path: "/bin/sh",
			Args: []string{"-c", script},
			Env:  []string{"PATH=/usr/bin:/bin"},
			Log:  func(_, line string) { fmt.Println(line) },
		}
		_, err := c.Run(context.Background())
		fmt.Println("run returned:", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestEngineStopsWhenSluiceDies(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux signals a child when its parent dies")
	}
	// The engine stands in for terraform: on SIGINT it writes output (as
	// terraform prints "Interrupt received") and then releases its lock.
	// Sluice is killed outright: the engine must still get SIGINT, and its
	// output must not kill it.
	dir := t.TempDir()
	released, pidFile := filepath.Join(dir, "released"), filepath.Join(dir, "engine.pid")
	script := `echo $$ > ` + pidFile + `; trap 'echo interrupt received; echo still writing >&2; echo yes > ` + released + `; exit 1' INT; echo ready; while :; do sleep 0.05; done`
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), "SLUICE_TEST_RUN_COMMAND="+script)
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(released); err == nil && string(b) == "yes\n" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the engine was not interrupted (or died writing its output) when the process running it was killed")
}

func TestCommandSecondInterruptKillsAtOnce(t *testing.T) {
	// An engine that ignores SIGINT would be waited for the whole grace
	// period; a second interrupt (the kill switch) ends it at once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kill := make(chan struct{})
	var (
		mu   sync.Mutex
		said []string
	)
	ctx = WithKill(ctx, kill, func(msg string) { mu.Lock(); said = append(said, msg); mu.Unlock() })
	dir := t.TempDir()
	bin := filepath.Join(dir, "terraform")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\ntrap '' INT\necho ready\nwhile :; do sleep 0.05; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	c := Command{
		Path:  bin,
		Env:   []string{"PATH=/usr/bin:/bin"},
		Grace: time.Minute,
		Log: func(_, line string) {
			if line == "ready" {
				once.Do(func() {
					cancel()
					go func() { time.Sleep(200 * time.Millisecond); close(kill) }()
				})
			}
		},
	}
	start := time.Now()
	_, err := c.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the engine was not killed at the second interrupt (took %v)", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(said) != 1 || said[0] != "second interrupt: killing terraform now; its state lock may be left held" {
		t.Errorf("said %q", said)
	}
}

func TestKillSwitchWithoutInterruptDoesNothing(t *testing.T) {
	// A closed kill switch does not stop an engine whose context is live.
	kill := make(chan struct{})
	close(kill)
	ctx := WithKill(context.Background(), kill, func(msg string) { t.Errorf("said %q", msg) })
	out, err := Command{Path: "/bin/sh", Args: []string{"-c", "sleep 0.2; echo done"}, Env: []string{"PATH=/usr/bin:/bin"}}.Run(ctx)
	if err != nil || out.Stdout != "done\n" {
		t.Errorf("out %q, err %v", out.Stdout, err)
	}
}
