package gate

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

const (
	head  = "1111111111111111111111111111111111111111"
	base  = "2222222222222222222222222222222222222222"
	moved = "3333333333333333333333333333333333333333"
)

var planAt = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func approve(login string, at time.Time) forge.Review {
	return forge.Review{User: forge.User{Login: login}, State: forge.ReviewApproved, CommitSHA: head, At: at}
}

func ready() Input {
	return Input{
		MR:         forge.MergeRequest{Number: 1, Author: forge.User{Login: "alice"}, HeadSHA: head, BaseSHA: base, BaseRef: "main"},
		Reviews:    []forge.Review{approve("bob", planAt.Add(time.Minute))},
		Checks:     []forge.Check{{Name: "ci/build", State: forge.CheckSuccess}, {Name: "sluice/plan: prod", State: forge.CheckFailure}},
		Actor:      "carol",
		Permission: forge.PermWrite,
		PlanHead:   head, PlanAt: planAt,
		ApplyBranches: []string{"main"}, RulesBranch: "main",
	}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name    string
		rules   Rules
		edit    func(*Input)
		failing []string // item names expected to fail; none → OK
		detail  string   // in the failing items' details
	}{
		{"all green", Rules{MinApprovals: 1}, func(*Input) {}, nil, ""},
		{"author's own approval does not count", Rules{MinApprovals: 1}, func(in *Input) {
			in.Reviews = []forge.Review{approve("alice", planAt.Add(time.Minute))}
		}, []string{ItemApprovals}, "alice (the author)"},
		{"two needed", Rules{MinApprovals: 2}, func(*Input) {}, []string{ItemApprovals}, "1 of 2"},
		{"approval before the plan", Rules{MinApprovals: 1}, func(in *Input) {
			in.Reviews = []forge.Review{approve("bob", planAt.Add(-time.Minute))}
		}, []string{ItemApprovals}, "given before the current plan: bob"},
		{"approval of another commit", Rules{MinApprovals: 1}, func(in *Input) {
			in.Reviews[0].CommitSHA = moved
		}, []string{ItemApprovals}, "given before the current plan"},
		{"not an eligible approver", Rules{MinApprovals: 1, From: []string{"dave", "group:sre"}}, func(*Input) {}, []string{ItemApprovals}, "bob (not an eligible approver)"},
		{"eligible through a group", Rules{MinApprovals: 1, From: []string{"group:sre"}}, func(in *Input) {
			in.Groups = map[string][]string{"sre": {"Bob"}}
		}, nil, ""},
		{"code owners only", Rules{MinApprovals: 1, From: []string{"bob"}, Owners: []string{"erin"}}, func(*Input) {}, []string{ItemApprovals}, "not an eligible approver"},
		{"changes requested", Rules{MinApprovals: 1}, func(in *Input) {
			in.Reviews = append(in.Reviews, forge.Review{User: forge.User{Login: "dave"}, State: forge.ReviewChangesRequested})
		}, []string{ItemChanges}, "dave"},
		{"unresolved threads", Rules{MinApprovals: 1}, func(in *Input) { in.Threads = 2 }, []string{ItemThreads}, "2 unresolved"},
		{"threads relaxed", Rules{MinApprovals: 1}, func(in *Input) { in.Threads = 2; in.Relaxed = []string{"threads"} }, nil, ""},
		{"failed pipeline", Rules{MinApprovals: 1}, func(in *Input) {
			in.Checks = append(in.Checks, forge.Check{Name: "lint", State: forge.CheckFailure})
		}, []string{ItemChecks}, "lint"},
		{"pipeline running", Rules{MinApprovals: 1}, func(in *Input) {
			in.Checks = append(in.Checks, forge.Check{Name: "lint", State: forge.CheckPending})
		}, []string{ItemChecks}, "still running"},
		{"draft", Rules{MinApprovals: 1}, func(in *Input) { in.MR.Draft = true }, []string{ItemDraft}, "draft"},
		{"base moved in the project", Rules{MinApprovals: 1}, func(in *Input) {
			in.MR.BaseSHA = moved
			in.Diverged = []string{"envs/prod/main.tf"}
		}, []string{ItemDiverged}, "main changed envs/prod/main.tf, which this branch does not have: update the branch from main"},
		{"branch behind the base in the project, the base unmoved since the plan", Rules{MinApprovals: 1}, func(in *Input) {
			in.Diverged = []string{"envs/prod/main.tf"}
		}, []string{ItemDiverged}, "update the branch from main"},
		{"merged otherwise than planned", Rules{MinApprovals: 1}, func(in *Input) {
			in.Merged, in.MR.HeadSHA = true, moved
			in.Diverged = []string{"envs/prod/main.tf"}
		}, []string{ItemDiverged}, "the merge commit differs from the planned commit 1111111 in envs/prod/main.tf"},
		{"base moved elsewhere", Rules{MinApprovals: 1}, func(in *Input) { in.MR.BaseSHA = moved }, nil, ""},
		{"merged: head moves to the merge, drafts do not matter", Rules{MinApprovals: 1}, func(in *Input) {
			in.Merged, in.MR.HeadSHA, in.MR.Draft = true, moved, true
		}, nil, ""},
		{"new push", Rules{MinApprovals: 1}, func(in *Input) { in.MR.HeadSHA = moved }, []string{ItemFresh}, "a new plan is needed"},
		{"no plan", Rules{MinApprovals: 1}, func(in *Input) { in.PlanHead = "" }, []string{ItemFresh}, "no successful plan"},
		{"reader may not apply", Rules{MinApprovals: 1}, func(in *Input) { in.Permission = forge.PermRead }, []string{ItemPermission}, "carol has read access"},
		{"approval in the plan's second counts, the forge giving whole seconds", Rules{MinApprovals: 1}, func(in *Input) {
			in.PlanAt = planAt.Add(50 * time.Millisecond)
			in.Reviews = []forge.Review{approve("bob", planAt.Add(950*time.Millisecond).Truncate(time.Second))}
		}, nil, ""},
		{"approval in the second before the plan's does not count", Rules{MinApprovals: 1}, func(in *Input) {
			in.PlanAt = planAt.Add(50 * time.Millisecond)
			in.Reviews = []forge.Review{approve("bob", planAt.Add(-time.Second))}
		}, []string{ItemApprovals}, "given before the current plan"},
		{"approval in the next second counts", Rules{MinApprovals: 1}, func(in *Input) {
			in.PlanAt = planAt.Add(900 * time.Millisecond)
			in.Reviews = []forge.Review{approve("bob", planAt.Add(time.Second))}
		}, nil, ""},
		{"a forge giving milliseconds: an approval before the plan's does not count", Rules{MinApprovals: 1}, func(in *Input) {
			in.PlanAt = planAt.Add(300 * time.Millisecond)
			in.Reviews = []forge.Review{approve("bob", planAt.Add(200*time.Millisecond))}
		}, []string{ItemApprovals}, "given before the current plan"},
		{"a forge giving milliseconds: an approval after the plan's counts", Rules{MinApprovals: 1}, func(in *Input) {
			in.PlanAt = planAt.Add(300 * time.Millisecond)
			in.Reviews = []forge.Review{approve("bob", planAt.Add(400*time.Millisecond))}
		}, nil, ""},
		{"approver without write access", Rules{MinApprovals: 1}, func(in *Input) {
			in.ReviewerPermissions = map[string]forge.Permission{"bob": forge.PermRead}
		}, []string{ItemApprovals}, "bob (no write access)"},
		{"approver with write access", Rules{MinApprovals: 1}, func(in *Input) {
			in.ReviewerPermissions = map[string]forge.Permission{"bob": forge.PermWrite}
		}, nil, ""},
		{"zero approvals allowed", Rules{MinApprovals: 0}, func(in *Input) { in.Reviews = nil }, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ready()
			tt.edit(&in)
			res := Evaluate(tt.rules, in)
			var failing []string
			var details []string
			for _, i := range res.Failing() {
				failing = append(failing, i.Name)
				details = append(details, i.Detail)
			}
			if strings.Join(failing, ",") != strings.Join(tt.failing, ",") {
				t.Fatalf("failing = %q, want %q\n%+v", failing, tt.failing, res.Items)
			}
			if res.OK() != (len(tt.failing) == 0) {
				t.Errorf("OK() = %v", res.OK())
			}
			if tt.detail != "" && !strings.Contains(strings.Join(details, "\n"), tt.detail) {
				t.Errorf("details %q lack %q", details, tt.detail)
			}
		})
	}
}

