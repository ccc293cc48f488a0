// Package testkit holds helpers shared by Sluice's integration tests: the
// real engine binaries, scratch git repositories and file copies.
package testkit

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binary is an engine binary to run tests against.
type Binary struct {
	Engine string // terraform or opentofu
	Path   string
}

// required reports whether missing tools fail the test instead of
// skipping it (.ci/run and make test set it).
func required() bool { return os.Getenv("SLUICE_TEST_REQUIRE_TOOLS") == "1" }

// Engines returns the terraform and tofu binaries to test with. Terraform
// comes from PATH (or SLUICE_TEST_TERRAFORM), tofu from SLUICE_TEST_TOFU,
// which scripts/tools.sh prints. A missing one skips, or fails when
// SLUICE_TEST_REQUIRE_TOOLS=1.
func Engines(t testing.TB) []Binary {
	t.Helper()
	var bins []Binary
	tf := os.Getenv("SLUICE_TEST_TERRAFORM")
	if tf == "" {
		tf, _ = exec.LookPath("terraform")
	}
	if tf != "" {
		bins = append(bins, Binary{"terraform", tf})
	} else {
		missing(t, "terraform (not on PATH and SLUICE_TEST_TERRAFORM unset)")
	}
	if tofu := os.Getenv("SLUICE_TEST_TOFU"); tofu != "" {
		bins = append(bins, Binary{"opentofu", tofu})
	} else {
		missing(t, "tofu (SLUICE_TEST_TOFU unset; run scripts/tools.sh --env tofu)")
	}
	if len(bins) == 0 {
		t.Skip("no engine binary available")
	}
	return bins
}

func missing(t testing.TB, what string) {
	t.Helper()
	if required() {
		t.Fatalf("required test tool missing: %s", what)
	}
	t.Logf("skipping %s", what)
}

// QuietTerraform points TF_CLI_CONFIG_FILE at an empty file so a machine's
// missing ~/.terraformrc does not add warnings to every run.
func QuietTerraform(t testing.TB) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_CLI_CONFIG_FILE", f)
}

// CopyDir copies a directory tree.
func CopyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s to %s: %v", src, dst, err)
	}
}

// Tree lists every path under dir, relative and sorted, directories with
// a trailing /: what a test compares before and after an attempt to
// write outside where it should.
func Tree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	return out
}

// WriteFile writes a file, creating its directory.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Replace edits a file in place, failing if old is not in it.
func Replace(t testing.TB, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	WriteFile(t, path, strings.Replace(string(b), old, new, 1))
}

// Git runs git in dir with a fixed identity and returns its output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return GitEnv(t, dir, nil, args...)
}

// GitEnv is Git with env added to git's environment.
func GitEnv(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// NewRepo makes a git repository in a temporary directory from a fixture
// directory, commits it on main, and returns its path.
func NewRepo(t testing.TB, fixture string) string {
	t.Helper()
	dir := t.TempDir()
	if fixture != "" {
		CopyDir(t, fixture, dir)
	}
	Git(t, dir, "init", "-q", "-b", "main")
	Git(t, dir, "add", "-A")
	Git(t, dir, "commit", "-q", "--allow-empty", "-m", "initial")
	return dir
}

// NeedSandbox skips the test, or fails it when SLUICE_TEST_REQUIRE_TOOLS=1,
// unless the machine can confine engine processes: support says how it
// would (engine.SandboxSupport, passed in to keep this package free of
// Sluice's own).
func NeedSandbox(t testing.TB, support func() (string, error)) {
	t.Helper()
	if _, err := support(); err != nil {
		if required() {
			t.Fatalf("required: %v", err)
		}
		t.Skip(err)
	}
}
