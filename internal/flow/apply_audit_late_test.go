package flow

import (
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

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
