package flow

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
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
