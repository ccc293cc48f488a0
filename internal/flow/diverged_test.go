package flow

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/store"
)

// TestDivergedBindsTheProjectDirectory: what was merged must be what was
// planned in every file of the project's directory, whatever its globs
// say (a script a provisioner runs), as the local loop's freshness check
// has it; sluice.yaml too; other projects' files do not count.
func TestDivergedBindsTheProjectDirectory(t *testing.T) {
	const head, base, merge = headH1, baseB, mergeM
	planned := time.Now().Add(-time.Hour)
	fg := &fakeForge{self: "sluice", checks: greenChecks,
		reviews: []forge.Review{{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: head, At: planned.Add(time.Minute)}},
		perms:   map[string]forge.Permission{"bob": forge.PermWrite, "carol": forge.PermWrite},
		calls:   map[string]int{},
	}
	mr := &forge.MergeRequest{Number: 7, State: forge.MRMerged, HeadSHA: head, BaseSHA: base, MergeSHA: merge, BaseRef: "main", Author: forge.User{Login: "alice"}}
	st := projectState{
		Project: "net", Workspace: "default",
		PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: "net"},
		Plan:    &store.Plan{HeadSHA: head, BaseSHA: base, CreatedAt: planned},
		Summary: runSummary{Rules: &projectRules{MinApprovals: 1, Patterns: []string{"net/*.tf"}, Dir: "net", Engine: "terraform"}},
	}
	tests := []struct {
		name     string
		diff     []string
		diverged string // "" when the item passes
	}{
		{"a script beside the code", []string{"net/scripts/setup.sh"}, "net/scripts/setup.sh"},
		{"a template in the directory", []string{"net/user-data.tpl", "other/main.tf"}, "net/user-data.tpl"},
		{"sluice.yaml", []string{"sluice.yaml"}, "sluice.yaml"},
		{"another project's files", []string{"other/main.tf", "netx/main.tf"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gateFlow(&tree{diff: tt.diff, bare: true}, nil)
			res, err := f.newGate(fg, "org/infra", mr, "carol", false).evaluate(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range res.Items {
				if it.Name != gate.ItemDiverged {
					continue
				}
				if tt.diverged == "" && !it.OK || tt.diverged != "" && (it.OK || !strings.Contains(it.Detail, tt.diverged)) {
					t.Errorf("%s = %v %q, want it to fail naming %q (\"\": pass)", it.Name, it.OK, it.Detail, tt.diverged)
				}
				return
			}
			t.Fatalf("no %q item: %+v", gate.ItemDiverged, res.Items)
		})
	}
}
