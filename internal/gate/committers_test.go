package gate

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

func TestCommittersDoNotApprove(t *testing.T) {
	later := planAt.Add(time.Minute)
	tests := []struct {
		name       string
		rules      Rules
		committers []string
		reviews    []forge.Review
		ok         bool
		detail     string // the approvals item's detail contains it
	}{
		{
			name:       "a committer's approval does not count",
			rules:      Rules{MinApprovals: 1},
			committers: []string{"alice", "bob"},
			ok:         false,
			detail:     "0 of 1 needed (not counted: bob (pushed commits to this merge request))",
		},
		{
			name:       "logins compare without regard to case",
			rules:      Rules{MinApprovals: 1},
			committers: []string{"BOB"},
			ok:         false,
			detail:     "bob (pushed commits to this merge request)",
		},
		{
			name:       "a non-committer's approval counts",
			rules:      Rules{MinApprovals: 1},
			committers: []string{"alice", "dave"},
			ok:         true,
			detail:     "1 of 1 needed: bob",
		},
		{
			name:       "even when the rules name the committer",
			rules:      Rules{MinApprovals: 1, From: []string{"bob"}},
			committers: []string{"bob"},
			ok:         false,
			detail:     "bob (pushed commits to this merge request)",
		},
		{
			name:       "another reviewer's approval still counts",
			rules:      Rules{MinApprovals: 1},
			committers: []string{"bob"},
			reviews:    []forge.Review{approve("bob", later), approve("erin", later)},
			ok:         true,
			detail:     "1 of 1 needed: erin",
		},
		{
			name:       "but is not two",
			rules:      Rules{MinApprovals: 2},
			committers: []string{"bob"},
			reviews:    []forge.Review{approve("bob", later), approve("erin", later)},
			ok:         false,
			detail:     "1 of 2 needed: erin (not counted: bob (pushed commits to this merge request))",
		},
		{
			name:       "the author who committed is named as the author",
			rules:      Rules{MinApprovals: 1},
			committers: []string{"alice"},
			reviews:    []forge.Review{approve("alice", later)},
			ok:         false,
			detail:     "not counted: alice (the author))",
		},
		{
			name:       "a committer's request for changes still blocks",
			rules:      Rules{MinApprovals: 1},
			committers: []string{"dave"},
			reviews:    []forge.Review{approve("bob", later), {User: forge.User{Login: "dave"}, State: forge.ReviewChangesRequested, At: later}},
			ok:         true, // the approvals item; "no changes requested" fails
			detail:     "1 of 1 needed: bob",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := ready()
			in.Committers = tc.committers
			if tc.reviews != nil {
				in.Reviews = tc.reviews
			}
			res := Evaluate(tc.rules, in)
			it := approvalsItem(t, res)
			if it.OK != tc.ok || !strings.Contains(it.Detail, tc.detail) {
				t.Errorf("approvals = %v %q, want %v containing %q", it.OK, it.Detail, tc.ok, tc.detail)
			}
			for _, f := range res.Failing() {
				if f.Name != ItemApprovals && f.Name != ItemChanges {
					t.Errorf("%s fails too: %s", f.Name, f.Detail)
				}
			}
			if hasChanges(tc.reviews) && res.OK() {
				t.Errorf("a request for changes did not fail the checklist: %+v", res.Items)
			}
		})
	}
}

func hasChanges(rs []forge.Review) bool {
	for _, r := range rs {
		if r.State == forge.ReviewChangesRequested {
			return true
		}
	}
	return false
}

// TestNoCommittersChangeNothing: without committers (GitLab, or a forge
// that links the commits to nobody), the checklist is what it was.
func TestNoCommittersChangeNothing(t *testing.T) {
	later := planAt.Add(time.Minute)
	inputs := map[string]func(*Input){
		"ready":           func(*Input) {},
		"author approves": func(in *Input) { in.Reviews = []forge.Review{approve("alice", later)} },
		"too early":       func(in *Input) { in.Reviews = []forge.Review{approve("bob", planAt.Add(-time.Minute))} },
		"two approvals":   func(in *Input) { in.Reviews = append(in.Reviews, approve("erin", later)) },
		"no write access": func(in *Input) { in.ReviewerPermissions = map[string]forge.Permission{"bob": forge.PermRead} },
		"changes requested": func(in *Input) {
			in.Reviews = append(in.Reviews, forge.Review{User: forge.User{Login: "dave"}, State: forge.ReviewChangesRequested})
		},
	}
	for name, edit := range inputs {
		for _, rules := range []Rules{{MinApprovals: 1}, {MinApprovals: 2}, {MinApprovals: 1, From: []string{"bob"}}} {
			before := ready()
			edit(&before)
			want := Evaluate(rules, before)
			for _, committers := range [][]string{nil, {}} {
				in := ready()
				edit(&in)
				in.Committers = committers
				if got := Evaluate(rules, in); !reflect.DeepEqual(got, want) {
					t.Errorf("%s, %+v, committers %#v:\n got  %+v\n want %+v", name, rules, committers, got, want)
				}
			}
		}
	}
}
