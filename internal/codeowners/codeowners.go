// Package codeowners reads CODEOWNERS files (GitHub, GitLab and Gitea
// share the basic syntax): each line a pattern and its owners, the last
// matching line winning.
package codeowners

import (
	"bufio"
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// Locations returns where a forge (its forge.Forge Name: github, gitlab,
// gitea) looks for the file, in its order: the forge uses the first it
// finds, and so must Sluice, or the owners it asks for would not be the
// forge's.
//
//   - GitHub: .github/CODEOWNERS, CODEOWNERS, docs/CODEOWNERS
//     (docs.github.com, "About code owners", CODEOWNERS file location).
//   - GitLab: CODEOWNERS, docs/CODEOWNERS, .gitlab/CODEOWNERS (GitLab's
//     Gitlab::CodeOwners::FILE_PATHS; gitlab-org/gitlab#366394).
//   - Gitea: CODEOWNERS, docs/CODEOWNERS, .gitea/CODEOWNERS
//     (docs.gitea.com, "Code Owners").
//
// Another name (a plain git repository) gets the root, docs/ and the
// forges' own directories, in that order.
func Locations(forge string) []string {
	switch forge {
	case "github":
		return []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}
	case "gitlab":
		return []string{"CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"}
	case "gitea":
		return []string{"CODEOWNERS", "docs/CODEOWNERS", ".gitea/CODEOWNERS"}
	}
	return []string{"CODEOWNERS", "docs/CODEOWNERS", ".github/CODEOWNERS", ".gitlab/CODEOWNERS", ".gitea/CODEOWNERS"}
}

type rule struct {
	pattern string
	owners  []string
}

// File is a parsed CODEOWNERS file.
type File struct{ rules []rule }

// Parse reads CODEOWNERS text. GitLab sections ([Section]) are read as
// plain rules; comments and blank lines are skipped.
func Parse(text string) *File {
	f := &File{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") || strings.HasPrefix(line, "^[") {
			continue
		}
		fields := strings.Fields(line)
		f.rules = append(f.rules, rule{pattern: fields[0], owners: fields[1:]})
	}
	return f
}

// Owners returns the owners of a repository-relative path: those of the
// last rule that matches it. Owners are returned as written (@user,
// @org/team, email), without the leading @.
func (f *File) Owners(p string) []string {
	if f == nil {
		return nil
	}
	var owners []string
	for _, r := range f.rules {
		if match(r.pattern, p) {
			owners = r.owners
		}
	}
	out := make([]string, 0, len(owners))
	for _, o := range owners {
		out = append(out, strings.TrimPrefix(o, "@"))
	}
	return out
}

// match follows gitignore-style rules: a pattern with a slash (other than
// a trailing one) is anchored at the root; one without matches at any
// depth; a trailing slash or a directory name matches everything below.
func match(pattern, p string) bool {
	anchored := strings.Contains(strings.TrimSuffix(pattern, "/"), "/")
	pat := strings.TrimPrefix(pattern, "/")
	dir := strings.HasSuffix(pat, "/")
	pat = strings.TrimSuffix(pat, "/")
	if !anchored {
		pat = "**/" + pat
	}
	if ok, _ := doublestar.Match(pat, p); ok && !dir {
		return true
	}
	// A directory pattern owns everything below it.
	ok, _ := doublestar.Match(path.Join(pat, "**"), p)
	return ok
}
