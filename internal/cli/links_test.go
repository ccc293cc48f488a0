package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/local"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestProjectDirLinks: with real git and terraform, a project whose dir
// is a symbolic link to ../outside is refused before anything is planned,
// naming the link and its target; one whose dir links to another
// project's directory is that directory: it is planned there, recorded
// with it, and affected by the changes git reports there.
func TestProjectDirLinks(t *testing.T) {
	bin := testkit.Engines(t)[0]
	testkit.QuietTerraform(t)
	repo := fixture(t, "twoprojects", bin, t.TempDir())
	outside := filepath.Join(filepath.Dir(repo), "outside")
	testkit.WriteFile(t, filepath.Join(outside, "main.tf"), `output "where" { value = "planned outside the repository" }`+"\n")
	t.Cleanup(func() { os.RemoveAll(outside) })

	testkit.Git(t, repo, "switch", "-q", "-c", "links")
	if err := os.Symlink("../outside", filepath.Join(repo, "evil")); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(repo, "sluice.yaml"))
	testkit.WriteFile(t, filepath.Join(repo, "sluice.yaml"), string(cfg)+"  - name: evil\n    dir: evil\n    engine: "+bin.Engine+"\n")
	testkit.Git(t, repo, "add", "-A")
	testkit.Git(t, repo, "commit", "-qm", "a project outside")
	out, errOut, err := sluice(t, bin, repo, "plan", "--base", "main")
	if err == nil || !strings.Contains(err.Error(), `sluice.yaml:11:10: directory "evil" leads outside the repository (dir of project "evil"): evil is a symbolic link to ../outside, outside the repository`) {
		t.Errorf("plan: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if strings.Contains(out+errOut, "planned outside") {
		t.Errorf("the code outside was planned:\n%s%s", out, errOut)
	}

	// app-again's dir links to app's: it is app's directory.
	if err := os.Remove(filepath.Join(repo, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app", filepath.Join(repo, "app-link")); err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, filepath.Join(repo, "sluice.yaml"), string(cfg)+"  - name: app-again\n    dir: app-link\n    engine: "+bin.Engine+"\n")
	testkit.Git(t, repo, "add", "-A")
	testkit.Git(t, repo, "commit", "-qm", "a project behind a link")
	testkit.Git(t, repo, "switch", "-q", "main")
	testkit.Git(t, repo, "merge", "-q", "--ff-only", "links")
	testkit.Git(t, repo, "switch", "-q", "-c", "change")
	testkit.Replace(t, filepath.Join(repo, "app", "main.tf"), "desired_size = 3", "desired_size = 2")
	testkit.Git(t, repo, "commit", "-qam", "shrink")
	out = mustSluice(t, bin, repo, "plan", "--base", "main", "-p", "app-again", "--format", "json")
	var rec local.Record
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rec.Projects) != 1 || rec.Projects[0].Dir != "app" || rec.Projects[0].Plan == nil || rec.Projects[0].Plan.Summary.Add != 1 {
		t.Errorf("app-again = %+v, want it planned in app", rec.Projects)
	}
	projects := mustSluice(t, bin, repo, "projects", "--base", "main")
	if !strings.Contains(projects, "app-again") {
		t.Errorf("a change to app/main.tf does not affect app-again, whose dir links to app:\n%s", projects)
	}
}
