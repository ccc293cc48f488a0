package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

const canary = "canary-0b5e55ed-token"

type project struct {
	t     *testing.T
	d     *Driver
	dir   string
	state string
}

func newProject(t *testing.T, bin testkit.Binary, fixture string) *project {
	t.Helper()
	testkit.QuietTerraform(t)
	dir := t.TempDir()
	testkit.CopyDir(t, filepath.Join("testdata", fixture), dir)
	d := New(bin.Engine, bin.Path)
	d.PluginCacheDir = filepath.Join(t.TempDir(), "plugins")
	return &project{t: t, d: d, dir: dir, state: filepath.Join(t.TempDir(), "state")}
}

func (p *project) plan(name string, env ...string) (*engine.Plan, []string, error) {
	p.t.Helper()
	var (
		mu    sync.Mutex
		lines []string
	)
	pl, err := p.d.Plan(context.Background(), engine.PlanRequest{
		Project:  "ng",
		Dir:      p.dir,
		StateDir: p.state,
		PlanFile: filepath.Join(p.state, name+".tfplan"),
		Env:      env,
		Log: func(stream, line string) {
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
		},
	})
	return pl, lines, err
}

func (p *project) apply(name string, pl *engine.Plan, env ...string) (*engine.ApplyResult, error) {
	p.t.Helper()
	return p.d.Apply(context.Background(), engine.ApplyRequest{
		Project:    "ng",
		Dir:        p.dir,
		StateDir:   p.state,
		PlanFile:   filepath.Join(p.state, name+".tfplan"),
		PlanSHA256: pl.Artifact.SHA256,
		Env:        env,
	})
}

func resource(t *testing.T, pl *engine.Plan, addr string) engine.ResourceChange {
	t.Helper()
	for _, r := range pl.Resources {
		if r.Address == addr {
			return r
		}
	}
	t.Fatalf("no change for %s in %+v", addr, pl.Resources)
	return engine.ResourceChange{}
}

func field(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func noCanary(t *testing.T, what string, v any) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		s = string(b)
	}
	if strings.Contains(s, canary) {
		t.Errorf("the sensitive canary appears in %s:\n%s", what, s)
	}
}

