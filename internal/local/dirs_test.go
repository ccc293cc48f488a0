package local

import (
	"path/filepath"
	"testing"
)

// TestDirsStayInside: a project's plan file and engine directory are in
// plans/ and projects/ whatever its name holds (a record edited by hand
// is not validated as sluice.yaml is), and a valid name is itself.
func TestDirsStayInside(t *testing.T) {
	d := dirs{root: "/repo/.git/sluice"}
	for _, name := range []string{"../../../x", "..", "a/b", "/etc/passwd", ""} {
		if dir := filepath.Dir(d.artifact(name)); dir != "/repo/.git/sluice/plans" {
			t.Errorf("artifact(%q) = %s, outside plans/", name, d.artifact(name))
		}
		if name != "" && filepath.Dir(d.state(name)) != "/repo/.git/sluice/projects" {
			t.Errorf("state(%q) = %s, outside projects/", name, d.state(name))
		}
	}
	if d.artifact("prod") != "/repo/.git/sluice/plans/prod.plan" || d.state("prod") != "/repo/.git/sluice/projects/prod" {
		t.Errorf("a plain name moved: %s, %s", d.artifact("prod"), d.state("prod"))
	}
}
