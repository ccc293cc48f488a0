// Package docs_test keeps the documentation true to the code: every file,
// Go name and test the docs cite exists, every link between the docs
// leads to a page and a heading that exist, and the import rules drawn in
// docs/architecture.md are the imports the packages have.
package docs_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the module's root, from this package's directory.
const root = "../.."

// notGo are backticked words in the docs that look like Go names but are
// another program's: checking them against the code would fail for
// nothing. Each says whose it is.
var notGo = map[string]string{
	"instanceType": "the sluicetest Pulumi provider's NodeGroup property",
}

// TestDocsCiteWhatExists fails on a file path, a Go name (`pkg.Name`,
// `Type.Method`, a camel-case name) or a test (`TestX`, `BenchmarkX`)
// quoted in the docs that the repository does not have: a map that names
// what is gone sends its reader nowhere.
func TestDocsCiteWhatExists(t *testing.T) {
	code := readCode(t)
	for _, doc := range markdownFiles(t) {
		text := readDoc(t, doc)
		for _, span := range codeSpans(withoutFences(text)) {
			if why := code.check(span.text); why != "" {
				t.Errorf("%s:%d cites `%s`, %s", doc, span.line, span.text, why)
			}
		}
	}
}

// TestDocLinksResolve fails on a link between the docs to a page that does
// not exist or to a heading the page does not have.
func TestDocLinksResolve(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := headingAnchors(readDoc(t, path))
		anchors[path] = a
		return a
	}
	for _, doc := range markdownFiles(t) {
		text := withoutFences(readDoc(t, doc))
		for _, m := range link.FindAllStringSubmatchIndex(text, -1) {
			target := text[m[2]:m[3]]
			at := fmt.Sprintf("%s:%d", doc, lineOf(text, m[0]))
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(doc), file))
			}
			info, err := os.Stat(filepath.Join(root, path))
			if err != nil {
				t.Errorf("%s links to %s, which does not exist", at, target)
				continue
			}
			if anchor == "" {
				continue
			}
			if info.IsDir() || !strings.HasSuffix(path, ".md") {
				t.Errorf("%s links to %s: an anchor in something that is not a page", at, target)
				continue
			}
			if !anchorsOf(path)[anchor] {
				t.Errorf("%s links to %s, but %s has no heading #%s", at, target, path, anchor)
			}
		}
	}
}

// markdownFiles are the docs: README.md and every page under docs/, as
// paths from the root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutFences blanks the fenced code blocks of a page (examples, shell
// sessions, diagrams), keeping its line count: only prose cites.
func withoutFences(text string) string {
	lines := strings.Split(text, "\n")
	fence := ""
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			fence = trimmed[:3]
			lines[i] = ""
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

func lineOf(text string, offset int) int { return 1 + strings.Count(text[:offset], "\n") }

// span is an inline code span and the line it starts on.
type span struct {
	text string
	line int
}

// codeSpans are the inline code spans of markdown text: a run of
// backticks up to the next run of as many, which may wrap across lines.
func codeSpans(text string) []span {
	var spans []span
	for i := 0; i < len(text); {
		if text[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(text) && text[i+n] == '`' {
			n++
		}
		open := strings.Repeat("`", n)
		start := i + n
		end := -1
		for j := start; j < len(text); {
			k := strings.Index(text[j:], open)
			if k < 0 {
				break
			}
			k += j
			m := 0
			for k+m < len(text) && text[k+m] == '`' {
				m++
			}
			if m == n {
				end = k
				break
			}
			j = k + m
		}
		if end < 0 {
			i = start
			continue
		}
		spans = append(spans, span{strings.TrimSpace(text[start:end]), lineOf(text, start)})
		i = end + n
	}
	return spans
}

// headingAnchors are the anchors GitHub gives a page's headings: lower
// case, punctuation dropped, spaces as hyphens, a repeated one numbered.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range strings.Split(withoutFences(text), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// code is what the repository declares, to check the docs against.
type code struct {
	// packages maps a package's name to its directories, from the root.
	packages map[string][]string
	// decls maps a package directory to the names declared in it: its
	// functions, types, variables and constants, and Type.Member for
	// methods, struct fields and interface methods.
	decls map[string]map[string]bool
	// anywhere holds every declared name, Type.Member and bare member
	// name, in any package.
	anywhere map[string]bool
	// types holds every declared type name.
	types map[string]bool
	// tests holds the test, benchmark and fuzz functions.
	tests map[string]bool
	// files holds the base name of every file.
	files map[string]bool
	// literals holds every string literal, where subtests get their names.
	literals map[string]bool
}

func readCode(t *testing.T) *code {
	t.Helper()
	c := &code{
		packages: map[string][]string{},
		decls:    map[string]map[string]bool{},
		anywhere: map[string]bool{},
		types:    map[string]bool{},
		tests:    map[string]bool{},
		files:    map[string]bool{},
		literals: map[string]bool{},
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		c.files[d.Name()] = true
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		dir = filepath.ToSlash(dir)
		name := strings.TrimSuffix(f.Name.Name, "_test")
		if !slices.Contains(c.packages[name], dir) {
			c.packages[name] = append(c.packages[name], dir)
		}
		c.declare(dir, f, strings.HasSuffix(path, "_test.go"))
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil {
					c.literals[v] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// add declares name in dir; a Type.Member is also known by its member's
// name alone (`HandlePlan` for Flow.HandlePlan, `flow.HandlePlan`).
func (c *code) add(dir, name string) {
	if c.decls[dir] == nil {
		c.decls[dir] = map[string]bool{}
	}
	c.decls[dir][name] = true
	c.anywhere[name] = true
	if _, member, ok := strings.Cut(name, "."); ok {
		c.decls[dir][member] = true
		c.anywhere[member] = true
	}
}

func (c *code) declare(dir string, f *ast.File, test bool) {
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				c.add(dir, d.Name.Name)
				if test && testFunc.MatchString(d.Name.Name) {
					c.tests[d.Name.Name] = true
				}
				continue
			}
			c.add(dir, receiver(d.Recv.List[0].Type)+"."+d.Name.Name)
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					c.add(dir, s.Name.Name)
					c.types[s.Name.Name] = true
					c.members(dir, s.Name.Name, s.Type)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						c.add(dir, n.Name)
					}
				}
			}
		}
	}
}

