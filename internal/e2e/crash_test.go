package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit/pgtest"
)

// databases runs a test against SQLite and against PostgreSQL.
func databases(t *testing.T, test func(t *testing.T, databaseURL string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, "") })
	t.Run("postgres", func(t *testing.T) { test(t, newPG(t)) })
}

func newPG(t *testing.T) string { return pgtest.NewDatabase(t) }

var mr1 = store.RunFilter{Repo: "infra", MR: 1, Limit: 100}

// TestKillDuringPlan: the server dies with SIGKILL while a plan runs. On
// restart the plan is marked interrupted and planned again as a new run;
// the event that asked for it is not lost.
func TestKillDuringPlan(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		r := newRepo(t, "")
		data, markers := t.TempDir(), t.TempDir()
		env := serverEnv(t, r, data, dbURL)
		s := startServer(t, env, "SLOW_PLAN=30", "MARKER_DIR="+markers)
		s.post("plan-1", planReq(r))
		waitFile(t, markers+"/plan.started")
		s.kill()

		s = startServer(t, env)
		runs := s.waitRuns("the plan to be redone", mr1, func(rs []store.Run) bool {
			return count(rs, store.KindPlan, store.StateInterrupted) == 1 && count(rs, store.KindPlan, store.StateSucceeded) == 1
		})
		if n := count(runs, store.KindPlan, ""); n != 2 {
			t.Errorf("%d plan runs, want the interrupted one and its replacement: %+v", n, runs)
		}
		// The same delivery again changes nothing.
		s.post("plan-1", planReq(r))
		assertAudit(t, s, "plan.interrupted", "plan")
	})
}

// TestKillBetweenPlanAndApply: an apply request accepted just before the
// server dies is carried out after the restart, exactly once.
func TestKillBetweenPlanAndApply(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		r := newRepo(t, "")
		data := t.TempDir()
		env := serverEnv(t, r, data, dbURL)
		s := startServer(t, env)
		s.post("plan-1", planReq(r))
		s.waitRuns("the plan", mr1, func(rs []store.Run) bool { return count(rs, store.KindPlan, store.StateSucceeded) == 1 })
		s.post("apply-1", applyReq())
		s.kill() // right after the 202: the job may or may not have started

		s = startServer(t, env)
		runs := s.waitRuns("the apply to finish", mr1, func(rs []store.Run) bool {
			for _, r := range rs {
				if r.Kind == store.KindApply && r.State.Final() {
					return true
				}
			}
			return false
		})
		if n := count(runs, store.KindApply, ""); n != 1 {
			t.Fatalf("%d apply runs, want exactly 1: %+v", n, runs)
		}
		if count(runs, store.KindApply, store.StateSucceeded) == 1 && !strings.Contains(readState(t, r), `"desired_size":2`) {
			t.Errorf("the apply succeeded but the state does not say 2: %s", readState(t, r))
		}
		// Asking again applies nothing more: the plan was claimed.
		s.post("apply-2", applyReq())
		s.post("apply-1", applyReq())
		runs = s.waitRuns("the second request to be processed", mr1, func(rs []store.Run) bool { return true })
		if n := count(runs, store.KindApply, ""); n != 1 {
			t.Errorf("%d apply runs after asking again, want 1", n)
		}
	})
}

// TestKillDuringApply: the server dies while terraform applies. On
// restart the apply is marked interrupted — never re-run by itself — and
// the audit log says so.
func TestKillDuringApply(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		r := newRepo(t, "")
		data, markers := t.TempDir(), t.TempDir()
		env := serverEnv(t, r, data, dbURL)
		s := startServer(t, env)
		s.post("plan-1", planReq(r))
		s.waitRuns("the plan", mr1, func(rs []store.Run) bool { return count(rs, store.KindPlan, store.StateSucceeded) == 1 })
		s.kill()
		s = startServer(t, env, "SLOW_APPLY=30", "MARKER_DIR="+markers)
		s.post("apply-1", applyReq())
		waitFile(t, markers+"/apply.started")
		s.kill()

		s = startServer(t, env)
		runs := s.waitRuns("the apply to be marked interrupted", mr1, func(rs []store.Run) bool {
			return count(rs, store.KindApply, store.StateInterrupted) == 1
		})
		if n := count(runs, store.KindApply, ""); n != 1 {
			t.Fatalf("%d apply runs, want the interrupted one only: %+v", n, runs)
		}
		var ir store.Run
		for _, r := range runs {
			if r.Kind == store.KindApply {
				ir = r
			}
		}
		if !strings.Contains(ir.Error, "stopped") {
			t.Errorf("interrupted run error = %q", ir.Error)
		}
		assertAudit(t, s, "apply.interrupted")
		// Asking again does not apply the interrupted plan a second time.
		s.post("apply-2", applyReq())
		runs = s.waitRuns("the request to be processed", mr1, func(rs []store.Run) bool { return true })
		if n := count(runs, store.KindApply, ""); n != 1 {
			t.Errorf("%d apply runs after asking again, want 1", n)
		}
	})
}

// assertAudit waits until the audit log has an entry for every action
// and checks the chain is intact.
func assertAudit(t *testing.T, s *server, actions ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, err := s.client.Audit(context.Background(), 0, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, e := range entries {
			have[e.Action] = true
		}
		var missing []string
		for _, a := range actions {
			if !have[a] {
				missing = append(missing, a)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q entry in the audit log; it has %v", missing, have)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep, err := s.client.VerifyAudit(context.Background())
	if err != nil || rep.FirstBroken != nil {
		t.Errorf("audit chain: %+v %v", rep, err)
	}
}
