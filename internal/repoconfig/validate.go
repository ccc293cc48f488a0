package repoconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/internal/affected"
	"github.com/sluicehq/sluice/internal/repofs"
	"github.com/sluicehq/sluice/internal/safename"
	"github.com/sluicehq/sluice/internal/suggest"
)

func engines() []string    { return []string{EngineTerraform, EngineOpenTofu, EnginePulumi} }
func applyModes() []string { return []string{ApplyAfterMerge, ApplyBeforeMerge} }

// node returns the node of path, or of its closest decoded ancestor.
func (p *parser) node(at string) *yaml.Node {
	for {
		if n := p.values[at]; n != nil {
			return n
		}
		i := strings.LastIndexAny(at, ".[")
		if i < 0 {
			return p.values[""]
		}
		at = at[:i]
	}
}

// keyNode returns the key node of path, or its value's node.
func (p *parser) keyNode(at string) *yaml.Node {
	if k := p.keys[at]; k != nil {
		return k
	}
	return p.node(at)
}

// present reports whether path was given a (non-null) value of the right type.
func (p *parser) present(at string) bool {
	n := p.values[at]
	return n != nil && !isNull(n) && !p.bad[at]
}

// validate checks the decoded configuration and, when it is valid, applies
// the defaults.
func (p *parser) validate(c *Config) {
	root := p.values[""]
	if p.bad[""] {
		return
	}
	switch {
	case p.bad["version"]:
	case !p.present("version"):
		p.errorf(root, "version is missing; add version: 1 at the top of the file")
	case c.Version != 1:
		p.errorf(p.values["version"], "unsupported version %d; write version: 1 (the only version)", c.Version)
	}
	for i, m := range c.Masks {
		at := fmt.Sprintf("masks[%d]", i)
		if p.bad[at] {
			continue
		}
		if m == "" {
			p.errorf(p.node(at), "empty entry in masks; remove it or write a regular expression, e.g. 'token-[a-z0-9]+'")
		} else if _, err := regexp.Compile(m); err != nil {
			p.errorf(p.node(at), "invalid mask %q: %v; write an RE2 regular expression, escaping special characters with \\", m, err)
		}
	}
	switch {
	case p.bad["projects"]:
	case len(c.Projects) > 0:
	case p.keys["projects"] != nil:
		p.errorf(p.keys["projects"], "projects is empty; list at least one project, e.g. \"- name: prod\" with \"dir: envs/prod\" below it")
	default:
		p.errorf(root, "no projects; add a projects: list (see docs/configuration.md), or delete %s to let Sluice discover projects", p.file)
	}

	names := map[string]int{} // index of the first project with each name
	for i := range c.Projects {
		p.validateName(c, i, names)
	}
	for i := range c.Projects {
		p.validateProject(c, i, names)
	}
	p.checkCycles(c, names)

	if len(p.problems) == 0 {
		for i := range c.Projects {
			setDefaults(&c.Projects[i])
		}
	}
}

func projectLoc(c *Config, i int) loc {
	owner := fmt.Sprintf("project #%d", i+1)
	if name := c.Projects[i].Name; name != "" {
		owner = fmt.Sprintf("project %q", name)
	}
	return loc{path: fmt.Sprintf("projects[%d]", i), owner: owner}
}

func (p *parser) validateName(c *Config, i int, names map[string]int) {
	pr := &c.Projects[i]
	l := projectLoc(c, i).field("name")
	switch {
	case p.bad[l.path], p.bad[projectLoc(c, i).path]:
	case pr.Name == "":
		eg := "prod"
		if pr.Dir != "" {
			eg = nameFromDir(path.Clean(pr.Dir))
		}
		p.errorf(p.node(l.path), "%s has no name; add a unique name, e.g. name: %s", l.owner, eg)
	case safename.Project(pr.Name) != nil:
		p.errorf(p.node(l.path), "invalid project name %q (%v); use up to %d letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. %q", pr.Name, safename.Project(pr.Name), safename.MaxLen, sanitizeName(pr.Name))
	default:
		if first, dup := names[pr.Name]; dup {
			line := p.node(fmt.Sprintf("projects[%d].name", first)).Line
			p.errorf(p.node(l.path), "duplicate project name %q (first used at line %d); give each project its own name", pr.Name, line)
			return
		}
		names[pr.Name] = i
	}
}

