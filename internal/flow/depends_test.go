package flow

// Dependencies (depends_on): applies in dependency order, on a merge, a
// comment or the API of a plain git repository; a dependent held back,
// with the reason, while its dependency's changes are not applied, failed,
// were refused or changed its outputs; waiting applies started by recovery;
// the plans read once per decision.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/store"
)

// TestMergeAppliesInDependencyOrder: a merge creates both apply runs but
// enqueues only net's; app's is enqueued when net's apply has succeeded.
func TestMergeAppliesInDependencyOrder(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	e.plan()
	e.merge()

	net, app := e.applyOf("net"), e.applyOf("app")
	if got := e.enqueued(); !slices.Equal(got, []int64{net.ID}) {
		t.Fatalf("enqueued on merge: %v, want only net's apply %d (app's %d waits for it)", got, net.ID, app.ID)
	}
	if c := e.refresh(); !strings.Contains(c, "waiting for net to be applied first") {
		t.Errorf("the comment does not say app waits for net:\n%s", c)
	}
	// A job of app's run that comes early (say, a duplicate) does nothing
	// but ask to be retried.
	if err := e.f.HandleApply(t.Context(), app.ID); err == nil || permanent.Is(err) {
		t.Errorf("app's apply before net's: err = %v, want one to retry", err)
	}
	if r, _ := e.st.GetRun(t.Context(), app.ID); r.State != store.StateQueued {
		t.Fatalf("app's apply run is %s before net's apply, want it queued", r.State)
	}

	e.runApply("net")
	if got := e.enqueued(); !slices.Equal(got, []int64{net.ID, app.ID}) {
		t.Fatalf("enqueued after net's apply: %v, want net's then app's", got)
	}
	e.runApply("app")
	if got := e.eng.order(); !slices.Equal(got, []string{"net", "app"}) {
		t.Errorf("applied %v, want net then app", got)
	}
	for _, p := range []string{"net", "app"} {
		if r := e.applyOf(p); r.State != store.StateSucceeded {
			t.Errorf("%s's apply: %s %q", p, r.State, r.Error)
		}
	}
	if locks, err := e.st.ListLocks(t.Context(), infraRepo); err != nil || len(locks) != 0 {
		t.Errorf("locks after both applies: %+v, %v", locks, err)
	}
}

// TestFailedDependencyApply: when net's apply fails, app's run is
// cancelled with the reason, answered on the merge request, audited and
// shown in the comment; app is never applied and keeps its lock.
func TestFailedDependencyApply(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	e.eng.fail["net"] = true
	e.plan()
	e.merge()
	e.runApply("net")

	app := e.applyOf("app")
	const why = "not applied: it depends on net, whose apply failed"
	if app.State != store.StateCancelled || app.Error != why {
		t.Fatalf("app's apply run: %s %q, want cancelled: %q", app.State, app.Error, why)
	}
	if slices.Contains(e.enqueued(), app.ID) {
		t.Errorf("app's apply was enqueued: %v", e.enqueued())
	}
	if got := e.eng.order(); !slices.Equal(got, []string{"net"}) {
		t.Errorf("applied %v, want only net's attempt", got)
	}
	replies := e.replies()
	if len(replies) != 1 || !strings.Contains(replies[0], "These projects were not applied:\n\n- `app`: it depends on net, whose apply failed") || !strings.Contains(replies[0], "sluice unlock -p NAME") {
		t.Errorf("replies = %q, want one saying app was not applied because net's apply failed", replies)
	}
	if got := e.auditActions(); !slices.Contains(got, "sluice apply.cancelled "+infraRepo+"!7/app") {
		t.Errorf("audit = %q, want apply.cancelled of app", got)
	}
	if c := e.refresh(); !strings.Contains(c, "whose apply failed") {
		t.Errorf("the comment does not say why app was not applied:\n%s", c)
	}
	l, err := e.st.GetLock(t.Context(), store.LockKey{Repo: infraRepo, Dir: "app", Workspace: "default"})
	if err != nil || l.MR != 7 {
		t.Errorf("app's lock: %+v, %v; want it kept by !7", l, err)
	}
	// A later `sluice apply` does not apply app's plan either.
	e.comment("bob", ActionApply)
	if n := len(e.applies(infraRepo, 7)); n != 2 {
		t.Errorf("%d apply runs after a later `sluice apply`, want still 2", n)
	}
}

