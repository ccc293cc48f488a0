package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/local"
	"github.com/sluicehq/sluice/internal/testkit"
)

// sluice runs the command line in-process in dir, with the given engine
// binary configured, and returns stdout, stderr and the error.
func sluice(t *testing.T, bin testkit.Binary, dir string, args ...string) (string, string, error) {
	t.Helper()
	env := map[string]string{
		"SLUICE_TERRAFORM_BIN":    bin.Path,
		"SLUICE_TOFU_BIN":         bin.Path,
		"SLUICE_PLUGIN_CACHE_DIR": filepath.Join(os.TempDir(), "sluice-test-plugins"),
	}
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), append([]string{"-C", dir}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func mustSluice(t *testing.T, bin testkit.Binary, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := sluice(t, bin, dir, args...)
	if err != nil {
		t.Fatalf("sluice %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fixture makes a git repository from testdata/repos/NAME for the engine,
// with state kept in stateDir.
func fixture(t *testing.T, name string, bin testkit.Binary, stateDir string) string {
	t.Helper()
	dir := t.TempDir()
	testkit.CopyDir(t, filepath.Join("testdata", "repos", name), dir)
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			s := strings.ReplaceAll(string(b), "ENGINE", bin.Engine)
			s = strings.ReplaceAll(s, "STATE_DIR", stateDir)
			_ = os.WriteFile(p, []byte(s), 0o644)
		}
		return nil
	})
	testkit.Git(t, dir, "init", "-q", "-b", "main")
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

// quickstartRepo makes a git repository from a copy of src (the
// quickstart, or a directory like it with two projects), committed on
// main, with both projects set to bin's engine.
func quickstartRepo(t testing.TB, src string, bin testkit.Binary) string {
	t.Helper()
	repo := t.TempDir()
	testkit.CopyDir(t, src, repo)
	if bin.Engine == "opentofu" {
		testkit.Replace(t, filepath.Join(repo, "sluice.yaml"), "engine: terraform", "engine: opentofu")
		testkit.Replace(t, filepath.Join(repo, "sluice.yaml"), "engine: terraform", "engine: opentofu")
	}
	testkit.Git(t, repo, "init", "-q", "-b", "main")
	testkit.Git(t, repo, "add", "-A")
	testkit.Git(t, repo, "commit", "-q", "-m", "today")
	return repo
}

// readState returns a state file with all white space removed, so
// terraform's indented and tofu's compact JSON compare alike.
func readState(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(b)), "")
}

