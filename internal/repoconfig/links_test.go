package repoconfig

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
}

// linkedRepo is testRepo with symbolic links: staging links to prod's
// directory, out and abs lead outside, prod/shared to the repository's
// shared/, a Pulumi project whose Pulumi.yaml links to a file beside it.
func linkedRepo() fstest.MapFS {
	fsys := testRepo()
	fsys["envs/alias"] = link("prod")
	fsys["envs/out"] = link("../../outside")
	fsys["envs/abs"] = link("/etc")
	fsys["envs/prod/shared"] = link("../../shared")
	fsys["envs/prod/leak"] = link("/proc/self")
	fsys["shared/x.json"] = &fstest.MapFile{Data: []byte("{}")}
	fsys["policies/out"] = link("../../policies")
	fsys["svc/Pulumi.yaml"] = link("project.yaml")
	fsys["svc/project.yaml"] = &fstest.MapFile{Data: []byte("name: svc\nruntime: yaml\n")}
	fsys["svc2/Pulumi.yaml"] = link("/etc/passwd")
	return fsys
}

// TestLinksAreResolvedInside: a path Sluice takes from sluice.yaml is
// the real path its links lead to, inside the repository; one that leads
// outside is refused, naming the link and its target.
func TestLinksAreResolvedInside(t *testing.T) {
	c, err := Parse(linkedRepo(), FileName, []byte(`version: 1
projects:
  - name: prod
    dir: envs/prod
    when_modified: ["**/*.tf", "shared/*.json", "../prod/shared/**"]
    policies: [policies/deny.rego]
  - name: staging
    dir: envs/alias
  - name: svc
    dir: svc
    stack: dev
`))
	if err != nil {
		t.Fatal(err)
	}
	staging, _ := c.Project("staging")
	if staging.Dir != "envs/prod" {
		t.Errorf("staging's dir = %q, want the real directory envs/prod", staging.Dir)
	}
	prod, _ := c.Project("prod")
	if want := []string{"envs/prod/**/*.tf", "shared/*.json", "shared/**"}; !reflect.DeepEqual(prod.Patterns(), want) {
		t.Errorf("prod's patterns = %q, want %q (the globs' links resolved)", prod.Patterns(), want)
	}
	if svc, _ := c.Project("svc"); svc.Engine != EnginePulumi {
		t.Errorf("svc's engine = %q: its Pulumi.yaml links to a file beside it", svc.Engine)
	}

	tests := []struct{ yaml, want string }{
		{"    dir: envs/out\n",
			`4:10: directory "envs/out" leads outside the repository (dir of project "p"): envs/out is a symbolic link to ../../outside, outside the repository; Sluice plans and reads only what is inside it, so point dir of project "p" at a directory in the repository`},
		{"    dir: envs/abs\n",
			`4:10: directory "envs/abs" leads outside the repository (dir of project "p"): envs/abs is a symbolic link to /etc, outside the repository`},
		{"    dir: envs/prod/leak/cwd\n",
			`4:10: directory "envs/prod/leak/cwd" leads outside the repository (dir of project "p"): envs/prod/leak is a symbolic link to /proc/self, outside the repository`},
		{"    dir: envs/prod\n    policies: [policies/out]\n",
			`5:16: policy path "policies/out" leads outside the repository (policies of project "p"): policies/out is a symbolic link to ../../policies, outside the repository; Sluice plans and reads only what is inside it, so point policies of project "p" at a policy in the repository`},
		{"    dir: envs/prod\n    when_modified: ['leak/environ']\n",
			`5:21: glob "leak/environ" in when_modified of project "p" starts in envs/prod/leak, which leads outside the repository: envs/prod/leak is a symbolic link to /proc/self, outside the repository; Sluice watches only files inside it`},
		{"    dir: svc2\n    stack: dev\n",
			`5:5: stack is for pulumi, but project "p" uses terraform (the default when dir has no Pulumi.yaml)`},
	}
	for _, tt := range tests {
		_, err := Parse(linkedRepo(), FileName, []byte("version: 1\nprojects:\n  - name: p\n"+tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v\nwant %s", tt.yaml, err, tt.want)
		}
	}
}

// TestLinksOnACheckout: the same on disk, where os.DirFS follows a link
// anywhere by itself: a dir linking to ../outside is refused, one linking
// to another project's directory is that directory.
func TestLinksOnACheckout(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	for _, d := range []string{"repo/envs/prod", "outside"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(top, "outside", "main.tf"), []byte(`resource "terraform_data" "x" {}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"envs/staging": "prod", "envs/out": "../../outside"} {
		if err := os.Symlink(target, filepath.Join(repo, name)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(yaml string) {
		if err := os.WriteFile(filepath.Join(repo, FileName), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("version: 1\nprojects:\n  - name: staging\n    dir: envs/staging\n")
	c, err := Load(os.DirFS(repo))
	if err != nil || c.Projects[0].Dir != "envs/prod" {
		t.Fatalf("Load() = %+v, %v; want staging in envs/prod", c, err)
	}
	write("version: 1\nprojects:\n  - name: out\n    dir: envs/out\n")
	if _, err := Load(os.DirFS(repo)); err == nil || !strings.Contains(err.Error(), "envs/out is a symbolic link to ../../outside, outside the repository") {
		t.Errorf("Load() = %v; want the link refused", err)
	}
}