// TestRefusedDependency: when the gate refuses net on merge, app gets no
// apply run (so a later `sluice apply` can still apply both, in order),
// and the reply says why.
func TestRefusedDependency(t *testing.T) {
	yaml := strings.Replace(depsYAML, "  - name: net\n    dir: net\n    engine: terraform\n",
		"  - name: net\n    dir: net\n    engine: terraform\n    approval:\n      from: [erin]\n", 1)
	e := newDepEnv(t, yaml)
	e.plan()
	e.merge()
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("apply runs: %+v, want none: net was refused and app depends on it", runs)
	}
	replies := e.replies()
	if len(replies) != 1 || !strings.Contains(replies[0], "`net`: approvals") ||
		!strings.Contains(replies[0], "`app`: not applied: it depends on net, whose changes are not applied") {
		t.Fatalf("replies = %q, want net refused by the gate and app for depending on it", replies)
	}
	if i, j := strings.Index(replies[0], "`net`:"), strings.Index(replies[0], "`app`:"); i > j {
		t.Errorf("the reply names app before net:\n%s", replies[0])
	}

	// erin approves by asking, in a later second than the plan: both are
	// applied, net first.
	e.fg.perms["erin"] = forge.PermWrite
	e.f.Now = func() time.Time { return time.Now().Add(2 * time.Second) }
	e.comment("erin", ActionApply)
	net := e.applyOf("net")
	if got := e.enqueued(); !slices.Equal(got, []int64{net.ID}) {
		t.Fatalf("enqueued: %v, want net's apply only", got)
	}
	e.runApply("net")
	e.runApply("app")
	if got := e.eng.order(); !slices.Equal(got, []string{"net", "app"}) {
		t.Errorf("applied %v, want net then app", got)
	}
}

// TestApplyOfADependentAlone: `sluice apply -p app` while net has changes
// that are not applied is refused and says what to do.
func TestApplyOfADependentAlone(t *testing.T) {
	yaml := beforeMerge()
	e := newDepEnv(t, yaml)
	e.plan()
	e.comment("carol", ActionApply, "app")
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("apply runs: %+v, want none", runs)
	}
	if r := e.replies(); len(r) != 1 || !strings.Contains(r[0], "`app`: not applied: it depends on net, whose changes are not applied: apply `net` first, or add `-p net`") {
		t.Errorf("replies = %q", r)
	}
}

