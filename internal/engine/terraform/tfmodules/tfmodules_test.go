package tfmodules

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"
)

func TestDirs(t *testing.T) {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	fsys := fstest.MapFS{
		"envs/prod/main.tf": f(`
module "vpc" { source = "../../modules/vpc" }
module "registry" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.0.0"
}
module "git" { source = "git::https://example.com/m.git" }
module "computed" { source = "../${var.x}" }
`),
		"envs/prod/extra.tf.json":   f(`{"module": {"dns": {"source": "./dns"}, "list": [{"source": "../../modules/json-list"}]}}`),
		"envs/prod/dns/main.tf":     f(`resource "x" "y" {}`),
		"modules/vpc/main.tf":       f(`module "subnets" { source = "./subnets" }` + "\n" + `module "loop" { source = "../vpc" }`),
		"modules/vpc/subnets/a.tf":  f(`module "up" { source = "../../../envs/shared" }`),
		"modules/json-list/main.tf": f(``),
		"envs/shared/main.tf":       f(``),
		"envs/broken/main.tf":       f(`module "x" { source = `),
		"envs/outside/main.tf":      f(`module "x" { source = "../../../elsewhere" }` + "\n" + `module "gone" { source = "./missing" }`),
		"envs/tofu/main.tofu":       f(`module "x" { source = "./sub" }`),
	}
	tests := []struct {
		dir  string
		want []string
	}{
		{"envs/prod", []string{"envs/prod/dns", "envs/shared", "modules/json-list", "modules/vpc", "modules/vpc/subnets"}},
		{"modules/vpc", []string{"envs/shared", "modules/vpc/subnets"}},
		{"envs/broken", nil},
		{"envs/outside", []string{"envs/outside/missing"}},
		{"envs/tofu", []string{"envs/tofu/sub"}},
		{"envs/shared", nil},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			got, err := Dirs(fsys, tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Dirs(%s) = %q, want %q", tt.dir, got, tt.want)
			}
		})
	}
	if _, err := Dirs(fsys, "nope"); err == nil {
		t.Error("Dirs of a missing directory must fail")
	}
}

// TestDirsThroughSymlinks: a module reached through a symbolic link is the
// directory the link leads to, as the engine reads it; one whose way
// leaves the file system through a link, or an absolute one, is neither
// followed nor counted: what is outside the repository is not Sluice's to
// read.
func TestDirsThroughSymlinks(t *testing.T) {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	link := func(to string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(to), Mode: fs.ModeSymlink} }
	fsys := fstest.MapFS{
		"prod/main.tf": f(`module "net" { source = "./mods/net" }` + "\n" +
			`module "out" { source = "./out/x" }` + "\n" + `module "abs" { source = "./abs/x" }` + "\n" +
			`module "twice" { source = "./twice/net" }`),
		"prod/mods":            link("../modules"),
		"prod/out":             link("../../elsewhere"),
		"prod/abs":             link("/etc"),
		"prod/twice":           link("mods"), // a link to a link
		"modules/net/main.tf":  f(`module "sub" { source = "./sub" }`),
		"modules/net/sub/a.tf": f(``),
	}
	got, err := Dirs(fsys, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"modules/net", "modules/net/sub"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Dirs(prod) = %q, want %q", got, want)
	}
}

// TestDirsReadNothingOutside: on a checkout, where os.DirFS would follow
// a link anywhere, a module whose way leaves the repository is not read:
// the modules the code outside calls are not found.
func TestDirsReadNothingOutside(t *testing.T) {
	top := t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(top, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(top, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("repo/prod/main.tf", `module "out" { source = "./out" }`+"\n"+`module "up" { source = "../../outside" }`)
	write("outside/main.tf", `module "deeper" { source = "./deeper" }`)
	if err := os.Symlink("../../outside", filepath.Join(top, "repo/prod/out")); err != nil {
		t.Fatal(err)
	}
	got, err := Dirs(os.DirFS(filepath.Join(top, "repo")), "prod")
	if err != nil || len(got) != 0 {
		t.Errorf("Dirs(prod) = %q, %v; want nothing outside the repository", got, err)
	}
}
