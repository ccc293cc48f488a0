// Package repofs resolves paths inside a repository's files without
// leaving them: the symbolic links a repository holds are followed only
// as far as they stay inside it. Sluice takes paths from a repository (a
// project's dir, a policy, the directory a glob starts in, a local
// module's source) and must neither plan nor read what lies outside it;
// and a link to another path inside it is that path, so that a project
// reached through a link is known by its real directory. It imports no
// other Sluice package.
package repofs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// MaxFileSize bounds a file Sluice itself reads from a repository
// (sluice.yaml, CODEOWNERS, a lock file, Pulumi's project and stack
// files): a real one is a few KiB. Readers that learn a file's size
// before reading it (gitx.TreeFS) leave larger ones unread.
const MaxFileSize = 1 << 20

// maxLinks is how many links one path may pass through, as the kernel's
// limit (ELOOP).
const maxLinks = 40

// LinkError is a path that leads outside the repository through a
// symbolic link.
type LinkError struct {
	Path   string // the path asked for
	Link   string // the link on the way, relative to the repository's root
	Target string // what the link holds
}

func (e *LinkError) Error() string {
	if e.Target == "" {
		return fmt.Sprintf("%s passes through more than %d symbolic links", e.Path, maxLinks)
	}
	return fmt.Sprintf("%s is a symbolic link to %s, outside the repository", e.Link, e.Target)
}

// Outside reports whether a cleaned slash path leaves the directory it
// is relative to.
func Outside(clean string) bool {
	return clean == ".." || strings.HasPrefix(clean, "../") || path.IsAbs(clean)
}

// RealPath resolves the symbolic links in p, a cleaned slash path
// relative to the root of fsys (the repository), as the kernel would, and
// returns the path they lead to: prod/mods/net, where prod/mods links to
// ../modules, is modules/net. A link that leads outside fsys (an absolute
// target, or more ../ than it is deep) is a *LinkError, and so are more
// than 40 links. A part that does not exist ends the resolution: the rest
// is joined as it is, for the caller to find missing. A p outside fsys is
// an error; fsys that cannot read links (not an fs.ReadLinkFS) has none.
func RealPath(fsys fs.FS, p string) (string, error) {
	p = path.Clean(p)
	if Outside(p) {
		return "", fmt.Errorf("%s is outside the repository", p)
	}
	rl, ok := fsys.(fs.ReadLinkFS)
	if !ok || p == "." {
		return p, nil
	}
	parts := strings.Split(p, "/")
	cur := "."
	for hops := 0; len(parts) > 0; {
		next := path.Join(cur, parts[0])
		fi, err := rl.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			return path.Join(append([]string{cur}, parts...)...), nil
		}
		if err != nil {
			return "", err
		}
		parts = parts[1:]
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		target, err := rl.ReadLink(next)
		if err != nil {
			return "", err
		}
		if hops++; hops > maxLinks {
			return "", &LinkError{Path: p, Link: next}
		}
		// The target is relative to the link's directory and may hold
		// links of its own: walk it again from the top.
		dest := path.Join(cur, target)
		if path.IsAbs(target) || Outside(dest) {
			return "", &LinkError{Path: p, Link: next, Target: target}
		}
		parts = append(strings.Split(dest, "/"), parts...)
		cur = "."
	}
	return cur, nil
}

// ReadFile reads a file of the repository fsys that Sluice itself reads:
// its links followed only inside fsys (RealPath), a regular file (not a
// device or a pipe, which a link could name) of at most MaxFileSize,
// refused before it is read when fsys knows its size. A missing file is
// an error wrapping fs.ErrNotExist.
func ReadFile(fsys fs.FS, name string) ([]byte, error) {
	real, err := RealPath(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	info, err := fs.Stat(fsys, real)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", name, err)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("reading %s: not a regular file (%s)", name, info.Mode().Type())
	case info.Size() > MaxFileSize:
		return nil, TooLarge(name)
	}
	f, err := fsys.Open(real)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, TooLarge(name)
	}
	return data, nil
}

// TooLarge is the error for a file of more than MaxFileSize.
func TooLarge(name string) error {
	return fmt.Errorf("reading %s: larger than %d KiB; a configuration file is a few KiB, keep it small", name, MaxFileSize>>10)
}
