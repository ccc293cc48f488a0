package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/testkit"
)

// fakeEngine plans every project as one resource to add and applies by
// remembering the project. Hooks change what one project's plan or apply
// does.
type fakeEngine struct {
	mu      sync.Mutex
	applied []string
	// onPlan runs while a project is planned, before its plan is saved.
	onPlan map[string]func(ctx context.Context, req engine.PlanRequest) error
	// onApply replaces a project's apply.
	onApply map[string]func(ctx context.Context, req engine.ApplyRequest) (*engine.ApplyResult, error)
	// outputs names the projects whose plans change an output, and how.
	outputs map[string]engine.Action
}

var _ engine.Engine = (*fakeEngine)(nil)

func (f *fakeEngine) Name() string { return "terraform" }

func (f *fakeEngine) Plan(ctx context.Context, req engine.PlanRequest) (*engine.Plan, error) {
	if h := f.onPlan[req.Project]; h != nil {
		if err := h(ctx, req); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(req.PlanFile), 0o700); err != nil {
		return nil, err
	}
	body := []byte("plan of " + req.Project)
	if err := os.WriteFile(req.PlanFile, body, 0o600); err != nil {
		return nil, err
	}
	if req.Saved != nil {
		req.Saved()
	}
	sum := sha256.Sum256(body)
	var outputs []engine.OutputChange
	if act, ok := f.outputs[req.Project]; ok {
		outputs = []engine.OutputChange{{Name: "id", Action: act}}
	}
	return &engine.Plan{
		Outputs:       outputs,
		OutputChanges: outputs != nil,
		Engine:        "terraform",
		Resources:     []engine.ResourceChange{{Address: "terraform_data.x", Type: "terraform_data", Name: "x", Action: engine.ActionCreate}},
		Summary:       engine.Summary{Add: 1},
		Text:          "Plan: 1 to add, 0 to change, 0 to destroy.\n",
		Artifact:      engine.Artifact{Path: req.PlanFile, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))},
	}, nil
}

func (f *fakeEngine) Apply(ctx context.Context, req engine.ApplyRequest) (*engine.ApplyResult, error) {
	if h := f.onApply[req.Project]; h != nil {
		return h(ctx, req)
	}
	f.mu.Lock()
	f.applied = append(f.applied, req.Project)
	f.mu.Unlock()
	return &engine.ApplyResult{Text: "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.\n"}, nil
}

// OwnFiles is what the terraform driver, which the fake stands in for,
// writes while planning: init's lock file.
func (f *fakeEngine) OwnFiles(string) []engine.OwnFile {
	return []engine.OwnFile{{Name: ".terraform.lock.hcl"}}
}

func (f *fakeEngine) appliedProjects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.applied...)
}

// twoProjects is a repository where app depends on net, with a branch
// "change" that touches both.
const twoProjects = `version: 1
projects:
  - name: app
    dir: app
    depends_on: [net]
  - name: net
    dir: net
  - name: other
    dir: other
`

func newRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		testkit.WriteFile(t, filepath.Join(dir, filepath.FromSlash(name)), body)
	}
	testkit.Git(t, dir, "init", "-q", "-b", "main")
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "--allow-empty", "-m", "initial")
	return dir
}

func commitAll(t *testing.T, dir, msg string) {
	t.Helper()
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", msg)
}

func twoProjectRepo(t *testing.T) string {
	t.Helper()
	dir := newRepo(t, map[string]string{
		"sluice.yaml":   twoProjects,
		"app/main.tf":   "# app\n",
		"net/main.tf":   "# net\n",
		"other/main.tf": "# other\n",
	})
	testkit.Git(t, dir, "switch", "-q", "-c", "change")
	testkit.WriteFile(t, filepath.Join(dir, "app", "main.tf"), "# app changed\n")
	testkit.WriteFile(t, filepath.Join(dir, "net", "main.tf"), "# net changed\n")
	testkit.WriteFile(t, filepath.Join(dir, "other", "main.tf"), "# other changed\n")
	commitAll(t, dir, "change")
	return dir
}

func options(dir string, eng engine.Engine, progress *bytes.Buffer) Options {
	return Options{
		Dir:      dir,
		Engines:  func(string) (engine.Engine, error) { return eng, nil },
		Progress: progress,
	}
}

func names(rec *Record) []string {
	var out []string
	for _, p := range rec.Projects {
		out = append(out, p.Name+":"+string(p.Status))
	}
	return out
}