// TestLifecycle walks one node group through create, update (3 -> 2),
// replace and delete with the real binaries, checking masking, outputs,
// init reuse and the summaries on the way.
func TestLifecycle(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "nodegroup")

			// create
			pl, lines, err := p.plan("create")
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if pl.InitSkipped {
				t.Error("first plan must run init")
			}
			if got := (engine.Summary{Add: 2}); pl.Summary != got {
				t.Errorf("create summary = %+v, want %+v", pl.Summary, got)
			}
			ng := resource(t, pl, "terraform_data.node_group[0]")
			if ng.Action != engine.ActionCreate || field(ng.After, "input", "desired_size") != json.Number("3") {
				t.Errorf("node group create = %+v", ng)
			}
			if field(ng.After, "id") != engine.UnknownValue {
				t.Errorf("unknown id not marked: %v", field(ng.After, "id"))
			}
			cr := resource(t, pl, "terraform_data.credentials")
			if field(cr.After, "input") != engine.SensitiveValue {
				t.Errorf("sensitive input not masked: %v", field(cr.After, "input"))
			}
			if len(pl.Outputs) != 2 || pl.Outputs[0].Name != "api_token" || !pl.Outputs[0].Sensitive || pl.Outputs[0].After != engine.SensitiveValue {
				t.Errorf("outputs = %+v", pl.Outputs)
			}
			if !slices.Contains(pl.Secrets, canary) {
				t.Errorf("secrets %q do not include the canary", pl.Secrets)
			}
			if len(lines) == 0 {
				t.Error("no output was streamed")
			}
			noCanary(t, "the plan JSON", pl)
			noCanary(t, "the plan text", pl.Text)
			noCanary(t, "the streamed lines", strings.Join(lines, "\n"))
			if !strings.Contains(pl.Text, "Plan: 2 to add") || strings.Contains(pl.Text, "Saved the plan") {
				t.Errorf("plan text:\n%s", pl.Text)
			}
			if pl.Artifact.SHA256 == "" || pl.Artifact.Size == 0 {
				t.Errorf("artifact = %+v", pl.Artifact)
			}
			res, err := p.apply("create", pl)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if res.Summary.Add != 2 {
				t.Errorf("apply summary = %+v", res.Summary)
			}
			noCanary(t, "the apply output", res.Text)

			// update: 3 -> 2, init reused
			pl, _, err = p.plan("update", "TF_VAR_desired_size=2")
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if !pl.InitSkipped {
				t.Error("second plan of an unchanged project must skip init")
			}
			if (pl.Summary != engine.Summary{Change: 1}) {
				t.Errorf("update summary = %+v", pl.Summary)
			}
			ng = resource(t, pl, "terraform_data.node_group[0]")
			if ng.Action != engine.ActionUpdate ||
				field(ng.Before, "input", "desired_size") != json.Number("3") ||
				field(ng.After, "input", "desired_size") != json.Number("2") {
				t.Errorf("update = %+v", ng)
			}
			if _, err := p.apply("update", pl, "TF_VAR_desired_size=2"); err != nil {
				t.Fatalf("apply: %v", err)
			}

			// replace
			pl, _, err = p.plan("replace", "TF_VAR_desired_size=2", "TF_VAR_generation=2")
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			ng = resource(t, pl, "terraform_data.node_group[0]")
			if ng.Action != engine.ActionReplace || !slices.Contains(ng.ReplacePaths, "triggers_replace") || pl.Summary.Replace != 1 {
				t.Errorf("replace = %+v, summary %+v", ng, pl.Summary)
			}
			if _, err := p.apply("replace", pl); err != nil {
				t.Fatalf("apply: %v", err)
			}

			// delete
			pl, _, err = p.plan("delete", "TF_VAR_enabled=false", "TF_VAR_generation=2", "TF_VAR_desired_size=2")
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if ng = resource(t, pl, "terraform_data.node_group[0]"); ng.Action != engine.ActionDelete || pl.Summary.Destroy != 1 {
				t.Errorf("delete = %+v, summary %+v", ng, pl.Summary)
			}
			if _, err := p.apply("delete", pl); err != nil {
				t.Fatalf("apply: %v", err)
			}

			// nothing left to do
			pl, _, err = p.plan("noop", "TF_VAR_enabled=false", "TF_VAR_generation=2", "TF_VAR_desired_size=2")
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if pl.Changes() {
				t.Errorf("plan after delete has changes: %+v", pl.Summary)
			}
		})
	}
}

func TestStalePlanIsRefused(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "nodegroup")
			a, _, err := p.plan("a", "TF_VAR_desired_size=1")
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := p.plan("b", "TF_VAR_desired_size=4")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.apply("b", b); err != nil {
				t.Fatal(err)
			}
			_, err = p.apply("a", a)
			if !errors.Is(err, engine.ErrStalePlan) {
				t.Fatalf("applying a plan made before another apply: err = %v, want ErrStalePlan", err)
			}
			var re *engine.RunError
			if !errors.As(err, &re) || !strings.Contains(strings.Join(re.Lines, "\n"), "stale") {
				t.Errorf("error lines do not explain the staleness: %v", err)
			}
		})
	}
}

func TestApplyRefusesAnotherArtifact(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "nodegroup")
			pl, _, err := p.plan("a")
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(p.state, "a.tfplan")
			if err := os.WriteFile(f, []byte("not the reviewed plan"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := p.apply("a", pl); !errors.Is(err, engine.ErrArtifactChanged) {
				t.Fatalf("err = %v, want ErrArtifactChanged", err)
			}
			if _, err := os.Stat(filepath.Join(p.dir, "terraform.tfstate")); err == nil {
				t.Error("a refused apply must not create state")
			}
		})
	}
}

