package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// TestSandboxConfinesTheEngine: a sandboxed command reads and writes what
// its sandbox allows and nothing else: not a file beside the allowed
// ones, not /proc (its parent's environment and open files), not through
// a symbolic link that points out. The process that started it is not
// confined.
func TestSandboxConfinesTheEngine(t *testing.T) {
	testkit.NeedSandbox(t, SandboxSupport)
	root := t.TempDir()
	ro, rw, outside := filepath.Join(root, "ro"), filepath.Join(root, "rw"), filepath.Join(root, "secret")
	for _, d := range []string{ro, rw} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(ro, "code"), "readable")
	write(outside, "canary-secret-3f9a")
	if err := os.Symlink(outside, filepath.Join(rw, "link")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_SANDBOX_CANARY", "canary-env-77c1")

	script := fmt.Sprintf(`
cat %[1]s/code && echo " ok-read"
cat %[3]s || echo denied-outside
cat %[2]s/link || echo denied-link
cat /proc/self/environ || echo denied-proc-self
cat /proc/$PPID/environ || echo denied-proc-parent
ls /proc/$PPID/fd || echo denied-proc-fd
echo new > %[2]s/file && echo ok-write
echo new > %[1]s/file || echo denied-write-ro
mkdir %[2]s/sub && mv %[2]s/file %[2]s/sub/file && echo ok-move
`, ro, rw, outside)
	c := Command{
		Path:    "/bin/sh",
		Args:    []string{"-c", script},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Sandbox: &Sandbox{Read: append([]string{ro}, SystemRead...), Write: append([]string{rw}, SystemWrite...)},
	}
	out, err := c.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out.Stdout, out.Stderr)
	}
	all := out.Stdout + out.Stderr
	for _, want := range []string{"readable ok-read", "denied-outside", "denied-link", "denied-proc-self", "denied-proc-parent", "denied-proc-fd", "ok-write", "denied-write-ro", "ok-move"} {
		if !strings.Contains(out.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, all)
		}
	}
	for _, leak := range []string{"canary-secret-3f9a", "canary-env-77c1"} {
		if strings.Contains(all, leak) {
			t.Errorf("the sandboxed command read %q:\n%s", leak, all)
		}
	}

	// Sluice itself is not confined: every thread still reads the file.
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := os.ReadFile(outside); err != nil {
				t.Errorf("the test process lost access after running a sandboxed command: %v", err)
			}
		}()
	}
	wg.Wait()
	if _, err := (Command{Path: "/bin/cat", Args: []string{outside}}).Run(context.Background()); err != nil {
		t.Errorf("an unsandboxed command after a sandboxed one: %v", err)
	}
}

// TestSandboxBeneath: whether a sandbox's paths reach a file is decided on
// the real paths, through symbolic links on either side, and a sibling
// with a longer name is not beneath.
func TestSandboxBeneath(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path  string
		roots []string
		want  bool
	}{
		{filepath.Join(root, "a", "b", "key"), []string{filepath.Join(root, "a")}, true},
		{filepath.Join(root, "a"), []string{filepath.Join(root, "a")}, true},
		{filepath.Join(root, "ab"), []string{filepath.Join(root, "a")}, false},
		{filepath.Join(root, "link", "b", "key"), []string{filepath.Join(root, "a")}, true},
		{filepath.Join(root, "a", "b", "key"), []string{filepath.Join(root, "link")}, true},
		{filepath.Join(root, "a", "..", "c"), []string{filepath.Join(root, "a")}, false},
		{"/etc/sluice/token", SystemRead, false},
		{filepath.Join(root, "a", "key"), []string{""}, false}, // an unset path is not the working directory

		{"/usr/local/etc/token", SystemRead, true},
	}
	for _, c := range cases {
		if _, got := Beneath(c.path, c.roots); got != c.want {
			t.Errorf("Beneath(%s, %v) = %v, want %v", c.path, c.roots, got, c.want)
		}
	}
}

// BenchmarkSandboxedCommand is what confining costs an engine command:
// /bin/true run plainly, in the server's usual sandbox, and isolated in a
// PID namespace of its own through the launcher, interleaved; each ratio
// to the plain run is reported.
func BenchmarkSandboxedCommand(b *testing.B) {
	testkit.NeedSandbox(b, SandboxSupport)
	dir := b.TempDir()
	env := []string{"PATH=/usr/bin:/bin"}
	boxed := Confinement{Sandbox: true, Env: env}.SandboxFor(env, Paths{Write: []string{dir}})
	isolated := Confinement{Sandbox: true, Isolate: IsolationSupport() == nil, Env: env}.SandboxFor(env, Paths{Write: []string{dir}})
	var took [3]time.Duration
	for range b.N {
		for i, s := range []*Sandbox{nil, boxed, isolated} {
			start := time.Now()
			if _, err := (Command{Path: "/bin/true", Sandbox: s}).Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			took[i] += time.Since(start)
		}
	}
	b.ReportMetric(float64(took[0].Microseconds())/float64(b.N), "plain-us/op")
	b.ReportMetric(float64(took[1].Microseconds())/float64(b.N), "sandboxed-us/op")
	b.ReportMetric(float64(took[2].Microseconds())/float64(b.N), "isolated-us/op")
	b.ReportMetric(float64(took[1])/float64(took[0]), "sandboxed/plain")
	b.ReportMetric(float64(took[2])/float64(took[0]), "isolated/plain")
}