// TestApplyRefusals covers the refusals that protect depends_on across
// runs of sluice apply.
func TestApplyRefusals(t *testing.T) {
	failNet := map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
		"net": func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error) {
			return nil, &engine.RunError{Project: "net", Command: "terraform apply", Lines: []string{"Error: boom"}, Err: errors.New("exit status 1")}
		},
	}
	tests := []struct {
		name    string
		onApply map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error)
		first   []string // -p of a first apply, nil: no first apply
		second  []string // -p of the apply under test
		want    string   // in the refusal; "" means it applies
		applied []string // by the engine, in order, over both applies
	}{
		{name: "a second apply after a failed dependency", onApply: failNet, first: []string{}, second: nil,
			want: "the last apply of net failed; fix it, run `sluice plan` again"},
		{name: "the failed project alone", onApply: failNet, first: []string{}, second: []string{"net"},
			want: "the last apply of net failed; fix it, run `sluice plan` again"},
		{name: "a dependent alone after a failed dependency", onApply: failNet, first: []string{}, second: []string{"app"},
			want: "project app depends on net, whose apply failed; fix net, run `sluice plan` again"},
		{name: "a dependent without its dependency", second: []string{"app"},
			want: "project app depends on net, whose changes are not applied: apply `net` first, or add `-p net`"},
		{name: "a dependent with its dependency, named in any order", second: []string{"app", "net"},
			applied: []string{"net", "app"}},
		{name: "a dependent after its dependency was applied", first: []string{"net"}, second: []string{"app"},
			applied: []string{"net", "app"}},
		{name: "an independent project", onApply: failNet, first: []string{}, second: []string{"other"},
			applied: []string{"other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := twoProjectRepo(t)
			eng := &fakeEngine{onApply: tt.onApply}
			var progress bytes.Buffer
			if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"}); err != nil {
				t.Fatalf("plan: %v\n%s", err, progress.String())
			}
			if tt.first != nil {
				_, _, _ = Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress), Projects: tt.first})
			}
			rec, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress), Projects: tt.second})
			if tt.want != "" {
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want a refusal with %q", err, tt.want)
				}
			} else if err != nil {
				t.Fatalf("err = %v (record %q)", err, names(rec))
			}
			if got := eng.appliedProjects(); strings.Join(got, ",") != strings.Join(tt.applied, ",") {
				t.Errorf("applied %q, want %q", got, tt.applied)
			}
		})
	}
}

func TestApplyFailureSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	dir := twoProjectRepo(t)
	eng := &fakeEngine{onApply: map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
		"net": func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error) {
			return nil, &engine.RunError{Project: "net", Command: "terraform apply", Err: errors.New("exit status 1")}
		},
		"other": func(_ context.Context, req engine.ApplyRequest) (*engine.ApplyResult, error) {
			return nil, fmt.Errorf("project other: %s has hash x, the reviewed plan had y: %w", req.PlanFile, engine.ErrArtifactChanged)
		},
	}}
	var progress bytes.Buffer
	if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		project string
		want    []string
	}{
		{"net", []string{"terraform apply failed", "the state may be partly changed", "read the engine's error lines", "run `sluice plan` again"}},
		{"other", []string{"the saved plan file was modified after it was reviewed", "nothing was applied", "run `sluice plan` again"}},
	}
	for _, tt := range tests {
		t.Run(tt.project, func(t *testing.T) {
			_, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress), Projects: []string{tt.project}})
			if !errors.Is(err, ErrApplyFailed) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestPlanFailsWhatChangedWhilePlanning(t *testing.T) {
	// The projects are planned in the order net, app, other.
	tests := []struct {
		name   string
		during string                         // the project being planned
		edit   func(t *testing.T, dir string) // meanwhile
		failed []string
	}{
		{"an edit to the project being planned", "net", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "net", "main.tf"), "# edited during the plan\n")
		}, []string{"net"}},
		{"an edit to a project planned earlier", "app", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "net", "main.tf"), "# edited after its plan\n")
		}, []string{"net"}},
		{"an edit to a project planned later", "net", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "other", "main.tf"), "# edited before its plan\n")
		}, []string{"other"}},
		{"a new file in a dependent", "net", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "app", "extra.tf"), "# new\n")
		}, []string{"app"}},
		{"the lock file init writes", "net", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "net", ".terraform.lock.hcl"), "# providers\n")
		}, nil},
		{"an unrelated file", "net", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "README.md"), "# docs\n")
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := twoProjectRepo(t)
			eng := &fakeEngine{onPlan: map[string]func(context.Context, engine.PlanRequest) error{
				tt.during: func(context.Context, engine.PlanRequest) error { tt.edit(t, dir); return nil },
			}}
			var progress bytes.Buffer
			rec, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"})
			var failed []string
			for _, p := range rec.Projects {
				if p.Status == render.StatusFailed {
					failed = append(failed, p.Name)
					if !strings.Contains(p.Message, "the code changed while it was being planned; run `sluice plan` again") {
						t.Errorf("%s: message %q", p.Name, p.Message)
					}
					if _, err := os.Stat(filepath.Join(dir, ".git", "sluice", "plans", p.Name+".plan")); err == nil {
						t.Errorf("%s: the plan file of a failed plan is still there", p.Name)
					}
				}
			}
			if strings.Join(failed, ",") != strings.Join(tt.failed, ",") {
				t.Fatalf("failed %q, want %q (record %q)\n%s", failed, tt.failed, names(rec), progress.String())
			}
			if (err != nil) != (len(tt.failed) > 0) || (err != nil && !errors.Is(err, ErrPlanFailed)) {
				t.Errorf("err = %v", err)
			}
			// The record holds the tree after planning: with the failed
			// projects left out, the rest applies.
			if len(tt.failed) == 0 {
				if _, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)}); err != nil {
					t.Errorf("apply: %v", err)
				}
			}
		})
	}
}

