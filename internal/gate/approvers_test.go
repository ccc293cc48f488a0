package gate

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

// TestOneReviewerCountsOnce: a person is one approver however many
// approvals of theirs the input holds, whatever the case of their login:
// their latest review decides. This is bob approving, the merge request
// being merged, and bob commenting `sluice apply`, which the flow adds as
// a second approval of his.
func TestOneReviewerCountsOnce(t *testing.T) {
	after := planAt.Add(time.Minute)
	tests := []struct {
		name    string
		min     int
		reviews []forge.Review
		ok      bool
		detail  string
	}{
		{
			name:    "approval and apply request of one person",
			min:     2,
			reviews: []forge.Review{approve("bob", after), approve("bob", after.Add(time.Hour))},
			detail:  "1 of 2 needed: bob",
		},
		{
			name:    "the same person in another case",
			min:     2,
			reviews: []forge.Review{approve("bob", after), approve("Bob", after.Add(time.Hour))},
			detail:  "1 of 2 needed: Bob",
		},
		{
			name:    "two people still count twice",
			min:     2,
			reviews: []forge.Review{approve("bob", after), approve("erin", after), approve("BOB", after.Add(time.Hour))},
			ok:      true,
			detail:  "2 of 2 needed: BOB, erin",
		},
		{
			name: "an approval before the plan and one after are one, that counts",
			min:  1,
			reviews: []forge.Review{
				approve("bob", planAt.Add(-time.Hour)),
				approve("bob", after),
			},
			ok:     true,
			detail: "1 of 1 needed: bob",
		},
		{
			name: "the later time wins over the order",
			min:  1,
			reviews: []forge.Review{
				approve("bob", after),
				approve("Bob", planAt.Add(-time.Hour)),
			},
			ok:     true,
			detail: "1 of 1 needed: bob",
		},
		{
			name: "a later request for changes takes the approval back",
			min:  1,
			reviews: []forge.Review{
				approve("bob", after),
				{User: forge.User{Login: "bob"}, State: forge.ReviewChangesRequested, CommitSHA: head, At: after.Add(time.Minute)},
			},
			detail: "0 of 1 needed",
		},
		{
			name: "a comment does not",
			min:  1,
			reviews: []forge.Review{
				approve("bob", after),
				{User: forge.User{Login: "bob"}, State: forge.ReviewCommented, CommitSHA: head, At: after.Add(time.Minute)},
			},
			ok:     true,
			detail: "1 of 1 needed: bob",
		},
		{
			name:    "the author twice is still not counted",
			min:     1,
			reviews: []forge.Review{approve("alice", after), approve("Alice", after.Add(time.Hour))},
			detail:  "0 of 1 needed (not counted: Alice (the author))",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ready()
			in.Reviews = tt.reviews
			it := approvalsItem(t, Evaluate(Rules{MinApprovals: tt.min}, in))
			if it.OK != tt.ok || it.Detail != tt.detail {
				t.Errorf("approvals = %v %q, want %v %q", it.OK, it.Detail, tt.ok, tt.detail)
			}
		})
	}
}

// TestApprovalWithoutCommitOrTime: an approval the forge gives neither a
// commit nor a time for (GitLab without approved_at) may be from any
// earlier plan: it does not count, and the checklist says why. Either one
// is enough to place it.
func TestApprovalWithoutCommitOrTime(t *testing.T) {
	tests := []struct {
		name   string
		review forge.Review
		ok     bool
		detail string
	}{
		{
			name:   "neither",
			review: forge.Review{User: forge.User{Login: "bob"}, State: forge.ReviewApproved},
			detail: "0 of 1 needed (given before the current plan: bob (the forge says neither when nor on which commit))",
		},
		{
			name:   "the planned commit, no time",
			review: forge.Review{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: head},
			ok:     true,
			detail: "1 of 1 needed: bob",
		},
		{
			name:   "a time after the plan, no commit",
			review: forge.Review{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, At: planAt.Add(time.Minute)},
			ok:     true,
			detail: "1 of 1 needed: bob",
		},
		{
			name:   "a time before the plan, no commit",
			review: forge.Review{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, At: planAt.Add(-time.Minute)},
			detail: "0 of 1 needed (given before the current plan: bob)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ready()
			in.Reviews = []forge.Review{tt.review}
			res := Evaluate(Rules{MinApprovals: 1}, in)
			it := approvalsItem(t, res)
			if it.OK != tt.ok || it.Detail != tt.detail || res.OK() != tt.ok {
				t.Errorf("approvals = %v %q (gate %v), want %v %q", it.OK, it.Detail, res.OK(), tt.ok, tt.detail)
			}
		})
	}
}

func approvalsItem(t *testing.T, res Result) Item {
	t.Helper()
	for _, it := range res.Items {
		if it.Name == ItemApprovals {
			return it
		}
	}
	t.Fatal("no approvals item")
	return Item{}
}
