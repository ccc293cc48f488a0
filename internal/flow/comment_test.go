package flow

// What Sluice says on the merge request: the sluice/gate and sluice/plan
// statuses (posted when they change, saying what the comment says), the
// sticky comment's top on a merge it refused, and refreshes coalesced.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/store"
)

// TestGateStatus: the one status branch protection requires, sluice/gate
// on the merge request's head, passes when merging applies the plans (or
// there is nothing to apply) and holds the merge otherwise: pending while
// the plans run or the checklist waits for a person (an approval that
// counts), failing when the merge request must change or was not planned.
// A merge request that changes no project passes: it must not wait for a
// plan that never comes.
func TestGateStatus(t *testing.T) {
	gate := func(fg *fakeForge) string {
		t.Helper()
		var last string
		for _, s := range fg.posted() {
			if strings.HasPrefix(s, "2222222 sluice/gate ") {
				last = strings.TrimPrefix(s, "2222222 sluice/gate ")
			}
		}
		return last
	}
	plan := func(t *testing.T, ws Workspaces, fg *fakeForge) {
		t.Helper()
		e := newEnv(t, withTree(ws), onForge(fg))
		e.handle("gitea", Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "alice", Trigger: "opened"})
		e.runPlanJobs()
	}

	t.Run("approved", func(t *testing.T) {
		fg := newMergeForge()
		plan(t, newManyProjects(t, 2), fg)
		if got := gate(fg); got != "success ready: merging applies p0001, p0002" {
			t.Errorf("sluice/gate = %q", got)
		}
	})
	t.Run("approved by a committer", func(t *testing.T) {
		fg := newMergeForge()
		fg.committers = []string{"alice", "bob"} // bob, who approved, pushed a commit
		plan(t, newManyProjects(t, 2), fg)
		if got := gate(fg); got != "pending not ready: p0001: approvals; p0002: approvals" {
			t.Errorf("sluice/gate = %q, want it pending on the approvals", got)
		}
	})
	t.Run("changes no project", func(t *testing.T) {
		fg := newMergeForge()
		plan(t, newManyProjects(t, 2).changing("README.md"), fg)
		if got := gate(fg); got != "success no project is affected" {
			t.Errorf("sluice/gate = %q", got)
		}
		if c := fg.comments["<!-- sluice:plan -->"]; !strings.Contains(c, "No projects are affected") {
			t.Errorf("the comment:\n%s", c)
		}
	})
	t.Run("from a fork", func(t *testing.T) {
		fg := newMergeForge()
		fg.setMR(func(mr *forge.MergeRequest) { mr.FromFork = true })
		plan(t, newManyProjects(t, 2), fg)
		if got := gate(fg); !strings.HasPrefix(got, "failure not planned: a pull request from a fork") {
			t.Errorf("sluice/gate = %q, want it failing: nothing was planned", got)
		}
	})
	t.Run("too many projects", func(t *testing.T) {
		fg := newMergeForge()
		e := newEnv(t, withTree(newManyProjects(t, 3)), onForge(fg))
		e.f.MaxProjectsPerMR = 2
		e.handle("gitea", Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "alice", Trigger: "opened"})
		if got := gate(fg); got != "failure not planned: 3 projects, more than the 2 this server plans" {
			t.Errorf("sluice/gate = %q", got)
		}
	})
	// A status is the commit's: one into a branch nothing is applied from
	// could pass it for a merge request into main with the same head.
	t.Run("into a branch Sluice does not apply from", func(t *testing.T) {
		for _, ws := range []Workspaces{newManyProjects(t, 2), newManyProjects(t, 2).changing("README.md")} {
			fg := newMergeForge()
			fg.setMR(func(mr *forge.MergeRequest) { mr.BaseRef = "staging" })
			plan(t, ws, fg)
			if got := gate(fg); got != "" {
				t.Errorf("sluice/gate = %q, want none", got)
			}
		}
	})
}

// TestMergedNotAppliedAtTheTop: a merge the gate refused (bob, who
// approved, pushed a commit) says so first in the comment, above the plans
// and the checklist whose other boxes are ticked: what was not applied,
// why, and what to do. The reply says the same, for notification. The
// approval can still come (a reviewer's `sluice apply`), so the locks
// stay.
func TestMergedNotAppliedAtTheTop(t *testing.T) {
	fg := newMergeForge()
	fg.committers = []string{"alice", "bob"} // bob, who approved, pushed a commit
	st := openSQLite(t)
	e := newEnv(t, withStore(st), withTree(newManyProjects(t, 1)), onForge(fg))
	e.handle("gitea", Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "alice", Trigger: "opened"})
	e.runPlanJobs()
	fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	e.handle("gitea", Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})

	c := fg.comments["<!-- sluice:plan -->"]
	const top = "<!-- sluice:plan -->\n## Sluice plan\n\n**Merged, but Sluice did not apply** `p0001` — `main` now has changes the infrastructure does not.\n\n" +
		"- `p0001`: approvals: 0 of 1 needed (not counted: bob (pushed commits to this pull request))\n\nWhat to do:\n" +
		"- `p0001`: once the checklist passes, a person with write access comments `sluice apply` here"
	if !strings.HasPrefix(c, top) {
		t.Errorf("the comment does not start with what was not applied:\n%s\nwant it to start:\n%s", c, top)
	}
	if len(fg.replies) != 1 || !strings.HasPrefix(fg.replies[0], "**Merged, but Sluice did not apply** `p0001`") {
		t.Errorf("replies = %q", fg.replies)
	}
	if locks, err := st.ListLocks(t.Context(), "gitea:org/infra"); err != nil || len(locks) != 1 || locks[0].MR != 7 {
		t.Errorf("locks = %+v, %v; want p0001's kept by !7: an approval can still come", locks, err)
	}
}

