package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

// TestGiteaRulesFromTheBase: a merge request cannot set its own approval
// rules. On main, prod needs one approval from anyone with write access.
// alice's pull request changes prod and, in the same commit, adds
// approval.from: [mallory] to prod in sluice.yaml; mallory, who may only
// read, approves. Her approval does not count (the rules are main's), the
// gate holds, and carol's merge applies nothing. The plan's log notes that
// the pull request changes the rules.
func TestGiteaRulesFromTheBase(t *testing.T) {
	sc := newScenario(t)
	mallory := sc.logins["mallory"]

	cfg := sc.fileOnMain("sluice.yaml")
	own := strings.Replace(cfg, "    approval:\n      min: 1", "    approval:\n      min: 1\n      from: ["+mallory+"]", 1)
	if !strings.Contains(own, "from: ["+mallory+"]") {
		t.Fatalf("could not set approval.from in:\n%s", cfg)
	}
	prod := strings.Replace(sc.fileOnMain("prod/main.tf"), "desired_size = 3", "desired_size = 2", 1)
	sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "main", "own-rules", map[string]string{"sluice.yaml": own, "prod/main.tf": prod})
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "own-rules", "main", "Shrink prod, and let mallory approve it", "")
	sc.waitPlanned(pr.Number)

	sc.approve("mallory", pr.Number, "approved by the sock puppet")
	sc.waitComment("mallory's approval not counted", pr.Number, func(b string) bool {
		return strings.Contains(b, "- [ ] approvals — 0 of 1 needed (not counted: "+mallory+" (no write access))")
	})

	// The plan run's log says the pull request's rules wait for the merge.
	var note bool
	for _, r := range sc.runs(pr.Number) {
		if r.Kind != store.KindPlan || r.Project != "prod" {
			continue
		}
		lines, err := sc.s.client.Logs(context.Background(), r.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			note = note || strings.Contains(l.Text, "the approval rules of prod (approval, apply.mode, relax) are from the base branch's sluice.yaml; this merge request changes them")
		}
	}
	if !note {
		t.Error("no plan run of prod notes that the pull request changes its approval rules")
	}

	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	reply := sc.waitReply(pr.Number, "Merged, but Sluice did not apply")
	if !strings.Contains(reply.Body, mallory+" (no write access)") {
		t.Errorf("the refusal does not say why:\n%s", reply.Body)
	}
	if got := sc.desiredSize("prod"); got != "3" {
		t.Errorf("prod has %s nodes: applied with the approval rules the pull request set itself", got)
	}
}
