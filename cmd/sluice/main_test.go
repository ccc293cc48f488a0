package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

func TestRunPrintsTheErrorOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"plan", "--format", "yaml"}, func(string) string { return "" }, &stdout, &stderr)
	if err == nil {
		t.Fatal("want an error for an unknown format")
	}
	if got := strings.Count(stderr.String(), "unknown --format"); got != 1 {
		t.Errorf("stderr has the error %d times:\n%s", got, stderr.String())
	}
}

// TestClosedOutputIsNoError: when the reader of sluice's output goes away
// (`sluice config schema | head -1`), sluice stops without an error
// message.
func TestClosedOutputIsNoError(t *testing.T) {
	c := sluiceProcess(t, nil, "config", "schema")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader is gone before sluice writes
	c.Stdout = w
	var stderr bytes.Buffer
	c.Stderr = &stderr
	_ = c.Run()
	w.Close()
	if strings.Contains(stderr.String(), "broken pipe") || strings.Contains(stderr.String(), "error") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestRunVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "sluice ") || stderr.Len() != 0 {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

// TestMain lets the test binary run as sluice itself, signals and exit
// status included.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_TEST_AS_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// sluiceProcess returns the test binary set up to run as sluice.
func sluiceProcess(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0], args...)
	c.Env = append(append(os.Environ(), "SLUICE_TEST_AS_MAIN=1"), env...)
	return c
}

// output is the standard error of a sluice process, as read so far.
type output struct {
	strings.Builder
	lines *bufio.Scanner
}

// startUntil starts c and reads its standard error up to the first line
// that contains marker.
func startUntil(t *testing.T, c *exec.Cmd, marker string) *output {
	t.Helper()
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	o := &output{lines: bufio.NewScanner(stderr)}
	for o.lines.Scan() {
		o.WriteString(o.lines.Text() + "\n")
		if strings.Contains(o.lines.Text(), marker) {
			break
		}
	}
	return o
}

// readRest reads the rest of the output in the background; the channel
// is closed at its end.
func (o *output) readRest() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for o.lines.Scan() {
			o.WriteString(o.lines.Text() + "\n")
		}
		close(done)
	}()
	return done
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"version"}, 0},
		{"unknown flag", []string{"plan", "--bogus"}, 2},
		{"unknown command", []string{"plna"}, 2},
		{"unexpected argument", []string{"plan", "main"}, 2},
		{"bad flag value", []string{"plan", "--format", "yaml"}, 2},
		{"bad flag value for the command", []string{"plan", "--base", "main", "--comment-limit", "10"}, 2},
		{"a failure", []string{"-C", t.TempDir(), "plan", "--base", "main"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sluiceProcess(t, nil, tt.args...)
			out, err := c.CombinedOutput()
			if got := c.ProcessState.ExitCode(); got != tt.want {
				t.Errorf("sluice %s: exit status %d (%v), want %d\n%s", strings.Join(tt.args, " "), got, err, tt.want, out)
			}
		})
	}
}

// TestHangupStopsTheEngineGracefully closes sluice's terminal (SIGHUP)
// while the engine applies: the engine must be interrupted as on Ctrl-C,
// release its state lock, and sluice must report it and exit.
func TestHangupStopsTheEngineGracefully(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			state := t.TempDir()
			repo := testkit.NewRepo(t, "")
			testkit.WriteFile(t, filepath.Join(repo, "sluice.yaml"), "version: 1\nprojects:\n  - name: slow\n    dir: slow\n    engine: "+bin.Engine+"\n")
			testkit.WriteFile(t, filepath.Join(repo, "slow", "main.tf"), `terraform {
  backend "local" {
    path = "`+state+`/slow.tfstate"
  }
}

resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "echo provisioning; sleep 60"
  }
}
`)
			env := []string{"SLUICE_TERRAFORM_BIN=" + bin.Path, "SLUICE_TOFU_BIN=" + bin.Path,
				"SLUICE_PLUGIN_CACHE_DIR=" + filepath.Join(os.TempDir(), "sluice-test-plugins")}
			if out, err := sluiceProcess(t, env, "-C", repo, "plan", "--base", "main").CombinedOutput(); err != nil {
				t.Fatalf("plan: %v\n%s", err, out)
			}

			apply := sluiceProcess(t, env, "-C", repo, "apply")
			seen := startUntil(t, apply, "provisioning")
			if err := apply.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			done := seen.readRest()
			select {
			case <-done:
			case <-time.After(50 * time.Second):
				_ = apply.Process.Kill()
				t.Fatalf("sluice did not stop after SIGHUP:\n%s", seen.String())
			}
			_ = apply.Wait()
			st := apply.ProcessState
			if !st.Exited() || st.ExitCode() != 1 {
				t.Errorf("sluice ended with %v, want exit status 1 after stopping the engine\n%s", st, seen.String())
			}
			if !strings.Contains(seen.String(), "interrupted") {
				t.Errorf("sluice did not report the interruption:\n%s", seen.String())
			}
			if _, err := os.Stat(filepath.Join(state, "slow.tfstate.lock.info")); err == nil {
				t.Errorf("the state lock was left held:\n%s", seen.String())
			}
		})
	}
}

// TestSecondInterruptKillsTheEngine: an engine that ignores SIGINT would
// be waited for the whole grace period (30 s); a second Ctrl-C kills it at
// once, and sluice says so.
func TestSecondInterruptKillsTheEngine(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "terraform")
	pidFile := filepath.Join(dir, "plan.pid")
	script := `#!/bin/sh
case "$1" in
plan) echo $$ > ` + pidFile + `; trap '' INT; echo engine-ignores-interrupts; while :; do sleep 0.05; done ;;
esac
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
	repo := testkit.NewRepo(t, "")
	testkit.WriteFile(t, filepath.Join(repo, "app", "main.tf"), "resource \"terraform_data\" \"x\" {}\n")
	env := []string{"SLUICE_TERRAFORM_BIN=" + bin, "SLUICE_PLUGIN_CACHE_DIR=" + filepath.Join(dir, "plugins")}
	plan := sluiceProcess(t, env, "-C", repo, "plan", "--base", "main", "-v")
	seen := startUntil(t, plan, "engine-ignores-interrupts")
	if err := plan.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := plan.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := seen.readRest()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = plan.Process.Kill()
		<-done
		t.Fatalf("sluice still waited for the engine %v after the second interrupt:\n%s", time.Since(start), seen.String())
	}
	_ = plan.Wait()
	if st := plan.ProcessState; !st.Exited() || st.ExitCode() != 1 {
		t.Errorf("sluice ended with %v, want exit status 1\n%s", st, seen.String())
	}
	if !strings.Contains(seen.String(), "sluice: second interrupt: killing terraform now; its state lock may be left held") {
		t.Errorf("sluice did not say it killed the engine:\n%s", seen.String())
	}
}
