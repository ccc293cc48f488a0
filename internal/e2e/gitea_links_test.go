package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGiteaRenameBehindALink: on main, only carol's approval counts for
// prod. alice's pull request shrinks prod and, in sluice.yaml, renames it
// prod-v2 with dir prod-link, a symbolic link to prod/: the same code
// and state under another name and another dir string. The project is
// known by its real directory, so it keeps main's rules: bob's approval
// does not count, and carol's merge applies nothing.
func TestGiteaRenameBehindALink(t *testing.T) {
	sc := newScenario(t)
	carol, bob := sc.logins["carol"], sc.logins["bob"]
	cfg := strings.Replace(sc.fileOnMain("sluice.yaml"), "    approval:\n      min: 1", "    approval:\n      min: 1\n      from: ["+carol+"]", 1)
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "main", map[string]string{"sluice.yaml": cfg})

	renamed := strings.Replace(cfg, "  - name: prod\n    dir: prod\n", "  - name: prod-v2\n    dir: prod-link\n", 1)
	renamed = strings.Replace(renamed, "      from: ["+carol+"]\n", "", 1)
	if !strings.Contains(renamed, "prod-link") || strings.Contains(renamed, "from:") {
		t.Fatalf("could not rename prod in:\n%s", cfg)
	}
	prod := strings.Replace(sc.fileOnMain("prod/main.tf"), "desired_size = 3", "desired_size = 2", 1)
	sc.g.PushChange(t, sc.tokens["alice"], sc.repo, "main", "behind-a-link", func(dir string) {
		for name, content := range map[string]string{"sluice.yaml": renamed, "prod/main.tf": prod} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("prod", filepath.Join(dir, "prod-link")); err != nil {
			t.Fatal(err)
		}
	})
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "behind-a-link", "main", "Shrink prod, renamed behind a link", "")
	sc.waitPlanned(pr.Number)

	sc.approve("bob", pr.Number, "looks fine")
	sc.waitComment("bob's approval not counted", pr.Number, func(b string) bool {
		return strings.Contains(b, "not counted: "+bob+" (not an eligible approver)")
	})
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	sc.waitReply(pr.Number, "Merged, but Sluice did not apply")
	if got := sc.desiredSize("prod"); got != "3" {
		t.Errorf("prod has %s nodes: applied under the rules a rename behind a link gave itself", got)
	}
}

// TestGiteaProjectDirOutside: a pull request adds a project whose dir is
// a symbolic link out of the repository, to code on the server's disk.
// Sluice refuses the sluice.yaml, naming the link and its target, and
// plans nothing.
func TestGiteaProjectDirOutside(t *testing.T) {
	sc := newScenario(t)
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "main.tf"), []byte(`output "where" { value = "planned outside the repository" }`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := sc.fileOnMain("sluice.yaml") + "  - name: evil\n    dir: evil\n"
	sc.g.PushChange(t, sc.tokens["alice"], sc.repo, "main", "outside", func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "sluice.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil {
			t.Fatal(err)
		}
	})
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "outside", "main", "A project elsewhere", "")
	reply := sc.waitReply(pr.Number, "leads outside the repository")
	if want := `directory "evil" leads outside the repository (dir of project "evil"): evil is a symbolic link to ` + outside + `, outside the repository`; !strings.Contains(reply.Body, want) {
		t.Errorf("the reply lacks %q:\n%s", want, reply.Body)
	}
	if runs := sc.runs(pr.Number); len(runs) != 0 {
		t.Errorf("%d runs for a project outside the repository", len(runs))
	}
	for _, c := range sc.comments(pr.Number) {
		if strings.Contains(c.Body, "planned outside") {
			t.Errorf("the code outside was planned:\n%s", c.Body)
		}
	}
}