func (p *parser) validateProject(c *Config, i int, names map[string]int) {
	pr := &c.Projects[i]
	l := projectLoc(c, i)
	if p.bad[l.path] {
		return
	}
	dirL := l.field("dir")
	dirOK := false
	switch {
	case p.bad[dirL.path]:
	case !p.present(dirL.path):
		p.errorf(p.node(dirL.path), "%s has no dir; add the path of its code relative to the repository root, e.g. dir: envs/prod (dir: . for the root)", l.owner)
	default:
		pr.Dir, dirOK = p.checkPath(p.values[dirL.path], "directory", dirL.label(), pr.Dir, true)
	}

	engL := l.field("engine")
	engOK, detected := true, false
	switch {
	case p.bad[engL.path]:
		engOK = false
	case !p.present(engL.path):
		pr.Engine, detected = EngineTerraform, true
		if dirOK && p.hasPulumi(pr.Dir) {
			pr.Engine = EnginePulumi
		}
	case !slices.Contains(engines(), pr.Engine):
		engOK = false
		p.errorf(p.values[engL.path], "unknown engine %q %s; %s(engines: terraform, opentofu, pulumi)", pr.Engine, l.where(), didYouMean(pr.Engine, engines()))
	}
	if engOK {
		p.validateEngine(pr, l, detected)
	}

	for j, g := range pr.WhenModified {
		at := fmt.Sprintf("%s.when_modified[%d]", l.path, j)
		if !p.bad[at] {
			pr.WhenModified[j] = p.checkGlob(p.node(at), l, pr.Dir, dirOK, g)
		}
	}

	seen := map[string]bool{}
	for j, d := range pr.DependsOn {
		at := fmt.Sprintf("%s.depends_on[%d]", l.path, j)
		n := p.node(at)
		_, known := names[d]
		switch {
		case p.bad[at]:
		case d == "":
			p.errorf(n, "empty entry in depends_on of %s; remove it or write a project name", l.owner)
		case d == pr.Name:
			p.errorf(n, "%s depends on itself; remove %q from its depends_on", l.owner, d)
		case !known:
			p.errorf(n, "depends_on of %s names unknown project %q; %s(projects: %s)", l.owner, d, didYouMean(d, c.Names()), strings.Join(c.Names(), ", "))
		case seen[d]:
			p.errorf(n, "%q is listed twice in depends_on of %s; remove one", d, l.owner)
		}
		seen[d] = true
	}

	modeL := l.field("apply").field("mode")
	if p.present(modeL.path) && !slices.Contains(applyModes(), pr.Apply.Mode) {
		p.errorf(p.values[modeL.path], "unknown apply.mode %q %s; %s(modes: after_merge, before_merge)", pr.Apply.Mode, l.where(), didYouMean(pr.Apply.Mode, applyModes()))
	}

	if m := pr.Approval.Min; m != nil && *m < 0 {
		p.errorf(p.node(l.field("approval").field("min").path), "approval.min of %s is %d; write 0 (no approval needed) or more", l.owner, *m)
	}
	for j, who := range pr.Approval.From {
		at := fmt.Sprintf("%s.approval.from[%d]", l.path, j)
		n := p.node(at)
		switch {
		case p.bad[at]:
		case strings.TrimSpace(who) == "":
			p.errorf(n, "empty entry in approval.from of %s; write a login such as alice, or a group as group:NAME", l.owner)
		case strings.TrimSpace(strings.TrimPrefix(who, "group:")) == "":
			p.errorf(n, "%q in approval.from of %s names no group; write group:NAME", who, l.owner)
		}
	}

	for j, x := range pr.Relax {
		at := fmt.Sprintf("%s.relax[%d]", l.path, j)
		if p.bad[at] {
			continue
		}
		if !slices.Contains(Relaxable(), x) {
			p.errorf(p.node(at), "%q in relax of %s is not a check that can be turned off; write threads, checks or draft", x, l.owner)
		}
	}

	polL := l.field("policies")
	for j, pol := range pr.Policies {
		at := fmt.Sprintf("%s[%d]", polL.path, j)
		if !p.bad[at] {
			pr.Policies[j], _ = p.checkPath(p.node(at), "policy path", polL.label(), pol, false)
		}
	}
}