func TestPlanFailures(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			tests := []struct {
				fixture string
				want    string // in the engine's own error lines
			}{
				{"broken", "Error:"},
				{"fails-midway", "does-not-exist.txt"},
			}
			for _, tt := range tests {
				t.Run(tt.fixture, func(t *testing.T) {
					p := newProject(t, bin, tt.fixture)
					_, _, err := p.plan("x")
					var re *engine.RunError
					if !errors.As(err, &re) {
						t.Fatalf("err = %v, want a RunError", err)
					}
					if re.Project != "ng" || !strings.Contains(strings.Join(re.Lines, "\n"), tt.want) {
						t.Errorf("error for project %q does not show %q:\n%s", re.Project, tt.want, strings.Join(re.Lines, "\n"))
					}
					if _, err := os.Stat(filepath.Join(p.state, "x.tfplan")); err == nil {
						t.Error("a failed plan left a plan file behind")
					}
					if _, err := os.Stat(filepath.Join(p.dir, ".terraform.tfstate.lock.info")); err == nil {
						t.Error("a failed plan left the state locked")
					}
				})
			}
		})
	}
}

func TestMissingBinaryAndDir(t *testing.T) {
	d := New("opentofu", filepath.Join(t.TempDir(), "no-such-tofu"))
	_, err := d.Plan(context.Background(), engine.PlanRequest{Project: "p", Dir: t.TempDir(), StateDir: t.TempDir(), PlanFile: filepath.Join(t.TempDir(), "p")})
	if !errors.Is(err, engine.ErrBinaryNotFound) || !strings.Contains(err.Error(), "SLUICE_TOFU_BIN") {
		t.Errorf("missing binary: err = %v", err)
	}
	d = New("terraform", "terraform")
	_, err = d.Plan(context.Background(), engine.PlanRequest{Project: "p", Dir: filepath.Join(t.TempDir(), "gone"), StateDir: t.TempDir(), PlanFile: filepath.Join(t.TempDir(), "p")})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "project p") {
		t.Errorf("missing dir: err = %v", err)
	}
}

func TestInitKey(t *testing.T) {
	dir := t.TempDir()
	testkit.CopyDir(t, filepath.Join("testdata", "nodegroup"), dir)
	main := filepath.Join(dir, "main.tf")
	key := func() string {
		k, err := initKey("/bin/terraform", "default", dir, dir)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := key()
	testkit.Replace(t, main, "default = 3", "default = 2")
	if key() != k0 {
		t.Error("changing a variable default must not need init")
	}
	testkit.WriteFile(t, filepath.Join(dir, "versions.tf"), "terraform {\n  required_version = \">= 1.0\"\n}\n")
	k1 := key()
	if k1 == k0 {
		t.Error("a terraform block must change the init key")
	}
	testkit.WriteFile(t, filepath.Join(dir, "mod.tf"), "module \"m\" {\n  source = \"./m\"\n}\n")
	testkit.WriteFile(t, filepath.Join(dir, "m", "main.tf"), "resource \"null_resource\" \"x\" {}\n")
	k2 := key()
	if k2 == k1 {
		t.Error("a module call must change the init key")
	}
	testkit.WriteFile(t, filepath.Join(dir, "m", "main.tf"), "resource \"random_id\" \"x\" {}\n")
	if key() == k2 {
		t.Error("a new implied provider in a local module must change the init key")
	}
	if k, _ := initKey("/bin/terraform", "prod", dir, dir); k == key() {
		t.Error("the workspace must be part of the init key")
	}
	// The same code elsewhere (another worktree) keeps the key.
	elsewhere := t.TempDir()
	testkit.CopyDir(t, dir, elsewhere)
	if k, _ := initKey("/bin/terraform", "default", elsewhere, elsewhere); k != key() {
		t.Error("the init key must not depend on where the project is checked out")
	}
}

func TestApplyReportsSecretsBeforeApplying(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			for _, fail := range []bool{false, true} {
				t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
					p := newProject(t, bin, "echo-secret")
					env := []string{fmt.Sprintf("TF_VAR_fail=%v", fail)}
					pl, _, err := p.plan("a", env...)
					if err != nil {
						t.Fatal(err)
					}
					var (
						secrets []string
						early   bool // secrets known before the first line of apply output
						lines   []string
					)
					_, err = p.d.Apply(context.Background(), engine.ApplyRequest{
						Project:    "ng",
						Dir:        p.dir,
						StateDir:   p.state,
						PlanFile:   filepath.Join(p.state, "a.tfplan"),
						PlanSHA256: pl.Artifact.SHA256,
						Env:        env,
						Secrets: func(s []string) {
							secrets = s
							early = len(lines) == 0
						},
						Log: func(_, line string) { lines = append(lines, line) },
					})
					if fail != (err != nil) {
						t.Fatalf("apply: err = %v", err)
					}
					if !slices.Contains(secrets, canary) || !early {
						t.Errorf("secrets = %q (before any output: %v), want the sensitive variable's value before applying", secrets, early)
					}
					if !strings.Contains(strings.Join(lines, "\n"), "token="+canary) {
						t.Errorf("the provisioner did not print the secret, so the test proves nothing:\n%s", strings.Join(lines, "\n"))
					}
				})
			}
		})
	}
}