// TestDependencyChangedItsOutputs: both were planned before either was
// applied. When net's plan changes or removes an output, app's plan may
// rest on the old value: once net is applied, app's run is cancelled and
// the reply says what to do, on a merged merge request and on an open
// one. A new output does not hold app back.
func TestDependencyChangedItsOutputs(t *testing.T) {
	tests := []struct {
		name    string
		outputs []engine.OutputChange
		open    bool
		why     string // "": app is applied
	}{
		{"new output", []engine.OutputChange{{Name: "id", Action: engine.ActionCreate}, {Name: "cidr", Action: engine.ActionNoOp}}, false, ""},
		{"changed output, merged", []engine.OutputChange{{Name: "cidr", Action: engine.ActionUpdate}}, false,
			"this merge request is merged and is not planned again: plan app from a new merge request (comment `sluice plan -p app` on it)"},
		{"removed output, merged", []engine.OutputChange{{Name: "cidr", Action: engine.ActionDelete}}, false, "plan app from a new merge request"},
		{"changed output, open", []engine.OutputChange{{Name: "cidr", Action: engine.ActionUpdate}}, true,
			"comment `sluice plan -p app` to plan it again against the new outputs, then have it reviewed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := depsYAML
			if tt.open {
				yaml = beforeMerge()
			}
			e := newDepEnv(t, yaml)
			e.eng.outputs["net"] = tt.outputs
			e.plan()
			if tt.open {
				e.comment("carol", ActionApply)
			} else {
				e.merge()
			}
			e.runApply("net")
			app := e.applyOf("app")
			if tt.why == "" {
				e.runApply("app")
				if got := e.eng.order(); !slices.Equal(got, []string{"net", "app"}) {
					t.Errorf("applied %v, want net then app", got)
				}
				return
			}
			const prefix = "not applied: it was planned before net, which it depends on, changed or removed outputs (net is applied now), so its plan may rest on the old ones"
			if app.State != store.StateCancelled || !strings.HasPrefix(app.Error, prefix) || !strings.Contains(app.Error, tt.why) {
				t.Fatalf("app's apply run: %s %q, want cancelled saying %q", app.State, app.Error, tt.why)
			}
			// The run keeps Sluice's words; Gitea's reply says pull request.
			if r := e.replies(); len(r) != 1 || !strings.Contains(r[0], render.Words(tt.why, "gitea")) {
				t.Errorf("replies = %q, want one saying %q", r, render.Words(tt.why, "gitea"))
			}
			if got := e.eng.order(); !slices.Equal(got, []string{"net"}) {
				t.Errorf("applied %v, want net only", got)
			}
			if !tt.open {
				return
			}
			// What the reply says works: plan app again, now against the
			// new outputs, and apply.
			e.comment("carol", ActionPlan, "app")
			e.runPlanJobs()
			e.comment("carol", ActionApply)
			e.runApply("app")
			if got := e.eng.order(); !slices.Equal(got, []string{"net", "app"}) {
				t.Errorf("applied %v, want net then app (planned again)", got)
			}
		})
	}
}

