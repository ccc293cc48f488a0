package flow

// Recovery, after a server died or stopped: what it left is carried on
// (an interrupted plan planned again unless superseded, an apply's job
// queued again past a dead one's), one merge request's failure does not
// stop the pass, and an interrupted apply is said in the comment and to the
// linked issue, its plan file removed.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/gitx"
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

// TestRecoverDoesNotReplanASupersededHead: of the interrupted plan runs
// of a project of a merge request, only the newest is planned again; a
// run whose head a newer run superseded is not, since planning it again
// would make the older head's plan the newest.
func TestRecoverDoesNotReplanASupersededHead(t *testing.T) {
	ctx := t.Context()
	start := func(e *env, r store.Run) {
		t.Helper()
		if _, err := e.st.StartRun(ctx, r.ID, "dead"); err != nil {
			t.Fatal(err)
		}
	}
	newPlanRuns := func(e *env, after int64) []store.Run {
		t.Helper()
		runs, err := e.st.ListRuns(ctx, store.RunFilter{Kind: store.KindPlan})
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(runs, func(r store.Run) bool { return r.ID <= after })
	}

	t.Run("both interrupted", func(t *testing.T) {
		e := newEnv(t)
		r1, r2 := e.planRun("infra", 1, headH1), e.planRun("infra", 1, headH2)
		other := e.planRun("infra", 2, headH1) // another merge request: not compared
		start(e, r1)
		start(e, r2)
		start(e, other)
		if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		var heads []string
		for _, r := range newPlanRuns(e, other.ID) {
			heads = append(heads, fmt.Sprintf("!%d@%s", r.MR, gitx.Short(r.HeadSHA)))
			if r.State != store.StateQueued || !slices.Contains(e.jobs.plans, r.ID) {
				t.Errorf("new run %d: %s, enqueued %v; want it queued and enqueued", r.ID, r.State, e.jobs.plans)
			}
		}
		slices.Sort(heads)
		if want := []string{"!1@" + gitx.Short(headH2), "!2@" + gitx.Short(headH1)}; !slices.Equal(heads, want) {
			t.Fatalf("planned again: %v, want %v (H1 of !1 is superseded by H2)", heads, want)
		}
		if got := e.auditActions(); len(got) != 3 {
			t.Errorf("audit = %q, want plan.interrupted for each of the 3 runs", got)
		}
	})

	t.Run("newer run waiting", func(t *testing.T) {
		e := newEnv(t)
		r1 := e.planRun("infra", 1, headH1)
		r2 := e.planRun("infra", 1, headH2) // queued: a newer push, not started
		start(e, r1)
		if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if runs := newPlanRuns(e, r2.ID); len(runs) != 0 {
			t.Fatalf("the superseded head was planned again: %+v", runs)
		}
		if r, err := e.st.GetRun(ctx, r1.ID); err != nil || r.State != store.StateInterrupted {
			t.Fatalf("run %d: %+v, %v; want it interrupted", r1.ID, r, err)
		}
	})

	t.Run("newest interrupted", func(t *testing.T) {
		e := newEnv(t)
		e.plannedRun("infra", 1, headH1, false) // an older head, planned
		r2 := e.planRun("infra", 1, headH2)
		start(e, r2)
		if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		runs := newPlanRuns(e, r2.ID)
		if len(runs) != 1 || runs[0].HeadSHA != headH2 || runs[0].BaseSHA != baseB {
			t.Fatalf("planned again: %+v, want one run of H2", runs)
		}
	})
}

// TestShutdownDoesNotReplanASupersededHead: a plan stopped by a shutdown
// is planned again, unless a newer push has a run of its own: a new run of
// the older head would count as the newer plan.
func TestShutdownDoesNotReplanASupersededHead(t *testing.T) {
	for _, superseded := range []bool{false, true} {
		t.Run(fmt.Sprintf("superseded %v", superseded), func(t *testing.T) {
			e := newEnv(t)
			r1 := e.planRun("infra", 1, headH1)
			last := r1.ID
			if superseded {
				last = e.planRun("infra", 1, headH2).ID
			}
			if _, err := e.st.StartRun(t.Context(), r1.ID, "me"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // the server is stopping
			if err := e.f.runs().finishFailed(ctx, r1, e.f.runs().newLogWriter(ctx, r1.ID), context.Canceled); err != nil {
				t.Fatal(err)
			}
			runs, err := e.st.ListRuns(t.Context(), store.RunFilter{Kind: store.KindPlan})
			if err != nil {
				t.Fatal(err)
			}
			var again []string
			for _, r := range runs {
				if r.ID > last {
					again = append(again, gitx.Short(r.HeadSHA))
				}
			}
			if superseded && len(again) != 0 || !superseded && !slices.Equal(again, []string{gitx.Short(headH1)}) {
				t.Errorf("planned again: %v (superseded %v)", again, superseded)
			}
		})
	}
}

// TestRecoverRequeuesApplyJobsPastDeadOnes: a replica that died in
// HandleApply before it started the run leaves the run queued and its job
// "running" in the queue, where an ordinary enqueue would take it for the
// same job. Recovery enqueues the queued apply runs free to go through
// RequeueApply, with the instances alive, which looks past such a job.
func TestRecoverRequeuesApplyJobsPastDeadOnes(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	e.plan()
	e.merge()
	net, app := e.applyOf("net"), e.applyOf("app")
	alive := []string{"me", "replica-2"}
	if err := e.f.Recover(t.Context(), alive, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.jobs.mu.Lock()
	requeued := slices.Clone(e.jobs.requeued)
	e.jobs.mu.Unlock()
	if len(requeued) != 1 || requeued[0].run != net.ID || !slices.Equal(requeued[0].alive, alive) {
		t.Fatalf("requeued %+v, want net's apply %d with the alive instances %q (app's %d waits for it)", requeued, net.ID, alive, app.ID)
	}
}

// TestInterruptedApplyIsToldAndItsPlanFileGoes: the apply a dead server
// left running, once recovery marks it interrupted, is told to the issue
// its merged merge request closes (the forge closed it at the merge), and
// the plan file the dead server wrote, the plan in clear, is removed; the
// comment says to release the lock and plan from a new merge request.
func TestInterruptedApplyIsToldAndItsPlanFileGoes(t *testing.T) {
	e, ff := newSettleEnv(t)
	ctx := t.Context()
	e.plan()
	e.merge()
	net := e.applyOf("net")
	r, err := e.st.StartRun(ctx, net.ID, "dead")
	if err != nil {
		t.Fatal(err)
	}
	planFile := e.f.runs().private(r, ".plan")
	if err := os.WriteFile(planFile, []byte("the plan, in clear"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(planFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the interrupted apply's plan file is still there: %v", err)
	}
	got := ff.issueComments()
	if len(got) != 1 || !strings.Contains(got[0], "did not apply net: its apply was interrupted") {
		t.Errorf("issue comments = %q, want one on #12 saying net's apply was interrupted", got)
	}
	// Merged, it keeps net's lock and is never planned again: the comment
	// says how to go on.
	if c := e.fg.sticky(); !strings.Contains(c, "Check the state. Release this pull request's lock of it (comment `sluice unlock -p net`), then plan it from a new pull request (comment `sluice plan -p net` on it).") {
		t.Errorf("the comment does not say to release the lock and plan from a new pull request:\n%s", c)
	}
}
