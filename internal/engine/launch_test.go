package engine

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// isolatedSandbox is a sandbox that isolates, writing rw.
func isolatedSandbox(t *testing.T, rw string) *Sandbox {
	t.Helper()
	testkit.NeedSandbox(t, func() (string, error) { return "", IsolationSupport() })
	return &Sandbox{Read: SystemRead, Write: append([]string{rw}, SystemWrite...), Isolate: true}
}

// TestIsolatedEngineLeavesNothingBehind: a process an isolated engine
// started in a session of its own (which the process group kill misses)
// is gone once the engine has exited: here, it held a lock that is free
// again.
func TestIsolatedEngineLeavesNothingBehind(t *testing.T) {
	rw := t.TempDir()
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1)")
	}
	script := `setsid flock "$1/lock" sh -c 'touch "$0/held"; sleep 300' "$1" </dev/null >/dev/null 2>&1 &
while [ ! -f "$1/held" ]; do sleep 0.01; done
echo done`
	c := Command{Path: "/bin/sh", Args: []string{"-c", script, "sh", rw}, Env: []string{"PATH=/usr/bin:/bin"}, Sandbox: isolatedSandbox(t, rw)}
	out, err := c.Run(context.Background())
	if err != nil || out.Stdout != "done\n" {
		t.Fatalf("%v %+v", err, out)
	}
	f, err := os.OpenFile(filepath.Join(rw, "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatal("a process the engine left in a session of its own still holds its lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIsolatedEngineStatusAndSignals: through the launcher the engine's
// exit status is its own, and a cancellation reaches it as one SIGINT (a
// second one would make Terraform stop at once, without releasing its
// state lock).
func TestIsolatedEngineStatusAndSignals(t *testing.T) {
	sb := isolatedSandbox(t, t.TempDir())
	_, err := Command{Path: "/bin/sh", Args: []string{"-c", "exit 3"}, Sandbox: sb}.Run(context.Background())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit 3 through the launcher: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	c := Command{
		Path:    "/bin/sh",
		Args:    []string{"-c", `trap 'echo interrupted; n=$((n+1)); [ $n -ge 2 ] && exit 2' INT; n=0; echo ready; i=0; while [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; exit 130`},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Grace:   10 * time.Second,
		Sandbox: sb,
		Log: func(_, line string) {
			if line == "ready" {
				once.Do(cancel)
			}
		},
	}
	out, err := c.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := strings.Count(out.Stdout, "interrupted"); n != 1 {
		t.Errorf("the engine got %d interrupts, want 1:\n%s", n, out.Stdout)
	}
}

// TestIsolatedEngineIsConfined: the launcher confines the engine as the
// thread of a plain sandbox does.
func TestIsolatedEngineIsConfined(t *testing.T) {
	rw := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("canary-isolated-5e2"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Command{Path: "/bin/sh", Args: []string{"-c", `cat "$1" || echo denied; cat /proc/1/environ || echo denied-proc; echo x > "$2/f" && echo wrote`, "sh", secret, rw},
		Env: []string{"PATH=/usr/bin:/bin"}, Sandbox: isolatedSandbox(t, rw)}
	out, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.Stdout, "canary") || !strings.Contains(out.Stdout, "denied\n") || !strings.Contains(out.Stdout, "denied-proc") || !strings.Contains(out.Stdout, "wrote") {
		t.Errorf("output:\n%s%s", out.Stdout, out.Stderr)
	}
}

// TestIsolationWithoutRoot runs the isolation tests again as an
// unprivileged user, when these run as root: a server usually does not
// run as root, and then the launcher needs a user namespace of its own.
func TestIsolationWithoutRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the isolation tests already took the path of a user without privileges")
	}
	testkit.NeedSandbox(t, func() (string, error) { return "", IsolationSupport() })
	dir, err := os.MkdirTemp("", "sluice-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "engine.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil || os.Chmod(dir, 0o755) != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestIsolatedEngine", "-test.v", "-test.count=1")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "HOME="+dir, "TMPDIR=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	for _, name := range []string{"TestIsolatedEngineLeavesNothingBehind", "TestIsolatedEngineStatusAndSignals", "TestIsolatedEngineIsConfined"} {
		if !strings.Contains(string(out), "--- PASS: "+name) {
			t.Errorf("as nobody, %s did not pass:\n%s", name, out)
		}
	}
}
