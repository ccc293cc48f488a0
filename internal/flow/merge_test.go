package flow

// A merge or a close: carried out as the forge says the merge request
// ended (retried while its API lags behind its webhook), a discarded plan
// never applied and its lock released, and every project of a large merge
// request applied.

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
)

// TestMergeSkipsADiscardedPlan: when the latest plan of a project is
// discarded, a merge creates no apply run for it (it could only fail) and
// says so. Nothing of the project can ever be applied from the merge
// request, so its lock goes (audited) rather than wait for an admin.
func TestMergeSkipsADiscardedPlan(t *testing.T) {
	fg := newMergeForge()
	e := newEnv(t, onForge(fg))
	ctx := t.Context()
	_, p := e.plannedRun("gitea:org/infra", 7, headH2, true)
	fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	e.handle("gitea", Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})

	if applies := e.applies("gitea:org/infra", 7); len(applies) != 0 {
		t.Fatalf("apply runs of a discarded plan %d: %+v", p.ID, applies)
	}
	if len(fg.replies) != 1 || !strings.Contains(fg.replies[0], "`net`: never from this pull request, and its lock was released: its latest plan was discarded") {
		t.Errorf("replies = %q, want one naming net's discarded plan", fg.replies)
	}
	if l, err := e.st.GetLock(ctx, store.LockKey{Repo: "gitea:org/infra", Dir: "net", Workspace: "default"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lock = %+v, %v; want it released", l, err)
	}
	got := e.auditActions()
	if !slices.Contains(got, "carol apply.refused gitea:org/infra!7/net") || !slices.Contains(got, "sluice lock.released gitea:org/infra!7/net") {
		t.Errorf("audit = %q, want apply.refused of net, and its lock released", got)
	}
}

// TestMergeWebhookBeforeTheForgeSaysMerged: a forge's API may still say
// open when its merge (or close) webhook arrives. The event is retried (an
// error that is not permanent) for a while, then ignored: the merge
// request was reopened since.
func TestMergeWebhookBeforeTheForgeSaysMerged(t *testing.T) {
	fg := &fakeForge{self: "sluice-bot", checks: greenChecks}
	fg.setMR(func(mr *forge.MergeRequest) {
		*mr = forge.MergeRequest{Repo: "org/infra", Number: 1, State: forge.MROpen, HeadSHA: headH1, BaseSHA: baseB}
	})
	e := newEnv(t, onForge(fg))
	now := time.Now()
	e.f.Now = func() time.Time { return now }
	tests := []struct {
		name    string
		merged  bool
		age     time.Duration
		wantErr bool
	}{
		{"merge webhook, fresh", true, time.Minute, true},
		{"merge webhook, long ago", true, time.Hour, false},
		{"close webhook, fresh", false, time.Minute, true},
		{"close webhook, long ago (reopened since)", false, time.Hour, false},
	}
	for _, tt := range tests {
		ev := store.Event{ID: 1, Forge: "gitea", ReceivedAt: now.Add(-tt.age)}
		err := e.f.decider().closeMR(t.Context(), ev, Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 1, Actor: "alice", Merged: tt.merged})
		if (err != nil) != tt.wantErr || permanent.Is(err) {
			t.Errorf("%s: err = %v, want an error to retry: %v", tt.name, err, tt.wantErr)
		}
	}
}