func TestInterruptedPlanIsNotApplied(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := twoProjectRepo(t)
	eng := &fakeEngine{onPlan: map[string]func(context.Context, engine.PlanRequest) error{
		// The engine finishes its plan although it was interrupted.
		"net": func(context.Context, engine.PlanRequest) error { cancel(); return nil },
	}}
	var progress bytes.Buffer
	rec, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"})
	if !errors.Is(err, context.Canceled) || rec == nil || !rec.Interrupted {
		t.Fatalf("err = %v, record %+v", err, rec)
	}
	_, _, err = Apply(context.Background(), ApplyOptions{Options: options(dir, eng, &progress)})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "the last plan was interrupted; run `sluice plan` again") {
		t.Fatalf("apply: err = %v", err)
	}
	if got := eng.appliedProjects(); len(got) != 0 {
		t.Errorf("applied %q", got)
	}
}

func TestApplyHidesTheSecretsOfThePlan(t *testing.T) {
	const secret = "s3cret-from-the-plan"
	ctx := context.Background()
	dir := newRepo(t, map[string]string{"vault/main.tf": "# v\n"})
	testkit.WriteFile(t, filepath.Join(dir, "vault", "main.tf"), "# changed\n")
	tests := []struct {
		name string
		fail bool
	}{{"applied", false}, {"failed", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{onApply: map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
				"vault": func(_ context.Context, req engine.ApplyRequest) (*engine.ApplyResult, error) {
					req.Secrets([]string{secret})
					req.Log("stdout", "terraform_data.x (local-exec): token="+secret)
					if tt.fail {
						return nil, &engine.RunError{Project: "vault", Command: "terraform apply", Lines: []string{"Error: echoed " + secret}, Err: errors.New("exit status 1")}
					}
					return &engine.ApplyResult{Text: "token=" + secret + "\nApply complete!\n"}, nil
				},
			}}
			var progress, live bytes.Buffer
			opts := options(dir, eng, &progress)
			if _, _, err := Plan(ctx, PlanOptions{Options: opts, BaseRef: "main"}); err != nil {
				t.Fatal(err)
			}
			opts.Log = func(_, line string) { live.WriteString(line + "\n") }
			rec, co, err := Apply(ctx, ApplyOptions{Options: opts})
			if tt.fail != (err != nil) {
				t.Fatalf("err = %v", err)
			}
			comment := render.Markdown(co.Comment(rec), co.Redactor(rec))
			saved, _ := os.ReadFile(filepath.Join(dir, ".git", "sluice", "plans", "last.json"))
			all := strings.Join([]string{live.String(), progress.String(), fmt.Sprint(err), comment, string(saved)}, "\n")
			if strings.Contains(all, secret) {
				t.Errorf("the secret leaked:\n%s", all)
			}
			if !strings.Contains(live.String(), "token=***") {
				t.Errorf("live output:\n%s", live.String())
			}
		})
	}
}

func TestAffectedProjects(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string // committed on main
		config string            // git config key=value
		change func(t *testing.T, dir string)
		subdir string // where sluice runs
		want   string // affected projects
	}{
		{
			name:   "from a subdirectory, changes anywhere count",
			files:  map[string]string{"sluice.yaml": twoProjects, "app/main.tf": "", "net/main.tf": "", "other/main.tf": ""},
			subdir: "app",
			change: func(t *testing.T, dir string) {
				testkit.WriteFile(t, filepath.Join(dir, "net", "main.tf"), "# committed\n")
				commitAll(t, dir, "net")
				testkit.WriteFile(t, filepath.Join(dir, "other", "new.tf"), "# untracked\n")
			},
			want: "net,other",
		},
		{
			name:   "with diff.relative",
			files:  map[string]string{"sluice.yaml": twoProjects, "app/main.tf": "", "net/main.tf": "", "other/main.tf": ""},
			config: "diff.relative=true",
			subdir: "app",
			change: func(t *testing.T, dir string) {
				testkit.WriteFile(t, filepath.Join(dir, "net", "main.tf"), "# committed\n")
				commitAll(t, dir, "net")
			},
			want: "net",
		},
		{
			name: "a local module, and its own modules",
			files: map[string]string{
				"envs/prod/main.tf":    `module "vpc" { source = "../../modules/vpc" }`,
				"envs/dev/main.tf":     `module "vpc" { source = "../../modules/other" }`,
				"modules/vpc/main.tf":  `module "subnet" { source = "../subnet" }`,
				"modules/subnet/a.tf":  "",
				"modules/other/one.tf": "",
			},
			change: func(t *testing.T, dir string) {
				testkit.WriteFile(t, filepath.Join(dir, "modules", "subnet", "a.tf"), "# changed\n")
			},
			want: "envs-prod",
		},
		{
			name: "a project dir with glob characters",
			files: map[string]string{
				"sluice.yaml":           "version: 1\nprojects:\n  - name: v2\n    dir: 'envs/app [v2]'\n  - name: b\n    dir: 'envs/{b}'\n  - name: plain\n    dir: envs/b\n",
				"envs/app [v2]/main.tf": "",
				"envs/{b}/main.tf":      "",
				"envs/b/main.tf":        "",
			},
			change: func(t *testing.T, dir string) {
				testkit.WriteFile(t, filepath.Join(dir, "envs", "app [v2]", "main.tf"), "# changed\n")
				testkit.WriteFile(t, filepath.Join(dir, "envs", "{b}", "main.tf"), "# changed\n")
			},
			want: "v2,b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newRepo(t, tt.files)
			if k, v, ok := strings.Cut(tt.config, "="); ok {
				testkit.Git(t, dir, "config", k, v)
			}
			testkit.Git(t, dir, "switch", "-q", "-c", "change")
			tt.change(t, dir)
			_, ch, err := OpenChanges(context.Background(), filepath.Join(dir, tt.subdir), "main")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ch.Matches {
				got = append(got, m.Project)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("affected %q, want %s (changed %q)", got, tt.want, ch.Paths)
			}
		})
	}
}

