package flow

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

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
)

// TestApplySettlesAfterATransientFailure: net's apply succeeds, then the
// forge fails when Sluice asks whether the merge request is merged. The
// job fails and is retried; the retry, finding the run succeeded, does
// what follows it: net's lock is released. The issue the merge request
// closes is told once, by the apply that ended last, however often the
// jobs run again.
func TestApplySettlesAfterATransientFailure(t *testing.T) {
	e, ff := newSettleEnv(t)
	ctx := t.Context()
	e.plan()
	e.merge()
	net, app := e.applyOf("net"), e.applyOf("app")

	ff.failNext("GetMR", 1)
	if err := e.f.HandleApply(ctx, net.ID); err == nil || permanent.Is(err) {
		t.Fatalf("net's apply with the forge failing after it: err = %v, want one to retry", err)
	}
	if r := e.run(net.ID); r.State != store.StateSucceeded || r.SettledAt != nil {
		t.Fatalf("net's apply run: %s, settled %v; want succeeded, not settled", r.State, r.SettledAt)
	}
	if h := e.lockHolder("net"); h != 7 {
		t.Fatalf("net's lock: held by !%d before the retry", h)
	}

	// The retry.
	if err := e.f.HandleApply(ctx, net.ID); err != nil {
		t.Fatal(err)
	}
	if h := e.lockHolder("net"); h != 0 {
		t.Errorf("net's lock after the retry: held by !%d, want it released", h)
	}
	if r := e.run(net.ID); r.SettledAt == nil {
		t.Errorf("net's apply run is not settled after the retry")
	}
	if got := e.eng.order(); !slices.Equal(got, []string{"net"}) {
		t.Errorf("applied %v, want net once", got)
	}

	if !slices.Contains(e.enqueued(), app.ID) {
		t.Fatalf("app's apply was not enqueued: %v", e.enqueued())
	}
	e.runApply("app")
	if h := e.lockHolder("app"); h != 0 {
		t.Errorf("app's lock: held by !%d, want it released", h)
	}
	// Every job again: nothing more happens.
	for _, id := range []int64{net.ID, app.ID, net.ID} {
		if err := e.f.HandleApply(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := ff.issueComments(); len(got) != 1 || !strings.HasPrefix(got[0], "#12: Sluice applied net, app from pull request #7") {
		t.Errorf("issue comments = %q, want one on #12", got)
	}
	if got := e.eng.order(); !slices.Equal(got, []string{"net", "app"}) {
		t.Errorf("applied %v, want net then app, once each", got)
	}
	// Nothing is left for recovery to settle.
	e.jobs.mu.Lock()
	e.jobs.requeued = nil
	e.jobs.mu.Unlock()
	if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if e.jobs.requeued != nil {
		t.Errorf("recovery queued jobs again: %+v", e.jobs.requeued)
	}
}

// TestCrashAfterAnApplySucceeded: the server dies right after it
// recorded net's apply as succeeded, before what follows it. Its job
// stays "running" in the queue for hours; a recovery pass queues the run
// again (past that job), and the new job releases net's lock and starts
// app's waiting apply.
func TestCrashAfterAnApplySucceeded(t *testing.T) {
	e, _ := newSettleEnv(t)
	ctx := t.Context()
	e.plan()
	e.merge()
	net, app := e.applyOf("net"), e.applyOf("app")
	if _, err := e.st.StartRun(ctx, net.ID, "dead"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.FinishRun(ctx, net.ID, store.StateSucceeded, "", nil); err != nil {
		t.Fatal(err)
	}
	// The server died here.

	alive := []string{"me"}
	if err := e.f.Recover(ctx, alive, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.jobs.mu.Lock()
	requeued := slices.Clone(e.jobs.requeued)
	e.jobs.mu.Unlock()
	if !slices.ContainsFunc(requeued, func(q requeuedApply) bool { return q.run == net.ID && slices.Equal(q.alive, alive) }) {
		t.Fatalf("requeued %+v, want net's succeeded apply %d to be settled", requeued, net.ID)
	}
	if h := e.lockHolder("net"); h != 7 {
		t.Fatalf("net's lock: held by !%d before the job", h)
	}
	if err := e.f.HandleApply(ctx, net.ID); err != nil { // the job recovery queued
		t.Fatal(err)
	}
	if h := e.lockHolder("net"); h != 0 {
		t.Errorf("net's lock: held by !%d, want it released", h)
	}
	if r := e.run(net.ID); r.SettledAt == nil {
		t.Errorf("net's apply run is not settled")
	}
	if !slices.Contains(e.enqueued(), app.ID) {
		t.Errorf("app's waiting apply was not enqueued: %v", e.enqueued())
	}

	// Settled, it is not queued again.
	e.jobs.mu.Lock()
	e.jobs.requeued = nil
	e.jobs.mu.Unlock()
	if err := e.f.Recover(ctx, alive, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, q := range e.jobs.requeued {
		if q.run == net.ID {
			t.Errorf("net's settled apply was queued again")
		}
	}
}

// TestSettleOfAMergeRequestThatIsGone: when the forge says the merge
// request does not exist any more, retrying cannot help: the run settles
// (logged), and its job does not fail.
func TestSettleOfAMergeRequestThatIsGone(t *testing.T) {
	e, ff := newSettleEnv(t)
	ctx := t.Context()
	e.plan()
	e.merge()
	net := e.applyOf("net")
	ff.failWith("GetMR", func(context.Context) error { return fmt.Errorf("merge request 7: %w", forge.ErrNotFound) })
	if err := e.f.HandleApply(ctx, net.ID); err != nil {
		t.Fatalf("HandleApply: %v, want the run settled without an error", err)
	}
	if r := e.run(net.ID); r.State != store.StateSucceeded || r.SettledAt == nil {
		t.Errorf("net's apply run: %s, settled %v; want succeeded and settled", r.State, r.SettledAt)
	}
}

// TestLinkedIssueIsToldWhatWasNotApplied: the forge closes the issue a
// merge request closes at its merge, applied or not. A merge Sluice
// refuses (no approval) and an apply that fails each tell the issue that
// the change is not in the infrastructure, and where to read what to do.
func TestLinkedIssueIsToldWhatWasNotApplied(t *testing.T) {
	t.Run("refused at the merge", func(t *testing.T) {
		e, ff := newSettleEnv(t)
		e.plan()
		e.fg.mu.Lock()
		e.fg.reviews = nil
		e.fg.mu.Unlock()
		e.merge()
		if a := e.applies(infraRepo, 7); len(a) != 0 {
			t.Fatalf("a merge without approval created apply runs: %+v", a)
		}
		got := ff.issueComments()
		if len(got) != 1 || !strings.HasPrefix(got[0], "#12: Pull request #7 ") ||
			!strings.Contains(got[0], "was merged, but Sluice did not apply net, app: the merge did not pass Sluice's checks") {
			t.Errorf("issue comments = %q, want one on #12 saying net and app were not applied", got)
		}
	})
	t.Run("an apply failed", func(t *testing.T) {
		e, ff := newSettleEnv(t)
		e.eng.fail["net"] = true
		e.plan()
		e.merge()
		net := e.applyOf("net")
		if err := e.f.HandleApply(t.Context(), net.ID); err != nil {
			t.Fatal(err)
		}
		if r := e.run(net.ID); r.State != store.StateFailed {
			t.Fatalf("net's apply: %s, want failed", r.State)
		}
		got := ff.issueComments()
		if len(got) != 1 || !strings.Contains(got[0], "did not apply net: its apply failed") {
			t.Errorf("issue comments = %q, want one on #12 saying net's apply failed", got)
		}
	})
}

// TestCommentDoesNotApplyAfterMergeProjects: on an open merge request, a
// `sluice apply` comment applies nothing of projects that apply after
// the merge, and says so for each.
func TestCommentDoesNotApplyAfterMergeProjects(t *testing.T) {
	e, _ := newSettleEnv(t)
	e.plan()
	e.comment("bob", ActionApply)
	if a := e.applies(infraRepo, 7); len(a) != 0 {
		t.Fatalf("a comment on an open merge request created apply runs of after_merge projects: %+v", a)
	}
	r := e.replies()
	if len(r) != 1 || !strings.Contains(r[0], "`net`: it is applied when the pull request is merged (apply mode after_merge), not on a comment") ||
		!strings.Contains(r[0], "`app`: it is applied when the pull request is merged") {
		t.Errorf("replies = %q, want one naming net and app as applied on merge", r)
	}
}

// TestReleasedLockIsNotApplied: a person releases the project lock of a
// planned merge request (for another to take it). Its plan must not be
// applied then, whatever else passes: the checklist says so while it is
// open, the merge refuses it, and an apply run made before the release
// is cancelled, not applied.
func TestReleasedLockIsNotApplied(t *testing.T) {
	release := func(e *env, project string) {
		e.t.Helper()
		if _, err := e.f.ReleaseLock(e.t.Context(), "admin", LockRef{Repo: infraRepo, Project: project, Workspace: "default"}, "abandoned"); err != nil {
			e.t.Fatal(err)
		}
	}
	t.Run("open", func(t *testing.T) {
		e, _ := newSettleEnv(t)
		e.plan()
		release(e, "net")
		if c := e.refresh(); !strings.Contains(c, "[ ] holds the project lock — the project lock was released from this pull request") {
			t.Errorf("the checklist does not say net's lock was released:\n%s", c)
		}
	})
	t.Run("merged", func(t *testing.T) {
		e, _ := newSettleEnv(t)
		e.plan()
		release(e, "net")
		e.merge()
		for _, a := range e.applies(infraRepo, 7) {
			if a.Project == "net" {
				t.Errorf("net was given an apply run without its lock: %+v", a)
			}
		}
		if r := e.replies(); len(r) != 1 || !strings.Contains(r[0], "`net`: never from this pull request") || !strings.Contains(r[0], "holds the project lock: the project lock was released") {
			t.Errorf("replies = %q, want net refused for its released lock", r)
		}
	})
	t.Run("apply run made before", func(t *testing.T) {
		e, _ := newSettleEnv(t)
		e.plan()
		e.merge()
		net := e.applyOf("net")
		release(e, "net")
		if err := e.f.HandleApply(t.Context(), net.ID); err != nil {
			t.Fatal(err)
		}
		if r := e.run(net.ID); r.State != store.StateCancelled || !strings.Contains(r.Error, "not applied: the project lock was released") {
			t.Errorf("net's apply run: %s %q, want cancelled for its released lock", r.State, r.Error)
		}
		if got := e.eng.order(); len(got) != 0 {
			t.Errorf("applied %v without the lock", got)
		}
	})
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
	planFile := e.f.private(r, ".plan")
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

// TestPlanCommentOnAMergedMergeRequestIsAnswered: a merged merge request
// is never planned again; a person who asks is told so, and what to do.
func TestPlanCommentOnAMergedMergeRequestIsAnswered(t *testing.T) {
	e, _ := newSettleEnv(t)
	e.plan()
	e.merge()
	before := len(e.replies())
	runs, err := e.st.ListRuns(t.Context(), store.RunFilter{Repo: infraRepo, MR: 7, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	e.comment("bob", ActionPlan, "net")
	r := e.replies()
	if len(r) != before+1 || !strings.Contains(r[len(r)-1], "@bob, this pull request is merged, and Sluice plans open pull requests only: plan its projects from a new pull request") {
		t.Errorf("replies = %q, want the plan request answered", r)
	}
	after, err := e.st.ListRuns(t.Context(), store.RunFilter{Repo: infraRepo, MR: 7, Limit: 100})
	if err != nil || len(after) != len(runs) {
		t.Errorf("%d runs after the comment (%v), want %d: a merged merge request is not planned", len(after), err, len(runs))
	}
}
