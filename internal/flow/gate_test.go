package flow

// The gate's inputs, as the flow reads them: the merge request's reviews,
// committers and groups, read once per decision and retried or refused
// visibly when the forge cannot answer; who asks on a merged merge
// request; and what the merge brings that the plan did not see (a branch
// behind its base, the project's directory, its own sluice.yaml entry).

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/workspace"
)

func TestGateReadsTheMergeRequestOnce(t *testing.T) {
	const head, base = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	planned := time.Now().Add(-time.Hour)
	fg := &fakeForge{self: "sluice", checks: greenChecks,
		reviews: []forge.Review{
			{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: head, At: planned.Add(time.Minute)},
			{User: forge.User{Login: "erin"}, State: forge.ReviewApproved, CommitSHA: head, At: planned.Add(time.Minute)},
		},
		perms: map[string]forge.Permission{"bob": forge.PermWrite, "carol": forge.PermWrite, "erin": forge.PermRead},
		calls: map[string]int{},
	}
	f := gateFlow(&tree{bare: true}, nil)
	mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: head, BaseSHA: base, BaseRef: "main", Author: forge.User{Login: "alice"}}
	state := func(project string, min int) projectState {
		return projectState{
			Project: project, Workspace: "default",
			PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: project},
			Plan:    &store.Plan{HeadSHA: head, BaseSHA: base, CreatedAt: planned},
			Summary: runSummary{Rules: &projectRules{MinApprovals: min}},
		}
	}

	tests := []struct {
		name          string
		actor         string
		actorApproves bool
		committers    []string
		// approvals is the detail of the approvals item of each project
		// (needing 1 and 2 approvals).
		approvals [2]string
		calls     map[string]int
	}{
		{
			name:      "refresh",
			approvals: [2]string{"1 of 1 needed: bob", "1 of 2 needed: bob (not counted: erin (no write access))"},
			calls:     map[string]int{"Reviews": 1, "Committers": 1, "UnresolvedThreads": 1, "Checks": 1, "Permission bob": 1, "Permission erin": 1},
		},
		{
			name:      "merge by an approver",
			actor:     "bob",
			approvals: [2]string{"1 of 1 needed: bob", "1 of 2 needed: bob (not counted: erin (no write access))"},
			calls:     map[string]int{"Reviews": 1, "Committers": 1, "UnresolvedThreads": 1, "Checks": 1, "Permission bob": 1, "Permission erin": 1},
		},
		{
			name:       "a reviewer who pushed commits",
			committers: []string{"Bob"},
			approvals:  [2]string{"0 of 1 needed (not counted: bob (pushed commits to this merge request), erin (no write access))", "0 of 2 needed (not counted: bob (pushed commits to this merge request), erin (no write access))"},
			calls:      map[string]int{"Reviews": 1, "Committers": 1, "UnresolvedThreads": 1, "Checks": 1, "Permission bob": 1, "Permission erin": 1},
		},
		{
			name:          "apply on a merged merge request",
			actor:         "carol",
			actorApproves: true,
			approvals:     [2]string{"2 of 1 needed: bob, carol", "2 of 2 needed: bob, carol"},
			calls:         map[string]int{"Reviews": 1, "Committers": 1, "UnresolvedThreads": 1, "Checks": 1, "Permission bob": 1, "Permission carol": 1, "Permission erin": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clear(fg.calls)
			fg.committers = tt.committers
			g := f.decider().newGate(fg, "org/infra", mr, tt.actor, tt.actorApproves)
			for i, st := range []projectState{state("dev", 1), state("prod", 2)} {
				res, err := g.evaluate(context.Background(), st)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range res.Items {
					if it.Name == gate.ItemApprovals && it.Detail != tt.approvals[i] {
						t.Errorf("%s: approvals = %q, want %q", st.Project, it.Detail, tt.approvals[i])
					}
				}
			}
			if len(fg.reviews) != 2 {
				t.Errorf("the forge's reviews were changed: %d", len(fg.reviews))
			}
			if len(fg.calls) != len(tt.calls) {
				t.Errorf("calls = %v, want %v", fg.calls, tt.calls)
			}
			for call, n := range tt.calls {
				if fg.calls[call] != n {
					t.Errorf("%s called %d times, want %d (all calls: %v)", call, fg.calls[call], n, fg.calls)
				}
			}
		})
	}
}

