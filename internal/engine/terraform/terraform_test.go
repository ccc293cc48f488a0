package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
			if !contains(pl.Secrets, canary) {
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
			if ng.Action != engine.ActionReplace || !contains(ng.ReplacePaths, "triggers_replace") || pl.Summary.Replace != 1 {
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
		k, err := initKey("/bin/terraform", "default", dir)
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
	if k, _ := initKey("/bin/terraform", "prod", dir); k == key() {
		t.Error("the workspace must be part of the init key")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