func TestErrorLinesLeaveOutTheCLIConfiguration(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "broken")
			t.Setenv("TF_CLI_CONFIG_FILE", filepath.Join(t.TempDir(), "missing-terraformrc"))
			_, _, err := p.plan("x")
			var re *engine.RunError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RunError", err)
			}
			text := strings.Join(re.Lines, "\n")
			if strings.Contains(text, "CLI configuration") || !strings.Contains(text, "Error:") || strings.HasPrefix(text, "\n") {
				t.Errorf("error lines:\n%s", text)
			}
		})
	}
}

func TestWorkspaceCreatedIsReported(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "nodegroup")
			plan := func() (*engine.Plan, []string) {
				var lines []string
				pl, err := p.d.Plan(context.Background(), engine.PlanRequest{
					Project: "ng", Dir: p.dir, Workspace: "stagign", StateDir: p.state,
					PlanFile: filepath.Join(p.state, "ws.tfplan"),
					Log:      func(_, l string) { lines = append(lines, l) },
				})
				if err != nil {
					t.Fatal(err)
				}
				return pl, lines
			}
			pl, lines := plan()
			if pl.CreatedWorkspace != "stagign" || !slices.Contains(lines, `sluice: created workspace "stagign"`) ||
				len(pl.Warnings) == 0 || !strings.Contains(pl.Warnings[len(pl.Warnings)-1], `"stagign" did not exist`) {
				t.Errorf("created workspace %q, warnings %q, lines:\n%s", pl.CreatedWorkspace, pl.Warnings, strings.Join(lines, "\n"))
			}
			// Forget the init so the workspace is selected again: it exists now.
			if err := os.Remove(filepath.Join(p.state, "init-key")); err != nil {
				t.Fatal(err)
			}
			pl, _ = plan()
			if pl.CreatedWorkspace != "" {
				t.Errorf("an existing workspace reported as created")
			}
		})
	}
}

