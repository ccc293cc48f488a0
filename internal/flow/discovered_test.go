package flow

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/engine/pulumi"
	"github.com/sluicehq/sluice/internal/store"
)

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
