package flow

// Locks: a project's lock is its directory's and workspace's whatever the
// project is called, a close releases every lock of its merge request even
// mid-job, a lock released by a person is never applied from, and the
// engine's working data is locked inside StateDir.

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
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

// TestCloseReleasesEveryLock: a merge request of 1,100 projects (more
// runs than any page Sluice reads: closeMR read 500 waiting runs, and the
// plan jobs of the others took the locks again once the close had
// released them) is closed while most of its plans still wait. Once the
// waiting jobs have run, no lock is held and no run waits.
func TestCloseReleasesEveryLock(t *testing.T) {
	const n = 1100
	for _, sk := range bothStores() {
		t.Run(sk.name, func(t *testing.T) {
			st := sk.open(t)
			e := newEnv(t, withStore(st), withTree(newManyProjects(t, n)))
			ctx := t.Context()
			e.handle("gitea", Request{Action: ActionPlan, Repo: "infra", MR: 7, HeadSHA: headH2, BaseSHA: baseB, Actor: "alice", Trigger: "opened"})
			if locks, err := st.ListLocks(ctx, "infra"); err != nil || len(locks) != n {
				t.Fatalf("%d locks, %v; want the %d projects' locks held", len(locks), err, n)
			}
			e.runSomePlanJobs(50)

			e.handle("gitea", Request{Action: ActionClose, Repo: "infra", MR: 7, Actor: "alice", Trigger: "closed"})
			// The plan jobs queued before the close run after it.
			e.runPlanJobs()

			if locks, err := st.ListLocks(ctx, "infra"); err != nil || len(locks) != 0 {
				t.Errorf("%d locks held after the close (%v), want none", len(locks), err)
			}
			for _, state := range []store.RunState{store.StateQueued, store.StateRunning} {
				if runs, err := e.f.allRuns(ctx, store.RunFilter{Repo: "infra", MR: 7, State: state}); err != nil || len(runs) != 0 {
					t.Errorf("%d runs %s after the close (%v), want none", len(runs), state, err)
				}
			}
		})
	}
}

// TestCloseDuringAPlanJobLeavesNoLock: a plan job reads its run queued;
// the merge request is closed (its waiting runs cancelled, its locks
// released) before the job asks for the project lock. The job must give
// the lock back, or its place in the lock's queue when another merge
// request took the lock meanwhile, rather than keep either for a closed
// merge request.
func TestCloseDuringAPlanJobLeavesNoLock(t *testing.T) {
	for _, tt := range []struct{ name, project string }{
		{"another merge request waits for the lock", "p0001"},
		{"nobody waits for the lock", "p0002"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := &spyStore{Store: openSQLite(t)}
			e := newEnv(t, withStore(hs), withTree(newManyProjects(t, 2)))
			ctx := t.Context()
			e.handle("gitea", Request{Action: ActionPlan, Repo: "infra", MR: 7, HeadSHA: headH2, BaseSHA: baseB, Actor: "alice", Trigger: "opened"})
			// Merge request 8 waits for p0001's lock.
			if _, err := hs.AcquireLock(ctx, store.LockKey{Repo: "infra", Dir: "p0001", Workspace: "default"}, "p0001", 8); err != nil {
				t.Fatal(err)
			}
			waiting, err := hs.CreateRun(ctx, store.Run{Kind: store.KindPlan, Repo: "infra", MR: 8, Project: "p0001", Workspace: "default", Dir: "p0001",
				HeadSHA: headH1, BaseSHA: baseB, Actor: "bob"})
			if err != nil {
				t.Fatal(err)
			}
			runs, err := hs.ListRuns(ctx, store.RunFilter{Repo: "infra", MR: 7, Project: tt.project})
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs of %s: %+v, %v", tt.project, runs, err)
			}
			hs.beforeAcquire = func() {
				e.handle("gitea", Request{Action: ActionClose, Repo: "infra", MR: 7, Actor: "alice", Trigger: "closed"})
			}
			if err := e.f.HandlePlan(ctx, runs[0].ID); err != nil {
				t.Fatal(err)
			}
			locks, err := hs.ListLocks(ctx, "infra")
			if err != nil {
				t.Fatal(err)
			}
			if len(locks) != 1 || locks[0].Project != "p0001" || locks[0].MR != 8 || len(locks[0].Queue) != 0 {
				t.Errorf("locks = %+v, want p0001's alone, held by !8, none waiting (the closed !7 holds nothing, waits for nothing)", locks)
			}
			if !slices.Contains(e.jobs.plans, waiting.ID) {
				t.Errorf("plan jobs %v: !8's waiting run %d was not started", e.jobs.plans, waiting.ID)
			}
		})
	}
}

