// Package gitx runs the git CLI for the few things Sluice needs from a
// checkout: resolving revisions, the changed files of a branch, and a
// fingerprint of the working tree.
package gitx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	out, err := run(ctx, dir, nil, "rev-parse", "--show-toplevel", "--absolute-git-dir")
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

// At returns a Repo that runs git in dir, which may be any directory
// inside a working tree, before Open has found its top. Commands whose
// output does not depend on the current directory can start at once.
func At(dir string) *Repo { return &Repo{Root: dir} }

// Git runs a git command in the working tree and returns its standard output.
func (r *Repo) Git(ctx context.Context, args ...string) (string, error) {
	return run(ctx, r.Root, nil, args...)
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

// MergeBase returns the best common ancestor of two commits.
func (r *Repo) MergeBase(ctx context.Context, a, b string) (string, error) {
	out, err := r.Git(ctx, "merge-base", a, b)
	if err != nil {
		return "", fmt.Errorf("finding the merge base of %s and %s (do they share history?): %w", short(a), short(b), err)
	}
	return strings.TrimSpace(out), nil
}

// WorktreeTree writes the working tree as it is now — tracked files with
// their uncommitted changes, and untracked files git does not ignore — as
// a tree object, and returns its id. The real index is left untouched.
func (r *Repo) WorktreeTree(ctx context.Context) (string, error) {
	tmp, err := os.CreateTemp(r.GitDir, "sluice-index-*")
	if err != nil {
		return "", fmt.Errorf("creating a temporary index: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name)
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
			err = os.Chtimes(name, st.ModTime(), st.ModTime())
		}
	}
	if err != nil {
		return "", fmt.Errorf("copying the index: %w", err)
	}
	env := []string{"GIT_INDEX_FILE=" + name}
	if _, err := run(ctx, r.Root, env, "add", "--all", "--", "."); err != nil {
		return "", fmt.Errorf("reading the working tree: %w", err)
	}
	out, err := run(ctx, r.Root, env, "write-tree")
	if err != nil {
		return "", fmt.Errorf("reading the working tree: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// Change is one changed path between two trees. For a rename, OldPath is
// the path before and Path the path after.
type Change struct {
	Status  byte // A, M, D, R, C, T
	Path    string
	OldPath string
}

// Diff lists the files that differ between two tree-ish ids, with rename
// detection; renames and copies report both paths.
func (r *Repo) Diff(ctx context.Context, from, to string) ([]Change, error) {
	out, err := r.Git(ctx, "diff", "--no-ext-diff", "--no-textconv", "--name-status", "-z", "-M", from, to, "--")
	if err != nil {
		return nil, fmt.Errorf("listing changed files between %s and %s: %w", short(from), short(to), err)
	}
	return parseNameStatus(out)
}

func parseNameStatus(out string) ([]Change, error) {
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
// ignore (as additions). Both listings run at once.
func (r *Repo) ChangedSince(ctx context.Context, base string) ([]Change, error) {
	var (
		wg                  sync.WaitGroup
		tracked, untracked  string
		errTracked, errUntr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		tracked, errTracked = r.Git(ctx, "diff", "--no-ext-diff", "--no-textconv", "--name-status", "-z", "-M", "--merge-base", "--end-of-options", base, "--")
	}()
	go func() {
		defer wg.Done()
		untracked, errUntr = r.Git(ctx, "ls-files", "-z", "--others", "--exclude-standard", "--full-name")
	}()
	wg.Wait()
	if errTracked != nil {
		return nil, fmt.Errorf("listing changes since %s: %w", base, errTracked)
	}
	if errUntr != nil {
		return nil, fmt.Errorf("listing untracked files: %w", errUntr)
	}
	changes, err := parseNameStatus(tracked)
	if err != nil {
		return nil, err
	}
	for _, p := range strings.Split(untracked, "\x00") {
		if p != "" {
			changes = append(changes, Change{Status: 'A', Path: p})
		}
	}
	return changes, nil
}

// HasObject reports whether the repository still has an object.
func (r *Repo) HasObject(ctx context.Context, id string) bool {
	_, err := r.Git(ctx, "cat-file", "-e", id)
	return err == nil
}

func run(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("git is not installed or not on PATH: %w", err)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", args[0], msg)
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