// TestCloseActsOnTheForgeState: a close request on a forge's merge
// request is carried out as what the forge says the merge request is,
// whatever the request claims: merged, the after-merge apply; closed, the
// plans discarded and the locks released; open, nothing. A plain git
// repository has only the request's word.
func TestCloseActsOnTheForgeState(t *testing.T) {
	type outcome struct {
		applied   bool     // an apply run was created
		discarded bool     // the plans were discarded
		locked    bool     // the merge request still holds the lock
		audit     []string // "actor action" entries besides the plan's
	}
	untouched := outcome{locked: true}
	tests := []struct {
		name     string
		source   string
		repo     string
		merged   bool          // what the request claims
		state    forge.MRState // what the forge says
		mergedBy string
		want     outcome
	}{
		{"API merged, forge open", APISource, infraRepo, true, forge.MROpen, "", untouched},
		{"API closed, forge open", APISource, infraRepo, false, forge.MROpen, "", untouched},
		{"webhook merged, forge open again", "gitea", infraRepo, true, forge.MROpen, "", untouched},
		{"webhook closed, forge open again", "gitea", infraRepo, false, forge.MROpen, "", untouched},
		{"API merged, forge closed", APISource, infraRepo, true, forge.MRClosed, "", outcome{discarded: true, audit: []string{"api mr.closed"}}},
		{"API closed, forge merged by carol", APISource, infraRepo, false, forge.MRMerged, "carol", outcome{applied: true, locked: true, audit: []string{"api mr.merged", "api apply.approved"}}},
		{"API merged, forge merged by an unknown person", APISource, infraRepo, true, forge.MRMerged, "", outcome{locked: true, audit: []string{"api mr.merged", "api apply.refused"}}},
		{"webhook merged by carol", "gitea", infraRepo, true, forge.MRMerged, "carol", outcome{applied: true, locked: true, audit: []string{"carol mr.merged", "carol apply.approved"}}},
		// Who merged is the forge's word, not the webhook's: dave, who
		// may not apply, merged; a delivery signed as carol changes nothing.
		{"webhook claims carol, the forge says dave merged", "gitea", infraRepo, true, forge.MRMerged, "dave", outcome{locked: true, audit: []string{"dave mr.merged", "dave apply.refused"}}},
		{"webhook merged, the forge names no merger", "gitea", infraRepo, true, forge.MRMerged, "", outcome{locked: true, audit: []string{"unknown mr.merged", "unknown apply.refused"}}},
		{"plain repository, API merged", APISource, "infra", true, "", "", outcome{discarded: true, audit: []string{"carol mr.merged"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fg := newMergeForge()
			e := newEnv(t, onForge(fg))
			ctx := t.Context()
			_, plan := e.plannedRun(tt.repo, 7, headH2, false)
			fg.setMR(func(mr *forge.MergeRequest) {
				mr.State, mr.MergedBy = tt.state, nil
				if tt.state == forge.MRMerged {
					mr.MergeSHA = mergeM
				}
				if tt.mergedBy != "" {
					mr.MergedBy = &forge.User{Login: tt.mergedBy}
				}
			})
			before := len(e.auditActions())
			req := Request{Action: ActionClose, Repo: tt.repo, MR: 7, Actor: "carol", Merged: tt.merged}
			if tt.source != APISource && tt.state == forge.MROpen {
				// The forge's API may lag behind its merge or close
				// webhook: the event is retried (see TestMergeWebhookBeforeTheForgeSaysMerged).
				ev, _, err := e.f.Accept(ctx, tt.source, "delivery", req)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.f.HandleEvent(ctx, ev.ID); err == nil || permanent.Is(err) {
					t.Fatalf("a merge webhook while the forge says open: err = %v, want one to retry", err)
				}
			} else {
				e.handle(tt.source, req)
			}

			var got outcome
			got.applied = len(e.applies(tt.repo, 7)) > 0
			p, err := e.st.GetPlan(ctx, plan.ID)
			if err != nil {
				t.Fatal(err)
			}
			got.discarded = p.Discarded
			l, err := e.st.GetLock(ctx, store.LockKey{Repo: tt.repo, Dir: "net", Workspace: "default"})
			got.locked = err == nil && l.MR == 7
			for _, a := range e.auditActions()[before:] {
				actor, action, _ := strings.Cut(a, " ")
				action, _, _ = strings.Cut(action, " ")
				got.audit = append(got.audit, actor+" "+action)
			}
			if got.applied != tt.want.applied || got.discarded != tt.want.discarded || got.locked != tt.want.locked || !slices.Equal(got.audit, tt.want.audit) {
				t.Errorf("outcome = %+v, want %+v", got, tt.want)
			}
			if tt.source == APISource && tt.repo == infraRepo && tt.state == forge.MRMerged && tt.mergedBy != "" {
				// The merger the forge names is the one the gate asked about.
				if fg.calls["Permission "+tt.mergedBy] == 0 || fg.calls["Permission api"] != 0 {
					t.Errorf("permission calls = %v, want %s's asked, and never api's", fg.calls, tt.mergedBy)
				}
				entries, err := e.st.AuditEntries(ctx, 0, time.Time{}, 0)
				if err != nil {
					t.Fatal(err)
				}
				var details map[string]any
				for _, a := range entries {
					if a.Action == "mr.merged" {
						_ = json.Unmarshal(a.Details, &details)
					}
				}
				if details["merged_by"] != tt.mergedBy {
					t.Errorf("mr.merged details = %v, want merged_by %s", details, tt.mergedBy)
				}
			}
		})
	}
}

// TestMergeAppliesEveryProject: a merged merge request of 1,100 planned
// projects gets an apply run for each and keeps every lock until they
// are applied. Reading its last 1,000 runs only, the merge left a hundred
// projects unapplied and released their locks.
func TestMergeAppliesEveryProject(t *testing.T) {
	const n = 1100
	for _, sk := range bothStores() {
		t.Run(sk.name, func(t *testing.T) {
			st := sk.open(t)
			fg := newMergeForge()
			tree := newManyProjects(t, n)
			e := newEnv(t, withStore(st), withTree(tree), onForge(fg))
			e.f.RefreshEvery = time.Hour // one refresh now; these tests count no comments
			e.handle("gitea", Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "alice", Trigger: "opened"})
			e.runPlanJobs()

			fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
			e.handle("gitea", Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})

			ctx := t.Context()
			applies, err := e.f.allRuns(ctx, store.RunFilter{Repo: "gitea:org/infra", MR: 7, Kind: store.KindApply})
			if err != nil || len(applies) != n {
				t.Errorf("%d apply runs (%v), want one per project, %d", len(applies), err, n)
			}
			if locks, err := st.ListLocks(ctx, "gitea:org/infra"); err != nil || len(locks) != n {
				t.Errorf("%d locks held (%v), want all %d until their projects are applied", len(locks), err, n)
			}
			if len(e.jobs.applies) != n {
				t.Errorf("%d apply jobs, want %d", len(e.jobs.applies), n)
			}
		})
	}
}
