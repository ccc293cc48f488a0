package gate

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

// TestMachinesNeverApprove: the account Sluice acts as, and bots, are not
// reviewers. Whoever holds Sluice's token could otherwise approve with it
// (Gitea and GitHub let an admin token approve a merge request it did not
// author), and a bot approves whatever it is told to. Their approvals do
// not count, even where they are listed as eligible, and the checklist
// says why.
func TestMachinesNeverApprove(t *testing.T) {
	after := planAt.Add(time.Minute)
	tests := []struct {
		name    string
		self    string
		from    []string
		reviews []forge.Review
		ok      bool
		detail  string
	}{
		{
			name:    "Sluice's own account",
			self:    "sluice-bot",
			reviews: []forge.Review{approve("Sluice-Bot", after)},
			detail:  "0 of 1 needed (not counted: Sluice-Bot (the account Sluice acts as))",
		},
		{
			name:    "Sluice's own account, named in approval.from",
			self:    "sluice-bot",
			from:    []string{"sluice-bot", "bob"},
			reviews: []forge.Review{approve("sluice-bot", after)},
			detail:  "0 of 1 needed (not counted: sluice-bot (the account Sluice acts as))",
		},
		{
			name:    "a GitHub App",
			reviews: []forge.Review{approve("renovate[bot]", after)},
			detail:  "0 of 1 needed (not counted: renovate[bot] (a bot))",
		},
		{
			name:    "Sluice as a GitHub App",
			self:    "sluice[bot]",
			reviews: []forge.Review{approve("sluice[bot]", after)},
			detail:  "0 of 1 needed (not counted: sluice[bot] (the account Sluice acts as))",
		},
		{
			name:    "a person still counts beside them",
			self:    "sluice-bot",
			reviews: []forge.Review{approve("sluice-bot", after), approve("dependabot[bot]", after), approve("bob", after)},
			ok:      true,
			detail:  "1 of 1 needed: bob",
		},
		{
			name:    "the forge will not say who Sluice is: a person named alike counts",
			reviews: []forge.Review{approve("bob", after)},
			ok:      true,
			detail:  "1 of 1 needed: bob",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ready()
			in.Self, in.Reviews = tt.self, tt.reviews
			res := Evaluate(Rules{MinApprovals: 1, From: tt.from}, in)
			it := approvalsItem(t, res)
			if it.OK != tt.ok || it.Detail != tt.detail || res.OK() != tt.ok {
				t.Errorf("approvals = %v %q (gate %v), want %v %q", it.OK, it.Detail, res.OK(), tt.ok, tt.detail)
			}
		})
	}
}
