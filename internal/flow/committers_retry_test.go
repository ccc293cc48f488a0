package flow

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/permanent"
)

// TestCommittersFailingIsRetried: only a forge that cannot tell who
// committed, however often asked (forge.ErrCommitsTruncated), makes the
// approvals item fail. A failure to read them (a 502) fails the merge's
// event, which is retried, as a failure to read the reviews does: nothing
// is refused, audited or answered, and the retry applies.
func TestCommittersFailingIsRetried(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	ctx := t.Context()
	e.plan()

	// A refresh fails rather than show the approvals failing.
	e.fg.failNext("Committers", 1)
	if err := e.f.RefreshMR(ctx, infraRepo, 7); err == nil {
		t.Errorf("RefreshMR with the commits unread: no error")
	}
	if c := e.fg.sticky(); strings.Contains(c, "cannot tell who pushed commits") {
		t.Errorf("the comment says the committers cannot be told:\n%s", c)
	}

	e.fg.failNext("Committers", 1)
	e.fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	ev, _, err := e.f.Accept(ctx, "gitea", fmt.Sprintf("delivery-%d", time.Now().UnixNano()),
		Request{Action: ActionClose, Repo: infraRepo, MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.f.HandleEvent(ctx, ev.ID); err == nil || permanent.Is(err) {
		t.Fatalf("the merge with the commits unread: err = %v, want one to retry", err)
	}
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("apply runs after the failed attempt: %+v, want none yet", runs)
	}
	if r := e.replies(); len(r) != 0 {
		t.Errorf("replies after the failed attempt: %q, want none", r)
	}
	if got := e.auditActions(); slices.ContainsFunc(got, func(a string) bool { return strings.Contains(a, "apply.refused") }) {
		t.Errorf("audit = %q, want no refusal", got)
	}

	// The retry.
	if err := e.f.HandleEvent(ctx, ev.ID); err != nil {
		t.Fatal(err)
	}
	net, app := e.applyOf("net"), e.applyOf("app")
	if got := e.enqueued(); !slices.Equal(got, []int64{net.ID}) {
		t.Fatalf("enqueued: %v, want net's apply %d (app's %d waits for it)", got, net.ID, app.ID)
	}
	if r := e.replies(); len(r) != 0 {
		t.Errorf("replies: %q, want none (nothing refused)", r)
	}
}
