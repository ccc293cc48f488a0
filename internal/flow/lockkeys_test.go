package flow

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/store"
)

// TestRenamedProjectWaitsForTheLock: merge request 1 plans prod; merge
// request 2 renames prod to production (the same directory). Its plan
// waits for 1's lock, and is started when 1 is closed. Locked by name, the
// two planned the same code and state side by side.
func TestRenamedProjectWaitsForTheLock(t *testing.T) {
	const renamed = "3333333333333333333333333333333333333333"
	ws := newCommits(t, map[string]map[string]string{
		baseB: projectFiles(twoProjects), headH1: projectFiles(twoProjects), renamed: projectFiles(prodRenamed),
	})
	ws.heads[headH1] = []string{"prod/main.tf"}
	ws.heads[renamed] = []string{"sluice.yaml", "prod/main.tf"}
	st := openSQLite(t)
	e := newEnv(t, withStore(st), withTree(ws))
	ctx := t.Context()
	e.handle("gitea", Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice", Trigger: "opened"})
	e.handle("gitea", Request{Action: ActionPlan, Repo: "infra", MR: 2, HeadSHA: renamed, BaseSHA: baseB, Actor: "bob", Trigger: "opened"})

	waiting, err := st.ListRuns(ctx, store.RunFilter{Repo: "infra", MR: 2})
	if err != nil || len(waiting) != 1 || waiting[0].Project != "production" {
		t.Fatalf("runs of !2: %+v, %v; want production's alone", waiting, err)
	}
	if slices.Contains(e.jobs.plans, waiting[0].ID) {
		t.Errorf("!2's plan of production (dir prod) was started while !1 holds prod's lock")
	}
	l, err := st.GetLock(ctx, store.LockKey{Repo: "infra", Dir: "prod", Workspace: "default"})
	if err != nil || l.MR != 1 || l.Project != "prod" || len(l.Queue) != 1 || l.Queue[0].MR != 2 || l.Queue[0].Project != "production" {
		t.Fatalf("lock of prod: %+v, %v; want !1's (prod), !2 waiting (production)", l, err)
	}

	e.handle("gitea", Request{Action: ActionClose, Repo: "infra", MR: 1, Actor: "alice", Trigger: "closed"})
	if !slices.Contains(e.jobs.plans, waiting[0].ID) {
		t.Errorf("plan jobs %v: !2's plan was not started once !1 let the lock go", e.jobs.plans)
	}
	if l, err := st.GetLock(ctx, store.LockKey{Repo: "infra", Dir: "prod", Workspace: "default"}); err != nil || l.MR != 2 || l.Project != "production" {
		t.Errorf("lock of prod: %+v, %v; want !2's, as production", l, err)
	}
}

// TestPlanBindsItsOwnEntry: a plan of prod is bound to prod's entry in
// sluice.yaml, not to the whole file: the base moving on with an edit of
// staging's entry leaves prod's plan current; an edit of prod's own entry
// (or a sluice.yaml that cannot be read) that the branch lacks makes it
// diverge.
func TestPlanBindsItsOwnEntry(t *testing.T) {
	const (
		stagingOnBase = "4444444444444444444444444444444444444444"
		prodOnBase    = "5555555555555555555555555555555555555555"
		brokenOnBase  = "6666666666666666666666666666666666666666"
	)
	prodEdited := twoProjects + "    apply:\n      mode: before_merge\n"
	ws := newCommits(t, map[string]map[string]string{
		baseB: projectFiles(twoProjects), headH1: projectFiles(twoProjects), stagingOnBase: projectFiles(stagingEdited),
		prodOnBase: projectFiles(prodEdited), brokenOnBase: projectFiles("projects: ["),
	})
	// The branch left the base at baseB; the base then moved to each of
	// these, and the head has none of them.
	for _, to := range []string{stagingOnBase, prodOnBase, brokenOnBase} {
		ws.bases[headH1+to] = baseB
		ws.diffs[baseB+to] = []string{"sluice.yaml"}
		ws.diffs[headH1+to] = []string{"sluice.yaml"}
	}
	e := newEnv(t, withTree(ws))
	st := projectState{
		Project: "prod", Workspace: "default", PlanRun: store.Run{Repo: "infra", MR: 7, Project: "prod"},
		Plan:    &store.Plan{HeadSHA: headH1, BaseSHA: baseB},
		Summary: runSummary{Rules: &projectRules{Dir: "prod", Patterns: []string{"prod/*.tf"}}},
	}
	for _, tt := range []struct {
		base string
		want []string
	}{
		{stagingOnBase, nil},
		{prodOnBase, []string{"sluice.yaml"}},
		{brokenOnBase, []string{"sluice.yaml"}},
	} {
		mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: headH1, BaseSHA: tt.base}
		got, err := e.f.newGate(nil, "org/infra", mr, "", false).diverged(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("base moved to %s: diverged in %q, want %q", gitx.Short(tt.base), got, tt.want)
		}
	}
}