// TestRecoverStartsWaitingApplies: a run that waits for its dependency's
// apply has no job. If the server dies after that apply ended and before
// the waiting run was enqueued, recovery enqueues it; if the dependency's
// apply was interrupted, recovery cancels it with the reason; while the
// dependency's apply runs on a live instance, it keeps waiting.
func TestRecoverStartsWaitingApplies(t *testing.T) {
	setup := func(t *testing.T) (*env, store.Run, store.Run) {
		e := newDepEnv(t, depsYAML)
		e.plan()
		e.merge()
		net, app := e.applyOf("net"), e.applyOf("app")
		if got := e.enqueued(); !slices.Equal(got, []int64{net.ID}) {
			t.Fatalf("enqueued on merge: %v, want only net's apply", got)
		}
		return e, net, app
	}
	recoverNow := func(t *testing.T, e *env) {
		if err := e.f.Recover(t.Context(), []string{"me"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("dependency applied, then the server died", func(t *testing.T) {
		e, net, app := setup(t)
		// The dead server applied net, and died before it enqueued app.
		if _, err := e.st.StartRun(t.Context(), net.ID, "dead"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.FinishRun(t.Context(), net.ID, store.StateSucceeded, "", nil); err != nil {
			t.Fatal(err)
		}
		recoverNow(t, e)
		if got := e.enqueued(); !slices.Contains(got, app.ID) {
			t.Fatalf("enqueued: %v, want app's waiting apply %d", got, app.ID)
		}
		e.runApply("app")
		if r := e.applyOf("app"); r.State != store.StateSucceeded {
			t.Errorf("app's apply: %s %q", r.State, r.Error)
		}
	})

	t.Run("dependency interrupted", func(t *testing.T) {
		e, net, app := setup(t)
		if _, err := e.st.StartRun(t.Context(), net.ID, "dead"); err != nil {
			t.Fatal(err)
		}
		recoverNow(t, e)
		if r := e.applyOf("net"); r.State != store.StateInterrupted {
			t.Fatalf("net's apply: %s, want interrupted", r.State)
		}
		r, err := e.st.GetRun(t.Context(), app.ID)
		if err != nil || r.State != store.StateCancelled || r.Error != "not applied: it depends on net, whose apply was interrupted" {
			t.Fatalf("app's apply: %+v, %v; want cancelled as net's apply was interrupted", r, err)
		}
		if slices.Contains(e.enqueued(), app.ID) {
			t.Errorf("app's apply was enqueued: %v", e.enqueued())
		}
		if rs := e.replies(); len(rs) != 1 || !strings.Contains(rs[0], "whose apply was interrupted") {
			t.Errorf("replies = %q", rs)
		}
	})

	t.Run("the dependent planned again meanwhile", func(t *testing.T) {
		e, net, app := setup(t)
		// A newer plan run of app, still queued: app's waiting apply is
		// not its latest any more, and still waits for net's.
		if _, err := e.st.CreateRun(t.Context(), store.Run{Kind: store.KindPlan, Repo: infraRepo, MR: 7, Project: "app", Workspace: "default", Dir: "app",
			HeadSHA: headH2, BaseSHA: baseB, Actor: "carol"}); err != nil {
			t.Fatal(err)
		}
		recoverNow(t, e)
		if slices.Contains(e.enqueued(), app.ID) {
			t.Fatalf("app's apply was enqueued before net's ran: %v", e.enqueued())
		}
		if err := e.f.HandleApply(t.Context(), app.ID); err == nil {
			t.Errorf("app's apply before net's: no error, want one to retry")
		}
		if _, err := e.st.StartRun(t.Context(), net.ID, "me"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.FinishRun(t.Context(), net.ID, store.StateSucceeded, "", nil); err != nil {
			t.Fatal(err)
		}
		recoverNow(t, e)
		if !slices.Contains(e.enqueued(), app.ID) {
			t.Fatalf("app's apply was not enqueued once net's succeeded: %v", e.enqueued())
		}
	})

	t.Run("dependency still applying", func(t *testing.T) {
		e, net, app := setup(t)
		if _, err := e.st.StartRun(t.Context(), net.ID, "me"); err != nil {
			t.Fatal(err)
		}
		recoverNow(t, e)
		recoverNow(t, e)
		r, err := e.st.GetRun(t.Context(), app.ID)
		if err != nil || r.State != store.StateQueued || slices.Contains(e.enqueued(), app.ID) {
			t.Fatalf("app's apply: %+v, %v, enqueued %v; want it queued, waiting", r, err, e.enqueued())
		}
	})
}

// TestPlainGitAppliesInDependencyOrder: an apply asked through the API for
// a plain git repository keeps to depends_on too.
func TestPlainGitAppliesInDependencyOrder(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	e.handle(APISource, Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice"})
	e.runPlanJobs()
	e.handle(APISource, Request{Action: ActionApply, Repo: "infra", MR: 1, Actor: "bob"})
	runs := e.applies("infra", 1)
	if len(runs) != 2 {
		t.Fatalf("apply runs: %+v", runs)
	}
	var net, app store.Run
	for _, r := range runs {
		if r.Project == "net" {
			net = r
		} else {
			app = r
		}
	}
	if got := e.enqueued(); !slices.Equal(got, []int64{net.ID}) {
		t.Fatalf("enqueued: %v, want net's apply %d only", got, net.ID)
	}
	if err := e.f.HandleApply(t.Context(), net.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.enqueued(); !slices.Equal(got, []int64{net.ID, app.ID}) {
		t.Fatalf("enqueued after net's apply: %v, want app's too", got)
	}
}

// TestPlanRecordsDependsOn: the plan run records depends_on from the
// sluice.yaml it planned with.
func TestPlanRecordsDependsOn(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	e.plan()
	states, err := e.f.projectStates(t.Context(), infraRepo, 7)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, st := range states {
		got[st.Project] = dependsOn(st)
	}
	if !slices.Equal(got["app"], []string{"net"}) || len(got["net"]) != 0 {
		t.Errorf("recorded depends_on: %v", got)
	}
}

func TestByDependency(t *testing.T) {
	st := func(name string, deps ...string) projectState {
		return projectState{Project: name, Summary: runSummary{Rules: &projectRules{DependsOn: deps}}}
	}
	names := func(states []projectState) []string {
		var out []string
		for _, s := range states {
			out = append(out, s.Project)
		}
		return out
	}
	// app was planned again after net: planned order is app, net.
	got := names(byDependency([]projectState{st("app", "net"), st("x"), st("net", "db"), st("y", "app")}))
	if want := []string{"x", "net", "app", "y"}; !slices.Equal(got, want) {
		t.Errorf("byDependency = %v, want %v", got, want)
	}
	// A cycle (rejected by validation) keeps the given order.
	got = names(byDependency([]projectState{st("a", "b"), st("b", "a")}))
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("byDependency of a cycle = %v, want %v", got, want)
	}
}

// beforeMerge is depsYAML with both projects in before_merge mode.
func beforeMerge() string {
	return strings.ReplaceAll(depsYAML, "    engine: terraform\n", "    engine: terraform\n    apply:\n      mode: before_merge\n")
}

// TestOutputsHoldSurvivesAReplanOfTheDependency: net changes an output
// and app depends on net; both are planned, then net alone is applied.
// Planned again, net has nothing left to apply, but app's plan was still
// made against net's old outputs: `sluice apply -p app` must refuse it
// and say to plan app again, as it did before net was planned again.
func TestOutputsHoldSurvivesAReplanOfTheDependency(t *testing.T) {
	const prefix = "not applied: it was planned before net, which it depends on, changed or removed outputs (net is applied now)"
	t.Run("forge, before_merge", func(t *testing.T) {
		e := newDepEnv(t, beforeMerge())
		e.eng.outputs["net"] = []engine.OutputChange{{Name: "cidr", Action: engine.ActionUpdate}}
		e.plan()
		e.comment("carol", ActionApply, "net")
		e.runApply("net")

		e.eng.setNone("net") // net's changes are applied already
		e.comment("carol", ActionPlan, "net")
		e.runPlanJobs()
		p, err := e.st.LatestPlan(t.Context(), infraRepo, 7, "net", "default")
		if err != nil || p.HasChanges {
			t.Fatalf("net's latest plan: %+v, %v; want one with no changes", p, err)
		}

		e.comment("carol", ActionApply, "app")
		for _, r := range e.applies(infraRepo, 7) {
			if r.Project == "app" {
				t.Fatalf("app got an apply run (%s %q) of its plan made against net's old outputs", r.State, r.Error)
			}
		}
		if r := e.replies(); len(r) == 0 || !strings.Contains(r[len(r)-1], "`app`: "+prefix) ||
			!strings.Contains(r[len(r)-1], "comment `sluice plan -p app`") {
			t.Fatalf("replies = %q, want app refused for net's changed outputs", r)
		}
		if got := e.eng.order(); !slices.Equal(got, []string{"net"}) {
			t.Errorf("applied %v, want net only", got)
		}

		// Planned again after net's apply, app is applied.
		e.comment("carol", ActionPlan, "app")
		e.runPlanJobs()
		e.comment("carol", ActionApply, "app")
		e.runApply("app")
		if got := e.eng.order(); !slices.Equal(got, []string{"net", "app"}) {
			t.Errorf("applied %v, want net then app (planned again)", got)
		}
	})

	t.Run("forge, dependency applied again without output changes", func(t *testing.T) {
		e := newDepEnv(t, beforeMerge())
		e.eng.outputs["net"] = []engine.OutputChange{{Name: "cidr", Action: engine.ActionUpdate}}
		e.plan()
		e.comment("carol", ActionApply, "net")
		e.runApply("net")

		// net is planned again, with changes but none to its outputs,
		// and applied: its latest apply changed no output, its first did.
		e.eng.outputs["net"] = nil
		e.comment("carol", ActionPlan, "net")
		e.runPlanJobs()
		e.comment("carol", ActionApply, "net")
		e.runApply("net")

		e.comment("carol", ActionApply, "app")
		for _, r := range e.applies(infraRepo, 7) {
			if r.Project == "app" {
				t.Fatalf("app got an apply run (%s %q) of its plan made against net's old outputs", r.State, r.Error)
			}
		}
		if r := e.replies(); len(r) == 0 || !strings.Contains(r[len(r)-1], "`app`: "+prefix) {
			t.Fatalf("replies = %q, want app refused for net's changed outputs", r)
		}
	})

	t.Run("plain git", func(t *testing.T) {
		e := newDepEnv(t, depsYAML)
		e.eng.outputs["net"] = []engine.OutputChange{{Name: "cidr", Action: engine.ActionDelete}}
		e.handle(APISource, Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice"})
		e.runPlanJobs()
		e.handle(APISource, Request{Action: ActionApply, Repo: "infra", MR: 1, Actor: "bob", Projects: []string{"net"}})
		var net store.Run
		for _, r := range e.applies("infra", 1) {
			net = r
		}
		if net.Project != "net" {
			t.Fatalf("apply runs: %+v, want net's", e.applies("infra", 1))
		}
		if err := e.f.HandleApply(t.Context(), net.ID); err != nil {
			t.Fatal(err)
		}

		e.eng.setNone("net") // net's changes are applied already
		e.handle(APISource, Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH2, BaseSHA: baseB, Actor: "alice", Projects: []string{"net"}})
		e.runPlanJobs()
		e.handle(APISource, Request{Action: ActionApply, Repo: "infra", MR: 1, Actor: "bob"})
		var app *store.Run
		for _, r := range e.applies("infra", 1) {
			if r.Project == "app" {
				app = &r
			}
		}
		if app == nil {
			t.Fatalf("apply runs: %+v, want one of app", e.applies("infra", 1))
		}
		if app.State != store.StateCancelled || !strings.HasPrefix(app.Error, prefix) || !strings.Contains(app.Error, "plan app again against the new outputs") {
			t.Fatalf("app's apply run: %s %q, want it cancelled for net's changed outputs", app.State, app.Error)
		}
		if slices.Contains(e.enqueued(), app.ID) {
			t.Errorf("app's apply was enqueued: %v", e.enqueued())
		}
	})
}

// TestPlainGitCreatesAppliesInDependencyOrder: an API apply of a plain
// git repository creates net's apply run before app's, which depends on
// it, whatever order they were planned in. An advance that comes between
// the two creations then finds app's run waiting for net's, not app's run
// with net's changes neither applied nor coming, which cancels it for
// good.
func TestPlainGitCreatesAppliesInDependencyOrder(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	e.handle(APISource, Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice"})
	e.runPlanJobs()
	// app planned again, newest: its plan comes first newest-first.
	e.handle(APISource, Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH2, BaseSHA: baseB, Actor: "alice", Projects: []string{"app"}})
	e.runPlanJobs()

	var order []string
	// Between each apply run created and the next, a recovery pass, or
	// another apply of the merge request ending, at the worst moment.
	e.f.Store = &spyStore{Store: e.st, afterApplyCreated: func(r store.Run) {
		order = append(order, r.Project)
		if err := e.f.applyQueue().runQueuedApplies(t.Context(), r.Repo, r.MR); err != nil {
			t.Fatal(err)
		}
	}}
	e.handle(APISource, Request{Action: ActionApply, Repo: "infra", MR: 1, Actor: "bob"})
	if len(order) != 2 || order[0] != "net" || order[1] != "app" {
		t.Errorf("apply runs created in the order %v, want net then app", order)
	}
	var net, app store.Run
	for _, r := range e.applies("infra", 1) {
		switch r.Project {
		case "net":
			net = r
		case "app":
			app = r
		}
	}
	if app.State != store.StateQueued {
		t.Fatalf("app's apply run: %s %q, want it queued, waiting for net's", app.State, app.Error)
	}
	if err := e.f.HandleApply(t.Context(), net.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.f.HandleApply(t.Context(), app.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.eng.order(); len(got) != 2 || got[0] != "net" || got[1] != "app" {
		t.Errorf("applied %v, want net then app", got)
	}
}

// TestUnreadablePlanIsAnError: when the plan of net, which app depends
// on, cannot be read, `sluice apply -p app` fails (and is retried): read
// as "no plan", net would count as a project with nothing to apply, and
// app would be applied before net's changes.
func TestUnreadablePlanIsAnError(t *testing.T) {
	yaml := beforeMerge()
	e := newDepEnv(t, yaml)
	e.plan()
	states, err := e.f.projectStates(t.Context(), infraRepo, 7)
	if err != nil {
		t.Fatal(err)
	}
	var netPlan int64
	for _, st := range states {
		if st.Project == "net" && st.Plan != nil {
			netPlan = st.Plan.ID
		}
	}
	if netPlan == 0 {
		t.Fatalf("no plan of net: %+v", states)
	}
	fs := &spyStore{Store: e.st}
	fs.setFailPlans(netPlan)
	e.f.Store = fs

	if _, err := e.f.projectStates(t.Context(), infraRepo, 7); err == nil {
		t.Errorf("projectStates with net's plan unreadable: no error")
	}
	apply := Request{Action: ActionApply, Repo: infraRepo, MR: 7, Actor: "carol", Projects: []string{"app"}, ByComment: true, CommentID: 1, Trigger: "comment:1"}
	e.fg.wrote(apply)
	ev, _, err := e.f.Accept(t.Context(), "gitea", "delivery-apply-app", apply)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.f.HandleEvent(t.Context(), ev.ID); err == nil || permanent.Is(err) {
		t.Errorf("`sluice apply -p app` with net's plan unreadable: err = %v, want one to retry", err)
	}
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("apply runs: %+v, want none: net's changes are not applied", runs)
	}

	// Readable again, the retry refuses app as before.
	fs.setFailPlans()
	if err := e.f.HandleEvent(t.Context(), ev.ID); err != nil {
		t.Fatal(err)
	}
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("apply runs: %+v, want none", runs)
	}
	if r := e.replies(); len(r) != 1 || !strings.Contains(r[0], "`app`: not applied: it depends on net, whose changes are not applied") {
		t.Errorf("replies = %q", r)
	}
}

const noDepsYAML = `version: 1
projects:
  - name: app
    dir: app
    engine: terraform
  - name: net
    dir: net
    engine: terraform
`

// TestProjectStatesReadsEachPlanOnce: projectStates runs on every
// decision and every apply's start and settling, and a plan carries its
// sealed artifact (megabytes): it reads each plan once, and the plans of
// applies only for a project that another one depends on (whether its
// apply changed outputs). net and app are applied, then net is planned
// again: its apply's plan is no longer its latest.
func TestProjectStatesReadsEachPlanOnce(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		// reads: the plans read (net's new, app's; net's applied one
		// only when app depends on net).
		reads int
	}{
		{"app depends on net", depsYAML, 3},
		{"no depends_on", noDepsYAML, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDepEnv(t, tc.yaml)
			e.plan()
			e.merge()
			e.runApply("net")
			e.runApply("app")
			applied := e.applyOf("net").PlanID
			_, newer := e.plannedRun(infraRepo, 7, headH2, false)

			cs := &spyStore{Store: e.st}
			e.f.Store = cs
			states, err := e.f.projectStates(t.Context(), infraRepo, 7)
			if err != nil {
				t.Fatal(err)
			}
			for id, n := range cs.planReads {
				if n > 1 {
					t.Errorf("plan %d read %d times, want once", id, n)
				}
			}
			if len(cs.planReads) != tc.reads {
				t.Errorf("plans read: %v, want %d", cs.planReads, tc.reads)
			}
			if cs.planReads[newer.ID] != 1 {
				t.Errorf("net's latest plan %d was not read: %v", newer.ID, cs.planReads)
			}
			if want := 0; tc.yaml == noDepsYAML && cs.planReads[applied] != want {
				t.Errorf("net's applied plan %d read %d times with nothing depending on net, want %d", applied, cs.planReads[applied], want)
			}
			if len(states) != 2 {
				t.Errorf("states: %+v", states)
			}
		})
	}
}