func TestKeyLocks(t *testing.T) {
	var (
		k       keyLocks
		mu      sync.Mutex
		inside  = map[string]int{}
		overlap bool
		wg      sync.WaitGroup
	)
	for i := range 40 {
		wg.Go(func() {
			key := []string{"a", "b"}[i%2]
			unlock := k.lock(key)
			mu.Lock()
			inside[key]++
			overlap = overlap || inside[key] > 1
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside[key]--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	if overlap {
		t.Error("two holders of one key at once")
	}
	if len(k.held) != 0 {
		t.Errorf("keys left held: %v", k.held)
	}
}

// TestStateDirStaysInside: whatever project and workspace a run names
// (sluice.yaml's validation refuses these, but a run is stored data), its
// engine directory is one directory two levels below the repository's,
// inside StateDir, and the lock taken there creates nothing outside it.
func TestStateDirStaysInside(t *testing.T) {
	data := t.TempDir()
	f := &Flow{StateDir: filepath.Join(data, "engines")}
	repoDir := filepath.Join(f.StateDir, workspaceKey("gitea:org/infra"))
	for _, r := range []store.Run{
		{Project: "prod", Workspace: "../../../../escaped"},
		{Project: "prod", Workspace: ".."},
		{Project: "..", Workspace: ".."},
		{Project: "../../../x", Workspace: "default"},
		{Project: "app", Workspace: "acme/app/dev"},
		{Project: "app", Workspace: "/etc"},
	} {
		r.Repo = "gitea:org/infra"
		dir := f.runs().stateDir(r)
		rel, err := filepath.Rel(repoDir, dir)
		if err != nil || strings.Count(rel, string(filepath.Separator)) != 1 || strings.HasPrefix(rel, "..") {
			t.Errorf("stateDir(%q, %q) = %s: not PROJECT/WORKSPACE under %s", r.Project, r.Workspace, dir, repoDir)
		}
		unlock, err := f.runs().lockWorkData(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	for _, p := range testkit.Tree(t, data) {
		if p != "./" && !strings.HasPrefix(p, "engines/") {
			t.Errorf("created %s outside the engines' directory", p)
		}
	}
	if got, want := f.runs().stateDir(store.Run{Repo: "r", Project: "prod", Workspace: "default"}), filepath.Join(f.StateDir, workspaceKey("r"), "prod", "default"); got != want {
		t.Errorf("stateDir of a plain name = %s, want %s", got, want)
	}
}

// TestReleasedLockIsNotApplied: a person releases the project lock of a
// planned merge request (for another to take it). Its plan must not be
// applied then, whatever else passes: the checklist says so while it is
// open, the merge refuses it, and an apply run made before the release
// is cancelled, not applied.
func TestReleasedLockIsNotApplied(t *testing.T) {
	release := func(e *env, project string) {
		e.t.Helper()
		if _, err := e.f.ReleaseLock(e.t.Context(), "admin", LockRef{Repo: infraRepo, Project: project, Workspace: "default"}, "abandoned"); err != nil {
			e.t.Fatal(err)
		}
	}
	t.Run("open", func(t *testing.T) {
		e, _ := newSettleEnv(t)
		e.plan()
		release(e, "net")
		if c := e.refresh(); !strings.Contains(c, "[ ] holds the project lock — the project lock was released from this pull request") {
			t.Errorf("the checklist does not say net's lock was released:\n%s", c)
		}
	})
	t.Run("merged", func(t *testing.T) {
		e, _ := newSettleEnv(t)
		e.plan()
		release(e, "net")
		e.merge()
		for _, a := range e.applies(infraRepo, 7) {
			if a.Project == "net" {
				t.Errorf("net was given an apply run without its lock: %+v", a)
			}
		}
		if r := e.replies(); len(r) != 1 || !strings.Contains(r[0], "`net`: never from this pull request") || !strings.Contains(r[0], "holds the project lock: the project lock was released") {
			t.Errorf("replies = %q, want net refused for its released lock", r)
		}
	})
	t.Run("apply run made before", func(t *testing.T) {
		e, _ := newSettleEnv(t)
		e.plan()
		e.merge()
		net := e.applyOf("net")
		release(e, "net")
		if err := e.f.HandleApply(t.Context(), net.ID); err != nil {
			t.Fatal(err)
		}
		if r := e.run(net.ID); r.State != store.StateCancelled || !strings.Contains(r.Error, "not applied: the project lock was released") {
			t.Errorf("net's apply run: %s %q, want cancelled for its released lock", r.State, r.Error)
		}
		if got := e.eng.order(); len(got) != 0 {
			t.Errorf("applied %v without the lock", got)
		}
	})
}
