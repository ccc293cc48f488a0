package flow

// Settling, what follows an apply: its lock released, the linked issue
// told (what was applied, and what was not), its audit entry recorded,
// once however often the job runs again; retried while the forge fails,
// given up (audited, logged) a day after the apply, but not by a server
// that is stopping.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
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

// TestApplyAuditedWhenTheFirstRecordFailed: net's apply succeeds, but
// recording its audit entry fails. The job is retried; the retry finds
// the run succeeded and settles it, and records the entry the first
// attempt could not (once, however often it runs again).
func TestApplyAuditedWhenTheFirstRecordFailed(t *testing.T) {
	e, _ := newSettleEnv(t)
	ctx := t.Context()
	fa := &failingAuditor{Auditor: e.f.Audit, fail: "apply"}
	e.f.Audit = fa
	e.plan()
	e.merge()
	net := e.applyOf("net")
	if err := e.f.HandleApply(ctx, net.ID); err == nil {
		t.Fatal("net's apply with the audit failing: no error")
	}
	if r := e.run(net.ID); r.State != store.StateSucceeded || r.SettledAt != nil {
		t.Fatalf("net's apply run: %s, settled %v; want succeeded, not settled", r.State, r.SettledAt)
	}
	if got := e.applyEntries(net.ID); len(got) != 0 {
		t.Fatalf("apply entries before the retry: %v", got)
	}

	for range 2 { // the retry, then a duplicate job
		if err := e.f.HandleApply(ctx, net.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.run(net.ID); r.SettledAt == nil {
		t.Errorf("net's apply run is not settled after the retry")
	}
	got := e.applyEntries(net.ID)
	if len(got) != 1 {
		t.Fatalf("apply entries of run %d: %v, want one", net.ID, got)
	}
	d := got[0]
	if d["artifact_sha256"] == "" || d["head"] != net.HeadSHA || d["recorded_late"] != true {
		t.Errorf("the entry: %v, want the plan's artifact, the head, recorded late", d)
	}
	if s, _ := d["summary"].(map[string]any); s["add"] != float64(1) {
		t.Errorf("the entry's summary: %v, want the apply's (1 to add)", d["summary"])
	}
}

// TestApplyAuditedOnceWhenSettlingIsRetried: when the apply's entry was
// recorded and only what follows failed, the retry does not record it
// again.
func TestApplyAuditedOnceWhenSettlingIsRetried(t *testing.T) {
	e, ff := newSettleEnv(t)
	ctx := t.Context()
	e.plan()
	e.merge()
	net := e.applyOf("net")
	ff.failNext("GetMR", 1)
	if err := e.f.HandleApply(ctx, net.ID); err == nil {
		t.Fatal("net's apply with the forge failing after it: no error")
	}
	if err := e.f.HandleApply(ctx, net.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.applyEntries(net.ID); len(got) != 1 || got[0]["recorded_late"] != nil {
		t.Errorf("apply entries of run %d: %v, want the one its apply recorded", net.ID, got)
	}
}

// TestApplyAuditedAfterACrash: the server died right after it recorded
// net's apply as succeeded; the job recovery queues records the entry.
func TestApplyAuditedAfterACrash(t *testing.T) {
	e, _ := newSettleEnv(t)
	ctx := t.Context()
	e.plan()
	e.merge()
	net := e.applyOf("net")
	if _, err := e.st.StartRun(ctx, net.ID, "dead"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.FinishRun(ctx, net.ID, store.StateSucceeded, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.f.HandleApply(ctx, net.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.applyEntries(net.ID); len(got) != 1 {
		t.Errorf("apply entries of run %d: %v, want one", net.ID, got)
	}
}

const revokedErr = "github: getting pull request org/infra#7: 403 Forbidden: Resource not accessible by integration"

// TestSettleGivesUpAfterADay: net's apply succeeds, but the forge
// answers 403 to everything after it (a token revoked), which no retry
// mends. Its job fails and is retried, and recovery queues it again,
// for a day after the apply ended; then the run settles as it is, with
// an audit entry (apply.settle_abandoned) naming the last error and an
// error in the log saying what was not done. Recovery stops queueing it.
func TestSettleGivesUpAfterADay(t *testing.T) {
	e, ff := newSettleEnv(t)
	ctx := t.Context()
	var logs testkit.SyncBuffer
	e.f.Log = slog.New(slog.NewTextHandler(&logs, nil))
	e.plan()
	e.merge()
	net := e.applyOf("net")
	// The forge answers 403 to every read of the merge request, for good,
	// as GitHub does once the App is uninstalled.
	ff.failWith("GetMR", func(context.Context) error { return errors.New(revokedErr) })
	if err := e.f.HandleApply(ctx, net.ID); err == nil || permanent.Is(err) {
		t.Fatalf("net's apply with the forge refusing after it: err = %v, want one to retry", err)
	}
	finished := e.run(net.ID).FinishedAt
	if finished == nil {
		t.Fatal("net's apply run has not finished")
	}

	requeued := func() bool {
		e.jobs.mu.Lock()
		e.jobs.requeued = nil
		e.jobs.mu.Unlock()
		if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		e.jobs.mu.Lock()
		defer e.jobs.mu.Unlock()
		return slices.ContainsFunc(e.jobs.requeued, func(q requeuedApply) bool { return q.run == net.ID })
	}

	// Within the day, every job fails and is retried.
	for _, after := range []time.Duration{time.Hour, 23 * time.Hour} {
		e.f.Now = func() time.Time { return finished.Add(after) }
		if !requeued() {
			t.Fatalf("%v after the apply: recovery did not queue the settling again", after)
		}
		if err := e.f.HandleApply(ctx, net.ID); err == nil || permanent.Is(err) {
			t.Fatalf("%v after the apply: err = %v, want one to retry", after, err)
		}
		if r := e.run(net.ID); r.SettledAt != nil {
			t.Fatalf("%v after the apply: settled", after)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("an error logged within the day:\n%s", logs.String())
	}

	// A day after it, the job gives up, and says so.
	e.f.Now = func() time.Time { return finished.Add(24*time.Hour + time.Minute) }
	if err := e.f.HandleApply(ctx, net.ID); err != nil {
		t.Fatalf("a day after the apply: err = %v, want the run settled", err)
	}
	if r := e.run(net.ID); r.State != store.StateSucceeded || r.SettledAt == nil {
		t.Errorf("net's apply run: %s, settled %v; want succeeded and settled", r.State, r.SettledAt)
	}
	entries, err := e.st.AuditEntries(ctx, 0, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var abandoned []store.AuditEntry
	for _, a := range entries {
		if a.Action == "apply.settle_abandoned" {
			abandoned = append(abandoned, a)
		}
	}
	if len(abandoned) != 1 || abandoned[0].Subject != infraRepo+"!7/net" {
		t.Fatalf("apply.settle_abandoned entries: %+v, want one on net", abandoned)
	}
	var d struct {
		Run   int64  `json:"run"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(abandoned[0].Details, &d); err != nil || d.Run != net.ID || !strings.Contains(d.Error, revokedErr) {
		t.Errorf("details = %s, want run %d and the forge's error", abandoned[0].Details, net.ID)
	}
	log := logs.String()
	if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "sluice locks release") || !strings.Contains(log, "403 Forbidden") {
		t.Errorf("the log does not say, as an error, what was not done and why:\n%s", log)
	}
	if h := e.lockHolder("net"); h != 7 {
		t.Errorf("net's lock: held by !%d; Sluice could not release it", h)
	}
	if requeued() {
		t.Errorf("recovery queued the settled run again")
	}
}

// TestSettleDoesNotGiveUpOnAStoppingServer: a job cut short by a stopping
// server does not give up, however late: it failed for its own stop, not
// the forge's.
func TestSettleDoesNotGiveUpOnAStoppingServer(t *testing.T) {
	e, ff := newSettleEnv(t)
	e.plan()
	e.merge()
	net := e.applyOf("net")
	ff.failNext("GetMR", 1)
	if err := e.f.HandleApply(t.Context(), net.ID); err == nil {
		t.Fatal("no error with the forge failing")
	}
	finished := e.run(net.ID).FinishedAt
	e.f.Now = func() time.Time { return finished.Add(48 * time.Hour) }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The server stops: reading the merge request cancels the job's
	// context, and fails.
	ff.failWith("GetMR", func(context.Context) error {
		cancel()
		return fmt.Errorf("getting the pull request: %w", context.Canceled)
	})
	if err := e.f.HandleApply(ctx, net.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("a stopping server's job: err = %v, want it cancelled", err)
	}
	if r := e.run(net.ID); r.SettledAt != nil {
		t.Errorf("settled by a stopping server's job")
	}
	if got := e.auditActions(); slices.ContainsFunc(got, func(a string) bool { return strings.Contains(a, "settle_abandoned") }) {
		t.Errorf("audit = %q, want nothing abandoned", got)
	}
}