// TestUnreadGroups: a group the forge could not read matches nobody, and
// the approvals item says why, whether it passes or not.
func TestUnreadGroups(t *testing.T) {
	tests := []struct {
		name   string
		rules  Rules
		edit   func(*Input)
		ok     bool
		detail string
	}{
		{
			name:  "the only group is unread",
			rules: Rules{MinApprovals: 1, From: []string{"group:platform"}},
			edit: func(in *Input) {
				in.UnreadGroups = map[string]string{"platform": "not found"}
			},
			detail: "0 of 1 needed (not counted: bob (not an eligible approver); group:platform could not be read: not found)",
		},
		{
			name:  "an approval counts through another entry",
			rules: Rules{MinApprovals: 1, From: []string{"bob", "group:platform", "group:sre"}},
			edit: func(in *Input) {
				in.UnreadGroups = map[string]string{"platform": "not found", "sre": "the forge refused or failed (see the server log)"}
			},
			ok:     true,
			detail: "1 of 1 needed: bob (group:platform could not be read: not found; group:sre could not be read: the forge refused or failed (see the server log))",
		},
		{
			name:  "a code owners' team is unread",
			rules: Rules{MinApprovals: 1, From: []string{"bob"}, Owners: []string{"@erin", "group:org/infra"}},
			edit: func(in *Input) {
				in.UnreadGroups = map[string]string{"org/infra": "not found"}
			},
			detail: "0 of 1 needed (not counted: bob (not an eligible approver); group:org/infra could not be read: not found)",
		},
		{
			name:  "an unread group the rules do not use is not mentioned",
			rules: Rules{MinApprovals: 1, From: []string{"group:sre"}},
			edit: func(in *Input) {
				in.Groups = map[string][]string{"sre": {"bob"}}
				in.UnreadGroups = map[string]string{"platform": "not found"}
			},
			ok:     true,
			detail: "1 of 1 needed: bob",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ready()
			tt.edit(&in)
			for _, it := range Evaluate(tt.rules, in).Items {
				if it.Name != ItemApprovals {
					continue
				}
				if it.OK != tt.ok || it.Detail != tt.detail {
					t.Errorf("approvals = %v %q, want %v %q", it.OK, it.Detail, tt.ok, tt.detail)
				}
				return
			}
			t.Fatal("no approvals item")
		})
	}
}

