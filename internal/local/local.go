// Package local runs Sluice's plan → review → apply loop in a local git
// checkout: `sluice projects`, `sluice plan` and `sluice apply`.
package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/affected"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/internal/repoconfig"
)

// EngineFor returns the engine that runs projects of the named engine.
type EngineFor func(name string) (engine.Engine, error)

// Options are shared by every local command.
type Options struct {
	// Dir is where to look for the checkout (the working directory).
	Dir string
	// Engines maps sluice.yaml engine names to drivers.
	Engines EngineFor
	// Progress receives human progress lines (stderr).
	Progress io.Writer
	// Log receives the engines' own output lines when set.
	Log engine.LineFunc
}

// Checkout is an opened working tree with its configuration.
type Checkout struct {
	Repo   *gitx.Repo
	Config *repoconfig.Config
	dirs   dirs
}

// Open finds the checkout containing dir and loads its sluice.yaml, or
// discovers its projects.
func Open(ctx context.Context, dir string) (*Checkout, error) {
	repo, err := gitx.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	cfg, err := repoconfig.Load(os.DirFS(repo.Root))
	if err != nil {
		return nil, err
	}
	return &Checkout{Repo: repo, Config: cfg, dirs: dirs{root: filepath.Join(repo.GitDir, "sluice")}}, nil
}

// Change is what a branch changes relative to its base.
type Change struct {
	BaseRef   string           `json:"base_ref"`
	Base      string           `json:"base"`
	MergeBase string           `json:"merge_base"`
	Head      string           `json:"head"`
	Tree      string           `json:"tree"`
	Files     []gitx.Change    `json:"-"`
	Paths     []string         `json:"changed_paths"`
	Matches   []affected.Match `json:"projects"`
}

// Changes computes the files changed between the merge base of baseRef and
// HEAD and the working tree as it is now (committed, uncommitted and
// untracked changes), and the projects they touch, in dependency order.
func (c *Checkout) Changes(ctx context.Context, baseRef string) (*Change, error) {
	if baseRef == "" {
		return nil, fmt.Errorf("no base branch given: pass --base (for example --base main)")
	}
	base, err := c.Repo.ResolveCommit(ctx, baseRef)
	if err != nil {
		return nil, err
	}
	head, err := c.Repo.ResolveCommit(ctx, "HEAD")
	if err != nil {
		return nil, fmt.Errorf("this checkout has no commits yet: commit your work first")
	}
	mb, err := c.Repo.MergeBase(ctx, base, head)
	if err != nil {
		return nil, err
	}
	tree, err := c.Repo.WorktreeTree(ctx)
	if err != nil {
		return nil, err
	}
	files, err := c.Repo.Diff(ctx, mb, tree)
	if err != nil {
		return nil, err
	}
	ch := &Change{BaseRef: baseRef, Base: base, MergeBase: mb, Head: head, Tree: tree, Files: files, Paths: gitx.Paths(files)}
	m, err := c.matcher()
	if err != nil {
		return nil, err
	}
	matches := m.Match(ch.Paths)
	// sluice.yaml itself affects every project it configures.
	if c.Config.File != "" && contains(ch.Paths, c.Config.File) {
		matches = c.allProjects(matches, c.Config.File)
	}
	ch.Matches = c.ordered(matches)
	return ch, nil
}

func (c *Checkout) matcher() (*affected.Matcher, error) {
	ps := make([]affected.Project, len(c.Config.Projects))
	for i := range c.Config.Projects {
		p := &c.Config.Projects[i]
		ps[i] = affected.Project{Name: p.Name, Patterns: p.Patterns()}
	}
	return affected.NewMatcher(ps)
}

// allProjects adds every project to matches, with path as its reason.
func (c *Checkout) allProjects(matches []affected.Match, path string) []affected.Match {
	byName := map[string]int{}
	for i, m := range matches {
		byName[m.Project] = i
	}
	for _, p := range c.Config.Projects {
		if i, ok := byName[p.Name]; ok {
			if !contains(matches[i].Paths, path) {
				matches[i].Paths = append(matches[i].Paths, path)
			}
			continue
		}
		matches = append(matches, affected.Match{Project: p.Name, Paths: []string{path}})
	}
	return matches
}

// ordered sorts matches so every project follows those it depends on.
func (c *Checkout) ordered(matches []affected.Match) []affected.Match {
	names := make([]string, len(matches))
	byName := make(map[string]affected.Match, len(matches))
	for i, m := range matches {
		names[i] = m.Project
		byName[m.Project] = m
	}
	out := make([]affected.Match, 0, len(matches))
	for _, n := range c.Config.Order(names) {
		out = append(out, byName[n])
	}
	return out
}

// Select narrows the affected projects to the named ones. A named project
// the change does not touch is still selected: asking for it by name is
// the way to plan it anyway.
func (c *Checkout) Select(matches []affected.Match, names []string) ([]affected.Match, error) {
	if len(names) == 0 {
		return matches, nil
	}
	byName := map[string]affected.Match{}
	for _, m := range matches {
		byName[m.Project] = m
	}
	var sel []affected.Match
	for _, n := range names {
		if _, ok := c.Config.Project(n); !ok {
			return nil, fmt.Errorf("no project named %q in %s; the projects are: %s", n, c.configName(), strings.Join(c.Config.Names(), ", "))
		}
		m, ok := byName[n]
		if !ok {
			m = affected.Match{Project: n}
		}
		sel = append(sel, m)
	}
	return c.ordered(sel), nil
}

func (c *Checkout) configName() string {
	if c.Config.File != "" {
		return c.Config.File
	}
	return "the discovered projects"
}

// redactor hides the given secrets and the configured masks.
func (c *Checkout) redactor(secrets []string) *redact.Redactor {
	var res []*regexp.Regexp
	for _, m := range c.Config.Masks {
		if re, err := regexp.Compile(m); err == nil { // validated when loading
			res = append(res, re)
		}
	}
	return redact.New(secrets, res)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func since(t time.Time) string {
	d := time.Since(t)
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
