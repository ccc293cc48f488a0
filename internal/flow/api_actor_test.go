package flow

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
)

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