func TestModuleChangeMakesThePlanStale(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t, map[string]string{
		"envs/prod/main.tf":   `module "vpc" { source = "../../modules/vpc" }`,
		"modules/vpc/main.tf": "# v1\n",
	})
	testkit.WriteFile(t, filepath.Join(dir, "modules", "vpc", "main.tf"), "# v2\n")
	eng := &fakeEngine{}
	var progress bytes.Buffer
	rec, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"})
	if err != nil || len(rec.Projects) != 1 {
		t.Fatalf("plan: %v, %q", err, names(rec))
	}
	testkit.WriteFile(t, filepath.Join(dir, "modules", "vpc", "main.tf"), "# v3, not reviewed\n")
	_, _, err = Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "modules/vpc/main.tf") {
		t.Fatalf("apply after a module changed: err = %v", err)
	}
}

func TestRemovedProjectsAreNamed(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		change func(t *testing.T, dir string)
		want   string // the removed project
	}{
		{
			name:  "removed from sluice.yaml",
			files: map[string]string{"sluice.yaml": twoProjects, "app/main.tf": "", "net/main.tf": "", "other/main.tf": ""},
			change: func(t *testing.T, dir string) {
				testkit.Replace(t, filepath.Join(dir, "sluice.yaml"), "  - name: other\n    dir: other\n", "")
			},
			want: "project other (other) was removed",
		},
		{
			name:  "a discovered project's directory deleted",
			files: map[string]string{"envs/prod/main.tf": "", "envs/old/main.tf": ""},
			change: func(t *testing.T, dir string) {
				testkit.Git(t, dir, "rm", "-rq", "envs/old")
			},
			want: "project envs-old (envs/old) was removed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := newRepo(t, tt.files)
			testkit.Git(t, dir, "switch", "-q", "-c", "change")
			tt.change(t, dir)
			commitAll(t, dir, "remove")
			var progress bytes.Buffer
			rec, co, err := Plan(ctx, PlanOptions{Options: options(dir, &fakeEngine{}, &progress), BaseRef: "main"})
			if err != nil {
				t.Fatal(err)
			}
			comment := render.Markdown(co.Comment(rec), co.Redactor(rec))
			for what, text := range map[string]string{"stderr": progress.String(), "comment": comment} {
				if !strings.Contains(text, tt.want) || !strings.Contains(text, "does not destroy its resources") {
					t.Errorf("%s does not warn about the removed project:\n%s", what, text)
				}
			}
			if len(rec.Removed) != 1 {
				t.Errorf("record: removed %+v", rec.Removed)
			}
		})
	}
}

func TestOpenChangesErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{"no commits yet", func(t *testing.T) string {
			dir := t.TempDir()
			testkit.Git(t, dir, "init", "-q", "-b", "main")
			return dir
		}, "this checkout has no commits yet"},
		{"unrelated histories", func(t *testing.T) string {
			dir := newRepo(t, map[string]string{"a/main.tf": ""})
			testkit.Git(t, dir, "switch", "-q", "--orphan", "other")
			testkit.Git(t, dir, "commit", "-q", "--allow-empty", "-m", "unrelated")
			return dir
		}, "main and HEAD share no history"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			for _, snapshot := range []bool{false, true} {
				_, _, err := openChanges(context.Background(), dir, "main", snapshot)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("snapshot %v: err = %v, want %q", snapshot, err, tt.want)
				}
			}
		})
	}
}

func TestUntrackedStateIsWarnedAbout(t *testing.T) {
	dir := newRepo(t, map[string]string{"app/main.tf": ""})
	testkit.WriteFile(t, filepath.Join(dir, "app", "terraform.tfstate"), "{}\n")
	testkit.WriteFile(t, filepath.Join(dir, "app", "terraform.tfstate.backup"), "{}\n")
	var progress bytes.Buffer
	if _, _, err := Plan(context.Background(), PlanOptions{Options: options(dir, &fakeEngine{}, &progress), BaseRef: "main"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "warning: state files that git does not ignore: app/terraform.tfstate, app/terraform.tfstate.backup") {
		t.Errorf("no warning:\n%s", progress.String())
	}
}

func TestInterruptedApplyStartsNothingMore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := twoProjectRepo(t)
	eng := &fakeEngine{}
	eng.onApply = map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
		// The engine finishes its apply although it was interrupted.
		"net": func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error) {
			cancel()
			eng.mu.Lock()
			eng.applied = append(eng.applied, "net")
			eng.mu.Unlock()
			return &engine.ApplyResult{Text: "Apply complete!"}, nil
		},
	}
	var progress bytes.Buffer
	if _, _, err := Plan(context.Background(), PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
	if !errors.Is(err, ErrApplyFailed) || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err = %v", err)
	}
	if got := eng.appliedProjects(); strings.Join(got, ",") != "net" {
		t.Errorf("applied %q", got)
	}
	if got := strings.Join(names(rec), ","); got != "net:applied,app:planned,other:planned" {
		t.Errorf("record %s", got)
	}
	// What was not started is applied by the next apply.
	if _, _, err := Apply(context.Background(), ApplyOptions{Options: options(dir, eng, &progress)}); err != nil {
		t.Fatal(err)
	}
	if got := eng.appliedProjects(); strings.Join(got, ",") != "net,app,other" {
		t.Errorf("applied %q", got)
	}
}

