package repoconfig

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// maxFileSize bounds how much of sluice.yaml is read; a real one is a few KiB.
const maxFileSize = 1 << 20

// Problem is one thing wrong in a configuration file, with its position.
type Problem struct {
	File string
	Line int
	Col  int
	// Msg says what is wrong and, after "; ", what to write instead.
	Msg string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
}

// Error is every problem found in a configuration file, in file order.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads sluice.yaml at the root of fsys (a repository checkout),
// validates it and applies defaults. Without a sluice.yaml it discovers the
// projects (see Discover). Problems in the file are reported as an *Error.
func Load(fsys fs.FS) (*Config, error) {
	data, err := readFile(fsys, FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return Discover(fsys)
	}
	if err != nil {
		return nil, err
	}
	return Parse(fsys, FileName, data)
}

// readFile reads a regular file, refusing symbolic links (they could point
// outside the repository) and files over maxFileSize.
func readFile(fsys fs.FS, name string) ([]byte, error) {
	info, err := fs.Lstat(fsys, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("reading %s: it is a symbolic link; commit the file itself at the repository root", name)
	case info.IsDir():
		return nil, fmt.Errorf("reading %s: it is a directory; Sluice expects a YAML file with that name at the repository root", name)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("reading %s: not a regular file (%s)", name, info.Mode().Type())
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("reading %s: larger than %d KiB; keep the configuration small", name, maxFileSize>>10)
	}
	return data, nil
}

// Parse parses and validates sluice.yaml content and applies defaults. name
// is used in error messages and as Config.File. fsys is the repository, used
// to check that directories exist and to detect engines; nil skips those
// checks. Problems are reported as an *Error.
func Parse(fsys fs.FS, name string, data []byte) (*Config, error) {
	p := newParser(fsys, name)
	var c Config
	if root := p.parse(data); root != nil && p.decodeRoot(root, &c) {
		p.validate(&c)
	}
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Col - b.Col
		})
		return nil, &Error{Problems: p.problems}
	}
	c.File = name
	return &c, nil
}
