package flow

import (
	"os"
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
	dir := t.TempDir()
	for name, body := range map[string]string{"app/Pulumi.yaml": "name: app\nruntime: yaml\n", "app/main.tf": "# app\n", "net/main.tf": "# net\n"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.f.Workspaces = depTree{dir: dir}
	pul := pulumi.New(filepath.Join(dir, "no-pulumi-here"))
	e.f.Engines = func(name string) (engine.Engine, error) {
		if name == "pulumi" {
			return pul, nil
		}
		return e.eng, nil
	}
	e.plan()

	runs, err := e.st.ListRuns(t.Context(), store.RunFilter{Repo: depRepo, MR: 7, Kind: store.KindPlan})
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