// TestNotAppliedProjectsSayWhy: the projects an apply does not reach keep
// their plan, say why in the record and in the comment, and lose that
// reason once a later apply applies them.
func TestNotAppliedProjectsSayWhy(t *testing.T) {
	t.Run("an earlier apply failed", func(t *testing.T) {
		ctx := context.Background()
		dir := twoProjectRepo(t)
		eng := &fakeEngine{onApply: map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
			"net": func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error) {
				return nil, &engine.RunError{Project: "net", Command: "terraform apply", Err: errors.New("exit status 1")}
			},
		}}
		var progress bytes.Buffer
		if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"}); err != nil {
			t.Fatal(err)
		}
		rec, co, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
		if !errors.Is(err, ErrApplyFailed) {
			t.Fatalf("err = %v", err)
		}
		saved, err := readRecord(co.dirs.record())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"app", "other"} {
			p := saved.project(name)
			if p.Status != render.StatusPlanned || p.Message != "not applied: an earlier apply failed" {
				t.Errorf("saved %s: %s %q", name, p.Status, p.Message)
			}
		}
		comment := render.Markdown(co.Comment(rec), co.Redactor(rec))
		if n := strings.Count(comment, "**Skipped:** not applied: an earlier apply failed"); n != 2 {
			t.Errorf("the comment says why %d times, want 2:\n%s", n, comment)
		}
		// other does not depend on net: it still applies alone.
		rec, co, err = Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress), Projects: []string{"other"}})
		if err != nil {
			t.Fatal(err)
		}
		if p := rec.project("other"); p.Status != render.StatusApplied || p.Message != "" {
			t.Errorf("other: %s %q", p.Status, p.Message)
		}
		if comment := render.Markdown(co.Comment(rec), co.Redactor(rec)); !strings.Contains(comment, "**Skipped:** not applied") {
			t.Errorf("app, still not applied, no longer says why:\n%s", comment)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dir := twoProjectRepo(t)
		eng := &fakeEngine{}
		eng.onApply = map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
			"net": func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error) {
				cancel()
				return &engine.ApplyResult{Text: "Apply complete!"}, nil
			},
		}
		var progress bytes.Buffer
		if _, _, err := Plan(context.Background(), PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"}); err != nil {
			t.Fatal(err)
		}
		_, co, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
		if !errors.Is(err, ErrApplyFailed) {
			t.Fatalf("err = %v", err)
		}
		saved, err := readRecord(co.dirs.record())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"app", "other"} {
			if p := saved.project(name); p.Message != "not applied: sluice apply was interrupted" {
				t.Errorf("saved %s: %s %q", name, p.Status, p.Message)
			}
		}
		rec, _, err := Apply(context.Background(), ApplyOptions{Options: options(dir, eng, &progress)})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rec.Projects {
			if p.Status != render.StatusApplied || p.Message != "" {
				t.Errorf("%s after the second apply: %s %q", p.Name, p.Status, p.Message)
			}
		}
	})
}

// TestTamperedPlanFileRefusesBeforeApplyingAnything: every selected plan
// file is checked against the record before the first project is applied.
func TestTamperedPlanFileRefusesBeforeApplyingAnything(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, plans string)
		want   string
	}{
		{"modified", func(t *testing.T, plans string) {
			testkit.WriteFile(t, filepath.Join(plans, "other.plan"), "not the reviewed plan")
		}, filepath.Join(".git", "sluice", "plans", "other.plan") + " has SHA-256 "},
		{"missing", func(t *testing.T, plans string) {
			if err := os.Remove(filepath.Join(plans, "other.plan")); err != nil {
				t.Fatal(err)
			}
		}, "other.plan is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := twoProjectRepo(t)
			eng := &fakeEngine{} // checks no hash itself
			var progress bytes.Buffer
			if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"}); err != nil {
				t.Fatal(err)
			}
			tt.tamper(t, filepath.Join(dir, ".git", "sluice", "plans"))
			_, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) ||
				!strings.Contains(err.Error(), "not the one reviewed") || !strings.Contains(err.Error(), "nothing was applied") {
				t.Fatalf("err = %v, want a refusal with %q", err, tt.want)
			}
			if got := eng.appliedProjects(); len(got) != 0 {
				t.Errorf("applied %q before the tampered plan's turn", got)
			}
			// Another project's plan is still applied alone.
			if _, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress), Projects: []string{"net"}}); err != nil {
				t.Errorf("apply -p net: %v", err)
			}
		})
	}
}