// TestQuickstart is the scenario of the quickstart: a node group of 3 is
// reduced to 2 on a branch, planned, merged and applied.
func TestQuickstart(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			repo := quickstartRepo(t, filepath.Join("..", "..", "examples", "quickstart"), bin)
			mustSluice(t, bin, repo, "plan", "--base", "main", "-p", "network,node-group")
			mustSluice(t, bin, repo, "apply")
			state := filepath.Join(repo, "cluster", "node-group", "terraform.tfstate")
			if !strings.Contains(readState(t, state), `"desired_size":3`) {
				t.Fatalf("bootstrap state:\n%s", readState(t, state))
			}

			testkit.Git(t, repo, "switch", "-q", "-c", "reduce")
			testkit.Replace(t, filepath.Join(repo, "cluster", "node-group", "main.tf"), "desired_size  = 3", "desired_size  = 2")
			testkit.Git(t, repo, "commit", "-qam", "Reduce the node group to two nodes")

			out := mustSluice(t, bin, repo, "projects", "--base", "main")
			if !strings.Contains(out, "node-group") || strings.Contains(out, "network ") {
				t.Errorf("projects:\n%s", out)
			}
			// Without --base, the checkout's main is the base.
			def, errOut, err := sluice(t, bin, repo, "projects")
			if err != nil || def != out || !strings.Contains(errOut, "comparing with main (no --base given)") {
				t.Errorf("projects without --base: err %v, stdout:\n%s\nstderr:\n%s", err, def, errOut)
			}
			comment := mustSluice(t, bin, repo, "plan", "--base", "main")
			for _, want := range []string{"0 to add, 1 to change, 0 to destroy", "desired_size: 3 -> 2", "node-group"} {
				if !strings.Contains(comment, want) {
					t.Errorf("comment lacks %q:\n%s", want, comment)
				}
			}
			if strings.Contains(comment, "`network`") {
				t.Errorf("the untouched network project was planned:\n%s", comment)
			}

			testkit.Git(t, repo, "switch", "-q", "main")
			testkit.Git(t, repo, "merge", "-q", "--no-ff", "reduce", "-m", "merge")
			out = mustSluice(t, bin, repo, "apply")
			if !strings.Contains(out, "0 added, 1 changed, 0 destroyed") {
				t.Errorf("apply comment:\n%s", out)
			}
			if !strings.Contains(readState(t, state), `"desired_size":2`) {
				t.Errorf("state after apply:\n%s", readState(t, state))
			}
			// A second apply finds nothing left to do and changes nothing.
			_, errOut, err = sluice(t, bin, repo, "apply")
			if err != nil || !strings.Contains(errOut, "nothing to apply") {
				t.Errorf("second apply: err=%v stderr:\n%s", err, errOut)
			}
			// On main, a plan finds nothing to compare, and says how to
			// plan a project anyway.
			_, errOut, err = sluice(t, bin, repo, "plan")
			if err != nil || !strings.Contains(errOut, "HEAD is on main, so nothing differs from it; to plan a project anyway: sluice plan -p NAME") ||
				strings.Contains(errOut, "never applied") {
				t.Errorf("plan on main: err=%v stderr:\n%s", err, errOut)
			}
		})
	}
}

func TestDependsOnOrderAndJSON(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			state := t.TempDir()
			repo := fixture(t, "twoprojects", bin, state)
			testkit.Git(t, repo, "switch", "-q", "-c", "both")
			testkit.Replace(t, filepath.Join(repo, "app", "main.tf"), "desired_size = 3", "desired_size = 2")
			testkit.Replace(t, filepath.Join(repo, "network", "main.tf"), "10.0.0.0/16", "10.1.0.0/16")
			testkit.Git(t, repo, "commit", "-qam", "both")

			out := mustSluice(t, bin, repo, "plan", "--base", "main", "--format", "json")
			var rec local.Record
			if err := json.Unmarshal([]byte(out), &rec); err != nil {
				t.Fatalf("plan --format json is not JSON: %v\n%s", err, out)
			}
			if len(rec.Projects) != 2 || rec.Projects[0].Name != "network" || rec.Projects[1].Name != "app" {
				t.Fatalf("projects not in dependency order: %+v", rec.Projects)
			}
			if rec.Projects[1].Plan == nil || rec.Projects[1].Plan.Summary.Add != 1 {
				t.Errorf("app plan = %+v", rec.Projects[1].Plan)
			}
			_, errOut, err := sluice(t, bin, repo, "apply", "--quiet")
			if err != nil {
				t.Fatalf("apply: %v\n%s", err, errOut)
			}
			if i, j := strings.Index(errOut, "network: applied"), strings.Index(errOut, "app: applied"); i < 0 || j < 0 || i > j {
				t.Errorf("apply order wrong:\n%s", errOut)
			}
		})
	}
}

func TestUncommittedChangesArePlanned(t *testing.T) {
	bin := testkit.Engines(t)[0]
	testkit.QuietTerraform(t)
	repo := fixture(t, "twoprojects", bin, t.TempDir())
	testkit.Replace(t, filepath.Join(repo, "app", "main.tf"), "desired_size = 3", "desired_size = 5")
	testkit.WriteFile(t, filepath.Join(repo, "network", "extra.tf"), "resource \"terraform_data\" \"extra\" {}\n")
	out := mustSluice(t, bin, repo, "projects", "--base", "main")
	if !strings.Contains(out, "app/main.tf") || !strings.Contains(out, "network/extra.tf") {
		t.Errorf("uncommitted and untracked changes not seen:\n%s", out)
	}
}