// TestGateReadsEachGroupOnce: the groups the projects' rules name are read
// once per decision; a group that cannot be read matches nobody, and the
// approvals item says why.
func TestGateReadsEachGroupOnce(t *testing.T) {
	const head, base = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	planned := time.Now().Add(-time.Hour)
	approval := func(login string) forge.Review {
		return forge.Review{User: forge.User{Login: login}, State: forge.ReviewApproved, CommitSHA: head, At: planned.Add(time.Minute)}
	}
	fg := &fakeForge{self: "sluice", checks: greenChecks,
		reviews: []forge.Review{approval("bob"), approval("erin")},
		perms:   map[string]forge.Permission{"bob": forge.PermWrite, "erin": forge.PermWrite},
		groups:  map[string][]string{"platform": {"Bob"}, "org/sre": {"erin"}},
		calls:   map[string]int{},
	}
	f := gateFlow(&tree{bare: true}, nil)
	mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: head, BaseSHA: base, BaseRef: "main", Author: forge.User{Login: "alice"}}
	state := func(project string, rules projectRules) projectState {
		return projectState{
			Project: project, Workspace: "default",
			PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: project},
			Plan:    &store.Plan{HeadSHA: head, BaseSHA: base, CreatedAt: planned},
			Summary: runSummary{Rules: &rules},
		}
	}
	projects := []struct {
		st        projectState
		ok        bool
		approvals string
	}{
		{state("dev", projectRules{MinApprovals: 1, From: []string{"group:platform"}}), true, "1 of 1 needed: bob"},
		{state("prod", projectRules{MinApprovals: 2, From: []string{"group:platform", "group:missing", "group:broken"}}), false,
			"1 of 2 needed: bob (not counted: erin (not an eligible approver); group:missing could not be read: not found; " +
				"group:broken could not be read: the forge refused or failed (the Sluice server log has the error))"},
		{state("net", projectRules{MinApprovals: 1, From: []string{"group:platform"}, Owners: []string{"group:org/sre", "group:missing"}}), true,
			"1 of 1 needed: erin (group:missing could not be read: not found)"},
	}
	g := f.decider().newGate(fg, "org/infra", mr, "", false)
	for _, p := range projects {
		res, err := g.evaluate(context.Background(), p.st)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			if it.Name == gate.ItemApprovals && (it.OK != p.ok || it.Detail != p.approvals) {
				t.Errorf("%s: approvals = %v %q, want %v %q", p.st.Project, it.OK, it.Detail, p.ok, p.approvals)
			}
		}
	}
	for _, group := range []string{"platform", "missing", "broken", "org/sre"} {
		if n := fg.calls["GroupMembers "+group]; n != 1 {
			t.Errorf("group %s read %d times, want once (all calls: %v)", group, n, fg.calls)
		}
	}

	// A cancelled decision is an error, not an unreadable group.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.decider().newGate(fg, "org/infra", mr, "", false).evaluate(ctx, projects[0].st); err == nil {
		t.Error("evaluate with a cancelled context succeeded")
	}
}

// TestApplyOfAnApproverCountsOnce: with approval.min 2, bob approves, the
// merge request is merged, and bob comments `sluice apply` (once as
// "bob", once as "Bob"). His request is his approval, not a second one:
// one approver of two, and nothing is applied. carol's request, who had
// not approved, makes the second.
func TestApplyOfAnApproverCountsOnce(t *testing.T) {
	planned := time.Now().Add(-time.Hour)
	fg := newRulesForge("gitea")
	fg.reviews = []forge.Review{{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: rulesHead, At: planned.Add(time.Minute)}}
	fg.perms = map[string]forge.Permission{"bob": forge.PermWrite, "Bob": forge.PermWrite, "carol": forge.PermWrite}
	repo := &commits{t: t, files: map[string]map[string]string{rulesBase: {}, rulesHead: {}, "dddddddddddddddddddddddddddddddddddddddd": {}}}
	f := gateFlow(repo, fg)
	mr := &forge.MergeRequest{Number: 7, State: forge.MRMerged, HeadSHA: rulesHead, BaseSHA: rulesBase, BaseRef: "main",
		MergeSHA: "dddddddddddddddddddddddddddddddddddddddd", Author: forge.User{Login: "alice"}}
	st := projectState{
		Project: "prod", Workspace: "default",
		PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: "prod"},
		Plan:    &store.Plan{HeadSHA: rulesHead, BaseSHA: rulesBase, CreatedAt: planned},
		Summary: runSummary{Rules: &projectRules{MinApprovals: 2, Mode: "after_merge"}},
	}
	for _, tt := range []struct {
		actor  string
		ok     bool
		detail string
	}{
		{"bob", false, "1 of 2 needed: bob"},
		{"Bob", false, "1 of 2 needed: Bob"},
		{"carol", true, "2 of 2 needed: bob, carol"},
	} {
		res, err := f.decider().newGate(fg, "org/infra", mr, tt.actor, true).evaluate(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			if it.Name == gate.ItemApprovals && (it.OK != tt.ok || it.Detail != tt.detail) {
				t.Errorf("%s asks: approvals = %v %q, want %v %q", tt.actor, it.OK, it.Detail, tt.ok, tt.detail)
			}
		}
		if res.OK() != tt.ok {
			t.Errorf("%s asks: gate OK = %v, want %v: %+v", tt.actor, res.OK(), tt.ok, res.Items)
		}
	}
}

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