// fakeEngine writes a shell script that stands in for terraform: init
// appends to a log, plan writes the plan file, show prints what SHOW says
// (and exits with SHOW_EXIT).
func fakeEngine(t *testing.T) (bin, initLog string) {
	t.Helper()
	dir := t.TempDir()
	initLog = filepath.Join(dir, "init.log")
	bin = filepath.Join(dir, "terraform")
	script := `#!/bin/sh
case "$1" in
init) echo "init $$" >> ` + initLog + `; sleep "${INIT_SLEEP:-0}" ;;
plan) for a in "$@"; do case "$a" in -out=*) echo plan > "${a#-out=}";; esac; done; echo "No changes." ;;
show) printf '%s' "${SHOW:-{\"format_version\":\"1.2\"}}"; exit "${SHOW_EXIT:-0}" ;;
esac
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, initLog
}

func TestShowErrorLinesNeverComeFromStdout(t *testing.T) {
	bin, _ := fakeEngine(t)
	d := New("terraform", bin)
	secret := `{"variables":{"password":{"value":"` + canary + `"}}}`
	_, err := d.Plan(context.Background(), engine.PlanRequest{
		Project: "p", Dir: t.TempDir(), StateDir: t.TempDir(), PlanFile: filepath.Join(t.TempDir(), "p.plan"),
		Env: []string{"SHOW=" + secret, "SHOW_EXIT=1"},
	})
	var re *engine.RunError
	if !errors.As(err, &re) || re.Command != "terraform show" {
		t.Fatalf("err = %v, want a failed show", err)
	}
	noCanary(t, "the error lines of show -json", strings.Join(re.Lines, "\n"))
}

func TestInitsDoNotShareThePluginCacheAtOnce(t *testing.T) {
	bin, initLog := fakeEngine(t)
	cache := t.TempDir()
	// Someone else is initialising with this cache.
	f, err := os.OpenFile(cache+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	d := New("terraform", bin)
	d.PluginCacheDir = cache
	var (
		mu    sync.Mutex
		lines []string
	)
	done := make(chan error, 1)
	go func() {
		_, err := d.Plan(context.Background(), engine.PlanRequest{
			Project: "p", Dir: t.TempDir(), StateDir: t.TempDir(), PlanFile: filepath.Join(t.TempDir(), "p.plan"),
			Log: func(_, l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() },
		})
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	if b, _ := os.ReadFile(initLog); len(b) > 0 {
		t.Fatalf("init ran while another init held the plugin cache: %s", b)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("init did not run once the plugin cache was free")
	}
	if b, _ := os.ReadFile(initLog); len(b) == 0 {
		t.Error("init did not run")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(lines, "\n"), "waiting for another init") {
		t.Errorf("no word about waiting: %q", lines)
	}

	// Two drivers sharing a cache never run init at the same time.
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Plan(context.Background(), engine.PlanRequest{
				Project: "p", Dir: t.TempDir(), StateDir: t.TempDir(), PlanFile: filepath.Join(t.TempDir(), "p.plan"),
				Env: []string{"INIT_SLEEP=0.4"},
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took < 800*time.Millisecond {
		t.Errorf("two inits of 0.4s each took %v together: they overlapped", took)
	}
}

func TestErrorLines(t *testing.T) {
	const cliWarning = "There are some problems with the CLI configuration:\n╷\n│ Warning: Unable to open CLI configuration file\n│\n│ The CLI configuration file at \"/x\" does not exist.\n╵\n\n"
	tests := []struct {
		name       string
		out        engine.Output
		fromStdout bool
		want       string
	}{
		{"stderr without boxes", engine.Output{Stderr: "╷\n│ Error: boom\n│\n│ detail\n╵\n"}, true, "Error: boom\n\ndetail"},
		{"the CLI configuration block is left out", engine.Output{Stderr: cliWarning + "Error: boom\n"}, true, "Error: boom"},
		{"stdout when stderr says nothing else", engine.Output{Stdout: "Error: on stdout\n", Stderr: cliWarning}, true, "Error: on stdout"},
		{"never stdout when not asked", engine.Output{Stdout: `{"secret":"` + canary + `"}`, Stderr: cliWarning}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(errorLines(tt.out, tt.fromStdout), "\n"); got != tt.want {
				t.Errorf("errorLines = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSwitchingBackToTheDefaultWorkspace: a project planned and applied in
// another workspace, then configured back to the default one, plans and
// applies against the default workspace's state, although the data
// directory still has the other workspace selected.
func TestSwitchingBackToTheDefaultWorkspace(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "nodegroup")
			plan := func(ws, name string) *engine.Plan {
				t.Helper()
				pl, err := p.d.Plan(context.Background(), engine.PlanRequest{
					Project: "ng", Dir: p.dir, Workspace: ws, StateDir: p.state,
					PlanFile: filepath.Join(p.state, name+".tfplan"),
				})
				if err != nil {
					t.Fatalf("plan in %q: %v", ws, err)
				}
				return pl
			}
			apply := func(ws, name string, pl *engine.Plan) {
				t.Helper()
				_, err := p.d.Apply(context.Background(), engine.ApplyRequest{
					Project: "ng", Dir: p.dir, Workspace: ws, StateDir: p.state,
					PlanFile: filepath.Join(p.state, name+".tfplan"), PlanSHA256: pl.Artifact.SHA256,
				})
				if err != nil {
					t.Fatalf("apply in %q: %v", ws, err)
				}
			}
			apply("staging", "staging", plan("staging", "staging"))
			if _, err := os.Stat(filepath.Join(p.dir, "terraform.tfstate.d", "staging", "terraform.tfstate")); err != nil {
				t.Fatalf("no staging state: %v", err)
			}

			for _, ws := range []string{"default", ""} {
				pl := plan(ws, "default")
				if (pl.Summary != engine.Summary{Add: 2}) {
					t.Fatalf("workspace %q planned %+v, want 2 to add in the empty default workspace (the staging state was used)", ws, pl.Summary)
				}
			}
			pl := plan("", "default")
			apply("", "default", pl)
			if _, err := os.Stat(filepath.Join(p.dir, "terraform.tfstate")); err != nil {
				t.Errorf("the default workspace's state was not written: %v", err)
			}
			if pl := plan("staging", "again"); pl.Changes() {
				t.Errorf("staging has changes after applying in default: %+v", pl.Summary)
			}
		})
	}
}

func TestLockTimeoutArgument(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, "-lock-timeout=0s"}, {90 * time.Second, "-lock-timeout=1m30s"}, {1500 * time.Millisecond, "-lock-timeout=1.5s"}, {-time.Second, "-lock-timeout=0s"}} {
		d := New("terraform", "terraform")
		d.LockTimeout = tt.d
		if got := d.lockArg(); got != tt.want {
			t.Errorf("LockTimeout %v: %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestProbeLock: while an apply holds the state lock, the probe names the
// lock's id; once it is done, there is none.
func TestProbeLock(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "slow-apply")
			pl, _, err := p.plan("slow")
			if err != nil {
				t.Fatal(err)
			}
			started := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				var once sync.Once
				_, err := p.d.Apply(context.Background(), engine.ApplyRequest{
					Project: "ng", Dir: p.dir, StateDir: p.state,
					PlanFile: filepath.Join(p.state, "slow.tfplan"), PlanSHA256: pl.Artifact.SHA256,
					Log: func(_, line string) {
						if strings.Contains(line, "Provisioning with") {
							once.Do(func() { close(started) })
						}
					},
				})
				done <- err
			}()
			<-started
			id, err := p.d.ProbeLock(context.Background(), engine.ProbeRequest{Dir: p.dir, Workspace: "", StateDir: p.state})
			if err != nil || id == "" {
				t.Errorf("probe during the apply: id %q, err %v; want the lock id", id, err)
			}
			if err := <-done; err != nil {
				t.Fatalf("apply: %v", err)
			}
			if id, err := p.d.ProbeLock(context.Background(), engine.ProbeRequest{Dir: p.dir, Workspace: "", StateDir: p.state}); err != nil || id != "" {
				t.Errorf("probe after the apply: id %q, err %v; want none", id, err)
			}
		})
	}
}

// TestDebugLogsAreNotPassedOn: TF_LOG in Sluice's environment does not
// reach the engine, whose debug log would bury its error lines (and hold
// providers' requests, credentials included).
func TestDebugLogsAreNotPassedOn(t *testing.T) {
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_LOG_PROVIDER", "TRACE")
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "broken")
			_, _, err := p.plan("x")
			var re *engine.RunError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RunError", err)
			}
			lines := strings.Join(re.Lines, "\n")
			if !strings.Contains(lines, "Error:") || strings.Contains(lines, "[TRACE]") || strings.Contains(lines, "[DEBUG]") {
				t.Errorf("error lines with TF_LOG=TRACE set:\n%s", lines)
			}
		})
	}
}

// TestBadWorkspaceIsRefused: a workspace that is not a plain name is
// refused before anything runs or is created. Terraform itself takes ".."
// (the local backend then keeps that workspace's state in
// terraform.tfstate.d/../, the default workspace's), and a name starting
// with '-' would be read as an option.
func TestBadWorkspaceIsRefused(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "nodegroup")
			before := testkit.Tree(t, filepath.Dir(p.dir))
			stateBefore := testkit.Tree(t, filepath.Dir(p.state))
			for _, ws := range []string{"..", ".", "../../escaped", "-help", "a b"} {
				_, err := p.d.Plan(context.Background(), engine.PlanRequest{
					Project: "ng", Dir: p.dir, Workspace: ws, StateDir: p.state,
					PlanFile: filepath.Join(p.state, "ws.tfplan"),
				})
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("project ng: invalid workspace %q (", ws)) {
					t.Errorf("workspace %q: %v, want it refused", ws, err)
				}
			}
			if after := testkit.Tree(t, filepath.Dir(p.dir)); !slices.Equal(after, before) {
				t.Errorf("the project's directory changed:\n%q\nwas\n%q", after, before)
			}
			if after := testkit.Tree(t, filepath.Dir(p.state)); !slices.Equal(after, stateBefore) {
				t.Errorf("the state directory changed:\n%q\nwas\n%q", after, stateBefore)
			}
		})
	}
}

// TestNothingOutsideTheRepositoryIsPlanned: a local module, or the lock
// file, that leads outside the repository (through a symbolic link, or a
// source with more ../ than the project is deep) is refused before init
// runs: terraform would read, and plan, the code there. A link to a
// module inside the repository is that module.
func TestNothingOutsideTheRepositoryIsPlanned(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			top := t.TempDir()
			repo := filepath.Join(top, "repo")
			testkit.WriteFile(t, filepath.Join(top, "outside", "main.tf"), `output "where" { value = "outside the repository" }`+"\n")
			testkit.WriteFile(t, filepath.Join(repo, "modules", "net", "main.tf"), `output "where" { value = "inside" }`+"\n")
			prod := filepath.Join(repo, "envs", "prod")
			tests := []struct {
				name, main string
				links      map[string]string
				want       string // "" when the plan works
			}{
				{"a module through a link outside", `module "m" { source = "./m" }`, map[string]string{"m": "../../../outside"},
					"module envs/prod/m: envs/prod/m is a symbolic link to ../../../outside, outside the repository; Sluice plans only code inside the repository"},
				{"a module through an absolute link", `module "m" { source = "./m" }`, map[string]string{"m": filepath.Join(top, "outside")},
					"module envs/prod/m: envs/prod/m is a symbolic link to " + filepath.Join(top, "outside") + ", outside the repository"},
				{"a module up the tree", `module "m" { source = "../../../outside" }`, nil,
					`the module source "../../../outside" in envs/prod leads outside the repository; Sluice plans only code inside it`},
				// A link to /dev/zero made the old reader take all memory;
				// any file outside shows the same.
				{"the lock file through a link", `module "m" { source = "../../modules/net" }`, map[string]string{".terraform.lock.hcl": "../../../outside/main.tf"},
					"reading envs/prod/.terraform.lock.hcl: envs/prod/.terraform.lock.hcl is a symbolic link to ../../../outside/main.tf, outside the repository"},
				{"a module through a link inside", `module "m" { source = "./m" }`, map[string]string{"m": "../../modules/net"}, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if err := os.RemoveAll(prod); err != nil {
						t.Fatal(err)
					}
					testkit.WriteFile(t, filepath.Join(prod, "main.tf"), tt.main+"\n"+`output "where" { value = module.m.where }`+"\n")
					for name, target := range tt.links {
						if err := os.Symlink(target, filepath.Join(prod, name)); err != nil {
							t.Fatal(err)
						}
					}
					state := filepath.Join(t.TempDir(), "state")
					d := New(bin.Engine, bin.Path)
					pl, err := d.Plan(context.Background(), engine.PlanRequest{
						Project: "prod", Dir: prod, Root: repo, StateDir: state, PlanFile: filepath.Join(state, "p.tfplan"),
					})
					if tt.want == "" {
						if err != nil || !strings.Contains(fmt.Sprint(pl.Outputs), "inside") {
							t.Fatalf("Plan() = %+v, %v; want the module inside planned", pl, err)
						}
						return
					}
					if err == nil || !strings.Contains(err.Error(), tt.want) {
						t.Fatalf("Plan() = %+v, %v; want %q", pl, err, tt.want)
					}
					if _, err := os.Stat(filepath.Join(state, "data")); err == nil {
						t.Error("init ran")
					}
				})
			}
		})
	}
}
