// Package affected decides which projects a change touches, by matching the
// changed paths against every project's when_modified globs.
package affected

import (
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// Project is what the matcher needs to know of a project.
type Project struct {
	Name string
	// Patterns are repository-relative, slash-separated doublestar globs.
	Patterns []string
}

// Match is a project the change touches and the changed paths that made it so.
type Match struct {
	Project string   `json:"project"`
	Paths   []string `json:"paths"`
}

type rule struct {
	project int
	pattern string
}

// Matcher matches changed paths against many projects quickly: each glob is
// indexed by its literal leading directory, so a path is only tested
// against the globs that could match it.
type Matcher struct {
	projects []Project
	byPrefix map[string][]rule
}

// NewMatcher indexes the projects' globs. Projects keep their order in
// the results of Match.
func NewMatcher(projects []Project) (*Matcher, error) {
	m := &Matcher{projects: projects, byPrefix: make(map[string][]rule)}
	for i, p := range projects {
		for _, pat := range p.Patterns {
			if !doublestar.ValidatePattern(pat) {
				return nil, fmt.Errorf("project %s: invalid glob %q", p.Name, pat)
			}
			pre := LiteralPrefix(pat)
			m.byPrefix[pre] = append(m.byPrefix[pre], rule{project: i, pattern: pat})
		}
	}
	return m, nil
}

// LiteralPrefix returns the directory part of a glob before its first
// segment with a wildcard (or an escape); for a glob without wildcards,
// its directory: the directory a glob starts in, where it is indexed and
// whose symbolic links repoconfig resolves.
func LiteralPrefix(pat string) string {
	segs := strings.Split(pat, "/")
	n := 0
	for n < len(segs) && !strings.ContainsAny(segs[n], `*?[{\`) {
		n++
	}
	if n == len(segs) {
		n-- // a literal path: index it under its directory
	}
	return strings.Join(segs[:n], "/")
}

// Match returns the projects touched by the given changed paths, in the
// order the projects were given, each with the paths that matched it.
func (m *Matcher) Match(paths []string) []Match {
	hits := make([][]string, len(m.projects))
	seen := make([]int, len(m.projects)) // last path index+1 that hit the project
	var keys []string
	for pi, p := range paths {
		keys = prefixes(keys[:0], p)
		for _, k := range keys {
			for _, r := range m.byPrefix[k] {
				if seen[r.project] == pi+1 {
					continue
				}
				if ok, _ := doublestar.Match(r.pattern, p); ok {
					seen[r.project] = pi + 1
					hits[r.project] = append(hits[r.project], p)
				}
			}
		}
	}
	var out []Match
	for i, h := range hits {
		if len(h) > 0 {
			out = append(out, Match{Project: m.projects[i].Name, Paths: h})
		}
	}
	return out
}

// prefixes appends "" and every ancestor directory of p, and p itself.
func prefixes(dst []string, p string) []string {
	dst = append(dst, "")
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			dst = append(dst, p[:i])
		}
	}
	return append(dst, p)
}
