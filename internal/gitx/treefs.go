package gitx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxLink is the longest symbolic link TreeFS reads: a longer one is no
// path (PATH_MAX), and a blob of any size can claim to be a link.
const maxLink = 4096

// TreeFS returns the tree of a commit as a read-only file system, without
// checking it out. Every file and directory is listed, with its size;
// only the files for which read returns true (given each file's name and
// size, so that a caller can leave out what is too large to hold) have
// their content (two git calls in all: one listing, one reading every
// wanted blob); opening another file fails. Symbolic links are reported
// as such (their content, read when it is at most 4 KiB whatever read
// says, is the link's target; they are not followed, and fs.ReadLink
// reads them); submodules are left out.
func (r *Repo) TreeFS(ctx context.Context, rev string, read func(name string, size int64) bool) (fs.FS, error) {
	out, err := r.Git(ctx, "ls-tree", "-r", "-z", "--long", "--full-tree", "--end-of-options", rev)
	if err != nil {
		return nil, fmt.Errorf("listing the files of %s: %w", short(rev), err)
	}
	t := &treeFS{nodes: map[string]*treeNode{".": {name: ".", mode: fs.ModeDir | 0o555}}}
	var want []*treeNode
	var ids bytes.Buffer
	for _, rec := range strings.Split(out, "\x00") {
		meta, name, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta) // mode type object size
		if len(f) != 4 || f[1] != "blob" {
			continue
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("listing the files of %s: unexpected git ls-tree output %q", short(rev), meta)
		}
		n := &treeNode{name: path.Base(name), mode: 0o444, id: f[2], size: size}
		switch f[0] {
		case "120000":
			n.mode = fs.ModeSymlink | 0o777
		case "100755":
			n.mode = 0o555
		}
		t.add(name, n)
		isLink := n.mode&fs.ModeSymlink != 0
		if isLink && size <= maxLink || !isLink && read(name, size) {
			want = append(want, n)
			ids.WriteString(n.id + "\n")
		}
	}
	if len(want) > 0 {
		blobs, err := runInput(ctx, r.Root, nil, ids.Bytes(), "cat-file", "--batch")
		if err != nil {
			return nil, fmt.Errorf("reading the files of %s: %w", short(rev), err)
		}
		rest := blobs
		for _, n := range want {
			// <id> SP blob SP <size> LF <content> LF
			header, body, ok := strings.Cut(rest, "\n")
			f := strings.Fields(header)
			if !ok || len(f) != 3 || f[0] != n.id {
				return nil, fmt.Errorf("reading the files of %s: unexpected git cat-file output %q", short(rev), header)
			}
			size, err := strconv.Atoi(f[2])
			if err != nil || size+1 > len(body) {
				return nil, fmt.Errorf("reading the files of %s: truncated git cat-file output", short(rev))
			}
			n.data, n.loaded = []byte(body[:size]), true
			rest = body[size+1:]
		}
	}
	for _, n := range t.nodes {
		sort.Strings(n.children)
	}
	return t, nil
}

var _ fs.ReadLinkFS = (*treeFS)(nil)

type treeFS struct {
	nodes map[string]*treeNode
}

type treeNode struct {
	name     string
	mode     fs.FileMode
	id       string
	size     int64
	data     []byte
	loaded   bool
	children []string // full names, for directories
}

// add records a file and creates its parent directories.
func (t *treeFS) add(name string, n *treeNode) {
	t.nodes[name] = n
	for {
		dir := path.Dir(name)
		parent, ok := t.nodes[dir]
		if !ok {
			parent = &treeNode{name: path.Base(dir), mode: fs.ModeDir | 0o555}
			t.nodes[dir] = parent
		}
		parent.children = append(parent.children, name)
		if ok || dir == "." {
			return
		}
		name = dir
	}
}

func (t *treeFS) lookup(op, name string) (*treeNode, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n, ok := t.nodes[name]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

func (t *treeFS) Open(name string) (fs.File, error) {
	n, err := t.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.mode.IsDir() {
		entries, _ := t.ReadDir(name)
		return &treeDir{info: info{n}, entries: entries}, nil
	}
	if !n.loaded {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("content not read from git: %w", fs.ErrPermission)}
	}
	return &treeFile{info: info{n}, r: bytes.NewReader(n.data)}, nil
}

func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	n, err := t.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return info{n}, nil
}

// Lstat is Stat: the tree follows no link.
func (t *treeFS) Lstat(name string) (fs.FileInfo, error) { return t.Stat(name) }

// ReadLink returns a symbolic link's target.
func (t *treeFS) ReadLink(name string) (string, error) {
	n, err := t.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	switch {
	case n.mode&fs.ModeSymlink == 0:
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	case !n.loaded:
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("a link of %d bytes is no path: %w", n.size, fs.ErrInvalid)}
	}
	return string(n.data), nil
}

func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := t.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !n.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fmt.Errorf("not a directory")}
	}
	out := make([]fs.DirEntry, len(n.children))
	for i, c := range n.children {
		out[i] = info{t.nodes[c]}
	}
	return out, nil
}

// info is a node's fs.FileInfo and fs.DirEntry.
type info struct{ n *treeNode }

func (i info) Name() string               { return i.n.name }
func (i info) Size() int64                { return i.n.size }
func (i info) Mode() fs.FileMode          { return i.n.mode }
func (i info) ModTime() time.Time         { return time.Time{} }
func (i info) IsDir() bool                { return i.n.mode.IsDir() }
func (i info) Sys() any                   { return nil }
func (i info) Type() fs.FileMode          { return i.n.mode.Type() }
func (i info) Info() (fs.FileInfo, error) { return i, nil }

type treeFile struct {
	info
	r *bytes.Reader
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *treeFile) Close() error               { return nil }

type treeDir struct {
	info
	entries []fs.DirEntry
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.n.name, Err: fmt.Errorf("is a directory")}
}
func (d *treeDir) Close() error { return nil }
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		e := d.entries
		d.entries = nil
		return e, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	e := d.entries[:n]
	d.entries = d.entries[n:]
	return e, nil
}
