package flow

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// TestRecoverGoesOnAfterAFailure: a merge request whose waiting apply
// cannot be looked at (its plan cannot be read) does not stop the
// recovery pass: the other merge request's waiting apply is started, the
// pending events are queued again, and the pass reports no error (at
// start, an error would stop the server).
func TestRecoverGoesOnAfterAFailure(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	ctx := t.Context()

	// Merge requests of two plain git repositories, each with net applied
	// by a server that died before it enqueued app's waiting apply.
	apps := map[string]store.Run{}
	var appPlan1 int64
	for _, repo := range []string{"infra-a", "infra-b"} {
		e.handle(APISource, Request{Action: ActionPlan, Repo: repo, MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice"})
		e.runPlanJobs()
		e.handle(APISource, Request{Action: ActionApply, Repo: repo, MR: 1, Actor: "bob"})
		for _, r := range e.applies(repo, 1) {
			switch r.Project {
			case "net":
				if _, err := e.st.StartRun(ctx, r.ID, "dead"); err != nil {
					t.Fatal(err)
				}
				if _, err := e.st.FinishRun(ctx, r.ID, store.StateSucceeded, "", nil); err != nil {
					t.Fatal(err)
				}
			case "app":
				apps[repo] = r
				if repo == "infra-a" {
					appPlan1 = r.PlanID
				}
			}
		}
	}
	if len(apps) != 2 {
		t.Fatalf("app's apply runs: %+v", apps)
	}
	// An event accepted, never processed.
	ev, _, err := e.f.Accept(ctx, APISource, "lost-delivery", Request{Action: ActionUnlock, Repo: "infra-c", MR: 3, Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}

	failing := &spyStore{Store: e.st}
	failing.setFailPlans(appPlan1)
	e.f.Store = failing
	if err := e.f.Recover(ctx, []string{"me"}, time.Now().Add(time.Second)); err != nil {
		t.Fatalf("Recover: %v, want the failure of infra-a!1 logged, not returned", err)
	}
	if got := e.enqueued(); !slices.Contains(got, apps["infra-b"].ID) {
		t.Errorf("enqueued %v, want infra-b!1's waiting apply %d started", got, apps["infra-b"].ID)
	}
	if slices.Contains(e.enqueued(), apps["infra-a"].ID) {
		t.Errorf("infra-a!1's apply was enqueued, though its merge request could not be looked at")
	}
	e.jobs.mu.Lock()
	events := slices.Clone(e.jobs.events)
	e.jobs.mu.Unlock()
	if !slices.Contains(events, ev.ID) {
		t.Errorf("events queued again: %v, want the pending event %d", events, ev.ID)
	}

	// Once the plan reads again, the next pass starts infra-a!1's apply too.
	e.f.Store = e.st
	if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := e.enqueued(); !slices.Contains(got, apps["infra-a"].ID) {
		t.Errorf("enqueued %v, want infra-a!1's waiting apply %d started by the next pass", got, apps["infra-a"].ID)
	}
}

// TestRecoverTellsOfAnInterruptedApply: the comment of a merge request
// whose apply a dead server left running says, once recovery marks the
// run, that it was interrupted, without waiting for the merge request's
// next event.
func TestRecoverTellsOfAnInterruptedApply(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	ctx := t.Context()
	e.plan()
	e.merge()
	var started bool
	for _, r := range e.applies(infraRepo, 7) {
		if _, err := e.st.StartRun(ctx, r.ID, "dead"); err != nil {
			t.Fatal(err)
		}
		started = true
		break
	}
	if !started {
		t.Fatal("no apply run after the merge")
	}
	if err := e.f.RefreshMR(ctx, infraRepo, 7); err != nil {
		t.Fatal(err)
	}
	if c := e.fg.sticky(); strings.Contains(c, "interrupted") {
		t.Fatalf("the comment says interrupted before recovery:\n%s", c)
	}
	if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c := e.fg.sticky(); !strings.Contains(c, "interrupted") {
		t.Errorf("after recovery the comment does not say the apply was interrupted:\n%s", c)
	}
}
