package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

// TestGiteaTeams is the talk's scenario in an organisation whose people get
// their access from a team made as Gitea's team page makes one (overall
// access "none", write per unit), on a private repository: alice opens a
// draft, bob opens a review thread that holds the change until it is
// resolved (and `sluice refresh` is asked, as Gitea sends no webhook for
// it), bob approves and carol merges with nothing but the team's write
// access, and the change is applied. main is protected as
// docs/forges/gitea.md recommends. Gitea's permission API answers "none"
// for both of them, which Sluice once took for their permission.
func TestGiteaTeams(t *testing.T) {
	sc := newScenarioOf(t, true)
	sc.g.ProtectWith(t, sc.repo, giteatest.RecommendedProtection("main")) // as the docs recommend
	g, bob, carol := sc.g, sc.logins["bob"], sc.logins["carol"]
	team := g.CreateTeam(t, sc.org, "infra", map[string]string{"repo.code": "write", "repo.pulls": "write", "repo.issues": "write"})
	g.AddTeamRepo(t, team, sc.repo)
	for _, role := range []string{"alice", "bob", "carol"} {
		g.RemoveCollaborator(t, sc.repo, sc.logins[role])
		g.AddTeamMember(t, team, sc.logins[role])
	}
	var p struct {
		Permission string `json:"permission"`
	}
	g.API(t, sc.tokens["bot"], http.MethodGet, "/repos/"+sc.repo+"/collaborators/"+bob+"/permission", nil, &p)
	if p.Permission != "none" {
		t.Fatalf("Gitea's permission API answers %q for a member of the team, want none: the test no longer shows what it is for", p.Permission)
	}

	head := sc.branch("alice", "team-change", "prod", "2")
	pr := g.CreatePR(t, sc.tokens["alice"], sc.repo, "team-change", "main", "WIP: Reduce the prod node group to two nodes", "")
	sc.waitPlanned(pr.Number)
	g.EditPR(t, sc.tokens["alice"], sc.repo, pr.Number, map[string]any{"title": "Reduce the prod node group to two nodes"})

	// bob approves, with a question in a review thread: the unresolved
	// thread holds the change.
	review := g.Review(t, sc.tokens["bob"], sc.repo, pr.Number, "COMMENT", "",
		giteatest.ReviewComment{Path: "prod/main.tf", NewLine: 1, Body: "Is two enough at peak?"})
	sc.approve("bob", pr.Number, "Two nodes are enough.")
	c := sc.waitComment("bob's approval in the checklist", pr.Number, func(b string) bool {
		return strings.Contains(b, "[x] not a draft") && strings.Contains(b, bob+" (") || strings.Contains(b, "- [x] approvals — 1 of 1 needed: "+bob)
	})
	if !strings.Contains(c.Body, "- [x] approvals — 1 of 1 needed: "+bob) {
		t.Fatalf("bob's approval was not counted:\n%s", c.Body)
	}
	if !strings.Contains(c.Body, "[ ] threads resolved — 1 unresolved") {
		t.Fatalf("bob's open thread is not in the checklist:\n%s", c.Body)
	}
	sc.waitStatus(head, gateStatus, "pending")
	sc.refusedMerge("carol", pr.Number, "a review thread is unresolved")

	// alice resolves it; Gitea sends no webhook for that, so she asks for
	// a refresh.
	id := g.ReviewComments(t, sc.tokens["bob"], sc.repo, pr.Number, review)["Is two enough at peak?"]
	g.ResolveComment(t, sc.tokens["alice"], sc.repo, id)
	g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice refresh")
	sc.waitComment("the resolved thread", pr.Number, func(b string) bool { return strings.Contains(b, "[x] threads resolved") })
	sc.waitStatus(head, gateStatus, "success")

	g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	c = sc.waitComment("the apply", pr.Number, func(b string) bool {
		return strings.Contains(b, "Apply complete") || strings.Contains(b, "write needed")
	})
	if !strings.Contains(c.Body, "Apply complete") {
		t.Fatalf("carol's merge was not applied:\n%s", c.Body)
	}
	if got := sc.desiredSize("prod"); got != "2" {
		t.Errorf("prod has %s nodes after the apply, want 2", got)
	}
	sc.waitStatus(head, "sluice/apply: prod", "success")
	for _, r := range sc.runs(pr.Number) {
		if r.Kind == store.KindApply && (r.State != store.StateSucceeded || r.Actor != carol) {
			t.Errorf("apply run = %+v, want carol's, succeeded", r)
		}
	}
}