func TestGroupsOf(t *testing.T) {
	for _, tt := range []struct {
		rules Rules
		want  string
	}{
		{Rules{From: []string{"alice", "group:platform", "group:sre", "group:platform"}}, "platform,sre"},
		{Rules{From: []string{"group:platform"}, Owners: []string{"@bob", "group:org/infra"}}, "org/infra"},
		{Rules{From: []string{"alice"}}, ""},
		{Rules{}, ""},
	} {
		if got := strings.Join(GroupsOf(tt.rules), ","); got != tt.want {
			t.Errorf("GroupsOf(%+v) = %q, want %q", tt.rules, got, tt.want)
		}
	}
}

func TestEffective(t *testing.T) {
	r, relaxed, notes := Effective(Rules{MinApprovals: 0}, []string{"threads", "checks"}, Policy{MinApprovalsFloor: 1, MayRelax: []string{"threads"}})
	if r.MinApprovals != 1 || len(relaxed) != 1 || relaxed[0] != "threads" || len(notes) != 2 {
		t.Errorf("Effective = %+v %v %q", r, relaxed, notes)
	}
}

// TestWaiting: a checklist that fails only for what people or running
// checks will bring waits (the sluice/gate status is pending); one that
// needs the merge request changed does not (it fails).
func TestWaiting(t *testing.T) {
	for _, tt := range []struct {
		name    string
		edit    func(*Input)
		waiting bool
	}{
		{"passing", func(*Input) {}, false},
		{"no approval yet", func(in *Input) { in.Reviews = nil }, true},
		{"a check still running, a thread open, a draft", func(in *Input) {
			in.Checks = []forge.Check{{Name: "ci", State: forge.CheckPending}}
			in.Threads, in.MR.Draft = 1, true
		}, true},
		{"a new push not planned yet", func(in *Input) { in.MR.HeadSHA = moved }, true},
		{"a check failed", func(in *Input) { in.Checks = []forge.Check{{Name: "ci", State: forge.CheckFailure}} }, false},
		{"changes requested", func(in *Input) {
			in.Reviews = append(in.Reviews, forge.Review{User: forge.User{Login: "dave"}, State: forge.ReviewChangesRequested})
		}, false},
		{"behind the base, and no approval", func(in *Input) { in.Diverged, in.Reviews = []string{"prod/main.tf"}, nil }, false},
		{"the committers cannot be read", func(in *Input) { in.CommittersUnread = "250 commits at most" }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := ready()
			tt.edit(&in)
			if res := Evaluate(Rules{MinApprovals: 1}, in); res.Waiting() != tt.waiting {
				t.Errorf("Waiting() = %v, want %v: %+v", res.Waiting(), tt.waiting, res.Failing())
			}
		})
	}
}

