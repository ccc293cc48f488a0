package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

// TestGiteaRefreshAfterAResolvedThread: Gitea sends no webhook when a
// conversation is resolved, so the checklist keeps "1 unresolved" until
// `sluice refresh` (listed in `sluice help`) reads the merge request
// again.
func TestGiteaRefreshAfterAResolvedThread(t *testing.T) {
	sc := newScenario(t)
	pr, _ := sc.openPR("alice", "thread", "prod", "2")
	sc.waitPlanned(pr.Number)
	review := sc.g.Review(t, sc.tokens["bob"], sc.repo, pr.Number, "COMMENT", "",
		giteatest.ReviewComment{Path: "prod/main.tf", NewLine: 1, Body: "why two?"})
	sc.waitComment("the open thread", pr.Number, func(b string) bool { return strings.Contains(b, "[ ] threads resolved — 1 unresolved") })
	id := sc.g.ReviewComments(t, sc.tokens["bob"], sc.repo, pr.Number, review)["why two?"]
	sc.g.ResolveComment(t, sc.tokens["alice"], sc.repo, id)
	sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice refresh")
	sc.waitComment("the resolved thread", pr.Number, func(b string) bool { return strings.Contains(b, "[x] threads resolved") })
}

// TestGiteaRetargetIsPlannedAgain: a pull request whose target branch is
// changed is planned again against the new branch (its plans, and the
// rules they took from the old branch, no longer hold).
func TestGiteaRetargetIsPlannedAgain(t *testing.T) {
	sc := newScenario(t)
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "release", map[string]string{"README.md": "release branch\n"})
	pr, _ := sc.openPR("alice", "retarget", "prod", "2")
	sc.waitPlanned(pr.Number)
	before := countKind(sc.runs(pr.Number), store.KindPlan)
	sc.g.EditPR(t, sc.tokens["alice"], sc.repo, pr.Number, map[string]any{"base": "release"})
	sc.waitFor("a plan against the new target branch", func() bool {
		return countKind(sc.runs(pr.Number), store.KindPlan) > before
	})
	sc.waitComment("the checklist of a merge request into release", pr.Number, func(b string) bool {
		return strings.Contains(b, "merges into release")
	})
}

// TestGiteaApplyRecordsItsApprovers: the audit log names who approved what
// an apply applies (apply.approved), beside who merged and who applied;
// and the comment keeps the reviewed plan under the apply's result.
func TestGiteaApplyRecordsItsApprovers(t *testing.T) {
	sc := newScenario(t)
	pr, _ := sc.openPR("alice", "approvers", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.approve("bob", pr.Number, "two is enough")
	sc.waitComment("approved", pr.Number, func(b string) bool { return strings.Contains(b, "[x] approvals") })
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	c := sc.waitComment("the apply", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	if !strings.Contains(c.Body, "desired_size: 3 -> 2") {
		t.Errorf("the apply's comment lost the reviewed plan:\n%s", c.Body)
	}
	entries, err := sc.s.client.Audit(context.Background(), 0, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action != "apply.approved" {
			continue
		}
		var d struct {
			Approvers []string `json:"approvers"`
		}
		if err := json.Unmarshal(e.Details, &d); err != nil || len(d.Approvers) != 1 || d.Approvers[0] != sc.logins["bob"] || e.Actor != sc.logins["carol"] {
			t.Errorf("apply.approved by %s: %s (%v), want carol's merge approved by bob", e.Actor, e.Details, err)
		}
		return
	}
	t.Errorf("no apply.approved entry in the audit log")
}