// TestStatusesArePostedOnlyWhenTheyChange: after every run the comment
// and statuses are refreshed, but a status is posted only when it says
// something new: once pending and once with the result per project, not
// every project's status after every run. A new run on the same commit
// (`sluice plan` again) posts again.
func TestStatusesArePostedOnlyWhenTheyChange(t *testing.T) {
	fg := newMergeForge()
	e := newEnv(t, withTree(newManyProjects(t, 3)), onForge(fg))
	e.handle("gitea", Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "alice", Trigger: "opened"})
	e.runPlanJobs()
	if err := e.f.RefreshMR(t.Context(), "gitea:org/infra", 7); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range []string{"p0001", "p0002", "p0003"} {
		want = append(want, fmt.Sprintf("2222222 sluice/plan: %s pending planning", p))
	}
	// The gate status does not change while projects finish planning.
	want = append(want, "2222222 sluice/gate pending not ready: planning")
	for _, p := range []string{"p0001", "p0002", "p0003"} {
		want = append(want, fmt.Sprintf("2222222 sluice/plan: %s success 1 to add, 0 to change, 0 to destroy", p))
	}
	want = append(want, "2222222 sluice/gate success ready: merging applies p0001, p0002, p0003")
	if got := fg.posted(); !slices.Equal(got, want) {
		t.Errorf("statuses posted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A person plans again: the new runs' statuses are posted, though the
	// commit and the words are those posted before.
	again := Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "bob", ByComment: true, CommentID: 99, Trigger: "comment:99"}
	e.handle("gitea", again)
	e.runPlanJobs()
	if got := fg.posted(); len(got) != 2*len(want) || !slices.Equal(got[len(want):], want) {
		t.Errorf("statuses posted after `sluice plan`:\n%s\nwant the same again", strings.Join(got, "\n"))
	}
}

// TestRefreshesAreCoalesced: the refreshes asked for after runs come at
// most once per RefreshEvery per merge request; one asked for meanwhile
// is carried out later, once, and none is lost (a stopping server carries
// out those still to come).
func TestRefreshesAreCoalesced(t *testing.T) {
	var q refreshQueue
	var later []string
	ask := func(mr string) bool { return q.ask(mr, time.Hour, func() { later = append(later, mr) }) }
	if !ask("!7") {
		t.Fatal("the first refresh of !7 does not come at once")
	}
	if ask("!7") || ask("!7") {
		t.Error("a second refresh of !7 within the hour came at once")
	}
	if !ask("!8") {
		t.Error("!8's first refresh waited for !7's")
	}
	fns := q.flush()
	for _, fn := range fns {
		fn()
	}
	if !slices.Equal(later, []string{"!7"}) {
		t.Errorf("refreshes carried out on flush: %q, want !7's once", later)
	}
}

// TestPlanStatusSaysWhatTheCommentSays: the description of sluice/plan is
// the comment's summary sentence (render.PlanSummary), imports and moves
// included: it used to drop them, so a plan that only imports read "0 to
// add, 0 to change, 0 to destroy" on the commit. The longest sentence
// still fits GitHub's 140 characters, the shortest limit of the forges.
func TestPlanStatusSaysWhatTheCommentSays(t *testing.T) {
	tests := []struct {
		sum  engine.Summary
		want string
	}{
		{engine.Summary{Import: 1, Move: 1}, "1 to import, 0 to add, 0 to change, 0 to destroy, 1 to move"},
		{engine.Summary{Add: 1, Replace: 2}, "1 to add, 0 to change, 0 to destroy, 2 to replace"},
		{engine.Summary{Add: 999999, Change: 999999, Destroy: 999999, Replace: 999999, Import: 999999, Move: 999999}, ""},
	}
	for _, tt := range tests {
		st := projectState{Project: "net", PlanRun: store.Run{ID: 1, HeadSHA: "h", State: store.StateSucceeded},
			Summary: runSummary{Changes: true, Summary: tt.sum}}
		got := statusesOf(st)[0].check.Description
		want := tt.want
		if want == "" {
			want = render.PlanSummary(tt.sum)
		}
		if got != want || len(got) > 140 {
			t.Errorf("sluice/plan of %+v says %q (%d characters), want %q, at most 140", tt.sum, got, len(got), want)
		}
	}
}

// TestRulesChangeHoldsTheGate: a project whose plan has no changes but
// whose rules the merge request changes holds sluice/gate until its
// checklist passes; without a rules change it holds nothing.
func TestRulesChangeHoldsTheGate(t *testing.T) {
	waiting := gate.Result{Items: []gate.Item{{Name: gate.ItemApprovals, Detail: "0 of 1 needed", Waiting: true}}}
	st := projectState{Project: "prod", Workspace: "default", PlanRun: store.Run{State: store.StateSucceeded},
		Plan:    &store.Plan{HasChanges: false},
		Summary: runSummary{Rules: &projectRules{RulesChanged: true}}}
	results := map[string]gate.Result{projectKey("prod", "default"): waiting}
	if state, why := projectVerdict(st, results); state != forge.CheckPending || why != gate.ItemApprovals {
		t.Errorf("a rules change without approval: %s %q, want pending on approvals", state, why)
	}
	st.Summary.Rules.RulesChanged = false
	if state, _ := projectVerdict(st, results); state != forge.CheckSuccess {
		t.Errorf("no changes and no rules change: %s, want success", state)
	}
	if toReview(st) {
		t.Errorf("a plan without changes or a rules change has a checklist to pass")
	}
}