// validateEngine checks workspace and stack against the engine.
func (p *parser) validateEngine(pr *Project, l loc, detected bool) {
	wsL, stL := l.field("workspace"), l.field("stack")
	why := ""
	if pr.Engine == EnginePulumi {
		if detected {
			why = " (its dir has a Pulumi.yaml)"
		}
		if p.present(wsL.path) {
			p.errorf(p.keyNode(wsL.path), "workspace is for terraform and opentofu, but %s uses pulumi%s; remove it (a Pulumi project names its stack: instead)", l.owner, why)
		}
		switch {
		case p.bad[stL.path]:
		case pr.Stack == "":
			p.errorf(p.node(stL.path), "%s uses pulumi%s but has no stack; add the name of its Pulumi stack, e.g. stack: dev", l.owner, why)
		default:
			if err := safename.Stack(pr.Stack); err != nil {
				p.errorf(p.values[stL.path], "invalid stack %q %s (%v); write a stack such as %q (STACK, ORG/STACK or ORG/PROJECT/STACK)", pr.Stack, l.where(), err, sanitizeStack(pr.Stack))
			}
		}
		return
	}
	if detected {
		why = " (the default when dir has no Pulumi.yaml)"
	}
	if p.present(stL.path) {
		p.errorf(p.keyNode(stL.path), "stack is for pulumi, but %s uses %s%s; remove it (terraform and opentofu use workspace: instead)", l.owner, pr.Engine, why)
	}
	if p.present(wsL.path) {
		if err := safename.Workspace(pr.Workspace); err != nil {
			p.errorf(p.values[wsL.path], "invalid workspace %q %s (%v); write a workspace name such as %q, or remove the key for the default workspace", pr.Workspace, l.where(), err, sanitize(pr.Workspace, "default"))
		}
	}
}

func (p *parser) hasPulumi(dir string) bool {
	if p.fsys == nil {
		return false
	}
	return isPulumiDir(p.fsys, dir)
}

// isPulumiDir reports whether dir holds Pulumi's project file: a regular
// file, or a link to one inside the repository.
func isPulumiDir(fsys fs.FS, dir string) bool {
	for _, name := range []string{"Pulumi.yaml", "Pulumi.yml"} {
		real, err := repofs.RealPath(fsys, path.Join(dir, name))
		if err != nil {
			continue
		}
		if info, err := fs.Stat(fsys, real); err == nil && info.Mode().IsRegular() {
			return true
		}
	}
	return false
}

func didYouMean(s string, candidates []string) string {
	if m, ok := suggest.Closest(s, candidates); ok {
		return fmt.Sprintf("did you mean %q? ", m)
	}
	return ""
}

// outside reports whether a cleaned relative path leaves the repository.
func outside(clean string) bool {
	return clean == ".." || strings.HasPrefix(clean, "../")
}

