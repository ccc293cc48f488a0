package flow

import (
	"context"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/sluicehq/sluice/internal/store"
)

// TestRulesFromTheTargetBranchAsTheForgeSays: the rules come from the
// branch the merge request merges into, at its tip as the forge says it
// when the plan runs, and are recorded with that branch's name, so the
// gate applies them only to a merge into it. The commit the plan run was
// queued with (another branch's, before the merge request was
// retargeted, with rules of its own) does not decide them.
func TestRulesFromTheTargetBranchAsTheForgeSays(t *testing.T) {
	const queuedBase = "dddddddddddddddddddddddddddddddddddddddd"
	loose := "version: 1\nprojects:\n  - name: prod\n    dir: prod\n"
	strict := baseYAML[:len(baseYAML)-1] + "\n      from: [bob]\n"
	repo := &commits{t: t, files: map[string]map[string]string{
		queuedBase: {"sluice.yaml": loose},
		rulesBase:  {"sluice.yaml": strict}, // main's tip, as newRulesForge's GetMR says
		rulesHead:  {},
	}, changed: []string{"prod/main.tf"}}
	f := gateFlow(repo, newRulesForge("gitea"))
	p := headProject(t, loose, "prod")
	got, _, err := f.rulesOf(context.Background(), store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: "prod", BaseSHA: queuedBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.From, []string{"bob"}) || got.Branch != "main" {
		t.Errorf("rules: from %v of branch %q, want [bob] of main", got.From, got.Branch)
	}
}
