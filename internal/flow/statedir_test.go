package flow

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestStateDirStaysInside: whatever project and workspace a run names
// (sluice.yaml's validation refuses these, but a run is stored data), its
// engine directory is one directory two levels below the repository's,
// inside StateDir, and the lock taken there creates nothing outside it.
func TestStateDirStaysInside(t *testing.T) {
	data := t.TempDir()
	f := &Flow{StateDir: filepath.Join(data, "engines")}
	repoDir := filepath.Join(f.StateDir, workspaceKey("gitea:org/infra"))
	for _, r := range []store.Run{
		{Project: "prod", Workspace: "../../../../escaped"},
		{Project: "prod", Workspace: ".."},
		{Project: "..", Workspace: ".."},
		{Project: "../../../x", Workspace: "default"},
		{Project: "app", Workspace: "acme/app/dev"},
		{Project: "app", Workspace: "/etc"},
	} {
		r.Repo = "gitea:org/infra"
		dir := f.stateDir(r)
		rel, err := filepath.Rel(repoDir, dir)
		if err != nil || strings.Count(rel, string(filepath.Separator)) != 1 || strings.HasPrefix(rel, "..") {
			t.Errorf("stateDir(%q, %q) = %s: not PROJECT/WORKSPACE under %s", r.Project, r.Workspace, dir, repoDir)
		}
		unlock, err := f.lockWorkData(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	for _, p := range testkit.Tree(t, data) {
		if p != "./" && !strings.HasPrefix(p, "engines/") {
			t.Errorf("created %s outside the engines' directory", p)
		}
	}
	if got, want := f.stateDir(store.Run{Repo: "r", Project: "prod", Workspace: "default"}), filepath.Join(f.StateDir, workspaceKey("r"), "prod", "default"); got != want {
		t.Errorf("stateDir of a plain name = %s, want %s", got, want)
	}
}
