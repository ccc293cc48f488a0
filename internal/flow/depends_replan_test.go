package flow

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/store"
)

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
