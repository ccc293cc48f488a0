package pulumi

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestAliasIsAChange renames the node group with an alias. Pulumi previews
// the step as "same" (its own summary says "3 unchanged"), but the update
// rewrites the resource's URN in the state, so the plan has changes and is
// applied; afterwards the alias can go without a delete and a create.
func TestAliasIsAChange(t *testing.T) {
	nodesURN := urn("sluicetest:index:NodeGroup", "nodes")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "nodegroup", m.fallback)
			p.initStack(canary)
			p.mustApply("create", p.mustPlan("create"))

			file := filepath.Join(p.dir, "Pulumi.yaml")
			testkit.Replace(t, file, "${workers.desiredSize}", "${nodes.desiredSize}")
			testkit.Replace(t, file, "  workers:\n", "  nodes:\n    options:\n      aliases:\n        - "+workersURN+"\n")
			pl := p.mustPlan("alias")
			if want := (engine.Summary{Move: 1}); pl.Summary != want {
				t.Errorf("summary = %+v, want %+v", pl.Summary, want)
			}
			if !pl.Changes() {
				t.Error("a plan that moves a resource to a new URN has no changes")
			}
			if len(pl.Resources) != 1 {
				t.Fatalf("resources = %+v, want the node group only", pl.Resources)
			}
			if rc := pl.Resources[0]; rc.Address != nodesURN || rc.PreviousAddress != workersURN || rc.Action != engine.ActionNoOp {
				t.Errorf("moved node group = %+v", rc)
			}
			p.mustApply("alias", pl)
			if st := p.env.Run(t, p.dir, "stack", "export", "--stack", stack); !strings.Contains(st, nodesURN) || strings.Contains(st, workersURN) {
				t.Errorf("the state does not hold the node group at its new URN only:\n%s", st)
			}

			testkit.Replace(t, file, "    options:\n      aliases:\n        - "+workersURN+"\n", "")
			if pl := p.mustPlan("after"); pl.Changes() || len(pl.Resources) != 0 {
				t.Errorf("without the alias: summary %+v, resources %+v", pl.Summary, pl.Resources)
			}
		})
	}
}