func TestApplyCommentShowsTheEnginesOwnCounts(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t, map[string]string{"vault/main.tf": "# v\n"})
	testkit.WriteFile(t, filepath.Join(dir, "vault", "main.tf"), "# changed\n")
	eng := &fakeEngine{onApply: map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
		"vault": func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error) {
			return &engine.ApplyResult{Text: "Apply complete! Resources: 1 added, 0 changed, 1 destroyed.\n", Summary: engine.Summary{Add: 1, Destroy: 1}}, nil
		},
	}}
	var progress bytes.Buffer
	if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"}); err != nil {
		t.Fatal(err)
	}
	rec, co, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
	if err != nil {
		t.Fatal(err)
	}
	comment := render.Markdown(co.Comment(rec), co.Redactor(rec))
	if !strings.Contains(comment, "terraform reported: 1 added, 0 changed, 1 destroyed.") {
		t.Errorf("the comment lacks the engine's own counts:\n%s", comment)
	}
	saved, err := os.ReadFile(co.dirs.record())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(saved), `"apply_summary": {`) {
		t.Errorf("the record lacks the engine's counts:\n%s", saved)
	}
}

// lineWriter collects progress lines and tells waiters when one that
// contains a wanted text arrives.
type lineWriter struct {
	mu    sync.Mutex
	text  strings.Builder
	wants map[string]chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text.Write(p)
	for want, ch := range w.wants {
		if strings.Contains(w.text.String(), want) {
			close(ch)
			delete(w.wants, want)
		}
	}
	return len(p), nil
}

// await returns a channel closed once the progress holds want.
func (w *lineWriter) await(want string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if w.wants == nil {
		w.wants = map[string]chan struct{}{}
	}
	w.wants[want] = ch
	return ch
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.text.String()
}

// TestLongWorkSaysItIsStillRunning: a plan or apply that takes longer than
// the heartbeat says so on the progress output while it runs, and stops
// saying it once done. The engine waits for the line, so no clock decides.
func TestLongWorkSaysItIsStillRunning(t *testing.T) {
	ctx := context.Background()
	dir := twoProjectRepo(t)
	progress := &lineWriter{}
	planning, applying := progress.await("net: still planning ("), progress.await("net: still applying (")
	waitFor := func(ctx context.Context, ch <-chan struct{}, what string) error {
		select {
		case <-ch:
			return nil
		case <-time.After(10 * time.Second):
			return fmt.Errorf("no %q line in 10s", what)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	eng := &fakeEngine{
		onPlan: map[string]func(context.Context, engine.PlanRequest) error{
			"net": func(ctx context.Context, _ engine.PlanRequest) error { return waitFor(ctx, planning, "still planning") },
		},
		onApply: map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
			"net": func(ctx context.Context, _ engine.ApplyRequest) (*engine.ApplyResult, error) {
				if err := waitFor(ctx, applying, "still applying"); err != nil {
					return nil, err
				}
				return &engine.ApplyResult{Text: "Apply complete!\n"}, nil
			},
		},
	}
	opts := Options{
		Dir:       dir,
		Engines:   func(string) (engine.Engine, error) { return eng, nil },
		Progress:  progress,
		Heartbeat: 5 * time.Millisecond,
	}
	if _, _, err := Plan(ctx, PlanOptions{Options: opts, BaseRef: "main", Projects: []string{"net"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Apply(ctx, ApplyOptions{Options: opts, Projects: []string{"net"}}); err != nil {
		t.Fatal(err)
	}
	// Nothing is said after the work is done.
	out := progress.String()
	time.Sleep(20 * time.Millisecond)
	if progress.String() != out {
		t.Errorf("progress went on after the apply:\n%s", progress.String())
	}
	if i, j := strings.LastIndex(out, "still planning"), strings.Index(out, "net: 1 to add"); i < 0 || j < i {
		t.Errorf("the heartbeat is not before the plan's result:\n%s", out)
	}
}

// TestAnyFileOfTheProjectIsBound: a file in the project's directory that
// its globs do not name (a script a provisioner runs) is still bound to
// the plan: changed after planning, the apply refuses; a file outside
// the project's directory and globs is not.
func TestAnyFileOfTheProjectIsBound(t *testing.T) {
	ctx := context.Background()
	dir := twoProjectRepo(t)
	testkit.WriteFile(t, filepath.Join(dir, "net", "deploy.sh"), "echo reviewed\n")
	testkit.WriteFile(t, filepath.Join(dir, "docs", "README.md"), "notes\n")
	commitAll(t, dir, "a script")
	eng := &fakeEngine{}
	var progress bytes.Buffer
	if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main", Projects: []string{"net"}}); err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, filepath.Join(dir, "docs", "README.md"), "more notes\n")
	testkit.WriteFile(t, filepath.Join(dir, "net", "deploy.sh"), "echo NOT reviewed\n")
	_, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "net/deploy.sh") || strings.Contains(err.Error(), "README") {
		t.Fatalf("err = %v, want a refusal naming net/deploy.sh only", err)
	}
	if got := eng.appliedProjects(); len(got) != 0 {
		t.Errorf("applied %q", got)
	}
	testkit.WriteFile(t, filepath.Join(dir, "net", "deploy.sh"), "echo reviewed\n")
	if _, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)}); err != nil {
		t.Fatalf("with the script as reviewed: %v", err)
	}
}

