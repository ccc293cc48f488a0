package flow

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/workspace"
)

// TestBranchBehindTheBase: in real git, a branch that left main before
// main changed prod/main.tf, and changes another file of prod, is planned
// against main's tip, so the base has not moved since the plan. Merging
// it would bring main's change, which the plan (of the head) never saw,
// and the apply of that plan would undo it: the checklist says so before
// the merge, and says to update the branch. The branch that has the same
// change as main, and the branch updated from main, merge as planned; a
// change of main elsewhere does not count.
func TestBranchBehindTheBase(t *testing.T) {
	origin := testkit.NewRepo(t, "")
	commit := func(files map[string]string, msg string) string {
		for name, body := range files {
			testkit.WriteFile(t, filepath.Join(origin, filepath.FromSlash(name)), body)
		}
		testkit.Git(t, origin, "add", "-A")
		testkit.Git(t, origin, "commit", "-qm", msg)
		return testkit.Git(t, origin, "rev-parse", "HEAD")
	}
	commit(map[string]string{"prod/main.tf": "size = 3\n", "prod/vars.tf": "a\n", "docs/README": "x\n"}, "base")
	testkit.Git(t, origin, "branch", "-q", "behind")
	testkit.Git(t, origin, "branch", "-q", "same")
	tip := commit(map[string]string{"prod/main.tf": "size = 5\n", "docs/README": "y\n"}, "main changes prod")
	testkit.Git(t, origin, "switch", "-q", "behind")
	behind := commit(map[string]string{"prod/vars.tf": "b\n"}, "the branch changes prod elsewhere")
	testkit.Git(t, origin, "switch", "-q", "same")
	same := commit(map[string]string{"prod/main.tf": "size = 5\n", "prod/vars.tf": "b\n"}, "the branch has main's change too")
	testkit.Git(t, origin, "switch", "-q", "behind")
	testkit.Git(t, origin, "merge", "-q", "--no-edit", tip)
	updated := testkit.Git(t, origin, "rev-parse", "HEAD")

	f := gateFlow(workspace.New(t.TempDir()), nil)
	f.Sources = func(_ context.Context, repo string) (workspace.Source, error) {
		return workspace.Source{Repo: repo, CloneURL: origin}, nil
	}
	fg := &fakeForge{self: "sluice", checks: greenChecks, perms: map[string]forge.Permission{}, calls: map[string]int{}}
	for _, tt := range []struct {
		name, head string
		diverged   []string
	}{
		{"behind main in prod's file", behind, []string{"prod/main.tf"}},
		{"with main's change made again", same, nil},
		{"updated from main", updated, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: tt.head, BaseSHA: tip, BaseRef: "main", Author: forge.User{Login: "alice"}}
			st := projectState{
				Project: "prod", Workspace: "default",
				PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: "prod"},
				// Planned against main's tip: the base has not moved since.
				Plan:    &store.Plan{HeadSHA: tt.head, BaseSHA: tip, CreatedAt: time.Now().Add(-time.Hour)},
				Summary: runSummary{Rules: &projectRules{MinApprovals: 1, Dir: "prod", Patterns: []string{"prod/*.tf"}}},
			}
			res, err := f.newGate(fg, "org/infra", mr, "", false).evaluate(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range res.Items {
				if it.Name != gate.ItemDiverged {
					continue
				}
				if it.OK != (tt.diverged == nil) {
					t.Errorf("%s = %v %q, want it to fail on %q", it.Name, it.OK, it.Detail, tt.diverged)
				}
				for _, p := range tt.diverged {
					if want := "main changed " + p + ", which this branch does not have: update the branch from main"; !strings.HasPrefix(it.Detail, want) {
						t.Errorf("detail %q, want it to start %q", it.Detail, want)
					}
				}
				return
			}
			t.Fatalf("no %q item: %+v", gate.ItemDiverged, res.Items)
		})
	}
}
