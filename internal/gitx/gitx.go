// Package gitx runs the git CLI for the few things Sluice needs from a
// checkout: resolving revisions, the changed files of a branch, and a
// fingerprint of the working tree. Run and ParseNameStatus also serve the
// server's mirrors (package workspace).
package gitx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Repo is a git working tree.
type Repo struct {
	// Root is the absolute path of the top of the working tree.
	Root string
	// GitDir is the absolute path of the repository's git directory for
	// this working tree.
	GitDir string
}

// ErrNotARepo means the directory is not inside a git working tree.
var ErrNotARepo = errors.New("not a git repository")

// Open finds the working tree that contains dir.
func Open(ctx context.Context, dir string) (*Repo, error) {
	out, err := Run(ctx, dir, nil, "rev-parse", "--show-toplevel", "--absolute-git-dir")
	if err != nil {
		if strings.Contains(err.Error(), "not a git repository") {
			return nil, fmt.Errorf("%s: %w (run sluice inside a git checkout of your infrastructure repository)", dir, ErrNotARepo)
		}
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("unexpected output of git rev-parse in %s: %q", dir, out)
	}
	return &Repo{Root: lines[0], GitDir: lines[1]}, nil
}

// Base is a branch's base as OpenBase resolves it.
type Base struct {
	Base      string // the base commit
	Head      string // HEAD's commit
	MergeBase string // their best common ancestor
}

// OpenBase finds the working tree that contains dir and resolves base,
// HEAD and their merge base, in one git call: it is on the path of every
// plan. When anything fails it asks again one question at a time, to say
// exactly what is wrong; the Repo is returned whenever dir is in one.
func OpenBase(ctx context.Context, dir, base string) (*Repo, Base, error) {
	if !strings.HasPrefix(base, "-") {
		// A...B adds B, A and ^M for every merge base M of A and B.
		out, err := Run(ctx, dir, nil, "rev-parse", "--show-toplevel", "--absolute-git-dir",
			base+"^{commit}", "HEAD^{commit}", base+"^{commit}...HEAD^{commit}")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err == nil && len(lines) >= 7 && strings.HasPrefix(lines[6], "^") {
			r := &Repo{Root: lines[0], GitDir: lines[1]}
			return r, Base{Base: lines[2], Head: lines[3], MergeBase: lines[6][1:]}, nil
		}
	}
	r, err := Open(ctx, dir)
	if err != nil {
		return nil, Base{}, err
	}
	ids, err := r.ResolveCommits(ctx, base, "HEAD")
	if err != nil {
		return r, Base{}, err
	}
	mb, err := r.MergeBase(ctx, base, "HEAD")
	if err != nil {
		return r, Base{}, err
	}
	return r, Base{Base: ids[0], Head: ids[1], MergeBase: mb}, nil
}

// Guess finds the working tree that contains dir the way git does in the
// common case — the nearest directory up with a .git directory, or a .git
// file naming the git directory (linked worktrees) — without running git,
// so that work needing the git directory can start at once. It gives up
// (false) when git's environment variables could change the answer; a
// guess must still be checked against Open's answer.
func Guess(dir string) (*Repo, bool) {
	for _, k := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM"} {
		if os.Getenv(k) != "" {
			return nil, false
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, false
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, false
	}
	for d := abs; ; d = filepath.Dir(d) {
		dotgit := filepath.Join(d, ".git")
		st, err := os.Stat(dotgit)
		switch {
		case err == nil && st.IsDir():
			return &Repo{Root: d, GitDir: dotgit}, true
		case err == nil && st.Mode().IsRegular():
			b, err := os.ReadFile(dotgit)
			target, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
			if err != nil || !ok {
				return nil, false
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(d, target)
			}
			if target, err = filepath.EvalSymlinks(target); err != nil {
				return nil, false
			}
			return &Repo{Root: d, GitDir: target}, true
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, false
		}
		if filepath.Dir(d) == d {
			return nil, false
		}
	}
}

// At returns a Repo that runs git in dir, which may be any directory
// inside a working tree, before Open has found its top. Commands whose
// output does not depend on the current directory can start at once.
func At(dir string) *Repo { return &Repo{Root: dir} }