const tooManyCommitsErr = "github: listing commits of org/infra#7: not every commit can be listed: GitHub lists only the first 250 commits of a pull request, so who wrote the others cannot be told; squash or split the pull request"

// TestUnreadCommittersRefuseVisibly: when the forge cannot say who pushed
// commits to the merge request, the merge is still handled (not retried
// without end): nothing is applied, the reply and the comment say why,
// the refusal is audited and the locks stay with the merge request.
func TestUnreadCommittersRefuseVisibly(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	// The forge cannot list who committed to the merge request, as GitHub
	// cannot past 250 commits (forge.ErrCommitsTruncated).
	e.fg.failWith("Committers", func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("listing commits: %w", err)
		}
		return fmt.Errorf("github: listing commits of org/infra#7: %w: GitHub lists only the first 250 commits of a pull request, so who wrote the others cannot be told; squash or split the pull request", forge.ErrCommitsTruncated)
	})
	e.plan()
	const why = "cannot tell who pushed commits to this pull request: " + tooManyCommitsErr
	// The reply to the merge writes the forge's words as plain text, so
	// their "#7" refers to no issue.
	escaped := strings.ReplaceAll(why, "#7", "\\#\u200b7")

	c := e.refresh()
	if !strings.Contains(c, "cannot tell who pushed commits to this pull request") {
		t.Errorf("the comment does not say why approvals do not count:\n%s", c)
	}

	e.merge() // fails the test if the event fails
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("apply runs: %+v, want none", runs)
	}
	r := e.replies()
	if len(r) != 1 || !strings.Contains(r[0], "Merged, but Sluice did not apply") || !strings.Contains(r[0], "`net`: approvals: ") || !strings.Contains(r[0], escaped) {
		t.Fatalf("replies = %q, want net refused saying %q", r, escaped)
	}
	if got := e.auditActions(); !slices.Contains(got, "carol apply.refused "+infraRepo+"!7/net") {
		t.Errorf("audit = %q, want apply.refused of net", got)
	}
	for _, p := range []string{"net", "app"} {
		if l, err := e.st.GetLock(t.Context(), store.LockKey{Repo: infraRepo, Dir: p, Workspace: "default"}); err != nil || l.MR != 7 {
			t.Errorf("%s's lock: %+v, %v; want it kept by !7", p, l, err)
		}
	}

	// `sluice apply` is answered the same way.
	e.comment("bob", ActionApply)
	if r := e.replies(); len(r) != 2 || !strings.Contains(r[1], why) {
		t.Errorf("replies = %q, want the apply refused saying %q", r, why)
	}

	// A cancelled context is still an error: the decision is not made
	// on what a stopping server could not read.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	mr := e.fg.mr
	g := e.f.decider().newGate(e.fg, "org/infra", &mr, "", false)
	if err := g.readMR(ctx); err == nil {
		t.Errorf("readMR with a cancelled context: no error")
	}
}

