package e2e

import (
	"strings"
	"testing"
)

// TestGiteaGroupApproval: prod's approvals must come from the team
// platform of the repository's organisation. bob may write but is not in
// the team: his approval does not count, and the checklist says so.
// carol's, who is in the team, does, and her merge applies.
func TestGiteaGroupApproval(t *testing.T) {
	sc := newScenarioOf(t, true)
	bob, carol := sc.logins["bob"], sc.logins["carol"]
	team := sc.g.CreateTeam(t, sc.org, "platform", map[string]string{"repo.code": "read"})
	sc.g.AddTeamMember(t, team, carol)

	cfg := sc.fileOnMain("sluice.yaml")
	cfg = strings.Replace(cfg, "    approval:\n      min: 1", "    approval:\n      min: 1\n      from: [\"group:platform\"]", 1)
	if !strings.Contains(cfg, "group:platform") {
		t.Fatalf("could not set approval.from in:\n%s", cfg)
	}
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "main", map[string]string{"sluice.yaml": cfg})

	pr, _ := sc.openPR("alice", "team-approval", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.approve("bob", pr.Number, "looks fine to me")
	sc.waitComment("bob's approval not counted", pr.Number, func(b string) bool {
		return strings.Contains(b, "- [ ] approvals — 0 of 1 needed (not counted: "+bob+" (not an eligible approver))")
	})

	sc.approve("carol", pr.Number, "platform approves")
	sc.waitComment("carol's approval counted", pr.Number, func(b string) bool {
		return strings.Contains(b, "- [x] approvals — 1 of 1 needed: "+carol)
	})
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	sc.waitComment("the apply", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	if got := sc.desiredSize("prod"); got != "2" {
		t.Errorf("prod has %s nodes after the apply, want 2", got)
	}
}
