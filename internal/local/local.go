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
	"sync"
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
	Paths     []string         `json:"changed_paths"`
	Matches   []affected.Match `json:"projects"`
}

// OpenChanges opens the checkout containing dir and computes the files
// changed between the merge base of baseRef and HEAD and the working tree
// as it is now (committed, uncommitted and untracked changes), and the
// projects they touch, in dependency order. This is on the path of every
// plan, so its git calls all run at once.
func OpenChanges(ctx context.Context, dir, baseRef string) (*Checkout, *Change, error) {
	if baseRef == "" {
		return nil, nil, fmt.Errorf("no base branch given: pass --base (for example --base main)")
	}
	var (
		wg                   sync.WaitGroup
		co                   *Checkout
		ids                  []string
		mb                   string
		files                []gitx.Change
		errCo, errIDs, errMB error
		errFiles             error
	)
	at := gitx.At(dir)
	wg.Add(4)
	go func() { defer wg.Done(); co, errCo = Open(ctx, dir) }()
	go func() { defer wg.Done(); ids, errIDs = at.ResolveCommits(ctx, baseRef, "HEAD") }()
	go func() { defer wg.Done(); mb, errMB = at.MergeBase(ctx, baseRef, "HEAD") }()
	go func() { defer wg.Done(); files, errFiles = at.ChangedSince(ctx, baseRef) }()
	wg.Wait()
	switch {
	case errCo != nil:
		return nil, nil, errCo
	case errIDs != nil:
		if strings.Contains(errIDs.Error(), `"HEAD"`) {
			return co, nil, fmt.Errorf("this checkout has no commits yet: commit your work first")
		}
		return co, nil, errIDs
	case errMB != nil:
		return co, nil, errMB
	case errFiles != nil:
		return co, nil, errFiles
	}
	c := co
	ch := &Change{BaseRef: baseRef, Base: ids[0], MergeBase: mb, Head: ids[1], Paths: gitx.Paths(files)}
	m, err := c.matcher()
	if err != nil {
		return co, nil, err
	}
	matches := m.Match(ch.Paths)
	// sluice.yaml itself affects every project it configures.
	if c.Config.File != "" && contains(ch.Paths, c.Config.File) {
		matches = c.allProjects(matches, c.Config.File)
	}
	ch.Matches = c.ordered(matches)
	return co, ch, nil
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