// TestBranchBehindTheBase: in real git, a branch that left main before
// main changed prod/main.tf, and changes another file of prod, is planned
// against main's tip, so the base has not moved since the plan. Merging
// it would bring main's change, which the plan (of the head) never saw,
// and the apply of that plan would undo it: the checklist says so before
// the merge, and says to update the branch. The branch that has the same
// change as main, and the branch updated from main, merge as planned; a
// change of main elsewhere does not count.
func TestBranchBehindTheBase(t *testing.T) {
	origin := testkit.NewRepo(t, "")
	commit := func(files map[string]string, msg string) string {
		for name, body := range files {
			testkit.WriteFile(t, filepath.Join(origin, filepath.FromSlash(name)), body)
		}
		testkit.Git(t, origin, "add", "-A")
		testkit.Git(t, origin, "commit", "-qm", msg)
		return testkit.Git(t, origin, "rev-parse", "HEAD")
	}
	commit(map[string]string{"prod/main.tf": "size = 3\n", "prod/vars.tf": "a\n", "docs/README": "x\n"}, "base")
	testkit.Git(t, origin, "branch", "-q", "behind")
	testkit.Git(t, origin, "branch", "-q", "same")
	tip := commit(map[string]string{"prod/main.tf": "size = 5\n", "docs/README": "y\n"}, "main changes prod")
	testkit.Git(t, origin, "switch", "-q", "behind")
	behind := commit(map[string]string{"prod/vars.tf": "b\n"}, "the branch changes prod elsewhere")
	testkit.Git(t, origin, "switch", "-q", "same")
	same := commit(map[string]string{"prod/main.tf": "size = 5\n", "prod/vars.tf": "b\n"}, "the branch has main's change too")
	testkit.Git(t, origin, "switch", "-q", "behind")
	testkit.Git(t, origin, "merge", "-q", "--no-edit", tip)
	updated := testkit.Git(t, origin, "rev-parse", "HEAD")

	f := gateFlow(workspace.New(t.TempDir()), nil)
	f.Sources = func(_ context.Context, repo string) (workspace.Source, error) {
		return workspace.Source{Repo: repo, CloneURL: origin}, nil
	}
	fg := &fakeForge{self: "sluice", checks: greenChecks, perms: map[string]forge.Permission{}, calls: map[string]int{}}
	for _, tt := range []struct {
		name, head string
		diverged   []string
	}{
		{"behind main in prod's file", behind, []string{"prod/main.tf"}},
		{"with main's change made again", same, nil},
		{"updated from main", updated, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: tt.head, BaseSHA: tip, BaseRef: "main", Author: forge.User{Login: "alice"}}
			st := projectState{
				Project: "prod", Workspace: "default",
				PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: "prod"},
				// Planned against main's tip: the base has not moved since.
				Plan:    &store.Plan{HeadSHA: tt.head, BaseSHA: tip, CreatedAt: time.Now().Add(-time.Hour)},
				Summary: runSummary{Rules: &projectRules{MinApprovals: 1, Dir: "prod", Patterns: []string{"prod/*.tf"}}},
			}
			res, err := f.decider().newGate(fg, "org/infra", mr, "", false).evaluate(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range res.Items {
				if it.Name != gate.ItemDiverged {
					continue
				}
				if it.OK != (tt.diverged == nil) {
					t.Errorf("%s = %v %q, want it to fail on %q", it.Name, it.OK, it.Detail, tt.diverged)
				}
				for _, p := range tt.diverged {
					if want := "main changed " + p + ", which this branch does not have: update the branch from main"; !strings.HasPrefix(it.Detail, want) {
						t.Errorf("detail %q, want it to start %q", it.Detail, want)
					}
				}
				return
			}
			t.Fatalf("no %q item: %+v", gate.ItemDiverged, res.Items)
		})
	}
}

// TestDivergedBindsTheProjectDirectory: what was merged must be what was
// planned in every file of the project's directory, whatever its globs
// say (a script a provisioner runs), as the local loop's freshness check
// has it; sluice.yaml too; other projects' files do not count.
func TestDivergedBindsTheProjectDirectory(t *testing.T) {
	const head, base, merge = headH1, baseB, mergeM
	planned := time.Now().Add(-time.Hour)
	fg := &fakeForge{self: "sluice", checks: greenChecks,
		reviews: []forge.Review{{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: head, At: planned.Add(time.Minute)}},
		perms:   map[string]forge.Permission{"bob": forge.PermWrite, "carol": forge.PermWrite},
		calls:   map[string]int{},
	}
	mr := &forge.MergeRequest{Number: 7, State: forge.MRMerged, HeadSHA: head, BaseSHA: base, MergeSHA: merge, BaseRef: "main", Author: forge.User{Login: "alice"}}
	st := projectState{
		Project: "net", Workspace: "default",
		PlanRun: store.Run{Repo: "gitea:org/infra", MR: 7, Project: "net"},
		Plan:    &store.Plan{HeadSHA: head, BaseSHA: base, CreatedAt: planned},
		Summary: runSummary{Rules: &projectRules{MinApprovals: 1, Patterns: []string{"net/*.tf"}, Dir: "net", Engine: "terraform"}},
	}
	tests := []struct {
		name     string
		diff     []string
		diverged string // "" when the item passes
	}{
		{"a script beside the code", []string{"net/scripts/setup.sh"}, "net/scripts/setup.sh"},
		{"a template in the directory", []string{"net/user-data.tpl", "other/main.tf"}, "net/user-data.tpl"},
		{"sluice.yaml", []string{"sluice.yaml"}, "sluice.yaml"},
		{"another project's files", []string{"other/main.tf", "netx/main.tf"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gateFlow(&tree{diff: tt.diff, bare: true}, nil)
			res, err := f.decider().newGate(fg, "org/infra", mr, "carol", false).evaluate(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range res.Items {
				if it.Name != gate.ItemDiverged {
					continue
				}
				if tt.diverged == "" && !it.OK || tt.diverged != "" && (it.OK || !strings.Contains(it.Detail, tt.diverged)) {
					t.Errorf("%s = %v %q, want it to fail naming %q (\"\": pass)", it.Name, it.OK, it.Detail, tt.diverged)
				}
				return
			}
			t.Fatalf("no %q item: %+v", gate.ItemDiverged, res.Items)
		})
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
		got, err := e.f.decider().newGate(nil, "org/infra", mr, "", false).diverged(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("base moved to %s: diverged in %q, want %q", gitx.Short(tt.base), got, tt.want)
		}
	}
}
