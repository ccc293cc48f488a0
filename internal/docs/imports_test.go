package docs_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The import rules are written once, in docs/architecture.md, as a fenced
// block of the language "imports":
//
//	flow -> affected, codeowners, engine, ...
//	forge/gitea, forge/github, forge/gitlab -> forge
//	gitx, queue, redact -> nothing
//
// A package is named by its path under internal/ (cmd/... from the
// module's root); a line that starts with a space continues the one
// before it. Each package may import only the packages of its module
// listed for it, and imports every one of them: the block is the picture
// of the code, so it must be neither stricter nor looser than the code.
const rulesDoc = "docs/architecture.md"

// TestImportsFollowTheMap fails when a package of the module imports one
// the map does not list for it, lists one it does not import, or has no
// line at all (a new package is drawn on the map when it is added).
// Test files are not held to it: tests may use whatever they need.
func TestImportsFollowTheMap(t *testing.T) {
	rules, err := importRules(readDoc(t, rulesDoc))
	if err != nil {
		t.Fatalf("%s: %v", rulesDoc, err)
	}
	pkgs := listPackages(t)
	for _, p := range pkgs {
		allowed, ok := rules[p.name]
		if !ok {
			t.Errorf("%s has no import rule: add a line `%s -> ...` (or `%s -> nothing`) naming the packages it may import to the imports block of %s",
				full(p.name), p.name, p.name, rulesDoc)
			continue
		}
		for _, imp := range p.imports {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s, which the rule `%s` in %s does not allow: depend on it through an interface (as flow does on the store and forges), or, if the layering is meant to change, add it to the rule",
					full(p.name), full(imp), rule(p.name, allowed), rulesDoc)
			}
		}
		for _, a := range allowed {
			if !slices.Contains(p.imports, a) {
				t.Errorf("the rule `%s` in %s lists %s, which %s does not import: remove it, so the map shows the code as it is",
					rule(p.name, allowed), rulesDoc, a, full(p.name))
			}
		}
	}
	for name := range rules {
		if !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.name == name }) {
			t.Errorf("%s has an import rule for %s, which is not a package of the module (or has only tests): remove the line", rulesDoc, name)
		}
	}
}

// full is a package's path in the module, from the name the rules use.
func full(name string) string {
	if strings.HasPrefix(name, "cmd/") {
		return name
	}
	return "internal/" + name
}

func rule(name string, allowed []string) string {
	if len(allowed) == 0 {
		return name + " -> nothing"
	}
	return name + " -> " + strings.Join(allowed, ", ")
}

// importRules reads the imports block of a page: each package's allowed
// imports, by the names the block uses.
func importRules(doc string) (map[string][]string, error) {
	var lines []string
	in, found := false, false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !in && strings.TrimSpace(line) == "```imports":
			in, found = true, true
		case in && strings.TrimSpace(line) == "```":
			in = false
		case in && strings.TrimSpace(line) == "":
		case in && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
			if len(lines) == 0 {
				return nil, fmt.Errorf("line %d of the imports block continues nothing", n)
			}
			lines[len(lines)-1] += " " + strings.TrimSpace(line)
		case in:
			lines = append(lines, line)
		}
	}
	if !found || in {
		return nil, fmt.Errorf("no closed ```imports block: the import rules are drawn there")
	}
	rules := map[string][]string{}
	for _, line := range lines {
		left, right, ok := strings.Cut(line, "->")
		if !ok {
			return nil, fmt.Errorf("import rule %q has no ->: write `PKG -> PKG, PKG` or `PKG -> nothing`", line)
		}
		allowed := names(right)
		if strings.TrimSpace(right) == "nothing" {
			allowed = []string{}
		}
		for _, name := range names(left) {
			if _, dup := rules[name]; dup {
				return nil, fmt.Errorf("%s has two import rules: keep one", name)
			}
			rules[name] = allowed
		}
	}
	return rules, nil
}

func names(list string) []string {
	var out []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// pkg is a package of the module with its imports of the module's other
// packages, named as the rules name them.
type pkg struct {
	name    string
	imports []string
}

// listPackages asks go list for the module's packages that have non-test
// files, and their imports.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	module := modulePath(t)
	cmd := exec.Command(goTool(), "list", "-json=ImportPath,Imports,GoFiles", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	short := func(path string) (string, bool) {
		rel, ok := strings.CutPrefix(path, module+"/")
		if !ok {
			return "", false
		}
		if name, ok := strings.CutPrefix(rel, "internal/"); ok {
			return name, true
		}
		return rel, true
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			GoFiles    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list: %v", err)
		}
		if len(p.GoFiles) == 0 {
			continue
		}
		name, _ := short(p.ImportPath)
		got := pkg{name: name, imports: []string{}}
		for _, imp := range p.Imports {
			if n, ok := short(imp); ok {
				got.imports = append(got.imports, n)
			}
		}
		slices.Sort(got.imports)
		pkgs = append(pkgs, got)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

func modulePath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if path, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(path)
		}
	}
	t.Fatal("go.mod names no module")
	return ""
}

// goTool is the go command that runs this test, else the one on PATH.
func goTool() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if path := filepath.Join(goroot, "bin", "go"); fileExists(path) {
			return path
		}
	}
	return "go"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