// members declares a type's fields and interface methods as Type.Name.
func (c *code) members(dir, typ string, expr ast.Expr) {
	var fields *ast.FieldList
	switch e := expr.(type) {
	case *ast.StructType:
		fields = e.Fields
	case *ast.InterfaceType:
		fields = e.Methods
	default:
		return
	}
	for _, field := range fields.List {
		for _, n := range field.Names {
			c.add(dir, typ+"."+n.Name)
		}
		if len(field.Names) == 0 { // embedded: its name is its type's
			c.add(dir, typ+"."+receiver(field.Type))
		}
	}
}

// receiver is the type name of a method's receiver or an embedded field.
func receiver(expr ast.Expr) string {
	switch e := expr.(type) {
	case *ast.StarExpr:
		return receiver(e.X)
	case *ast.IndexExpr:
		return receiver(e.X)
	case *ast.IndexListExpr:
		return receiver(e.X)
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.Ident:
		return e.Name
	}
	return ""
}

var (
	testFunc = regexp.MustCompile(`^(Test|Benchmark|Fuzz)([A-Z0-9_]\w*)?$`)
	// A path in the repository: under one of its top directories, or a
	// Go file (flow/run.go, from internal/).
	repoPath = regexp.MustCompile(`^(cmd|internal|scripts|schema|examples|\.ci)/[\w.*/-]*$|^docs/([\w/-]*/|[\w/-]*\.md)$|^[\w./-]+\.go$`)
	// A file name such as terraform.tfstate, not a package's name.
	fileName = regexp.MustCompile(`\.(tf|tfstate|tfvars|tofu|hcl|ya?ml|json|md|lock|plan|key|token|db|sh|txt|pem)$`)
	goName   = regexp.MustCompile(`^[A-Za-z_]\w*(\.[A-Za-z_]\w*){0,2}$`)
	// A camel-case word: a Go name, not an English or YAML one.
	camel = regexp.MustCompile(`^([a-z][a-z0-9]*[A-Z]|[A-Z][a-z0-9]+[A-Z])\w*$`)
)

// check says why a cited code span does not exist, or "" when it does or
// is nothing the repository declares (a command, a setting, a value).
func (c *code) check(span string) string {
	span = strings.TrimSuffix(span, "()")
	if _, ok := notGo[span]; ok {
		return ""
	}
	switch {
	case repoPath.MatchString(span):
		return c.checkPath(span)
	case testFunc.MatchString(strings.SplitN(span, "/", 2)[0]):
		name, sub, _ := strings.Cut(span, "/")
		if !c.tests[name] {
			return fmt.Sprintf("but no _test.go file declares %s", name)
		}
		// A subtest (TestContract/ClaimPlanOnce) is named by a literal.
		for _, part := range strings.Split(sub, "/") {
			if part != "" && !c.literals[part] {
				return fmt.Sprintf("but no subtest of %s is named %q", name, part)
			}
		}
	case goName.MatchString(span):
		return c.checkName(span)
	}
	return ""
}

func (c *code) checkPath(span string) string {
	for _, base := range []string{root, filepath.Join(root, "internal")} {
		if matches, _ := filepath.Glob(filepath.Join(base, strings.TrimSuffix(span, "/"))); len(matches) > 0 {
			return ""
		}
	}
	if !strings.Contains(span, "/") && c.files[span] {
		return ""
	}
	return "but the repository has no such file"
}

func (c *code) checkName(span string) string {
	parts := strings.Split(span, ".")
	if len(parts) == 1 {
		if camel.MatchString(span) && !c.anywhere[span] {
			return "but no package declares it"
		}
		return ""
	}
	if fileName.MatchString(span) {
		return ""
	}
	if dirs, ok := c.packages[parts[0]]; ok {
		member := strings.Join(parts[1:], ".")
		for _, dir := range dirs {
			if c.decls[dir][member] {
				return ""
			}
		}
		return fmt.Sprintf("but package %s (%s) declares no %s", parts[0], strings.Join(dirs, ", "), member)
	}
	// Type.Member, when it reads as Go: an exported type, or a camel-case
	// member (hold.finalOnMerged); lock.released is an audit action.
	goish := unicode.IsUpper(rune(parts[0][0])) || camel.MatchString(parts[len(parts)-1])
	if c.types[parts[0]] && len(parts) == 2 && goish && !c.anywhere[span] {
		return fmt.Sprintf("but type %s has no field or method %s", parts[0], parts[1])
	}
	return ""
}
