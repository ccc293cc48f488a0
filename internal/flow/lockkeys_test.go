package flow

import (
	"slices"
	"testing"

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
