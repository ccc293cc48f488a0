package flow

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

	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
)

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