// checkPath checks a repository-relative path (noun is "directory" or
// "policy path", label names the key) and returns it cleaned. With fsys it
// also resolves the path's symbolic links, refusing one that leads outside
// the repository, and returns the real path (a dir that links to another
// project's dir is that dir), and checks that it exists (and is a
// directory if wantDir).
func (p *parser) checkPath(n *yaml.Node, noun, label, value string, wantDir bool) (string, bool) {
	clean := path.Clean(value)
	switch {
	case value == "":
		p.errorf(n, "%s is empty; write a path relative to the repository root (. for the root itself)", label)
		return value, false
	case strings.Contains(value, `\`):
		p.errorf(n, "%s %q uses backslashes (%s); write / instead: %q", noun, value, label, strings.ReplaceAll(value, `\`, "/"))
		return value, false
	case path.IsAbs(value):
		p.errorf(n, "%s %q is absolute (%s); write it relative to the repository root: %q", noun, value, label, strings.TrimLeft(clean, "/"))
		return value, false
	case outside(clean):
		p.errorf(n, "%s %q is outside the repository (%s); write a path inside it, relative to the repository root", noun, value, label)
		return value, false
	case p.fsys == nil:
		return clean, true
	}
	real, err := repofs.RealPath(p.fsys, clean)
	if le := (*repofs.LinkError)(nil); errors.As(err, &le) {
		p.errorf(n, "%s %q leads outside the repository (%s): %v; Sluice plans and reads only what is inside it, so point %s at a %s in the repository", noun, value, label, err, label, strings.TrimSuffix(noun, " path"))
		return clean, false
	}
	if err != nil {
		p.errorf(n, "cannot read %s %q (%s): %v; check the repository checkout", noun, clean, label, err)
		return clean, false
	}
	info, err := fs.Stat(p.fsys, real)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hint := ""
		if noun == "directory" {
			hint = "; if the project was deleted on purpose: removing its code does not destroy its resources, " +
				"so destroy them first (or remove them from the state deliberately), then remove the project from " + FileName
		}
		p.errorf(n, "%s %q does not exist in the repository (%s); %s%s", noun, clean, label, p.closest(clean, wantDir), hint)
		return clean, false
	case err != nil:
		p.errorf(n, "cannot read %s %q (%s): %v; check the repository checkout", noun, clean, label, err)
		return clean, false
	case wantDir && !info.IsDir():
		p.errorf(n, "%s %q is a file (%s); write the directory that holds the code, e.g. %q", noun, clean, label, path.Dir(clean))
		return clean, false
	}
	return real, true
}

// closest suggests an existing sibling of a path that does not exist.
func (p *parser) closest(clean string, wantDir bool) string {
	parent := path.Dir(clean)
	entries, err := fs.ReadDir(p.fsys, parent)
	if err != nil {
		return "create it or correct the path"
	}
	var candidates []string
	for _, e := range entries {
		if !wantDir || e.IsDir() {
			candidates = append(candidates, path.Join(parent, e.Name()))
		}
	}
	if s, ok := suggest.Closest(clean, candidates); ok {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return "create it or correct the path"
}

// checkGlob checks one when_modified glob of a project and returns it,
// with the symbolic links of the directory it starts in resolved: with
// dir prod and prod/shared a link to ../shared, "shared/*.json" is
// "../shared/*.json", the paths git reports changed. A glob whose
// directory leads outside the repository is refused.
func (p *parser) checkGlob(n *yaml.Node, l loc, dir string, dirOK bool, g string) string {
	switch {
	case g == "":
		p.errorf(n, "empty entry in when_modified of %s; remove it or write a glob such as \"**/*.tf\"", l.owner)
	case path.IsAbs(g):
		p.errorf(n, "glob %q in when_modified of %s is absolute; write it relative to the project's dir, e.g. %q", g, l.owner, "**/*.tf")
	case !doublestar.ValidatePattern(g):
		p.errorf(n, "invalid glob %q in when_modified of %s; close every [ and {, and escape literal ones with \\", g, l.owner)
	case dirOK && outside(path.Join(dir, g)):
		up := "a project at the repository root cannot use ../"
		if dir != "." {
			up = fmt.Sprintf("from dir %q at most %d ../ stay inside the repository", dir, strings.Count(dir, "/")+1)
		}
		p.errorf(n, "glob %q in when_modified of %s reaches outside the repository; %s", g, l.owner, up)
	case dirOK && p.fsys != nil:
		prefix := affected.LiteralPrefix(g)
		root := path.Join(dir, prefix)
		real, err := repofs.RealPath(p.fsys, root)
		if le := (*repofs.LinkError)(nil); errors.As(err, &le) {
			p.errorf(n, "glob %q in when_modified of %s starts in %s, which leads outside the repository: %v; Sluice watches only files inside it", g, l.owner, root, err)
			return g
		}
		if err != nil || real == root {
			return g
		}
		rel, err := filepath.Rel(dir, real)
		if err != nil {
			return g
		}
		rest := strings.TrimPrefix(strings.TrimPrefix(g, prefix), "/")
		return path.Join(EscapeGlob(filepath.ToSlash(rel)), rest)
	}
	return g
}

// checkCycles reports each cycle of depends_on once, at the entry that
// closes it.
func (p *parser) checkCycles(c *Config, names map[string]int) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(c.Projects))
	var stack []int
	var visit func(u int)
	visit = func(u int) {
		state[u] = visiting
		stack = append(stack, u)
		for j, d := range c.Projects[u].DependsOn {
			v, ok := names[d]
			if !ok || v == u || p.bad[fmt.Sprintf("projects[%d].depends_on[%d]", u, j)] {
				continue
			}
			switch state[v] {
			case unvisited:
				visit(v)
			case visiting:
				// The cycle is stack[slices.Index(stack, v):] back to v;
				// name it from u, whose entry closes it.
				cycle := []string{c.Projects[u].Name}
				for _, w := range stack[slices.Index(stack, v) : len(stack)-1] {
					cycle = append(cycle, c.Projects[w].Name)
				}
				cycle = append(cycle, c.Projects[u].Name)
				p.errorf(p.node(fmt.Sprintf("projects[%d].depends_on[%d]", u, j)), "depends_on of project %q forms a cycle: %s; remove one of these dependencies", c.Projects[u].Name, strings.Join(cycle, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[u] = done
	}
	for u := range c.Projects {
		if state[u] == unvisited {
			visit(u)
		}
	}
}