// TestApplyThatNeverFinishedIsNotStartedAgain: sluice dies while the
// engine applies (the engine may go on). The record says the apply
// started; a later apply refuses instead of running the same plan again.
func TestApplyThatNeverFinishedIsNotStartedAgain(t *testing.T) {
	ctx := context.Background()
	dir := twoProjectRepo(t)
	record := filepath.Join(dir, ".git", "sluice", "plans", "last.json")
	var during []byte
	eng := &fakeEngine{onApply: map[string]func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error){
		"net": func(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error) {
			// The record as a sluice killed at this moment leaves it.
			var err error
			during, err = os.ReadFile(record)
			return &engine.ApplyResult{Text: "Apply complete!\n"}, err
		},
	}}
	var progress bytes.Buffer
	if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main", Projects: []string{"net"}}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
	if err != nil || rec.Projects[0].ApplyingSince != nil {
		t.Fatalf("apply: %v, applying since %v; want it done and cleared", err, rec.Projects[0].ApplyingSince)
	}
	if err := os.WriteFile(record, during, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "the apply of project net started at") || !strings.Contains(err.Error(), "never finished") {
		t.Fatalf("apply after one that never finished: %v", err)
	}
}

// TestDependentPlannedBeforeItsDependencyChangedOutputs: app depends on
// net, both planned at once; net's plan changes an output. Once net is
// applied, app's plan rests on net's old outputs: it is not applied, and
// the apply says to plan it again.
func TestDependentPlannedBeforeItsDependencyChangedOutputs(t *testing.T) {
	ctx := context.Background()
	for _, act := range []engine.Action{engine.ActionNoOp, engine.ActionCreate, engine.ActionUpdate, engine.ActionDelete} {
		outputs := act == engine.ActionUpdate || act == engine.ActionDelete
		t.Run(fmt.Sprintf("net's output: %s", act), func(t *testing.T) {
			dir := twoProjectRepo(t)
			eng := &fakeEngine{outputs: map[string]engine.Action{"net": act}}
			var progress bytes.Buffer
			if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main", Projects: []string{"net", "app"}}); err != nil {
				t.Fatal(err)
			}
			rec, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
			if !outputs {
				if err != nil || strings.Join(eng.appliedProjects(), ",") != "net,app" {
					t.Fatalf("apply: %v, applied %q; want net and app", err, eng.appliedProjects())
				}
				return
			}
			if !errors.Is(err, ErrApplyFailed) || !strings.Contains(err.Error(), "project app was planned before net") || !strings.Contains(err.Error(), "run `sluice plan -p app`") {
				t.Fatalf("err = %v", err)
			}
			if got := eng.appliedProjects(); strings.Join(got, ",") != "net" {
				t.Errorf("applied %q, want net only", got)
			}
			if p := rec.project("app"); p.Status != render.StatusPlanned || !strings.Contains(p.Message, "planned before net, which it depends on, changed or removed outputs") {
				t.Errorf("app in the record: %s, %q", p.Status, p.Message)
			}
			// A second apply refuses app's old plan before anything runs.
			if _, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "sluice plan -p app") {
				t.Errorf("second apply: %v", err)
			}
			if got := eng.appliedProjects(); strings.Join(got, ",") != "net" {
				t.Errorf("applied %q after a second apply, want net only", got)
			}
		})
	}
}

// TestDependencyLeftOutWithP: the change affects net and app, app depends
// on net, and `sluice plan -p app` leaves net out. The record says net was
// not planned, and apply refuses app: net's state is not what the change
// leaves it.
func TestDependencyLeftOutWithP(t *testing.T) {
	ctx := context.Background()
	dir := twoProjectRepo(t)
	eng := &fakeEngine{}
	var progress bytes.Buffer
	rec, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main", Projects: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := rec.project("net"); p == nil || p.Status != render.StatusSkipped || !strings.Contains(p.Message, "-p left it out") {
		t.Fatalf("net in the record: %+v", p)
	}
	_, _, err = Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress), Projects: []string{"app"}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "sluice plan -p net -p app") {
		t.Fatalf("apply -p app: %v", err)
	}
	if got := eng.appliedProjects(); len(got) != 0 {
		t.Errorf("applied %q", got)
	}
	if _, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "project net was not planned") {
		t.Errorf("apply of everything: %v", err)
	}
	// other does not depend on net: leaving net out is fine for it.
	rec, _, err = Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main", Projects: []string{"other"}})
	if err != nil || len(rec.Projects) != 1 {
		t.Fatalf("plan -p other: %v, %d projects recorded", err, len(rec.Projects))
	}
}

