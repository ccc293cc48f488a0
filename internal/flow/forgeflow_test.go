package flow

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/store"
)

func TestGateReadsTheMergeRequestOnce(t *testing.T) {
	const head, base = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	planned := time.Now().Add(-time.Hour)
	fg := &fakeForge{self: "sluice", checks: greenChecks,
		reviews: []forge.Review{
			{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: head, At: planned.Add(time.Minute)},
			{User: forge.User{Login: "erin"}, State: forge.ReviewApproved, CommitSHA: head, At: planned.Add(time.Minute)},
		},
		perms: map[string]forge.Permission{"bob": forge.PermWrite, "carol": forge.PermWrite, "erin": forge.PermRead},
		calls: map[string]int{},
	}
	f := gateFlow(&tree{bare: true}, nil)
	mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: head, BaseSHA: base, BaseRef: "main", Author: forge.User{Login: "alice"}}
	state := func(project string, min int) projectState {
		return projectState{
			Project: project, Workspace: "default",
			PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: project},
			Plan:    &store.Plan{HeadSHA: head, BaseSHA: base, CreatedAt: planned},
			Summary: runSummary{Rules: &projectRules{MinApprovals: min}},
		}
	}

	tests := []struct {
		name          string
		actor         string
		actorApproves bool
		committers    []string
		// approvals is the detail of the approvals item of each project
		// (needing 1 and 2 approvals).
		approvals [2]string
		calls     map[string]int
	}{
		{
			name:      "refresh",
			approvals: [2]string{"1 of 1 needed: bob", "1 of 2 needed: bob (not counted: erin (no write access))"},
			calls:     map[string]int{"Reviews": 1, "Committers": 1, "UnresolvedThreads": 1, "Checks": 1, "Permission bob": 1, "Permission erin": 1},
		},
		{
			name:      "merge by an approver",
			actor:     "bob",
			approvals: [2]string{"1 of 1 needed: bob", "1 of 2 needed: bob (not counted: erin (no write access))"},
			calls:     map[string]int{"Reviews": 1, "Committers": 1, "UnresolvedThreads": 1, "Checks": 1, "Permission bob": 1, "Permission erin": 1},
		},
		{
			name:       "a reviewer who pushed commits",
			committers: []string{"Bob"},
			approvals:  [2]string{"0 of 1 needed (not counted: bob (pushed commits to this merge request), erin (no write access))", "0 of 2 needed (not counted: bob (pushed commits to this merge request), erin (no write access))"},
			calls:      map[string]int{"Reviews": 1, "Committers": 1, "UnresolvedThreads": 1, "Checks": 1, "Permission bob": 1, "Permission erin": 1},
		},
		{
			name:          "apply on a merged merge request",
			actor:         "carol",
			actorApproves: true,
			approvals:     [2]string{"2 of 1 needed: bob, carol", "2 of 2 needed: bob, carol"},
			calls:         map[string]int{"Reviews": 1, "Committers": 1, "UnresolvedThreads": 1, "Checks": 1, "Permission bob": 1, "Permission carol": 1, "Permission erin": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clear(fg.calls)
			fg.committers = tt.committers
			g := f.newGate(fg, "org/infra", mr, tt.actor, tt.actorApproves)
			for i, st := range []projectState{state("dev", 1), state("prod", 2)} {
				res, err := g.evaluate(context.Background(), st)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range res.Items {
					if it.Name == gate.ItemApprovals && it.Detail != tt.approvals[i] {
						t.Errorf("%s: approvals = %q, want %q", st.Project, it.Detail, tt.approvals[i])
					}
				}
			}
			if len(fg.reviews) != 2 {
				t.Errorf("the forge's reviews were changed: %d", len(fg.reviews))
			}
			if len(fg.calls) != len(tt.calls) {
				t.Errorf("calls = %v, want %v", fg.calls, tt.calls)
			}
			for call, n := range tt.calls {
				if fg.calls[call] != n {
					t.Errorf("%s called %d times, want %d (all calls: %v)", call, fg.calls[call], n, fg.calls)
				}
			}
		})
	}
}

// TestGateReadsEachGroupOnce: the groups the projects' rules name are read
// once per decision; a group that cannot be read matches nobody, and the
// approvals item says why.
func TestGateReadsEachGroupOnce(t *testing.T) {
	const head, base = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	planned := time.Now().Add(-time.Hour)
	approval := func(login string) forge.Review {
		return forge.Review{User: forge.User{Login: login}, State: forge.ReviewApproved, CommitSHA: head, At: planned.Add(time.Minute)}
	}
	fg := &fakeForge{self: "sluice", checks: greenChecks,
		reviews: []forge.Review{approval("bob"), approval("erin")},
		perms:   map[string]forge.Permission{"bob": forge.PermWrite, "erin": forge.PermWrite},
		groups:  map[string][]string{"platform": {"Bob"}, "org/sre": {"erin"}},
		calls:   map[string]int{},
	}
	f := gateFlow(&tree{bare: true}, nil)
	mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: head, BaseSHA: base, BaseRef: "main", Author: forge.User{Login: "alice"}}
	state := func(project string, rules projectRules) projectState {
		return projectState{
			Project: project, Workspace: "default",
			PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: project},
			Plan:    &store.Plan{HeadSHA: head, BaseSHA: base, CreatedAt: planned},
			Summary: runSummary{Rules: &rules},
		}
	}
	projects := []struct {
		st        projectState
		ok        bool
		approvals string
	}{
		{state("dev", projectRules{MinApprovals: 1, From: []string{"group:platform"}}), true, "1 of 1 needed: bob"},
		{state("prod", projectRules{MinApprovals: 2, From: []string{"group:platform", "group:missing", "group:broken"}}), false,
			"1 of 2 needed: bob (not counted: erin (not an eligible approver); group:missing could not be read: not found; " +
				"group:broken could not be read: the forge refused or failed (the Sluice server log has the error))"},
		{state("net", projectRules{MinApprovals: 1, From: []string{"group:platform"}, Owners: []string{"group:org/sre", "group:missing"}}), true,
			"1 of 1 needed: erin (group:missing could not be read: not found)"},
	}
	g := f.newGate(fg, "org/infra", mr, "", false)
	for _, p := range projects {
		res, err := g.evaluate(context.Background(), p.st)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			if it.Name == gate.ItemApprovals && (it.OK != p.ok || it.Detail != p.approvals) {
				t.Errorf("%s: approvals = %v %q, want %v %q", p.st.Project, it.OK, it.Detail, p.ok, p.approvals)
			}
		}
	}
	for _, group := range []string{"platform", "missing", "broken", "org/sre"} {
		if n := fg.calls["GroupMembers "+group]; n != 1 {
			t.Errorf("group %s read %d times, want once (all calls: %v)", group, n, fg.calls)
		}
	}

	// A cancelled decision is an error, not an unreadable group.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.newGate(fg, "org/infra", mr, "", false).evaluate(ctx, projects[0].st); err == nil {
		t.Error("evaluate with a cancelled context succeeded")
	}
}

func TestKeyLocks(t *testing.T) {
	var (
		k       keyLocks
		mu      sync.Mutex
		inside  = map[string]int{}
		overlap bool
		wg      sync.WaitGroup
	)
	for i := range 40 {
		wg.Go(func() {
			key := []string{"a", "b"}[i%2]
			unlock := k.lock(key)
			mu.Lock()
			inside[key]++
			overlap = overlap || inside[key] > 1
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside[key]--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	if overlap {
		t.Error("two holders of one key at once")
	}
	if len(k.held) != 0 {
		t.Errorf("keys left held: %v", k.held)
	}
}
