package flow

import (
	"testing"
)

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
