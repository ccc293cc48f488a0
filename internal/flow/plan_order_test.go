package flow

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/store"
)

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
			if err := e.f.finishFailed(ctx, r1, e.f.newLogWriter(ctx, r1.ID), context.Canceled); err != nil {
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
