package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGiteaWorkspaceOutsideTheDataDir: a pull request names prod's
// workspace "../../../../escaped-ws", which, joined to the engines'
// directory (DATA/engines/REPOHASH/prod/WORKSPACE), is a directory beside
// the data directory. Sluice refuses the sluice.yaml with its position,
// plans nothing, and creates nothing outside its data directory.
func TestGiteaWorkspaceOutsideTheDataDir(t *testing.T) {
	sc := newScenario(t)
	// Every t.TempDir of a test is in one directory: the data directory's
	// parent, where the workspace would lead.
	outside := filepath.Join(filepath.Dir(t.TempDir()), "escaped-ws")
	before := entries(t, filepath.Dir(outside))

	cfg := strings.Replace(sc.fileOnMain("sluice.yaml"), "    dir: prod\n", "    dir: prod\n    workspace: ../../../../escaped-ws\n", 1)
	prod := strings.Replace(sc.fileOnMain("prod/main.tf"), "desired_size = 3", "desired_size = 2", 1)
	sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "main", "escape", map[string]string{"sluice.yaml": cfg, "prod/main.tf": prod})
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "escape", "main", "Shrink prod, in another workspace", "")

	reply := sc.waitReply(pr.Number, "invalid workspace")
	for _, want := range []string{
		`sluice.yaml:8:16: invalid workspace "../../../../escaped-ws" in project "prod" (it contains '/'`,
		`write a workspace name such as "escaped-ws"`,
	} {
		if !strings.Contains(reply.Body, want) {
			t.Errorf("the reply lacks %q:\n%s", want, reply.Body)
		}
	}
	if runs := sc.runs(pr.Number); len(runs) != 0 {
		t.Errorf("%d runs for a sluice.yaml that is not valid: %+v", len(runs), runs)
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Errorf("%s was created, outside the data directory", outside)
	}
	if after := entries(t, filepath.Dir(outside)); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("beside the data directory: %q, was %q", after, before)
	}
}

// entries lists the names in dir, but for the test's own temporary
// directories (NNN), which a later t.TempDir adds.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range des {
		if strings.Trim(d.Name(), "0123456789") != "" {
			out = append(out, d.Name())
		}
	}
	return out
}
