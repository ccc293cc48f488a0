// Package workspace keeps the git checkouts the server plans and applies
// in: one bare mirror per repository, fetched incrementally, and one
// detached worktree per merge request and commit, removed when done.
package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/gitx"
)

// Manager owns Root: Root/mirrors/NAME.git and Root/trees/NAME/.
type Manager struct {
	Root string

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per mirror: git does not like concurrent fetches
}

// New returns a manager keeping its checkouts under root.
func New(root string) *Manager {
	return &Manager{Root: root, locks: map[string]*sync.Mutex{}}
}

func (m *Manager) mirrorLock(name string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[name]
	if !ok {
		l = &sync.Mutex{}
		m.locks[name] = l
	}
	return l
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// key names a repository on disk: readable, and unique by a hash.
func key(repo string) string {
	h := sha256.Sum256([]byte(repo))
	name := unsafeChars.ReplaceAllString(repo, "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return name + "-" + hex.EncodeToString(h[:6])
}

// Source is where a repository is cloned from. Token, when set, is passed
// to git through the environment for this one command, never in a URL
// that git could print or store.
type Source struct {
	Repo     string // the repository's name in Sluice, e.g. "gitea:org/infra"
	CloneURL string
	Username string
	Token    string
}

// Mirror makes sure the bare mirror of src exists and has every given
// commit, fetching only when one is missing. It returns the mirror's path.
func (m *Manager) Mirror(ctx context.Context, src Source, commits ...string) (string, error) {
	name := key(src.Repo)
	dir := filepath.Join(m.Root, "mirrors", name+".git")
	l := m.mirrorLock(name)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("creating the mirror of %s: %w", src.Repo, err)
		}
		if _, err := git(ctx, dir, src, "init", "--bare", "--quiet"); err != nil {
			return "", err
		}
	}
	missing := false
	for _, c := range commits {
		if _, err := git(ctx, dir, Source{}, "cat-file", "-e", c+"^{commit}"); err != nil {
			missing = true
			break
		}
	}
	if missing || len(commits) == 0 {
		// Branches and merge request refs; pruned so deleted branches go.
		_, err := git(ctx, dir, src, "fetch", "--quiet", "--prune", "--no-tags", "--", src.CloneURL,
			"+refs/heads/*:refs/heads/*", "+refs/pull/*:refs/pull/*", "+refs/merge-requests/*:refs/merge-requests/*")
		if err != nil && strings.Contains(err.Error(), "couldn't find remote ref") {
			_, err = git(ctx, dir, src, "fetch", "--quiet", "--prune", "--no-tags", "--", src.CloneURL, "+refs/heads/*:refs/heads/*")
		}
		if err != nil {
			return "", fmt.Errorf("fetching %s: %w", src.Repo, err)
		}
		for _, c := range commits {
			if _, err := git(ctx, dir, Source{}, "cat-file", "-e", c+"^{commit}"); err != nil {
				// Not on any branch any more (a force-push): ask for it by id.
				if _, err := git(ctx, dir, src, "fetch", "--quiet", "--no-tags", "--", src.CloneURL, c); err != nil {
					return "", fmt.Errorf("commit %s of %s is not in the repository (was the branch force-pushed or deleted?): %w", gitx.Short(c), src.Repo, err)
				}
			}
		}
	}
	return dir, nil
}

// Tree is a checked-out commit.
type Tree struct {
	Dir    string
	mirror string
}

// Checkout creates a detached worktree of commit named name (e.g.
// "mr-12-abc1234"), replacing one left by an earlier run.
func (m *Manager) Checkout(ctx context.Context, src Source, commit, name string) (*Tree, error) {
	mirror, err := m.Mirror(ctx, src, commit)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(m.Root, "trees", key(src.Repo), unsafeChars.ReplaceAllString(name, "_"))
	l := m.mirrorLock(key(src.Repo))
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(dir); err == nil {
		_, _ = git(ctx, mirror, Source{}, "worktree", "remove", "--force", dir)
		_ = os.RemoveAll(dir)
	}
	_, _ = git(ctx, mirror, Source{}, "worktree", "prune")
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	if _, err := git(ctx, mirror, Source{}, "worktree", "add", "--detach", "--force", "--quiet", dir, commit); err != nil {
		return nil, fmt.Errorf("checking out %s of %s: %w", gitx.Short(commit), src.Repo, err)
	}
	return &Tree{Dir: dir, mirror: mirror}, nil
}

// Remove deletes the worktree.
func (m *Manager) Remove(ctx context.Context, t *Tree) error {
	l := m.mirrorLock(filepath.Base(filepath.Dir(t.Dir)))
	l.Lock()
	defer l.Unlock()
	if _, err := git(ctx, t.mirror, Source{}, "worktree", "remove", "--force", t.Dir); err != nil {
		if rerr := os.RemoveAll(t.Dir); rerr != nil {
			return fmt.Errorf("removing %s: %w", t.Dir, rerr)
		}
		_, _ = git(ctx, t.mirror, Source{}, "worktree", "prune")
	}
	return nil
}

