package flow

// Planning: which projects a merge request plans (a module's callers, one
// edited entry, no more than the server plans, a discovered project's
// stack), which of two plans racing is the one that counts, and a merged
// merge request not planned again.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/engine/pulumi"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/store"
)

// TestOlderPlanFinishingLastIsNotApplied: two replicas plan heads H1 and
// H2 of one merge request at once, and H2's plan finishes first. H1's
// plan, saved last, must not replace it: an apply through the API (a
// plain git repository) applies H2's plan.
func TestOlderPlanFinishingLastIsNotApplied(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	r1 := e.planRun("infra", 1, headH1)
	r2 := e.planRun("infra", 1, headH2)
	if err := e.f.HandlePlan(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.f.HandlePlan(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{r1.ID, r2.ID} {
		if r, err := e.st.GetRun(ctx, id); err != nil || r.State != store.StateSucceeded {
			t.Fatalf("run %d: %+v, %v; want it succeeded", id, r, err)
		}
	}
	latest, err := e.st.LatestPlan(ctx, "infra", 1, "net", "default")
	if err != nil {
		t.Fatal(err)
	}
	if latest.HeadSHA != headH2 || latest.RunID != r2.ID {
		t.Fatalf("the live plan is run %d's at %s, want run %d's at H2: the older plan replaced the newer one", latest.RunID, gitx.Short(latest.HeadSHA), r2.ID)
	}

	e.handle(APISource, Request{Action: ActionApply, Repo: "infra", MR: 1, Actor: "bob"})
	applies := e.applies("infra", 1)
	if len(applies) != 1 || applies[0].HeadSHA != headH2 || applies[0].PlanID != latest.ID {
		t.Fatalf("apply runs = %+v, want one of H2's plan %d", applies, latest.ID)
	}
}

// TestOlderPlanFinishingLastOnAForge: the same race on a forge; on merge
// the newer head's plan is applied, not a discarded one.
func TestOlderPlanFinishingLastOnAForge(t *testing.T) {
	fg := newMergeForge()
	e := newEnv(t, onForge(fg))
	ctx := t.Context()
	r1 := e.planRun("gitea:org/infra", 7, headH1)
	r2 := e.planRun("gitea:org/infra", 7, headH2)
	for _, id := range []int64{r2.ID, r1.ID} {
		if err := e.f.HandlePlan(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	e.handle("gitea", Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})

	applies := e.applies("gitea:org/infra", 7)
	if len(applies) != 1 || applies[0].HeadSHA != headH2 {
		t.Fatalf("apply runs = %+v, want one of H2's plan", applies)
	}
	p, err := e.st.GetPlan(ctx, applies[0].PlanID)
	if err != nil || p.Discarded {
		t.Fatalf("the apply run's plan: %+v, %v; want it live (an apply of a discarded plan only fails)", p, err)
	}
}

// TestModuleChangeAffectsItsCallers: on the server as in the CLI, a change
// to a local module plans the projects that call it, and binds the
// module's files to their plans.
func TestModuleChangeAffectsItsCallers(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"sluice.yaml":         "version: 1\nprojects:\n  - name: prod\n    dir: prod\n  - name: dev\n    dir: dev\n",
		"prod/main.tf":        "module \"vpc\" {\n  source = \"../modules/vpc\"\n}\n",
		"dev/main.tf":         "# no modules\n",
		"modules/vpc/main.tf": "# the module\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	// The merge request changes the module only.
	e.f.Workspaces = &tree{dir: dir, changed: []string{"modules/vpc/main.tf"}, bare: true}
	e.handle(APISource, Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice"})
	runs, err := e.st.ListRuns(t.Context(), store.RunFilter{Repo: "infra", MR: 1, Kind: store.KindPlan})
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, r := range runs {
		planned = append(planned, r.Project)
	}
	if !slices.Equal(planned, []string{"prod"}) {
		t.Fatalf("planned %q, want prod (it calls the changed module) only", planned)
	}
	// The plan binds the module too: its rules record its patterns.
	if err := e.f.HandlePlan(t.Context(), runs[0].ID); err != nil {
		t.Fatal(err)
	}
	r, err := e.st.GetRun(t.Context(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != store.StateSucceeded {
		t.Fatalf("plan run: %s %s", r.State, r.Error)
	}
	var s runSummary
	if err := json.Unmarshal(r.Summary, &s); err != nil || s.Rules == nil {
		t.Fatalf("run summary %s: %v", r.Summary, err)
	}
	if !slices.Contains(s.Rules.Patterns, "modules/vpc/**") {
		t.Errorf("the plan's patterns %q lack the module's modules/vpc/**", s.Rules.Patterns)
	}
}

// TestEditOfOneEntryAffectsOnlyThatProject: a merge request that changes
// only staging's entry in sluice.yaml plans and locks staging alone, not
// every project the file configures.
func TestEditOfOneEntryAffectsOnlyThatProject(t *testing.T) {
	ws := newCommits(t, map[string]map[string]string{baseB: projectFiles(twoProjects), headH1: projectFiles(stagingEdited)})
	ws.heads[headH1] = []string{"sluice.yaml"}
	st := openSQLite(t)
	e := newEnv(t, withStore(st), withTree(ws))
	ctx := t.Context()
	e.handle("gitea", Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice", Trigger: "opened"})
	runs, err := st.ListRuns(ctx, store.RunFilter{Repo: "infra", MR: 1})
	if err != nil || len(runs) != 1 || runs[0].Project != "staging" {
		t.Errorf("runs: %+v, %v; want staging's alone", runs, err)
	}
	locks, err := st.ListLocks(ctx, "infra")
	if err != nil || len(locks) != 1 || locks[0].Dir != "staging" {
		t.Errorf("locks: %+v, %v; want staging's alone", locks, err)
	}
}

// TestTooManyProjectsAreNotPlanned: past --max-projects-per-mr, a merge
// request gets no run and no lock, and one notice says how many projects
// it touches, the cap and what to do; naming projects with -p within the
// cap plans them.
func TestTooManyProjectsAreNotPlanned(t *testing.T) {
	fg := newMergeForge()
	st := openSQLite(t)
	e := newEnv(t, withStore(st), withTree(newManyProjects(t, 3)), onForge(fg))
	e.f.MaxProjectsPerMR = 2
	ctx := t.Context()
	e.handle("gitea", Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "alice", Trigger: "opened"})
	if runs, err := st.ListRuns(ctx, store.RunFilter{Repo: "gitea:org/infra"}); err != nil || len(runs) != 0 {
		t.Errorf("%d runs (%v), want none", len(runs), err)
	}
	if locks, err := st.ListLocks(ctx, ""); err != nil || len(locks) != 0 {
		t.Errorf("%d locks (%v), want none", len(locks), err)
	}
	notice := fg.comments["<!-- sluice:notice too-many-projects -->"]
	for _, want := range []string{"at 2222222 it touches 3 projects, more than the 2 this server plans for one pull request",
		"`--max-projects-per-mr`", "split the change", "`sluice plan -p NAME,NAME` naming at most 2", "The projects: p0001, p0002, p0003."} {
		if !strings.Contains(notice, want) {
			t.Errorf("notice %q does not say %q", notice, want)
		}
	}
	for _, line := range strings.Split(notice, "\n") {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "sluice") {
			t.Errorf("a line of the notice reads as a command: %q", line)
		}
	}
	if got := e.auditActions(); !slices.Contains(got, "alice plan.refused gitea:org/infra!7") {
		t.Errorf("audit = %q, want plan.refused", got)
	}

	named := Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "bob", ByComment: true, CommentID: 5, Trigger: "comment:5",
		Projects: []string{"p0001", "p0003"}}
	e.handle("gitea", named)
	if len(e.jobs.plans) != 2 {
		t.Errorf("plan jobs %v, want the two projects named", e.jobs.plans)
	}
}

// TestDiscoveredPulumiProjectNamesNoStack: a Pulumi project found without
// sluice.yaml has no stack (Sluice cannot guess it), on the server as in
// the local loop (repoconfig.Project.EngineWorkspace): its plan fails
// with the driver's "needs a stack: name it in sluice.yaml". The server
// used to plan it as the stack "default", which Pulumi would have
// created.
func TestDiscoveredPulumiProjectNamesNoStack(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	// No sluice.yaml: the projects are discovered.
	ws := newTree(t, map[string]string{"app/Pulumi.yaml": "name: app\nruntime: yaml\n", "app/main.tf": "# app\n", "net/main.tf": "# net\n"},
		"net/main.tf", "app/main.tf")
	e.f.Workspaces = ws
	pul := pulumi.New(filepath.Join(ws.dir, "no-pulumi-here"))
	e.f.Engines = func(name string) (engine.Engine, error) {
		if name == "pulumi" {
			return pul, nil
		}
		return e.eng, nil
	}
	e.plan()

	runs, err := e.st.ListRuns(t.Context(), store.RunFilter{Repo: infraRepo, MR: 7, Kind: store.KindPlan})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Run{}
	for _, r := range runs {
		got[r.Project] = r
	}
	if app := got["app"]; app.Workspace != "" || app.State != store.StateFailed || !strings.Contains(app.Error, "a Pulumi project needs a stack: name it in sluice.yaml") {
		t.Errorf("discovered pulumi project app: workspace %q, %s (%s); want no stack, failed: it needs one", app.Workspace, app.State, app.Error)
	}
	if net := got["net"]; net.Workspace != "default" || net.State != store.StateSucceeded {
		t.Errorf("discovered terraform project net: workspace %q, %s (%s); want default, succeeded", net.Workspace, net.State, net.Error)
	}
}

// TestPlanCommentOnAMergedMergeRequestIsAnswered: a merged merge request
// is never planned again; a person who asks is told so, and what to do.
func TestPlanCommentOnAMergedMergeRequestIsAnswered(t *testing.T) {
	e, _ := newSettleEnv(t)
	e.plan()
	e.merge()
	before := len(e.replies())
	runs, err := e.st.ListRuns(t.Context(), store.RunFilter{Repo: infraRepo, MR: 7, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	e.comment("bob", ActionPlan, "net")
	r := e.replies()
	if len(r) != before+1 || !strings.Contains(r[len(r)-1], "@bob, this pull request is merged, and Sluice plans open pull requests only: plan its projects from a new pull request") {
		t.Errorf("replies = %q, want the plan request answered", r)
	}
	after, err := e.st.ListRuns(t.Context(), store.RunFilter{Repo: infraRepo, MR: 7, Limit: 100})
	if err != nil || len(after) != len(runs) {
		t.Errorf("%d runs after the comment (%v), want %d: a merged merge request is not planned", len(after), err, len(runs))
	}
}
