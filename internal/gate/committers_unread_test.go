package gate

import (
	"strings"
	"testing"
)

// TestUnreadCommittersFailClosed: when the forge could not say who pushed
// commits to the merge request, any approval may be a committer's: the
// approvals item fails and says why, however many approve. Only a
// project that needs no approval passes, still saying it.
func TestUnreadCommittersFailClosed(t *testing.T) {
	const reason = "github: listing commits of org/infra#7: GitHub lists only the first 250 commits of a pull request"
	const why = "cannot tell who pushed commits to this merge request: " + reason
	tests := []struct {
		name   string
		rules  Rules
		ok     bool
		detail string
	}{
		{"one approval needed, one given", Rules{MinApprovals: 1}, false, "1 of 1 needed: bob (" + why + ")"},
		{"two needed", Rules{MinApprovals: 2}, false, "1 of 2 needed: bob (" + why + ")"},
		{"none needed", Rules{MinApprovals: 0}, true, "(" + why + ")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := ready()
			in.CommittersUnread = reason
			res := Evaluate(tc.rules, in)
			it := approvalsItem(t, res)
			if it.OK != tc.ok || !strings.Contains(it.Detail, tc.detail) {
				t.Errorf("approvals = %v %q, want %v containing %q", it.OK, it.Detail, tc.ok, tc.detail)
			}
			if res.OK() != tc.ok {
				t.Errorf("checklist OK = %v, want %v: %+v", res.OK(), tc.ok, res.Items)
			}
			for _, f := range res.Failing() {
				if f.Name != ItemApprovals {
					t.Errorf("%s fails too: %s", f.Name, f.Detail)
				}
			}
		})
	}
	// Read, the same input passes.
	if res := Evaluate(Rules{MinApprovals: 1}, ready()); !res.OK() {
		t.Fatalf("the ready input fails: %+v", res.Items)
	}
}