func TestApplyRefusals(t *testing.T) {
	bin := testkit.Engines(t)[0]
	testkit.QuietTerraform(t)

	t.Run("no saved plan", func(t *testing.T) {
		repo := fixture(t, "twoprojects", bin, t.TempDir())
		_, _, err := sluice(t, bin, repo, "apply")
		if err == nil || !strings.Contains(err.Error(), "run `sluice plan` first") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("code changed after the plan", func(t *testing.T) {
		state := t.TempDir()
		repo := fixture(t, "twoprojects", bin, state)
		testkit.Git(t, repo, "switch", "-q", "-c", "x")
		testkit.Replace(t, filepath.Join(repo, "app", "main.tf"), "desired_size = 3", "desired_size = 2")
		testkit.Git(t, repo, "commit", "-qam", "two")
		mustSluice(t, bin, repo, "plan", "--base", "main")

		// A change to an unrelated file keeps the plan valid ...
		testkit.WriteFile(t, filepath.Join(repo, "docs", "README.md"), "changed\n")
		testkit.Git(t, repo, "commit", "-qam", "docs")
		// ... a new commit to the project does not.
		testkit.Replace(t, filepath.Join(repo, "app", "main.tf"), "desired_size = 2", "desired_size = 1")
		testkit.Git(t, repo, "commit", "-qam", "one")
		_, _, err := sluice(t, bin, repo, "apply")
		if !errors.Is(err, local.ErrRefused) || !strings.Contains(err.Error(), "app (app/main.tf)") {
			t.Fatalf("err = %v", err)
		}
		if s := readState(t, filepath.Join(state, "app.tfstate")); s != "" {
			t.Errorf("a refused apply wrote state:\n%s", s)
		}

		// Back to the planned content (uncommitted): the plan applies.
		testkit.Replace(t, filepath.Join(repo, "app", "main.tf"), "desired_size = 1", "desired_size = 2")
		mustSluice(t, bin, repo, "apply", "--quiet")
		if !strings.Contains(readState(t, filepath.Join(state, "app.tfstate")), `"desired_size":2`) {
			t.Error("apply did not happen")
		}
	})

	t.Run("another base", func(t *testing.T) {
		repo := fixture(t, "twoprojects", bin, t.TempDir())
		mustSluice(t, bin, repo, "plan", "--base", "main", "-p", "app")
		_, _, err := sluice(t, bin, repo, "apply", "--base", "develop")
		if !errors.Is(err, local.ErrRefused) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("state changed since the plan", func(t *testing.T) {
		// Two people's checkouts share one state backend: the second
		// applies first, so the first one's plan is stale.
		state := t.TempDir()
		alice := fixture(t, "twoprojects", bin, state)
		bob := t.TempDir()
		testkit.Git(t, bob, "clone", "-q", alice, ".")
		testkit.Replace(t, filepath.Join(alice, "app", "main.tf"), "desired_size = 3", "desired_size = 2")
		testkit.Replace(t, filepath.Join(bob, "app", "main.tf"), "desired_size = 3", "desired_size = 4")
		mustSluice(t, bin, alice, "plan", "--base", "main")
		mustSluice(t, bin, bob, "plan", "--base", "main")
		mustSluice(t, bin, bob, "apply", "--quiet")
		out, errOut, err := sluice(t, bin, alice, "apply", "--quiet")
		if !errors.Is(err, local.ErrApplyFailed) || !strings.Contains(out+errOut, "stale") {
			t.Fatalf("err = %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		if !strings.Contains(readState(t, filepath.Join(state, "app.tfstate")), `"desired_size":4`) {
			t.Error("the stale plan changed the state")
		}
	})
}

func TestFailingPlan(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			state := t.TempDir()
			repo := fixture(t, "twoprojects", bin, state)
			testkit.Git(t, repo, "switch", "-q", "-c", "broken")
			testkit.WriteFile(t, filepath.Join(repo, "network", "broken.tf"), "resource \"terraform_data\" \"x\" {\n  input = \n}\n")
			testkit.Replace(t, filepath.Join(repo, "app", "main.tf"), "desired_size = 3", "desired_size = 2")
			testkit.Git(t, repo, "add", "-A")
			testkit.Git(t, repo, "commit", "-qm", "broken")

			out, errOut, err := sluice(t, bin, repo, "plan", "--base", "main")
			if !errors.Is(err, local.ErrPlanFailed) {
				t.Fatalf("err = %v", err)
			}
			for _, want := range []string{"network", "broken.tf", "failed", "depends on network"} {
				if !strings.Contains(out, want) {
					t.Errorf("comment lacks %q:\n%s\nstderr:\n%s", want, out, errOut)
				}
			}
			_, _, err = sluice(t, bin, repo, "apply")
			if !errors.Is(err, local.ErrRefused) {
				t.Errorf("apply after a failed plan: err = %v", err)
			}
			for _, f := range []string{"network.tfstate", "app.tfstate", "network.tfstate.lock.info", "app.tfstate.lock.info"} {
				if _, err := os.Stat(filepath.Join(state, f)); err == nil {
					t.Errorf("%s exists: something was applied or left locked", f)
				}
			}
			// Nothing is left locked: the next command runs at once.
			testkit.Git(t, repo, "rm", "-q", "network/broken.tf")
			testkit.Git(t, repo, "commit", "-qm", "fixed")
			mustSluice(t, bin, repo, "plan", "--base", "main")
		})
	}
}

// everythingShown runs each command line in repo and returns everything
// they printed, and the plan record they left.
func everythingShown(t *testing.T, bin testkit.Binary, repo string, commands ...[]string) *strings.Builder {
	t.Helper()
	var all strings.Builder
	for _, args := range commands {
		out, errOut, err := sluice(t, bin, repo, args...)
		if err != nil {
			t.Fatalf("sluice %v: %v\n%s", args, err, errOut)
		}
		all.WriteString(out + errOut)
	}
	rec, err := os.ReadFile(filepath.Join(repo, ".git", "sluice", "plans", "last.json"))
	if err != nil {
		t.Fatal(err)
	}
	all.Write(rec)
	return &all
}

func TestSecretsNeverShown(t *testing.T) {
	const canary = "canary-7d3f-sensitive-password"
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			repo := fixture(t, "secret", bin, t.TempDir())
			all := everythingShown(t, bin, repo,
				[]string{"plan", "--base", "main", "-p", "vault", "-v"},
				[]string{"plan", "--base", "main", "-p", "vault", "--format", "json"},
				[]string{"apply"})
			if !strings.Contains(all.String(), "connecting with ***") {
				t.Error("the provisioner's output, with the password hidden, does not appear: the test proves nothing")
			}
			for _, secret := range []string{canary, "AKIAABCDEFGHIJKLMNOP"} {
				if strings.Contains(all.String(), secret) {
					t.Errorf("secret %q appears in the output or the record", secret)
				}
			}
			if !strings.Contains(all.String(), "(sensitive value)") {
				t.Error("the masked value placeholder does not appear at all")
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	bin := testkit.Engines(t)[0]
	testkit.QuietTerraform(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, repo string)
		args  []string
		want  []string
	}{
		{
			name: "invalid sluice.yaml",
			setup: func(t *testing.T, repo string) {
				testkit.WriteFile(t, filepath.Join(repo, "sluice.yaml"), "version: 1\nprojects:\n  - name: app\n    dir: app\n    engin: terraform\n")
			},
			args: []string{"config", "validate"},
			want: []string{"sluice.yaml:5:5", "engin", "engine"},
		},
		{
			name: "project dir that disappeared",
			setup: func(t *testing.T, repo string) {
				if err := os.RemoveAll(filepath.Join(repo, "network")); err != nil {
					t.Fatal(err)
				}
			},
			args: []string{"plan", "--base", "main"},
			want: []string{"sluice.yaml:", "network", "does not exist", "removing its code does not destroy its resources"},
		},
		{
			name: "unreadable sluice.yaml",
			setup: func(t *testing.T, repo string) {
				if err := os.Remove(filepath.Join(repo, "sluice.yaml")); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(filepath.Join(repo, "sluice.yaml"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			args: []string{"plan", "--base", "main"},
			want: []string{"sluice.yaml"},
		},
		{
			name:  "missing engine binary",
			setup: func(t *testing.T, repo string) {},
			args:  []string{"--terraform-bin", "/nonexistent/terraform", "--tofu-bin", "/nonexistent/tofu", "plan", "--base", "main", "-p", "app"},
			want:  []string{"app", "was not found"},
		},
		{
			name:  "unknown project",
			setup: func(t *testing.T, repo string) {},
			args:  []string{"plan", "--base", "main", "-p", "nope"},
			want:  []string{`no project named "nope"`, "app, network"},
		},
		{
			name:  "unknown base",
			setup: func(t *testing.T, repo string) {},
			args:  []string{"plan", "--base", "no-such-branch"},
			want:  []string{`"no-such-branch" is not a commit`},
		},
		{
			name: "no base given, and no default branch",
			setup: func(t *testing.T, repo string) {
				testkit.Git(t, repo, "branch", "-q", "-m", "main", "work")
			},
			args: []string{"plan"},
			want: []string{"no local main or master branch", "pass --base"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			repo := fixture(t, "twoprojects", bin, state)
			tt.setup(t, repo)
			out, errOut, err := sluice(t, bin, repo, tt.args...)
			if err == nil {
				t.Fatalf("want an error; stdout:\n%s", out)
			}
			msg := err.Error() + "\n" + out
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s\nstderr:\n%s", w, msg, errOut)
				}
			}
			entries, _ := os.ReadDir(state)
			if len(entries) != 0 {
				t.Errorf("bad input changed the state dir: %v", entries)
			}
		})
	}
}

func TestNotAGitRepository(t *testing.T) {
	bin := testkit.Binary{Engine: "terraform", Path: "terraform"}
	_, _, err := sluice(t, bin, t.TempDir(), "plan", "--base", "main")
	if err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Fatalf("err = %v", err)
	}
}

func TestHelpHasExamples(t *testing.T) {
	bin := testkit.Binary{Engine: "terraform", Path: "terraform"}
	for _, cmd := range [][]string{{"plan"}, {"apply"}, {"projects"}, {"config", "validate"}, {"config", "schema"}} {
		out, _, err := sluice(t, bin, ".", append(cmd, "--help")...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Examples:") {
			t.Errorf("sluice %s --help has no examples:\n%s", strings.Join(cmd, " "), out)
		}
	}
	out, _, err := sluice(t, bin, ".", "version")
	if err != nil || !strings.HasPrefix(out, "sluice ") {
		t.Errorf("version: %q %v", out, err)
	}
}

// TestLocalModuleChangesArePlanned: a change to a local module plans the
// projects that call it, and without sluice.yaml the module is not a
// project of its own.
func TestLocalModuleChangesArePlanned(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			repo := fixture(t, "modules", bin, t.TempDir())
			out := mustSluice(t, bin, repo, "projects", "--all")
			if !strings.Contains(out, "envs-prod") || strings.Contains(out, "modules-box") {
				t.Errorf("discovered projects:\n%s", out)
			}
			testkit.Git(t, repo, "switch", "-q", "-c", "color")
			testkit.Replace(t, filepath.Join(repo, "modules", "box", "main.tf"), `"blue"`, `"green"`)
			testkit.Git(t, repo, "commit", "-qam", "green")
			out = mustSluice(t, bin, repo, "projects", "--base", "main")
			if !strings.Contains(out, "envs-prod") || !strings.Contains(out, "modules/box/main.tf") {
				t.Errorf("projects:\n%s", out)
			}
			comment := mustSluice(t, bin, repo, "plan", "--base", "main")
			if !strings.Contains(comment, "module.box.terraform_data.box") {
				t.Errorf("comment:\n%s", comment)
			}
		})
	}
}

