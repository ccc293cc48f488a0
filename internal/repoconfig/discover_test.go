package repoconfig

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sluicehq/sluice/internal/safename"
)

func TestDiscover(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("x")}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []Project // Name, Dir and Engine
	}{
		{"empty", fstest.MapFS{"README.md": file}, nil},
		{"root and nested", fstest.MapFS{
			"main.tf":                           file,
			"envs/prod/main.tf":                 file,
			"envs/prod/.terraform/modules/m.tf": file,
			"envs/prod/modules.json":            file,
			"envs/staging/backend.tf.json":      file,
			"envs/dev/main.tofu":                file,
			"envs/dev/vars.tf":                  file,
			"envs/test/main.tofu.json":          file,
			"envs/README.md":                    file,
			"app/Pulumi.yaml":                   file,
			"app/index.ts":                      file,
			"app/node_modules/x/main.tf":        file,
			"app2/Pulumi.yml":                   file,
			"app2/main.tf":                      file,
			"vendor/x/main.tf":                  file,
			".github/x/main.tf":                 file,
			"docs/notes.tfvars":                 file,
		}, []Project{
			{Name: "root", Dir: ".", Engine: EngineTerraform},
			{Name: "app", Dir: "app", Engine: EnginePulumi},
			{Name: "app2", Dir: "app2", Engine: EnginePulumi},
			{Name: "envs-dev", Dir: "envs/dev", Engine: EngineOpenTofu},
			{Name: "envs-prod", Dir: "envs/prod", Engine: EngineTerraform},
			{Name: "envs-staging", Dir: "envs/staging", Engine: EngineTerraform},
			{Name: "envs-test", Dir: "envs/test", Engine: EngineOpenTofu},
		}},
		{"unique and valid names", fstest.MapFS{
			"a/b/main.tf":         file,
			"a-b/main.tf":         file,
			"a-b-2/main.tf":       file,
			"root/main.tf":        file,
			"main.tf":             file,
			"_x y/main.tf":        file,
			"a/b/main.tf.example": file,
		}, []Project{
			{Name: "root", Dir: ".", Engine: EngineTerraform},
			{Name: "x-y", Dir: "_x y", Engine: EngineTerraform},
			{Name: "a-b", Dir: "a/b", Engine: EngineTerraform},
			{Name: "a-b-3", Dir: "a-b", Engine: EngineTerraform},
			{Name: "a-b-2", Dir: "a-b-2", Engine: EngineTerraform},
			{Name: "root-2", Dir: "root", Engine: EngineTerraform},
		}},
		{"local modules are not projects", fstest.MapFS{
			"envs/prod/main.tf":        {Data: []byte(`module "vpc" { source = "../../modules/vpc" }`)},
			"envs/dev/main.tofu":       {Data: []byte(`module "vpc" { source = "../../modules/vpc" }`)},
			"modules/vpc/main.tf":      {Data: []byte(`module "subnet" { source = "./subnet" }`)},
			"modules/vpc/subnet/a.tf":  file,
			"modules/unused/main.tf":   file,
			"network/main.tf":          file,
			"network/modules/x/one.tf": file,
		}, []Project{
			{Name: "envs-dev", Dir: "envs/dev", Engine: EngineOpenTofu},
			{Name: "envs-prod", Dir: "envs/prod", Engine: EngineTerraform},
			{Name: "modules-unused", Dir: "modules/unused", Engine: EngineTerraform},
			{Name: "network", Dir: "network", Engine: EngineTerraform},
			{Name: "network-modules-x", Dir: "network/modules/x", Engine: EngineTerraform},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Discover(tt.fsys)
			if err != nil {
				t.Fatal(err)
			}
			if c.Version != 1 || !c.Discovered || c.File != "" {
				t.Errorf("Discover() = version %d, discovered %v, file %q", c.Version, c.Discovered, c.File)
			}
			var got []Project
			for _, p := range c.Projects {
				if safename.Project(p.Name) != nil {
					t.Errorf("invalid name %q", p.Name)
				}
				if p.Apply.Mode != ApplyAfterMerge || *p.Approval.Min != 1 || len(p.WhenModified) == 0 ||
					(p.Engine == EnginePulumi) != (p.Workspace == "") {
					t.Errorf("project %q lacks defaults: %+v", p.Name, p)
				}
				got = append(got, Project{Name: p.Name, Dir: p.Dir, Engine: p.Engine})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Discover() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// failFS fails to list one directory.
type failFS struct {
	fstest.MapFS
	dir string
}

func (f failFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name == f.dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrPermission}
	}
	return f.MapFS.ReadDir(name)
}

func TestDiscoverError(t *testing.T) {
	fsys := failFS{fstest.MapFS{"secret/main.tf": {}}, "secret"}
	_, err := Discover(fsys)
	if !errors.Is(err, fs.ErrPermission) || !strings.HasPrefix(err.Error(), "discovering projects: ") {
		t.Errorf("Discover() error = %v", err)
	}
}