// Git runs a git command in the working tree and returns its standard output.
func (r *Repo) Git(ctx context.Context, args ...string) (string, error) {
	return Run(ctx, r.Root, nil, args...)
}

// ResolveCommit returns the full SHA of a revision that must name a commit.
func (r *Repo) ResolveCommit(ctx context.Context, rev string) (string, error) {
	out, err := r.Git(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%q is not a commit, branch or tag in %s (check the name; for a remote branch try origin/%s)", rev, r.Root, rev)
	}
	return strings.TrimSpace(out), nil
}

// ResolveCommits resolves several revisions with one git call; on any
// failure it resolves them one by one to say which one is wrong.
func (r *Repo) ResolveCommits(ctx context.Context, revs ...string) ([]string, error) {
	args := []string{"rev-parse"}
	for _, rev := range revs {
		if strings.HasPrefix(rev, "-") {
			return nil, fmt.Errorf("%q is not a commit, branch or tag (a name cannot start with -)", rev)
		}
		args = append(args, rev+"^{commit}")
	}
	out, err := r.Git(ctx, args...)
	ids := strings.Fields(out)
	if err == nil && len(ids) == len(revs) {
		return ids, nil
	}
	ids = make([]string, len(revs))
	for i, rev := range revs {
		if ids[i], err = r.ResolveCommit(ctx, rev); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// ErrNoDefaultBase means DefaultBase found no branch to compare with.
var ErrNoDefaultBase = errors.New("no default branch")

// DefaultBase guesses the branch a change in the working tree that
// contains dir will merge into, for when none is given: the default branch
// of the remote origin (origin/HEAD, which git clone sets), else a local
// main, else a local master. One git call.
func DefaultBase(ctx context.Context, dir string) (string, error) {
	const originHead = "refs/remotes/origin/HEAD"
	out, err := Run(ctx, dir, nil, "for-each-ref", "--format=%(refname)%00%(symref)", originHead, "refs/heads/main", "refs/heads/master")
	if err != nil {
		if _, oerr := Open(ctx, dir); oerr != nil {
			return "", oerr // says what is wrong with dir
		}
		return "", err
	}
	refs := map[string]string{} // ref -> the ref it points to, if symbolic
	for _, line := range strings.Split(out, "\n") {
		if name, target, ok := strings.Cut(line, "\x00"); ok {
			refs[name] = target
		}
	}
	if target, ok := strings.CutPrefix(refs[originHead], "refs/remotes/"); ok && target != "origin/HEAD" {
		return target, nil
	}
	for _, b := range []string{"main", "master"} {
		if _, ok := refs["refs/heads/"+b]; ok {
			return b, nil
		}
	}
	return "", fmt.Errorf("%w: the remote origin names no default branch (origin/HEAD), and there is no local main or master branch; "+
		"pass --base with the branch your change will merge into (if origin has one, `git remote set-head origin --auto` records it)", ErrNoDefaultBase)
}

// ErrNoMergeBase means two commits share no history.
var ErrNoMergeBase = errors.New("no merge base")

// MergeBase returns the best common ancestor of two commits.
func (r *Repo) MergeBase(ctx context.Context, a, b string) (string, error) {
	out, err := r.Git(ctx, "merge-base", "--end-of-options", a, b)
	var ge *Error
	if errors.As(err, &ge) && ge.ExitCode == 1 && ge.Stderr == "" {
		// merge-base says nothing and exits 1 when there is no common ancestor.
		return "", fmt.Errorf("%s and %s share no history, so there is no merge base to compare with (is %s the branch this one was made from?): %w",
			short(a), short(b), short(a), ErrNoMergeBase)
	}
	if err != nil {
		return "", fmt.Errorf("finding the merge base of %s and %s: %w", short(a), short(b), err)
	}
	return strings.TrimSpace(out), nil
}

// WorktreeTree writes the working tree as it is now — tracked files with
// their uncommitted changes, and untracked files git does not ignore — as
// a tree object, and returns its id. The real index is left untouched.
// Untracked files are copied into the object store as blobs.
func (r *Repo) WorktreeTree(ctx context.Context) (string, error) {
	s, err := r.Snapshot(ctx)
	if err != nil {
		return "", err
	}
	defer s.Close()
	return s.Tree(ctx)
}

// Snapshot is the working tree as it was at one moment, held in a
// temporary index: tracked files with their uncommitted changes, and
// untracked files git does not ignore. Close removes it.
type Snapshot struct {
	r     *Repo
	index string
}

// Snapshot adds the working tree to a temporary index (a copy of the real
// one, which is left untouched), writing the blobs of changed and
// untracked files into the object store.
func (r *Repo) Snapshot(ctx context.Context) (*Snapshot, error) {
	tmp, err := os.CreateTemp(r.GitDir, "sluice-index-*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary index: %w", err)
	}
	s := &Snapshot{r: r, index: tmp.Name()}
	// Starting from a copy of the real index lets git reuse its stat cache.
	// The copy keeps the index's modification time: git trusts cached stat
	// data only for files older than the index, and a newer copy would make
	// a file edited in the same second as the index look unchanged.
	real := filepath.Join(r.GitDir, "index")
	src, err := os.ReadFile(real)
	if err == nil {
		_, err = tmp.Write(src)
	} else if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && src != nil {
		var st os.FileInfo
		if st, err = os.Stat(real); err == nil {
			err = os.Chtimes(s.index, st.ModTime(), st.ModTime())
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("copying the index: %w", err)
	}
	if _, err := Run(ctx, r.Root, s.env(), "add", "--all", "--", "."); err != nil {
		s.Close()
		return nil, fmt.Errorf("reading the working tree: %w", err)
	}
	return s, nil
}

func (s *Snapshot) env() []string { return []string{"GIT_INDEX_FILE=" + s.index} }

// Tree writes the snapshot as a tree object and returns its id.
func (s *Snapshot) Tree(ctx context.Context) (string, error) {
	out, err := Run(ctx, s.r.Root, s.env(), "write-tree")
	if err != nil {
		return "", fmt.Errorf("reading the working tree: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// Diff lists the files that differ between a tree-ish and the snapshot,
// as Repo.Diff does.
func (s *Snapshot) Diff(ctx context.Context, from string) ([]Change, error) {
	out, err := Run(ctx, s.r.Root, s.env(), "diff", "--cached", "--no-ext-diff", "--no-textconv", "--no-relative", "--name-status", "-z", "-M", "--end-of-options", from, "--")
	if err != nil {
		return nil, fmt.Errorf("listing changed files since %s: %w", short(from), err)
	}
	return ParseNameStatus(out)
}

// Close removes the temporary index.
func (s *Snapshot) Close() { _ = os.Remove(s.index) }

// Change is one changed path between two trees. For a rename, OldPath is
// the path before and Path the path after.
type Change struct {
	Status  byte // A, M, D, R, C, T
	Path    string
	OldPath string
	// Untracked is set for a file git does not track (nor ignore).
	Untracked bool
}

// Diff lists the files that differ between two tree-ish ids, with rename
// detection; renames and copies report both paths.
func (r *Repo) Diff(ctx context.Context, from, to string) ([]Change, error) {
	out, err := r.Git(ctx, "diff", "--no-ext-diff", "--no-textconv", "--no-relative", "--name-status", "-z", "-M", from, to, "--")
	if err != nil {
		return nil, fmt.Errorf("listing changed files between %s and %s: %w", short(from), short(to), err)
	}
	return ParseNameStatus(out)
}

// ParseNameStatus reads the output of `git diff --name-status -z`.
func ParseNameStatus(out string) ([]Change, error) {
	fields := strings.Split(out, "\x00")
	var changes []Change
	for i := 0; i < len(fields); i++ {
		st := fields[i]
		if st == "" {
			continue
		}
		c := Change{Status: st[0]}
		switch st[0] {
		case 'R', 'C':
			if i+2 >= len(fields) {
				return nil, fmt.Errorf("truncated git diff output near %q", st)
			}
			c.OldPath, c.Path = fields[i+1], fields[i+2]
			i += 2
		default:
			if i+1 >= len(fields) {
				return nil, fmt.Errorf("truncated git diff output near %q", st)
			}
			c.Path = fields[i+1]
			i++
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// Paths returns every path a change touches: both sides of a rename.
func Paths(changes []Change) []string {
	paths := make([]string, 0, len(changes))
	for _, c := range changes {
		if c.OldPath != "" {
			paths = append(paths, c.OldPath)
		}
		paths = append(paths, c.Path)
	}
	return paths
}

// ChangedSince lists the files that differ between the merge base of base
// and HEAD, and the working tree as it is now: committed, staged and
// unstaged changes to tracked files, and untracked files git does not
// ignore (as additions). Both listings run at once. Paths are relative to
// the top of the working tree, whichever directory inside it r runs in and
// whatever diff.relative says.
func (r *Repo) ChangedSince(ctx context.Context, base string) ([]Change, error) {
	var (
		wg                  sync.WaitGroup
		tracked, untracked  string
		errTracked, errUntr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		tracked, errTracked = r.Git(ctx, "diff", "--no-ext-diff", "--no-textconv", "--no-relative", "--name-status", "-z", "-M", "--merge-base", "--end-of-options", base, "--")
	}()
	go func() {
		defer wg.Done()
		// ":/" is the whole working tree: without it, ls-files lists only
		// the current directory's subtree.
		untracked, errUntr = r.Git(ctx, "ls-files", "-z", "--others", "--exclude-standard", "--full-name", "--", ":/")
	}()
	wg.Wait()
	if errTracked != nil {
		return nil, fmt.Errorf("listing changes since %s: %w", base, errTracked)
	}
	if errUntr != nil {
		return nil, fmt.Errorf("listing untracked files: %w", errUntr)
	}
	changes, err := ParseNameStatus(tracked)
	if err != nil {
		return nil, err
	}
	for _, p := range strings.Split(untracked, "\x00") {
		if p != "" {
			changes = append(changes, Change{Status: 'A', Path: p, Untracked: true})
		}
	}
	return changes, nil
}

// Tracked returns the paths (relative to the top of the working tree)
// that git tracks: in the index, or in HEAD (a file removed from the index
// since counts). One git call.
func (r *Repo) Tracked(ctx context.Context, paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	args := []string{"ls-files", "-z", "--full-name", "--with-tree=HEAD", "--"}
	for _, p := range paths {
		args = append(args, ":(top,literal)"+p)
	}
	out, err := r.Git(ctx, args...)
	if err != nil {
		// A checkout without commits has no HEAD to compare with.
		if _, herr := r.ResolveCommit(ctx, "HEAD"); herr != nil {
			args = slices.DeleteFunc(args, func(a string) bool { return a == "--with-tree=HEAD" })
			out, err = r.Git(ctx, args...)
		}
		if err != nil {
			return nil, fmt.Errorf("asking git which files it tracks: %w", err)
		}
	}
	var tracked []string
	for _, p := range strings.Split(out, "\x00") {
		if p != "" && !slices.Contains(tracked, p) {
			tracked = append(tracked, p)
		}
	}
	return tracked, nil
}

// HasObject reports whether the repository still has an object.
func (r *Repo) HasObject(ctx context.Context, id string) bool {
	_, err := r.Git(ctx, "cat-file", "-e", id)
	return err == nil
}

// Error is a git command that failed.
type Error struct {
	Command  string // the git subcommand, e.g. "diff"
	Stderr   string // what git said, trimmed
	ExitCode int    // -1 when git did not exit by itself
	Err      error
}

func (e *Error) Error() string {
	msg := e.Stderr
	if msg == "" {
		msg = e.Err.Error()
	}
	return "git " + e.Command + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs git in dir, with env added to the environment, and returns its
// standard output. A failure is an *Error, or says that git is missing.
func Run(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	return runInput(ctx, dir, env, nil, args...)
}

func runInput(ctx context.Context, dir string, env []string, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("git is not installed or not on PATH: %w", err)
		}
		return "", &Error{Command: args[0], Stderr: strings.TrimSpace(stderr.String()), ExitCode: cmd.ProcessState.ExitCode(), Err: err}
	}
	return stdout.String(), nil
}

// Short abbreviates a commit id for messages.
func Short(id string) string { return short(id) }

func short(id string) string {
	if len(id) > 7 {
		return id[:7]
	}
	return id
}
