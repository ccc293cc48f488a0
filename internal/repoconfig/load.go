package repoconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/repofs"
)

// MaxFileSize bounds a configuration file Sluice reads from a repository
// (sluice.yaml, CODEOWNERS): every read of one goes through ReadFile, and
// Parse refuses more, so a large file on any branch costs no more than
// this.
const MaxFileSize = repofs.MaxFileSize

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

// Error is every problem found in a configuration file, in file order:
// the first maxProblems of them, and how many more there are.
type Error struct {
	Problems []Problem
	More     int
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems), len(e.Problems)+1)
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if e.More > 0 {
		lines = append(lines, fmt.Sprintf("%s: %d more problems; fix these first", e.Problems[0].File, e.More))
	}
	return strings.Join(lines, "\n")
}

// Load reads sluice.yaml at the root of fsys (a repository checkout),
// validates it and applies defaults. Without a sluice.yaml it discovers the
// projects (see Discover). Problems in the file are reported as an *Error.
func Load(fsys fs.FS) (*Config, error) {
	data, err := ReadFile(fsys, FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return Discover(fsys)
	}
	if err != nil {
		return nil, err
	}
	return Parse(fsys, FileName, data)
}

// ReadFile reads a configuration file of the repository fsys (through
// repofs.ReadFile: a regular file of at most MaxFileSize). It refuses a
// symbolic link, which the forge does not follow either. A missing file is
// an error wrapping fs.ErrNotExist.
func ReadFile(fsys fs.FS, name string) ([]byte, error) {
	info, err := fs.Lstat(fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", name, err)
	case info.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("reading %s: it is a symbolic link; commit the file itself", name)
	case info.IsDir():
		return nil, fmt.Errorf("reading %s: it is a directory; Sluice expects a file with that name", name)
	}
	return repofs.ReadFile(fsys, name)
}

// Parse parses and validates sluice.yaml content and applies defaults. name
// is used in error messages and as Config.File. fsys is the repository, used
// to check that directories exist and to detect engines; nil skips those
// checks. Problems are reported as an *Error.
func Parse(fsys fs.FS, name string, data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, repofs.TooLarge(name)
	}
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
		return nil, &Error{Problems: p.problems, More: p.more}
	}
	c.File = name
	return &c, nil
}
