package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
)

// addMR pushes a second merge request branch, mr-2, that also touches app.
func addMR(t *testing.T, r *repo, name, size string) string {
	t.Helper()
	testkit.Git(t, r.dir, "switch", "-q", "-c", name, r.base)
	testkit.Replace(t, filepath.Join(r.dir, "app", "main.tf"), "desired_size = 3", "desired_size = "+size)
	testkit.Git(t, r.dir, "commit", "-q", "-am", name)
	head := testkit.Git(t, r.dir, "rev-parse", "HEAD")
	testkit.Git(t, r.dir, "switch", "-q", "main")
	return head
}

// TestLockQueue: two merge requests touch the same project. The second
// waits behind the first's lock and is planned when the first closes; a
// lock released by hand is audited with who and why.
func TestLockQueue(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		r := newRepo(t, "")
		head2 := addMR(t, r, "mr-2", "4")
		s := startServer(t, serverEnv(t, r, t.TempDir(), dbURL))
		s.post("plan-1", planReq(r))
		s.waitRuns("MR 1's plan", mr1, func(rs []store.Run) bool { return count(rs, store.KindPlan, store.StateSucceeded) == 1 })
		s.post("plan-2", flow.Request{Action: flow.ActionPlan, Repo: "infra", MR: 2, HeadSHA: head2, BaseSHA: r.base, Actor: "dave"})
		mr2 := store.RunFilter{Repo: "infra", MR: 2, Limit: 10}
		s.waitRuns("MR 2's waiting run", mr2, func(rs []store.Run) bool { return count(rs, store.KindPlan, store.StateQueued) == 1 })
		deadline := time.Now().Add(20 * time.Second)
		for {
			locks, err := s.client.ListLocks(context.Background(), "infra")
			if err == nil && len(locks) == 1 && locks[0].MR == 1 && len(locks[0].Queue) == 1 && locks[0].Queue[0].MR == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("locks = %+v, %v; want MR 1 holding, MR 2 queued", locks, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		s.waitIdle("after MR 2's plan was queued")
		if runs, _ := s.client.ListRuns(context.Background(), mr2); count(runs, store.KindPlan, store.StateQueued) != 1 {
			t.Fatalf("MR 2 was planned while MR 1 held the lock: %+v", runs)
		}

		// A person releases MR 1's lock: MR 2 gets it and is planned.
		var out, errOut bytes.Buffer
		env := map[string]string{"SLUICE_API_TOKEN": s.client.Token, "USER": "erin"}
		err := cli.Run(context.Background(), []string{"locks", "release", "app", "--repo", "infra", "--reason", "MR 1 abandoned", "--server", s.url},
			func(k string) string { return env[k] }, &out, &errOut)
		if err != nil || !strings.Contains(out.String(), "held by merge request !1") {
			t.Fatalf("locks release: %v\n%s%s", err, out.String(), errOut.String())
		}
		s.waitRuns("MR 2's plan", mr2, func(rs []store.Run) bool { return count(rs, store.KindPlan, store.StateSucceeded) == 1 })
		entries, err := s.client.Audit(context.Background(), 0, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Action == "lock.released" && e.Actor == "erin" && strings.Contains(string(e.Details), "MR 1 abandoned") {
				found = true
			}
		}
		if !found {
			t.Errorf("no audit entry for the release with actor and reason: %+v", entries)
		}
		// Closing MR 2 frees the lock.
		s.post("close-2", flow.Request{Action: flow.ActionClose, Repo: "infra", MR: 2, Actor: "dave"})
		deadline = time.Now().Add(20 * time.Second)
		for {
			locks, _ := s.client.ListLocks(context.Background(), "infra")
			if len(locks) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lock not released when MR 2 closed: %+v", locks)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestReplicasShareWork: two servers on one PostgreSQL database; one is
// stopped after planning, the other applies the plan it made.
func TestReplicasShareWork(t *testing.T) {
	r := newRepo(t, "")
	dbURL := newPG(t)
	a := startServer(t, serverEnv(t, r, t.TempDir(), dbURL), "SLUICE_INSTANCE_NAME=replica-a")
	b := startServer(t, serverEnv(t, r, t.TempDir(), dbURL), "SLUICE_INSTANCE_NAME=replica-b")
	a.post("plan-1", planReq(r))
	a.waitRuns("the plan", mr1, func(rs []store.Run) bool { return count(rs, store.KindPlan, store.StateSucceeded) == 1 })
	a.kill()
	b.post("apply-1", applyReq())
	runs := b.waitRuns("the apply on the other replica", mr1, func(rs []store.Run) bool {
		return count(rs, store.KindApply, store.StateSucceeded) == 1
	})
	for _, run := range runs {
		if run.Kind == store.KindApply && run.Owner != "replica-b" {
			t.Errorf("apply ran on %q, want replica-b", run.Owner)
		}
	}
	if !strings.Contains(readState(t, r), `"desired_size":2`) {
		t.Errorf("state after the apply: %s", readState(t, r))
	}
}

// TestSIGTERMDrains: SIGTERM while a plan runs lets the plan finish, then
// the server exits cleanly.
func TestSIGTERMDrains(t *testing.T) {
	r := newRepo(t, "")
	markers := t.TempDir()
	s := startServer(t, serverEnv(t, r, t.TempDir(), ""), "SLOW_PLAN=2", "MARKER_DIR="+markers)
	s.post("plan-1", planReq(r))
	waitFile(t, markers+"/plan.started")
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, s.logs.String())
	}
	// The plan finished before the exit: a new server finds it succeeded.
	s = startServer(t, serverEnv(t, r, s.dataDir, ""))
	runs, err := s.client.ListRuns(context.Background(), mr1)
	if err != nil || count(runs, store.KindPlan, store.StateSucceeded) != 1 || count(runs, store.KindPlan, store.StateInterrupted) != 0 {
		t.Errorf("after a drained stop: runs %+v, %v", runs, err)
	}
}

// TestShutdownTimeoutReplans: a plan still running when the shutdown
// timeout ends is stopped, and planned again by the next start.
func TestShutdownTimeoutReplans(t *testing.T) {
	r := newRepo(t, "")
	markers := t.TempDir()
	env := serverEnv(t, r, t.TempDir(), "")
	s := startServer(t, env, "SLOW_PLAN=60", "MARKER_DIR="+markers, "SLUICE_SHUTDOWN_TIMEOUT=1s")
	s.post("plan-1", planReq(r))
	waitFile(t, markers+"/plan.started")
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(90 * time.Second):
		t.Fatal("server did not exit after SIGTERM and the shutdown timeout")
	}
	s = startServer(t, env)
	runs := s.waitRuns("the plan to be redone", mr1, func(rs []store.Run) bool {
		return count(rs, store.KindPlan, store.StateSucceeded) == 1
	})
	if count(runs, store.KindPlan, store.StateCancelled) != 1 {
		t.Errorf("runs after a timed-out shutdown: %+v", runs)
	}
}
