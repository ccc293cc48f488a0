package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

// TestGiteaSluiceDoesNotApproveItself: the token Sluice acts with is an
// admin's (it must read others' permissions), and Gitea lets an admin
// approve a pull request it did not author. Whoever holds that token
// (plan code that read it, say) approves alice's change with it: the
// approval does not count, the checklist says why, and carol's merge
// applies nothing.
func TestGiteaSluiceDoesNotApproveItself(t *testing.T) {
	sc := newScenario(t)
	bot := sc.logins["bot"]
	pr, _ := sc.openPR("alice", "self-approved", "prod", "2")
	sc.waitPlanned(pr.Number)

	sc.approve("bot", pr.Number, "approved with Sluice's own token")
	sc.waitComment("the bot's approval not counted", pr.Number, func(b string) bool {
		return strings.Contains(b, "- [ ] approvals — 0 of 1 needed (not counted: "+bot+" (the account Sluice acts as))")
	})

	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	reply := sc.waitReply(pr.Number, "Merged, but Sluice did not apply")
	if !strings.Contains(reply.Body, bot+" (the account Sluice acts as)") {
		t.Errorf("the refusal does not say why:\n%s", reply.Body)
	}
	if got := sc.desiredSize("prod"); got != "3" {
		t.Errorf("prod has %s nodes: applied on the approval of Sluice's own account", got)
	}
}

// TestGiteaOwnBaseBranchIsNeverApplied: rules come from the branch a
// merge request merges into, and anyone who may push can make a branch.
// On main, prod may be approved by bob only. alice pushes my-base, a copy
// of main whose sluice.yaml lets anyone approve prod and applies it on a
// comment, and opens a pull request that shrinks prod into my-base; carol
// approves it. Sluice plans it, but its checklist says it is never
// applied; alice's `sluice apply` is refused, and so is her merge into
// my-base, which releases the pull request's locks. prod keeps 3 nodes.
func TestGiteaOwnBaseBranchIsNeverApplied(t *testing.T) {
	sc := newScenario(t)
	bob := sc.logins["bob"]
	cfg := sc.fileOnMain("sluice.yaml")
	strict := strings.Replace(cfg, "    approval:\n      min: 1", "    approval:\n      min: 1\n      from: ["+bob+"]", 1)
	loose := strings.Replace(cfg, "    approval:\n      min: 1", "    approval:\n      min: 1\n    apply:\n      mode: before_merge", 1)
	if strict == cfg || loose == cfg {
		t.Fatalf("could not change the rules in:\n%s", cfg)
	}
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "main", map[string]string{"sluice.yaml": strict})
	sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "main", "my-base", map[string]string{"sluice.yaml": loose})
	prod := strings.Replace(sc.fileOnMain("prod/main.tf"), "desired_size = 3", "desired_size = 2", 1)
	sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "my-base", "shrink", map[string]string{"prod/main.tf": prod})
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "shrink", "my-base", "Shrink prod", "")
	sc.waitPlanned(pr.Number)

	sc.approve("carol", pr.Number, "fine by me")
	sc.waitComment("the checklist saying my-base is never applied", pr.Number, func(b string) bool {
		return strings.Contains(b, "- [ ] merges into a branch Sluice applies from — this merge request merges into my-base, and Sluice applies only merge requests into main: it is planned, never applied") &&
			strings.Contains(b, "[x] approvals")
	})

	sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice apply")
	reply := sc.waitReply(pr.Number, "Sluice did not apply")
	if !strings.Contains(reply.Body, "Sluice applies only merge requests into main") {
		t.Errorf("the refusal does not say why:\n%s", reply.Body)
	}

	sc.g.MergePR(t, sc.tokens["alice"], sc.repo, pr.Number)
	sc.waitReply(pr.Number, "Merged into my-base, which is not a branch Sluice applies from (main): nothing was applied")
	if got := sc.desiredSize("prod"); got != "3" {
		t.Errorf("prod has %s nodes: applied under the rules of a branch the author made", got)
	}
	for _, r := range sc.runs(pr.Number) {
		if r.Kind == store.KindApply {
			t.Errorf("an apply run: %+v", r)
		}
	}
	locks, err := sc.s.client.ListLocks(context.Background(), sc.sluiceID)
	if err != nil || len(locks) != 0 {
		t.Errorf("locks after the merge into my-base: %+v %v", locks, err)
	}
}
