package flow

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/store"
)

// TestApplyOfAnApproverCountsOnce: with approval.min 2, bob approves, the
// merge request is merged, and bob comments `sluice apply` (once as
// "bob", once as "Bob"). His request is his approval, not a second one:
// one approver of two, and nothing is applied. carol's request, who had
// not approved, makes the second.
func TestApplyOfAnApproverCountsOnce(t *testing.T) {
	planned := time.Now().Add(-time.Hour)
	fg := newRulesForge("gitea")
	fg.reviews = []forge.Review{{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: rulesHead, At: planned.Add(time.Minute)}}
	fg.perms = map[string]forge.Permission{"bob": forge.PermWrite, "Bob": forge.PermWrite, "carol": forge.PermWrite}
	repo := &commits{t: t, files: map[string]map[string]string{rulesBase: {}, rulesHead: {}, "dddddddddddddddddddddddddddddddddddddddd": {}}}
	f := gateFlow(repo, fg)
	mr := &forge.MergeRequest{Number: 7, State: forge.MRMerged, HeadSHA: rulesHead, BaseSHA: rulesBase, BaseRef: "main",
		MergeSHA: "dddddddddddddddddddddddddddddddddddddddd", Author: forge.User{Login: "alice"}}
	st := projectState{
		Project: "prod", Workspace: "default",
		PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: "prod"},
		Plan:    &store.Plan{HeadSHA: rulesHead, BaseSHA: rulesBase, CreatedAt: planned},
		Summary: runSummary{Rules: &projectRules{MinApprovals: 2, Mode: "after_merge"}},
	}
	for _, tt := range []struct {
		actor  string
		ok     bool
		detail string
	}{
		{"bob", false, "1 of 2 needed: bob"},
		{"Bob", false, "1 of 2 needed: Bob"},
		{"carol", true, "2 of 2 needed: bob, carol"},
	} {
		res, err := f.newGate(fg, "org/infra", mr, tt.actor, true).evaluate(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			if it.Name == gate.ItemApprovals && (it.OK != tt.ok || it.Detail != tt.detail) {
				t.Errorf("%s asks: approvals = %v %q, want %v %q", tt.actor, it.OK, it.Detail, tt.ok, tt.detail)
			}
		}
		if res.OK() != tt.ok {
			t.Errorf("%s asks: gate OK = %v, want %v: %+v", tt.actor, res.OK(), tt.ok, res.Items)
		}
	}
}
