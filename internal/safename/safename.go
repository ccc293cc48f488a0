// Package safename decides which names from a repository's sluice.yaml may
// become a path segment or a command-line argument: project names,
// Terraform and OpenTofu workspaces, Pulumi stacks. sluice.yaml's
// validation reports a bad name with its position; the code that turns a
// name into a path (the engines' state directories, the local loop's plan
// files) or an argument (the engine drivers) asks again, so that a name
// that did not come through validation, a stored run, say, cannot leave
// its directory or pass for an option either. It imports no other Sluice
// package.
package safename

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxLen is the longest name: a path segment must stay well under the
// 255 bytes a file name may have, with room for a suffix (NAME.plan).
const MaxLen = 100

// Project checks a project name: letters, digits, '.', '_' and '-',
// starting with a letter or digit.
func Project(s string) error {
	if err := common(s); err != nil {
		return err
	}
	if c := s[0]; !isAlnum(c) {
		return fmt.Errorf("it starts with %q", c)
	}
	return only(s, isProjectChar)
}

// Workspace checks a Terraform or OpenTofu workspace name. Terraform's
// own rule is that a URL path segment leaves the name as it is (letters,
// digits and - . _ ~ $ & + = : @; no '/', no '%', no spaces); Sluice also
// refuses . and .., which Terraform accepts and which, as directories,
// are the workspace's own directory or its parent (the local backend
// keeps a workspace's state in terraform.tfstate.d/NAME), and a leading
// '-', which a command would read as an option.
func Workspace(s string) error {
	if err := common(s); err != nil {
		return err
	}
	if url.PathEscape(s) != s {
		for _, r := range s {
			if url.PathEscape(string(r)) != string(r) {
				return fmt.Errorf("it contains %q; Terraform allows letters, digits and - . _ ~ $ & + = : @, and no / or spaces", r)
			}
		}
	}
	return nil
}

// Stack checks a Pulumi stack name: STACK, ORG/STACK or
// ORG/PROJECT/STACK, each part letters, digits, '-', '_' and '.' (Pulumi's
// rule), and, as for workspaces, no part . or .. or starting with '-'.
func Stack(s string) error {
	if s == "" {
		return errors.New("it is empty")
	}
	parts := strings.Split(s, "/")
	if len(parts) > 3 {
		return fmt.Errorf("it has %d parts; a Pulumi stack is STACK, ORG/STACK or ORG/PROJECT/STACK", len(parts))
	}
	for _, p := range parts {
		if p == "" {
			return errors.New("it has an empty part; a Pulumi stack is STACK, ORG/STACK or ORG/PROJECT/STACK")
		}
		if err := common(p); err != nil {
			if len(parts) > 1 {
				return fmt.Errorf("its part %q: %w", p, err)
			}
			return err
		}
		if err := only(p, isProjectChar); err != nil {
			return fmt.Errorf("%w; Pulumi allows letters, digits, '-', '_' and '.'", err)
		}
	}
	return nil
}

// common is what every name must be to be one path segment and one
// argument.
func common(s string) error {
	switch {
	case s == "":
		return errors.New("it is empty")
	case len(s) > MaxLen:
		return fmt.Errorf("it is longer than %d characters", MaxLen)
	case s == "." || s == "..":
		return fmt.Errorf("%s is a directory's own name for itself or its parent", s)
	case s[0] == '-':
		return errors.New("it starts with '-', which a command would read as an option")
	}
	return nil
}

func only(s string, ok func(byte) bool) error {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			r := []rune(s[i:])[0]
			return fmt.Errorf("it contains %q", r)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isProjectChar(c byte) bool { return isAlnum(c) || c == '.' || c == '_' || c == '-' }

// Segment returns s as a single path segment that stays in its directory
// whatever s holds: s itself when it is a plain name (every valid project
// name and workspace, every stack without a '/'), otherwise s with '/',
// '%', a leading '.' and every character a URL path segment escapes
// written as %XX. Different names give different segments. "" stays ""
// (filepath.Join drops it).
func Segment(s string) string {
	e := url.PathEscape(s)
	if strings.HasPrefix(e, ".") {
		e = "%2E" + e[1:]
	}
	return e
}
