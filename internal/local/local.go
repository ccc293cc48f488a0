// Package local runs Sluice's plan → review → apply loop in a local git
// checkout: `sluice projects`, `sluice plan` and `sluice apply`.
package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/affected"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/engine/terraform/tfmodules"
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
	// Heartbeat is how often Progress hears that a plan or apply is still
	// running: 0 means DefaultHeartbeat, a negative value never.
	Heartbeat time.Duration
}

// DefaultHeartbeat is how often a long plan or apply says it is still
// running: often enough for CI systems that end jobs quiet for minutes.
const DefaultHeartbeat = 30 * time.Second

// Checkout is an opened working tree with its configuration.
type Checkout struct {
	Repo   *gitx.Repo
	Config *repoconfig.Config
	dirs   dirs
	masks  []*regexp.Regexp // Config.Masks, compiled

	patternsOnce sync.Once
	patterns     map[string][]string // by project name
}

// Open finds the checkout containing dir and loads its sluice.yaml, or
// discovers its projects.
func Open(ctx context.Context, dir string) (*Checkout, error) {
	repo, err := gitx.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	return openRepo(repo)
}

func openRepo(repo *gitx.Repo) (*Checkout, error) {
	cfg, err := repoconfig.Load(os.DirFS(repo.Root))
	if err != nil {
		return nil, err
	}
	return &Checkout{Repo: repo, Config: cfg, dirs: dirs{root: filepath.Join(repo.GitDir, "sluice")}, masks: cfg.MaskPatterns()}, nil
}

// Patterns returns the globs whose changes affect a project: its
// when_modified globs (or the engine's defaults) and, for Terraform and
// OpenTofu, every local module directory its code calls, directly or
// through other local modules, as DIR/**.
func (c *Checkout) Patterns(name string) []string {
	c.readPatterns()
	return c.patterns[name]
}

// readPatterns reads every project's local module calls, once.
func (c *Checkout) readPatterns() {
	c.patternsOnce.Do(func() {
		c.patterns = make(map[string][]string, len(c.Config.Projects))
		fsys := os.DirFS(c.Repo.Root)
		for i := range c.Config.Projects {
			p := &c.Config.Projects[i]
			c.patterns[p.Name] = p.PatternsIn(fsys)
		}
	})
}

// Change is what a branch changes relative to its base.
type Change struct {
	BaseRef   string           `json:"base_ref"`
	Base      string           `json:"base"`
	MergeBase string           `json:"merge_base"`
	Head      string           `json:"head"`
	Paths     []string         `json:"changed_paths"`
	Matches   []affected.Match `json:"projects"`
	// Removed are the projects of the merge base's configuration that
	// are no longer configured.
	Removed []RemovedProject `json:"removed_projects,omitempty"`
	// Warnings are for the person running sluice.
	Warnings []string `json:"warnings,omitempty"`

	// snap is the working tree before planning, when it was asked for;
	// the caller closes it.
	snap *gitx.Snapshot
}

// RemovedProject is a project configured at the merge base (in sluice.yaml
// or discovered) with no project for its directory and workspace or stack
// at HEAD. Its resources are not destroyed by removing its code.
type RemovedProject struct {
	Name      string `json:"name"`
	Dir       string `json:"dir"`
	Workspace string `json:"workspace,omitempty"`
	Stack     string `json:"stack,omitempty"`
}

// Notice says what removing the project means and what to do.
func (r RemovedProject) Notice() string {
	where := r.Dir
	switch {
	case r.Stack != "":
		where += ", stack " + r.Stack
	case r.Workspace != "" && r.Workspace != "default":
		where += ", workspace " + r.Workspace
	}
	return fmt.Sprintf("project %s (%s) was removed: it is configured at the merge base but not any more. "+
		"Removing a project's code or configuration does not destroy its resources, and Sluice no longer plans them. "+
		"If they still exist, destroy them first (apply a plan that destroys them before removing the project), "+
		"or remove them from the state deliberately.", r.Name, where)
}

// OpenChanges opens the checkout containing dir and computes the files
// changed between the merge base of baseRef and HEAD and the working tree
// as it is now (committed, uncommitted and untracked changes), and the
// projects they touch, in dependency order. Its git calls all run at
// once.
func OpenChanges(ctx context.Context, dir, baseRef string) (*Checkout, *Change, error) {
	return openChanges(ctx, dir, baseRef, false)
}

