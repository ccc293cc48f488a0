package e2e

import (
	"strings"
	"testing"
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
