package repoconfig

import (
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/depends"
	"github.com/sluicehq/sluice/internal/engine/terraform/tfmodules"
)

// Project returns the project with the given name.
func (c *Config) Project(name string) (*Project, bool) {
	for i := range c.Projects {
		if c.Projects[i].Name == name {
			return &c.Projects[i], true
		}
	}
	return nil, false
}

// Names returns the project names in configuration order.
func (c *Config) Names() []string {
	names := make([]string, len(c.Projects))
	for i, p := range c.Projects {
		names[i] = p.Name
	}
	return names
}

// MaskPatterns returns the masks compiled, to hide their matches in
// every project's output. Load validated them; one that does not compile
// (a Config not from Load) is left out.
func (c *Config) MaskPatterns() []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, m := range c.Masks {
		if re, err := regexp.Compile(m); err == nil {
			out = append(out, re)
		}
	}
	return out
}

// Order returns the given project names sorted so that every project comes
// after the projects it depends on (depends.Order). Only dependencies among
// the given names count; ties keep configuration order. Duplicates are
// dropped, and names that are not in the configuration come last, in the
// given order.
func (c *Config) Order(names []string) []string {
	index := map[string]int{}
	for i, p := range c.Projects {
		if _, dup := index[p.Name]; !dup {
			index[p.Name] = i
		}
	}
	var known, unknown []string
	given := map[string]bool{}
	for _, n := range names {
		if given[n] {
			continue
		}
		given[n] = true
		if _, ok := index[n]; ok {
			known = append(known, n)
		} else {
			unknown = append(unknown, n)
		}
	}
	slices.SortFunc(known, func(a, b string) int { return index[a] - index[b] })
	out := depends.Order(known, func(n string) string { return n }, func(n string) []string { return c.Projects[index[n]].DependsOn })
	return append(out, unknown...)
}

// Patterns returns the project's when_modified globs (or the engine's
// defaults) as repository-relative, slash-separated, cleaned globs. The
// glob characters of dir are escaped, so a directory named "app [v2]"
// matches itself.
func (p *Project) Patterns() []string {
	globs := p.WhenModified
	if len(globs) == 0 {
		globs = defaultWhenModified(p.Engine)
	}
	dir := EscapeGlob(p.Dir)
	out := make([]string, len(globs))
	for i, g := range globs {
		out[i] = path.Join(dir, g)
	}
	return out
}

// PatternsIn is Patterns plus, for Terraform and OpenTofu, DIR/** of
// every local module the project calls (directly or through other local
// modules, inside the repository), read from fsys, the repository's files:
// a change to a module the project calls affects the project. A directory
// that cannot be read calls no module here; the engine reports the problem
// when it plans.
func (p *Project) PatternsIn(fsys fs.FS) []string {
	pats := p.Patterns()
	if p.Engine == EnginePulumi {
		return pats
	}
	mods, _ := tfmodules.Dirs(fsys, p.Dir)
	for _, m := range mods {
		pats = append(pats, EscapeGlob(m)+"/**")
	}
	return pats
}

// FreshnessPatterns are the files that must not change between a
// project's plan and its apply: the globs that make it affected (its
// when_modified and the local modules it calls), sluice.yaml, and every
// file in its directory, whatever the globs say. A script a provisioner
// runs, a template a resource reads: the apply would use them as they are
// then, so they must be what was reviewed. The local loop's freshness
// check and the server's divergence check both use them. A project at the
// repository's root binds its globs and modules only: its directory is
// the whole repository, and binding it would make any change anywhere (a
// README merged meanwhile) refuse its apply.
func FreshnessPatterns(dir string, patterns []string) []string {
	out := append(patterns[:len(patterns):len(patterns)], FileName)
	if dir == "." || dir == "" {
		return out
	}
	return append(out, EscapeGlob(dir)+"/**")
}

// EscapeGlob escapes the characters that have a meaning in a doublestar
// glob (* ? [ ] { } \), so that s matches only itself.
func EscapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]{}\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]{}\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// defaultWhenModified returns the default when_modified globs of an engine.
func defaultWhenModified(engine string) []string {
	if engine == EnginePulumi {
		return []string{"**/*"}
	}
	return []string{
		"**/*.tf", "**/*.tf.json", "**/*.tofu", "**/*.tofu.json",
		"**/*.tfvars", "**/*.tfvars.json", ".terraform.lock.hcl",
	}
}

// EngineWorkspace is where the engine works: the Pulumi stack for pulumi
// projects, the Terraform workspace otherwise.
func (p *Project) EngineWorkspace() string {
	if p.Engine == EnginePulumi {
		return p.Stack
	}
	return p.Workspace
}

// setDefaults fills what a valid project left out. The engine is set already.
func setDefaults(p *Project) {
	if p.Engine == "" {
		p.Engine = EngineTerraform
	}
	if p.Workspace == "" && p.Engine != EnginePulumi {
		p.Workspace = "default"
	}
	if len(p.WhenModified) == 0 {
		p.WhenModified = defaultWhenModified(p.Engine)
	}
	if p.Apply.Mode == "" {
		p.Apply.Mode = DefaultApplyMode
	}
	if p.Approval.Min == nil {
		p.Approval.Min = new(DefaultMinApprovals)
	}
	if p.Approval.Codeowners == nil {
		p.Approval.Codeowners = new(false)
	}
}
