package flow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

// TestModuleChangeAffectsItsCallers: on the server as in the CLI, a change
// to a local module plans the projects that call it, and binds the
// module's files to their plans.
func TestModuleChangeAffectsItsCallers(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"sluice.yaml":         "version: 1\nprojects:\n  - name: prod\n    dir: prod\n  - name: dev\n    dir: dev\n",
		"prod/main.tf":        "module \"vpc\" {\n  source = \"../modules/vpc\"\n}\n",
		"dev/main.tf":         "# no modules\n",
		"modules/vpc/main.tf": "# the module\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	// The merge request changes the module only.
	e.f.Workspaces = &tree{dir: dir, changed: []string{"modules/vpc/main.tf"}, bare: true}
	e.handle(APISource, Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice"})
	runs, err := e.st.ListRuns(t.Context(), store.RunFilter{Repo: "infra", MR: 1, Kind: store.KindPlan})
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, r := range runs {
		planned = append(planned, r.Project)
	}
	if !slices.Equal(planned, []string{"prod"}) {
		t.Fatalf("planned %q, want prod (it calls the changed module) only", planned)
	}
	// The plan binds the module too: its rules record its patterns.
	if err := e.f.HandlePlan(t.Context(), runs[0].ID); err != nil {
		t.Fatal(err)
	}
	r, err := e.st.GetRun(t.Context(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != store.StateSucceeded {
		t.Fatalf("plan run: %s %s", r.State, r.Error)
	}
	var s runSummary
	if err := json.Unmarshal(r.Summary, &s); err != nil || s.Rules == nil {
		t.Fatalf("run summary %s: %v", r.Summary, err)
	}
	if !slices.Contains(s.Rules.Patterns, "modules/vpc/**") {
		t.Errorf("the plan's patterns %q lack the module's modules/vpc/**", s.Rules.Patterns)
	}
}