// TestWhoAsks: the asker's request counts as their approval when the
// flow says so (a merged merge request), at the time of the decision; and
// where nobody asks (the API, a merger the forge does not name), "may
// apply" fails with the reason, whatever access the name given has, and
// no approval is lent.
func TestWhoAsks(t *testing.T) {
	in := ready()
	in.Reviews, in.Merged, in.MR.State = nil, true, forge.MRMerged
	if res := Evaluate(Rules{MinApprovals: 1}, in); res.OK() {
		t.Fatalf("no approval, yet the gate passes: %+v", res)
	}
	in.ActorApproves, in.Now = true, planAt.Add(time.Hour)
	res := Evaluate(Rules{MinApprovals: 1}, in)
	if !res.OK() || len(res.Approvers) != 1 || res.Approvers[0] != "carol" {
		t.Errorf("carol's apply request counts as her approval: %+v", res)
	}
	in.Now = planAt.Add(-time.Minute)
	if res := Evaluate(Rules{MinApprovals: 1}, in); res.OK() {
		t.Errorf("a request before the plan counted as an approval of it: %+v", res)
	}

	in = ready()
	in.Actor, in.Permission, in.ActorApproves, in.Now, in.NobodyAsks = "api", forge.PermAdmin, true, planAt.Add(time.Hour), "asked through the API"
	res = Evaluate(Rules{MinApprovals: 2}, in)
	var may *Item
	for i := range res.Items {
		if res.Items[i].Name == ItemPermission {
			may = &res.Items[i]
		}
	}
	if may == nil || may.OK || may.Detail != "asked through the API" {
		t.Errorf("may apply = %+v, want it failing with the reason nobody asks", may)
	}
	if len(res.Approvers) != 1 || res.Approvers[0] != "bob" {
		t.Errorf("approvers = %v, want bob's alone: nobody asking lends no approval", res.Approvers)
	}
}