// TestModuleThroughASymlink: prod calls ./mods/net, where prod/mods links
// to ../modules. A change to modules/net makes prod affected, and
// modules/net is a module, not a project of its own.
func TestModuleThroughASymlink(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t, map[string]string{
		"prod/main.tf":        "module \"net\" {\n  source = \"./mods/net\"\n}\n",
		"modules/net/main.tf": "# net v1\n",
	})
	if err := os.Symlink("../modules", filepath.Join(dir, "prod", "mods")); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "link")
	testkit.Git(t, dir, "switch", "-q", "-c", "change")
	testkit.WriteFile(t, filepath.Join(dir, "modules", "net", "main.tf"), "# net v2\n")
	commitAll(t, dir, "net v2")
	co, ch, err := OpenChanges(ctx, dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	if names := co.Config.Names(); !slices.Equal(names, []string{"prod"}) {
		t.Errorf("projects %q, want prod only (modules/net is a module)", names)
	}
	if len(ch.Matches) != 1 || ch.Matches[0].Project != "prod" {
		t.Errorf("affected: %+v, want prod, through its module", ch.Matches)
	}
}

// TestFilesTheRunWritesAreNotTheCode: files that appear or change in a
// project's directory without git tracking them (a built archive written
// while planning, a local state written by an apply) neither fail the plan
// nor make a later apply stale; a tracked file there does.
func TestFilesTheRunWritesAreNotTheCode(t *testing.T) {
	ctx := context.Background()
	dir := twoProjectRepo(t)
	eng := &fakeEngine{onPlan: map[string]func(context.Context, engine.PlanRequest) error{
		"net": func(_ context.Context, req engine.PlanRequest) error {
			return os.WriteFile(filepath.Join(req.Dir, "lambda.zip"), []byte(req.PlanFile), 0o644)
		},
	}}
	var progress bytes.Buffer
	rec, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main", Projects: []string{"net", "app"}})
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, progress.String())
	}
	if p := rec.project("net"); p.Status != render.StatusPlanned {
		t.Fatalf("net: %s %q, want planned (lambda.zip is not the code)", p.Status, p.Message)
	}
	// A local state the apply of net writes, before app is applied.
	testkit.WriteFile(t, filepath.Join(dir, "net", "terraform.tfstate"), "{}\n")
	testkit.WriteFile(t, filepath.Join(dir, "app", "terraform.tfstate"), "{}\n")
	if _, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)}); err != nil {
		t.Fatalf("apply with untracked files written in the projects: %v", err)
	}
}

// TestHeldDependentAfterAMerge: after a merge, net is applied and app held
// back (net changed an output). `sluice plan` on main finds nothing that
// differs: it says that app's reviewed plan was never applied and how to
// plan it, and `plan -p app` does.
func TestHeldDependentAfterAMerge(t *testing.T) {
	ctx := context.Background()
	dir := twoProjectRepo(t)
	eng := &fakeEngine{outputs: map[string]engine.Action{"net": engine.ActionUpdate}}
	var progress bytes.Buffer
	if _, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main", Projects: []string{"net", "app"}}); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "switch", "-q", "main")
	testkit.Git(t, dir, "merge", "-q", "--no-ff", "change", "-m", "merge")
	_, _, err := Apply(ctx, ApplyOptions{Options: options(dir, eng, &progress)})
	if !errors.Is(err, ErrApplyFailed) || !strings.Contains(err.Error(), "sluice plan -p app") {
		t.Fatalf("apply: %v, want app held with the command to plan it", err)
	}
	progress.Reset()
	rec, _, err := Plan(ctx, PlanOptions{Options: options(dir, eng, &progress), BaseRef: "main"})
	if err != nil || len(rec.Projects) != 0 {
		t.Fatalf("plan on main: %v, %d projects", err, len(rec.Projects))
	}
	if !strings.Contains(progress.String(), "warning: app had a plan with changes that was never applied") || !strings.Contains(progress.String(), "sluice plan -p app") {
		t.Errorf("progress:\n%s", progress.String())
	}
	if strings.Contains(progress.String(), "warning: net") {
		t.Errorf("net was applied, yet warned about:\n%s", progress.String())
	}
}

// TestLargeConfigAtTheMergeBase: the merge base's sluice.yaml, read from
// git to name removed projects, goes through the same limit as the
// working tree's: a 40 MiB one is left unread (not held in memory) and
// not compared.
func TestLargeConfigAtTheMergeBase(t *testing.T) {
	ctx := context.Background()
	var big strings.Builder
	big.WriteString(twoProjects)
	for big.Len() < 40<<20 {
		big.WriteString("# " + strings.Repeat("padding ", 12) + "\n")
	}
	dir := newRepo(t, map[string]string{"sluice.yaml": big.String(), "app/main.tf": "", "net/main.tf": "", "other/main.tf": ""})
	mb := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	testkit.Git(t, dir, "switch", "-q", "-c", "change")
	testkit.WriteFile(t, filepath.Join(dir, "sluice.yaml"), strings.Replace(twoProjects, "  - name: other\n    dir: other\n", "", 1))
	commitAll(t, dir, "smaller")
	co, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	removed := co.removedSince(ctx, mb)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("reading the merge base's configuration allocated %d MiB", alloc>>20)
	}
	if len(removed) != 0 {
		t.Errorf("removed = %+v, compared with a configuration larger than the limit", removed)
	}
}
