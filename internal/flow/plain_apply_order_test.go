package flow

import (
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

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
