package flow

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/store"
)

// TestAPIApplyOnAForgeActsAsTheAPI: an apply asked through the JSON API on
// a forge's merge request acts as APIActor, whatever actor the request
// names: it is no approval (not even on a merged merge request, where a
// person's `sluice apply` is one), the forge is never asked about an
// account of that name, and "may apply" fails, saying why.
func TestAPIApplyOnAForgeActsAsTheAPI(t *testing.T) {
	tests := []struct {
		name    string
		state   forge.MRState
		mode    string
		reviews bool // bob approved the plan
		// wantFailing are the checklist items the refusal names.
		wantFailing []string
	}{
		{"merged, nobody approved", forge.MRMerged, repoconfig.ApplyAfterMerge, false, []string{"approvals: 0 of 1 needed", "may apply: " + apiMayNotApply}},
		{"open, before_merge, approved", forge.MROpen, repoconfig.ApplyBeforeMerge, true, []string{"may apply: " + apiMayNotApply}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fg := newMergeForge()
			if !tt.reviews {
				fg.reviews = nil
			}
			e := newEnv(t, onForge(fg))
			e.plannedRunMode(infraRepo, 7, headH2, false, tt.mode)
			fg.setMR(func(mr *forge.MergeRequest) {
				if mr.State = tt.state; tt.state == forge.MRMerged {
					mr.MergeSHA = mergeM
				}
			})
			// bob has write access: as a person, his request would pass
			// (and, on a merged merge request, approve).
			e.handle(APISource, Request{Action: ActionApply, Repo: infraRepo, MR: 7, Actor: "bob", ByComment: true, CommentID: 99})

			if applies := e.applies(infraRepo, 7); len(applies) != 0 {
				t.Fatalf("an API request applied: %+v", applies)
			}
			if n := fg.calls["Permission api"]; n != 0 {
				t.Errorf("the forge was asked %d times for the permission of an account named api", n)
			}
			if len(fg.replies) != 1 {
				t.Fatalf("replies = %q, want one refusal", fg.replies)
			}
			reply := fg.replies[0]
			if !strings.HasPrefix(reply, "Asked through Sluice's API: Sluice did not apply:") || strings.Contains(reply, "@") {
				t.Errorf("reply = %q, want a refusal that mentions nobody", reply)
			}
			for _, item := range tt.wantFailing {
				if !strings.Contains(reply, item) {
					t.Errorf("reply = %q, want it to name %q", reply, item)
				}
			}
			if tt.reviews && strings.Contains(reply, "approvals") {
				t.Errorf("reply = %q: bob's real approval should count", reply)
			}
			if got := e.auditActions(); !slices.Contains(got, "api apply.refused "+infraRepo+"!7") {
				t.Errorf("audit = %q, want apply.refused by api", got)
			}
		})
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
