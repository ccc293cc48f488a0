package flow

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/permanent"
)

// TestUnreadablePlanIsAnError: when the plan of net, which app depends
// on, cannot be read, `sluice apply -p app` fails (and is retried): read
// as "no plan", net would count as a project with nothing to apply, and
// app would be applied before net's changes.
func TestUnreadablePlanIsAnError(t *testing.T) {
	yaml := strings.ReplaceAll(depsYAML, "    engine: terraform\n", "    engine: terraform\n    apply:\n      mode: before_merge\n")
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
