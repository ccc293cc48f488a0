// Package pulumitest prepares the real pulumi CLI, its YAML language host
// and the sluicetest resource provider (cmd/pulumi-resource-sluicetest)
// for tests, with a fresh file:// backend per test and no network.
//
// The CLI and the language host come from SLUICE_TEST_PULUMI_DIR (which
// scripts/tools.sh --env pulumi prints), or else from where
// scripts/tools.sh builds them by default, or else from PATH. When they are
// missing, tests skip, or fail when SLUICE_TEST_REQUIRE_TOOLS=1. The
// provider is built from this repository once, into a cache directory
// keyed by its sources ($SLUICE_TOOLS_CACHE, default
// ~/.cache/sluice-tools), and put on PATH, where Pulumi runs plugins as
// they are.
package pulumitest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Passphrase is the passphrase of the test stacks' secrets.
const Passphrase = "sluice-test-passphrase"

// CLIVersion is the version of the pulumi CLI scripts/tools.sh builds
// (PULUMI_VERSION there).
const CLIVersion = "v3.274.1"

// Env is a prepared pulumi: its binary and the environment its commands
// need.
type Env struct {
	Bin       string // the pulumi binary
	Backend   string // the file:// URL of the test's own backend
	StateFile string // where the sluicetest provider keeps its resources
	// Vars is the environment for pulumi, KEY=VALUE, to add to the
	// process environment: PATH with the provider and the CLI, the
	// backend, the passphrase, and no update checks or plugin downloads.
	Vars []string
}

// The provider is built once per test binary.
var provider struct {
	once sync.Once
	path string
	err  error
}

// New prepares pulumi for one test, or skips it when the CLI is missing.
func New(t testing.TB) *Env {
	t.Helper()
	dir, err := cliDir()
	if err != nil {
		if os.Getenv("SLUICE_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatalf("required test tool missing: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	provider.once.Do(func() { provider.path, provider.err = buildProvider() })
	if provider.err != nil {
		t.Fatalf("building the sluicetest provider: %v", provider.err)
	}
	tmp := t.TempDir()
	e := &Env{
		Bin:       filepath.Join(dir, "pulumi"),
		Backend:   "file://" + filepath.Join(tmp, "backend"),
		StateFile: filepath.Join(tmp, "cloud", "resources.json"),
	}
	if err := os.MkdirAll(filepath.Join(tmp, "backend"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.Vars = []string{
		"PATH=" + filepath.Dir(provider.path) + string(os.PathListSeparator) + dir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"PULUMI_HOME=" + filepath.Join(tmp, "pulumi-home"),
		"PULUMI_BACKEND_URL=" + e.Backend,
		"PULUMI_CONFIG_PASSPHRASE=" + Passphrase,
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_IGNORE_AMBIENT_PLUGINS=false",
		"SLUICETEST_STATE_FILE=" + e.StateFile,
	}
	return e
}

// cliDir finds the directory with the pulumi CLI and its YAML language
// host.
func cliDir() (string, error) {
	if dir := os.Getenv("SLUICE_TEST_PULUMI_DIR"); dir != "" {
		if !hasCLI(dir) {
			return "", fmt.Errorf("pulumi and pulumi-language-yaml are not both in SLUICE_TEST_PULUMI_DIR=%s (run scripts/tools.sh --env pulumi)", dir)
		}
		return filepath.Abs(dir)
	}
	if dir := filepath.Join(toolsCache(), "pulumi-"+CLIVersion); hasCLI(dir) {
		return dir, nil
	}
	bin, err := exec.LookPath("pulumi")
	if err != nil {
		return "", errors.New("pulumi (not on PATH and SLUICE_TEST_PULUMI_DIR unset; run scripts/tools.sh --env pulumi)")
	}
	dir := filepath.Dir(bin)
	if _, err := os.Stat(filepath.Join(dir, "pulumi-language-yaml")); err != nil {
		if _, err := exec.LookPath("pulumi-language-yaml"); err != nil {
			return "", errors.New("pulumi-language-yaml, Pulumi's YAML language host (run scripts/tools.sh --env pulumi)")
		}
	}
	return filepath.Abs(dir)
}

func hasCLI(dir string) bool {
	for _, name := range []string{"pulumi", "pulumi-language-yaml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// toolsCache is where scripts/tools.sh builds the tools.
func toolsCache() string {
	if c := os.Getenv("SLUICE_TOOLS_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "sluice-tools")
}

// Run runs pulumi in dir with the test's environment and returns its
// combined output, failing the test when it fails.
func (e *Env) Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := e.Try(dir, args...)
	if err != nil {
		t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs pulumi in dir with the test's environment and returns its
// combined output and error.
func (e *Env) Try(dir string, args ...string) (string, error) {
	cmd := exec.Command(e.Bin, append(args, "--non-interactive")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), e.Vars...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Resource is one resource the sluicetest provider keeps.
type Resource struct {
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
}

// Resources reads what the sluicetest provider created, by id: the
// "cloud" of the test.
func (e *Env) Resources(t testing.TB) map[string]Resource {
	t.Helper()
	var c struct {
		Resources map[string]Resource `json:"resources"`
	}
	b, err := os.ReadFile(e.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Resource{}
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("reading %s: %v", e.StateFile, err)
	}
	return c.Resources
}

// buildProvider builds cmd/pulumi-resource-sluicetest into the cache, once
// for each version of its sources.
func buildProvider() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	key, err := sourceKey(root)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(toolsCache(), "sluicetest-"+key)
	bin := filepath.Join(dir, "pulumi-resource-sluicetest")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "build-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/pulumi-resource-sluicetest")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	// Renamed into place whole: another test binary may build it too.
	return bin, os.Rename(tmp.Name(), bin)
}

// moduleRoot is the repository's root, found from this file's place in it.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot tell where the pulumitest package is")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("no go.mod at %s: %w", root, err)
	}
	return filepath.Abs(root)
}

// sourceKey hashes what the provider is built from: its sources, the
// module's requirements and the Go version.
func sourceKey(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version())
	var files []string
	src := filepath.Join(root, "cmd", "pulumi-resource-sluicetest")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	files = append(files, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
