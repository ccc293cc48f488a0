package repoconfig

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/engine/terraform/tfmodules"
	"github.com/sluicehq/sluice/internal/safename"
)

// Discover finds the projects of a repository without sluice.yaml: every
// directory with Pulumi.yaml is a pulumi project (with no stack: Sluice
// cannot guess it), every other directory with *.tf, *.tf.json, *.tofu or
// *.tofu.json files a terraform project (opentofu when it has *.tofu files).
// Hidden directories, node_modules and vendor are skipped. Projects are in
// directory tree order and named after their directory ("envs/prod" is
// "envs-prod", the root is "root"), made unique with a suffix. A directory
// that another discovered project calls as a local module (module "x" {
// source = "../modules/x" }) is that project's code, not a project.
func Discover(fsys fs.FS) (*Config, error) {
	c := &Config{Version: 1, Discovered: true}
	err := fs.WalkDir(fsys, ".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if dir != "." && skipDir(d.Name()) {
			return fs.SkipDir
		}
		engine, err := detectEngine(fsys, dir)
		if err != nil || engine == "" {
			return err
		}
		p := Project{Name: nameFromDir(dir), Dir: dir, Engine: engine}
		setDefaults(&p)
		c.Projects = append(c.Projects, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("discovering projects: %w", err)
	}
	modules := map[string]bool{}
	for _, p := range c.Projects {
		if p.Engine == EnginePulumi {
			continue
		}
		dirs, err := tfmodules.Dirs(fsys, p.Dir)
		if err != nil {
			return nil, fmt.Errorf("discovering projects: %w", err)
		}
		for _, d := range dirs {
			modules[d] = true
		}
	}
	if len(modules) > 0 {
		c.Projects = slices.DeleteFunc(c.Projects, func(p Project) bool { return modules[p.Dir] })
	}
	uniqueNames(c.Projects)
	return c, nil
}

// uniqueNames suffixes repeated names with -2, -3, ..., skipping names
// that other projects have.
func uniqueNames(projects []Project) {
	taken := map[string]bool{}
	for _, p := range projects {
		taken[p.Name] = true
	}
	used := map[string]bool{}
	for i := range projects {
		base := projects[i].Name
		name := base
		for n := 2; used[name] || name != base && taken[name]; n++ {
			suffix := fmt.Sprintf("-%d", n)
			name = base[:min(len(base), safename.MaxLen-len(suffix))] + suffix
		}
		used[name] = true
		projects[i].Name = name
	}
}

func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor"
}

// detectEngine returns the engine of the code directly in dir, or "".
func detectEngine(fsys fs.FS, dir string) (string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return "", err
	}
	engine := ""
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		switch name := e.Name(); {
		case name == "Pulumi.yaml" || name == "Pulumi.yml":
			return EnginePulumi, nil
		case strings.HasSuffix(name, ".tofu") || strings.HasSuffix(name, ".tofu.json"):
			engine = EngineOpenTofu
		case (strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")) && engine == "":
			engine = EngineTerraform
		}
	}
	return engine, nil
}

// nameFromDir derives a project name from a cleaned directory path.
func nameFromDir(dir string) string {
	if dir == "." || dir == "" {
		return "root"
	}
	return sanitizeName(strings.ReplaceAll(dir, "/", "-"))
}

// sanitizeStack turns s into a valid Pulumi stack, part by part.
func sanitizeStack(s string) string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '/' })
	parts = slices.DeleteFunc(parts, func(p string) bool { return strings.Trim(p, ".") == "" })
	if len(parts) == 0 {
		return "dev"
	}
	for i := range parts {
		parts[i] = sanitize(parts[i], "dev")
	}
	return strings.Join(parts[max(0, len(parts)-3):], "/")
}

// sanitizeName turns s into a valid project name.
func sanitizeName(s string) string { return sanitize(s, "project") }

// sanitize turns s into a valid project name, workspace or part of a
// stack: fallback when nothing of s is left.
func sanitize(s, fallback string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.TrimLeft(string(b), "._-")
	if len(name) > safename.MaxLen {
		name = name[:safename.MaxLen]
	}
	if name == "" {
		return fallback
	}
	return name
}