// TestFromASubdirectory: -C into a project's directory still sees the
// changes of the whole checkout, whatever diff.relative says.
func TestFromASubdirectory(t *testing.T) {
	bin := testkit.Engines(t)[0]
	testkit.QuietTerraform(t)
	repo := fixture(t, "twoprojects", bin, t.TempDir())
	testkit.Git(t, repo, "config", "diff.relative", "true")
	testkit.Git(t, repo, "switch", "-q", "-c", "net")
	testkit.Replace(t, filepath.Join(repo, "network", "main.tf"), "10.0.0.0/16", "10.1.0.0/16")
	testkit.Git(t, repo, "commit", "-qam", "net")
	testkit.WriteFile(t, filepath.Join(repo, "app", "extra.tf"), "resource \"terraform_data\" \"extra\" {}\n")
	out := mustSluice(t, bin, filepath.Join(repo, "app"), "projects", "--base", "main")
	if !strings.Contains(out, "network/main.tf") || !strings.Contains(out, "app/extra.tf") {
		t.Errorf("projects from app/:\n%s", out)
	}
}

// fakeTerraform writes a stand-in for terraform that logs each command
// with the plugin cache and workspace it got, and plans no changes.
func fakeTerraform(t *testing.T) (bin testkit.Binary, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls.log")
	path := filepath.Join(dir, "terraform")
	script := `#!/bin/sh
echo "cache=$TF_PLUGIN_CACHE_DIR $*" >> ` + log + `
case "$1" in
plan) for a in "$@"; do case "$a" in -out=*) echo plan > "${a#-out=}";; esac; done; echo "No changes." ;;
show) printf '{"format_version":"1.2"}' ;;
esac
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return testkit.Binary{Engine: "terraform", Path: path}, log
}

// planCall runs `sluice plan -p app` with the fake terraform, the given
// environment and flags, and returns the logged plan command.
func planCall(t *testing.T, env map[string]string, flags ...string) (string, error) {
	t.Helper()
	bin, log := fakeTerraform(t)
	repo := fixture(t, "twoprojects", bin, t.TempDir())
	env["SLUICE_TERRAFORM_BIN"] = bin.Path
	var stdout, stderr bytes.Buffer
	args := append(append([]string{"-C", repo}, flags...), "plan", "--base", "main", "-p", "app")
	if err := Run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
		return "", err
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if _, rest, _ := strings.Cut(l, " "); strings.HasPrefix(rest, "plan ") {
			return l, nil
		}
	}
	t.Fatalf("no plan command in the log:\n%s\nstderr:\n%s", b, stderr.String())
	return "", nil
}

func TestLockTimeout(t *testing.T) {
	tests := []struct {
		name  string
		env   string // SLUICE_LOCK_TIMEOUT
		flags []string
		want  string // in the plan command, or in the error
		usage bool
	}{
		{name: "default: fail at once, as terraform", want: " -lock-timeout=0s "},
		{name: "from the environment", env: "90s", want: " -lock-timeout=1m30s "},
		{name: "the flag wins", env: "90s", flags: []string{"--lock-timeout", "5s"}, want: " -lock-timeout=5s "},
		{name: "the flag wins over a bad environment", env: "soon", flags: []string{"--lock-timeout=2m"}, want: " -lock-timeout=2m0s "},
		{name: "a bad environment", env: "soon", want: `SLUICE_LOCK_TIMEOUT="soon" is not a duration`, usage: true},
		{name: "negative", flags: []string{"--lock-timeout=-1s"}, want: "--lock-timeout -1s is negative", usage: true},
		{name: "not a duration", flags: []string{"--lock-timeout=5"}, want: "invalid argument", usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SLUICE_PLUGIN_CACHE_DIR": t.TempDir(), "SLUICE_LOCK_TIMEOUT": tt.env}
			call, err := planCall(t, env, tt.flags...)
			if tt.usage {
				if !IsUsage(err) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(call, tt.want) {
				t.Errorf("plan command %q lacks %q", call, tt.want)
			}
		})
	}
}

func TestPluginCacheDir(t *testing.T) {
	user, sluiceEnv, flag, home := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  string
	}{
		{"Sluice's own by default", map[string]string{"HOME": home}, nil, filepath.Join(home, ".cache", "sluice", "plugins")},
		{"the user's TF_PLUGIN_CACHE_DIR", map[string]string{"HOME": home, "TF_PLUGIN_CACHE_DIR": user}, nil, user},
		{"SLUICE_PLUGIN_CACHE_DIR over TF_PLUGIN_CACHE_DIR", map[string]string{"HOME": home, "TF_PLUGIN_CACHE_DIR": user, "SLUICE_PLUGIN_CACHE_DIR": sluiceEnv}, nil, sluiceEnv},
		{"the flag over both", map[string]string{"HOME": home, "TF_PLUGIN_CACHE_DIR": user, "SLUICE_PLUGIN_CACHE_DIR": sluiceEnv}, []string{"--plugin-cache-dir", flag}, flag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, err := planCall(t, tt.env, tt.flags...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(call, "cache="+tt.want+" ") {
				t.Errorf("plan command %q, want the plugin cache %s", call, tt.want)
			}
		})
	}
}

// TestSecretsOfUnchangedResourcesNeverShown: a secret applied long ago
// sits in the state; a later change that does not touch it, but prints it
// (a provisioner, with nonsensitive), must not show it either.
func TestSecretsOfUnchangedResourcesNeverShown(t *testing.T) {
	const canary = "canary-9c1e-old-token"
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			repo := fixture(t, "oldsecret", bin, t.TempDir())
			mustSluice(t, bin, repo, "plan", "--base", "main", "-p", "vault")
			mustSluice(t, bin, repo, "apply")

			testkit.Git(t, repo, "switch", "-q", "-c", "use-it")
			f, err := os.OpenFile(filepath.Join(repo, "vault", "main.tf"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString(`
resource "terraform_data" "use" {
  provisioner "local-exec" {
    command = "echo using ${nonsensitive(terraform_data.token.output)}"
  }
}
`)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			testkit.Git(t, repo, "commit", "-qam", "use the token")
			all := everythingShown(t, bin, repo, []string{"plan", "--base", "main", "-v"}, []string{"apply"})
			if !strings.Contains(all.String(), "using ***") {
				t.Errorf("the provisioner's output, with the token hidden, does not appear: the test proves nothing\n%s", all.String())
			}
			if strings.Contains(all.String(), canary) {
				t.Errorf("the secret of the unchanged resource appears:\n%s", all.String())
			}
		})
	}
}

// TestPlainSettingsInSecretStoresStayVisible: values kept sensitive by
// resources the plan does not change (a parameter store's "prod", a
// region) are hidden only when they could be secrets and appear nowhere
// else in the plan: the change of what uses them stays readable.
func TestPlainSettingsInSecretStoresStayVisible(t *testing.T) {
	bin := testkit.Engines(t)[0]
	testkit.QuietTerraform(t)
	repo := fixture(t, "settings", bin, t.TempDir())
	mustSluice(t, bin, repo, "plan", "--base", "main", "-p", "app")
	mustSluice(t, bin, repo, "apply")
	testkit.Git(t, repo, "switch", "-q", "-c", "rename")
	main := filepath.Join(repo, "app", "main.tf")
	testkit.Replace(t, main, `name = "api-production-east"`, `name = "api-production-east-2"`)
	testkit.Replace(t, main, `db   = "prod-db"`, `db   = "prod-db2"`)
	testkit.Git(t, repo, "commit", "-qam", "rename")
	comment := mustSluice(t, bin, repo, "plan", "--base", "main")
	for _, want := range []string{`"api-production-east" -> "api-production-east-2"`, `"prod-db" -> "prod-db2"`} {
		if !strings.Contains(comment, want) {
			t.Errorf("the comment lacks %s:\n%s", want, comment)
		}
	}
}