// ChangedFiles lists the paths changed between the merge base of base and
// head, and head, renames giving both paths.
func (m *Manager) ChangedFiles(ctx context.Context, src Source, base, head string) ([]string, error) {
	mirror, err := m.Mirror(ctx, src, base, head)
	if err != nil {
		return nil, err
	}
	mb, err := mergeBase(ctx, mirror, src, base, head)
	if err != nil {
		return nil, err
	}
	out, err := git(ctx, mirror, Source{}, "diff", "--no-ext-diff", "--no-textconv", "--name-status", "-z", "-M", mb, head, "--")
	if err != nil {
		return nil, fmt.Errorf("listing the changes of %s: %w", src.Repo, err)
	}
	return paths(out)
}

// MergeBase is the best common ancestor of two commits: where a merge
// request's branch left its base, for one at a and a base at b.
func (m *Manager) MergeBase(ctx context.Context, src Source, a, b string) (string, error) {
	mirror, err := m.Mirror(ctx, src, a, b)
	if err != nil {
		return "", err
	}
	return mergeBase(ctx, mirror, src, a, b)
}

func mergeBase(ctx context.Context, mirror string, src Source, a, b string) (string, error) {
	mb, err := git(ctx, mirror, Source{}, "merge-base", a, b)
	if err != nil {
		return "", fmt.Errorf("finding the merge base of %s and %s in %s: %w", gitx.Short(a), gitx.Short(b), src.Repo, err)
	}
	return strings.TrimSpace(mb), nil
}

// TreeFS returns the tree of a commit as a read-only file system
// (gitx.TreeFS): every file listed with its size, the content of those
// read wants. A failure to fetch or list the commit is an error; a file
// the commit does not have is fs.ErrNotExist when it is opened.
func (m *Manager) TreeFS(ctx context.Context, src Source, commit string, read func(name string, size int64) bool) (fs.FS, error) {
	mirror, err := m.Mirror(ctx, src, commit)
	if err != nil {
		return nil, err
	}
	fsys, err := gitx.At(mirror).TreeFS(ctx, commit, read)
	if err != nil {
		return nil, fmt.Errorf("reading %s of %s: %w", gitx.Short(commit), src.Repo, err)
	}
	return fsys, nil
}

// DiffFiles lists the paths that differ between two commits (renames give
// both paths).
func (m *Manager) DiffFiles(ctx context.Context, src Source, from, to string) ([]string, error) {
	mirror, err := m.Mirror(ctx, src, from, to)
	if err != nil {
		return nil, err
	}
	out, err := git(ctx, mirror, Source{}, "diff", "--no-ext-diff", "--no-textconv", "--name-status", "-z", "-M", from, to, "--")
	if err != nil {
		return nil, fmt.Errorf("comparing %s and %s of %s: %w", gitx.Short(from), gitx.Short(to), src.Repo, err)
	}
	return paths(out)
}

// paths reads `git diff --name-status -z` output: every path, both sides
// of renames and copies.
func paths(nameStatus string) ([]string, error) {
	changes, err := gitx.ParseNameStatus(nameStatus)
	if err != nil {
		return nil, err
	}
	return gitx.Paths(changes), nil
}

// git runs git in dir. Credentials go through GIT_ASKPASS-free config in
// the environment (an http.extraHeader), so they never appear in a URL,
// a command line, or git's own messages.
func git(ctx context.Context, dir string, src Source, args ...string) (string, error) {
	env := []string{"GIT_CONFIG_NOSYSTEM=1"}
	if src.Token != "" {
		user := src.Username
		if user == "" {
			user = "sluice"
		}
		env = append(env,
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.extraHeader",
			"GIT_CONFIG_VALUE_0=Authorization: Basic "+basicAuth(user, src.Token),
		)
	}
	out, err := gitx.Run(ctx, dir, env, args...)
	if err != nil {
		// A new error, not a wrapped one: what git said is only ever seen
		// redacted.
		msg := err.Error()
		if src.Token != "" {
			msg = strings.ReplaceAll(msg, src.Token, "***")
		}
		return "", errors.New(redactURL(msg))
	}
	return out, nil
}

var urlInText = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^\s'"]+`)

// redactURL removes any user information from URLs in a message.
func redactURL(s string) string {
	return urlInText.ReplaceAllStringFunc(s, func(u string) string {
		p, err := url.Parse(u)
		if err != nil || p.User == nil {
			return u
		}
		p.User = nil
		return p.String()
	})
}

func basicAuth(user, token string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + token))
}