// openChanges is OpenChanges. With snapshot, it also adds the working
// tree to a temporary index (Change.snap) and takes the changed files
// from it, so they are exactly what is bound. This is the path of every
// plan, so the snapshot starts at once from a guess of the git directory,
// beside the call that finds it out; the snapshot's tree is written later,
// while the engine plans.
func openChanges(ctx context.Context, dir, baseRef string, snapshot bool) (co *Checkout, ch *Change, err error) {
	if baseRef == "" {
		return nil, nil, fmt.Errorf("no base branch given: pass --base (for example --base main)")
	}
	var (
		wg                    sync.WaitGroup
		repo                  *gitx.Repo
		base                  gitx.Base
		snap                  *gitx.Snapshot
		files                 []gitx.Change
		errBase, errCo        error
		errFiles, errSnapshot error
		resolved              = make(chan struct{})
	)
	defer func() {
		if snap != nil && (err != nil || ch == nil) {
			snap.Close()
		}
	}()
	wg.Add(2)
	go func() {
		defer wg.Done()
		repo, base, errBase = gitx.OpenBase(ctx, dir, baseRef)
		close(resolved)
		if repo == nil {
			return
		}
		co, errCo = openRepo(repo)
		if errCo == nil {
			co.readPatterns() // while git works
		}
	}()
	// changes lists the changed files: from the snapshot when there is
	// one (every changed path, untracked ones included, is in the diff of
	// the merge base and the snapshot), else from the working tree.
	changes := func(r *gitx.Repo) {
		if !snapshot {
			files, errFiles = gitx.At(dir).ChangedSince(ctx, baseRef)
			return
		}
		if snap, errSnapshot = r.Snapshot(ctx); errSnapshot != nil {
			return
		}
		<-resolved
		if errBase == nil {
			files, errFiles = snap.Diff(ctx, base.MergeBase)
		}
	}
	guess, guessed := gitx.Guess(dir)
	go func() {
		defer wg.Done()
		r := guess
		if snapshot && !guessed {
			<-resolved
			if r = repo; r == nil {
				return
			}
		}
		changes(r)
	}()
	wg.Wait()
	if snapshot && repo != nil && guessed && (guess.Root != repo.Root || guess.GitDir != repo.GitDir) {
		// git found another checkout than the guess: do it again.
		if snap != nil {
			snap.Close()
		}
		snap, files, errFiles, errSnapshot = nil, nil, nil, nil
		changes(repo)
	}
	switch {
	case repo == nil:
		return nil, nil, errBase
	case errCo != nil:
		return nil, nil, errCo
	case errBase != nil:
		if _, err := repo.ResolveCommit(ctx, "HEAD"); err != nil {
			return co, nil, fmt.Errorf("this checkout has no commits yet: commit your work first, then compare it with --base %s", baseRef)
		}
		return co, nil, errBase
	case errSnapshot != nil:
		return co, nil, errSnapshot
	case errFiles != nil:
		return co, nil, errFiles
	}
	c := co
	ch = &Change{BaseRef: baseRef, Base: base.Base, MergeBase: base.MergeBase, Head: base.Head, Paths: gitx.Paths(files), snap: snap}
	m, err := c.matcher()
	if err != nil {
		return co, nil, err
	}
	matches := m.Match(ch.Paths)
	// sluice.yaml itself affects every project it configures.
	if c.Config.File != "" && slices.Contains(ch.Paths, c.Config.File) {
		matches = c.allProjects(matches, c.Config.File)
	}
	ch.Matches = c.ordered(matches)
	ch.Warnings = untrackedStateWarnings(files)
	if mayRemoveProjects(files) {
		ch.Removed = c.removedSince(ctx, base.MergeBase)
	}
	return co, ch, nil
}

// untrackedStateWarnings warns about new state files git does not ignore:
// the snapshot of the working tree copies untracked ones into the
// repository's object store, and state holds secrets.
func untrackedStateWarnings(files []gitx.Change) []string {
	var state []string
	for _, f := range files {
		if ok, _ := path.Match("*.tfstate*", path.Base(f.Path)); ok && (f.Untracked || f.Status == 'A') {
			state = append(state, f.Path)
		}
	}
	if len(state) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("state files that git does not ignore: %s; sluice's snapshot of the working tree copies untracked files into .git/objects, "+
		"and state can hold secrets: add *.tfstate* to .gitignore", strings.Join(firstN(state, 5), ", "))}
}

// mayRemoveProjects reports whether a change can remove a project: it
// touches sluice.yaml, or deletes (or renames away) a file that makes a
// directory a discovered project.
func mayRemoveProjects(files []gitx.Change) bool {
	for _, f := range files {
		if f.Path == repoconfig.FileName || f.OldPath == repoconfig.FileName {
			return true
		}
		if f.Status == 'D' || f.Status == 'R' {
			name := path.Base(f.Path)
			if f.OldPath != "" {
				name = path.Base(f.OldPath)
			}
			if tfmodules.IsConfigFile(name) || name == "Pulumi.yaml" || name == "Pulumi.yml" {
				return true
			}
		}
	}
	return false
}

// removedSince returns the projects of the configuration at commit mb
// (sluice.yaml or discovered, read from git) that have no project with
// the same directory and workspace or stack now. A configuration at mb
// that does not load is not compared.
func (c *Checkout) removedSince(ctx context.Context, mb string) []RemovedProject {
	fsys, err := c.Repo.TreeFS(ctx, mb, func(name string, size int64) bool {
		if name == repoconfig.FileName {
			return size <= repoconfig.MaxFileSize // a larger one is refused unread
		}
		return tfmodules.IsConfigFile(path.Base(name))
	})
	if err != nil {
		return nil
	}
	old, err := repoconfig.Load(fsys)
	if err != nil {
		return nil
	}
	key := func(p *repoconfig.Project) string { return p.Dir + "\x00" + p.Workspace + "\x00" + p.Stack }
	now := map[string]bool{}
	for i := range c.Config.Projects {
		now[key(&c.Config.Projects[i])] = true
	}
	var out []RemovedProject
	for i := range old.Projects {
		p := &old.Projects[i]
		if !now[key(p)] {
			out = append(out, RemovedProject{Name: p.Name, Dir: p.Dir, Workspace: p.Workspace, Stack: p.Stack})
		}
	}
	return out
}

func (c *Checkout) matcher() (*affected.Matcher, error) {
	ps := make([]affected.Project, len(c.Config.Projects))
	for i := range c.Config.Projects {
		p := &c.Config.Projects[i]
		ps[i] = affected.Project{Name: p.Name, Patterns: c.Patterns(p.Name)}
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
			if !slices.Contains(matches[i].Paths, path) {
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
	return redact.New(secrets, c.masks)
}

func since(t time.Time) string {
	d := time.Since(t)
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
