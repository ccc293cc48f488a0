package repoconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/internal/suggest"
)

// maxNodes bounds the work of parsing and decoding. yaml.v3 builds a node
// per value, some 250 bytes each, and does not expand aliases in the node
// tree; decoding does, following each alias, so a small file could stand
// for a huge one ("billion laughs"). Both stop at maxNodes values, and a
// real sluice.yaml has a few thousand.
const maxNodes = 100_000

// maxProblems is how many problems a report lists; the rest are counted.
const maxProblems = 100

// parser decodes sluice.yaml from the yaml.v3 node tree, which knows the
// position of every key and value, and validates the result. It collects
// every problem instead of stopping at the first.
type parser struct {
	fsys     fs.FS
	file     string
	problems []Problem
	// values and keys hold the nodes of every decoded value and mapping key
	// by path: "" is the document, then "version", "projects[0].dir",
	// "projects[0].when_modified[1]", "projects[0].apply.mode".
	values map[string]*yaml.Node
	keys   map[string]*yaml.Node
	// bad marks paths whose value had the wrong type, so that validation
	// does not report them a second time.
	bad   map[string]bool
	nodes int
	// more counts the problems beyond maxProblems, not kept.
	more int
}

func newParser(fsys fs.FS, file string) *parser {
	return &parser{
		fsys:   fsys,
		file:   file,
		values: map[string]*yaml.Node{},
		keys:   map[string]*yaml.Node{},
		bad:    map[string]bool{},
	}
}

func (p *parser) addf(line, col int, format string, args ...any) {
	if len(p.problems) == maxProblems {
		p.more++
		return
	}
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.addf(n.Line, n.Column, format, args...)
}

// parse reads the YAML document and returns its root node, or nil after
// reporting a problem.
func (p *parser) parse(data []byte) *yaml.Node {
	if n := separators(data); n > maxNodes {
		p.addf(1, 1, "%s has %d separators (',', ':', '-', '[', '{', '?' and line breaks), more than the %d Sluice reads; a real %s has a few thousand, write it more simply", p.file, n, maxNodes, FileName)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) || err == nil && len(doc.Content) == 0 {
		p.addf(1, 1, "%s is empty; write version: 1 and a projects: list, or delete the file to let Sluice discover projects", p.file)
		return nil
	}
	if err != nil {
		p.syntaxError(data, err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		p.addf(next.Line, next.Column, "a second YAML document starts here; keep a single document (remove the --- line and what follows)")
	case !errors.Is(err, io.EOF):
		p.syntaxError(data, err)
	}
	return doc.Content[0]
}

// separators counts the bytes that can begin a YAML node: each value but
// the first follows one of them (an entry its '-' or ',', a key its line
// break, '{' or ',', a value its ':'), and none begins more than two (a
// mapping and its first key). So a document has at most twice as many
// nodes, plus one, and counting them bounds what parsing it costs before
// it starts. Those in comments and quoted strings count too: the bound
// only gets safer.
func separators(data []byte) int {
	n := 0
	for _, c := range data {
		switch c {
		case ',', ':', '-', '[', '{', '?', '\n':
			n++
		}
	}
	return n
}

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

func isParserError(msg string) bool {
	for _, prefix := range []string{"did not find expected", "found undefined", "found duplicate", "found incompatible"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// position returns the 1-based line and column of a byte offset.
func position(data []byte, off int) (int, int) {
	return bytes.Count(data[:off], []byte("\n")) + 1, off - bytes.LastIndexByte(data[:off], '\n')
}

// syntaxError reports a yaml.v3 parse error. Its messages carry at most a
// line ("yaml: line 3: ..."), so the column is that of the line's first
// non-blank character, unless the message names something to look for (a
// tab, an anchor, a bad byte).
func (p *parser) syntaxError(data []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// yaml.v3 counts lines from 0 in parser errors, from 1 in scanner errors.
		if isParserError(msg) {
			line++
		}
	} else if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		if off := bytes.Index(data, []byte("*"+m[1])); off >= 0 {
			line, col := position(data, off)
			p.addf(line, col, "invalid YAML: %s; %s", msg, syntaxHint(msg))
			return
		}
	} else if off := badByte(data); off >= 0 {
		line, col := position(data, off)
		p.addf(line, col, "invalid YAML: %s; save the file as UTF-8 text without control characters", msg)
		return
	}
	col := firstColumn(data, line)
	if strings.Contains(msg, "tab") {
		line, col = findTab(data, line)
	}
	p.addf(line, col, "invalid YAML: %s; %s", msg, syntaxHint(msg))
}

// findTab returns the position of the first tab in the indentation of a
// line at or after line, where yaml.v3 tends to report tab errors early; or
// the line itself.
func findTab(data []byte, line int) (int, int) {
	for i, l := range bytes.Split(data, []byte("\n")) {
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		if tab := bytes.IndexByte(indent, '\t'); i+1 >= line && tab >= 0 {
			return i + 1, tab + 1
		}
	}
	return line, firstColumn(data, line)
}

func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "tab"):
		return "indent with spaces, not tabs"
	case strings.Contains(msg, "cannot start any token"):
		return "indent with spaces, not tabs, and quote values that start with @ or `"
	case strings.Contains(msg, "mapping values are not allowed"):
		return `quote values that contain ": " (e.g. "a: b"), and check the indentation`
	case strings.Contains(msg, "did not find expected key"), strings.Contains(msg, "block"):
		return "check the indentation: the keys of one mapping must line up"
	case strings.Contains(msg, "anchor"):
		return "define an anchor (&name) before using it (*name)"
	case strings.Contains(msg, "end of stream"), strings.Contains(msg, "expected"):
		return "close every quote and bracket"
	}
	return "fix the YAML syntax near this line"
}

// badByte returns the offset of the first invalid UTF-8 sequence or
// disallowed control character in data, or -1.
func badByte(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return i
		}
		i += size
	}
	return -1
}

// firstColumn returns the column of the first non-blank character of the
// 1-based line in data, or 1.
func firstColumn(data []byte, line int) int {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return 1
	}
	return len(lines[line-1]) - len(bytes.TrimLeft(lines[line-1], " \t")) + 1
}

// loc names a value being decoded.
type loc struct {
	path  string // key into parser.values, e.g. "projects[0].apply.mode"
	key   string // the last key, as written, for examples: "mode"
	keys  string // dotted keys below the owner: "apply.mode"
	owner string // the project it belongs to, e.g. `project "prod"`; "" at the top level
}

// label is how messages name the value: `apply.mode of project "prod"`.
func (l loc) label() string {
	if l.owner == "" {
		return l.keys
	}
	if l.keys == "" {
		return l.owner
	}
	return l.keys + " of " + l.owner
}

// where is how messages name the mapping holding a key.
func (l loc) where() string {
	if l.owner == "" && l.keys == "" {
		return "at the top level"
	}
	return "in " + l.label()
}

func (l loc) field(key string) loc {
	keys := key
	if l.keys != "" {
		keys = l.keys + "." + key
	}
	path := key
	if l.path != "" {
		path = l.path + "." + key
	}
	return loc{path: path, key: key, keys: keys, owner: l.owner}
}

// decodeRoot decodes the document into c. It returns false when decoding
// stopped early, and validation would only add noise.
func (p *parser) decodeRoot(root *yaml.Node, c *Config) bool {
	return p.decode(root, reflect.ValueOf(c).Elem(), loc{}) && p.nodes < maxNodes
}

// decode sets v from n, driven by v's type and the yaml tags of structs.
// It reports a problem and returns false when n does not fit; problems
// inside a mapping or list that fits are reported without failing it.
func (p *parser) decode(n *yaml.Node, v reflect.Value, l loc) bool {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	p.values[l.path] = n
	if p.nodes++; p.nodes == maxNodes {
		p.errorf(n, "%s expands to more than %d values (aliases count each time they are used); write it without so many aliases", p.file, maxNodes)
	}
	if p.nodes >= maxNodes || isNull(n) {
		return true
	}
	ok := true
	switch v.Kind() {
	case reflect.Pointer:
		ptr := reflect.New(v.Type().Elem())
		if p.decode(n, ptr.Elem(), l) {
			v.Set(ptr)
			return true
		}
		return false // reported by the inner decode
	case reflect.Struct:
		ok = p.decodeStruct(n, v, l)
	case reflect.Slice:
		ok = p.decodeSlice(n, v, l)
	case reflect.String:
		if ok = n.Kind == yaml.ScalarNode; ok {
			v.SetString(n.Value)
		}
	case reflect.Int:
		var i int
		if ok = n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && n.Decode(&i) == nil; ok {
			v.SetInt(int64(i))
		}
	case reflect.Bool:
		var b bool
		if ok = n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" && n.Decode(&b) == nil; ok {
			v.SetBool(b)
		}
	default:
		panic("repoconfig: cannot decode into " + v.Type().String())
	}
	if !ok {
		p.bad[l.path] = true
		p.wrongType(n, v.Type(), l)
	}
	return ok
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func (p *parser) decodeStruct(n *yaml.Node, v reflect.Value, l loc) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	fields, names := yamlFields(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		switch {
		case k.ShortTag() == "!!merge":
			p.errorf(k, "merge keys (<<) are not supported; write the keys out (an alias *name may stand for a single value)")
			continue
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, "a key %s is %s; keys are plain words such as name or dir", l.where(), describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, "key %q %s is repeated (first at line %d); keep only one", k.Value, l.where(), first.Line)
			continue
		}
		seen[k.Value] = k
		idx, ok := fields[k.Value]
		if !ok {
			if s, ok := suggest.Closest(k.Value, names); ok {
				p.errorf(k, "unknown key %q %s; did you mean %q?", k.Value, l.where(), s)
			} else {
				p.errorf(k, "unknown key %q %s; the keys here are %s", k.Value, l.where(), strings.Join(names, ", "))
			}
			continue
		}
		fl := l.field(k.Value)
		p.keys[fl.path] = k
		p.decode(val, v.Field(idx), fl)
	}
	return true
}

// yamlFields returns the struct fields by yaml key, and the keys in order.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

func (p *parser) decodeSlice(n *yaml.Node, v reflect.Value, l loc) bool {
	if n.Kind != yaml.SequenceNode {
		return false
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		il := loc{path: fmt.Sprintf("%s[%d]", l.path, i), keys: l.keys + " entry", owner: l.owner}
		if v.Type().Elem() == reflect.TypeFor[Project]() {
			il = loc{path: il.path, owner: projectOwner(item, i)}
		}
		p.decode(item, s.Index(i), il)
	}
	v.Set(s)
	return true
}

// projectOwner names a project in messages by its name, or by its position
// when it has none.
func projectOwner(n *yaml.Node, i int) string {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := n.Content[j], n.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && !isNull(v) && v.Value != "" {
				return fmt.Sprintf("project %q", v.Value)
			}
		}
	}
	return fmt.Sprintf("project #%d", i+1)
}

// wrongType reports that n does not fit t.
func (p *parser) wrongType(n *yaml.Node, t reflect.Type, l loc) {
	if l.path == "" {
		p.errorf(n, "%s must be a mapping, got %s; start it with version: 1 and a projects: list", p.file, describe(n))
		return
	}
	if l.keys == "" {
		p.errorf(n, "%s must be a mapping, got %s; start each project with \"- name: NAME\" and indent its other keys below name", l.label(), describe(n))
		return
	}
	p.errorf(n, "%s must be %s, got %s; %s", l.label(), describeType(t), describe(n), hint(t, l.key, n))
}

// describeType says what a Go type expects, for messages.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Int:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a single value"
	case reflect.Struct:
		return "a mapping"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "a list of mappings"
		}
		return "a list of strings"
	}
	return t.String()
}

// describe says what a node holds, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return n.Value
}

// hint says what to write instead of a value of the wrong type.
func hint(t reflect.Type, key string, n *yaml.Node) string {
	switch t.Kind() {
	case reflect.Pointer:
		return hint(t.Elem(), key, n)
	case reflect.Int:
		return fmt.Sprintf("write a number without quotes, e.g. %s: %s", key, example(key))
	case reflect.Bool:
		return fmt.Sprintf("write %s: true or %s: false", key, key)
	case reflect.String:
		if key == "" { // a list entry
			return "write one value per entry, quoted if it contains \": \""
		}
		return fmt.Sprintf("write one value, e.g. %s: %s", key, example(key))
	case reflect.Struct:
		return fmt.Sprintf("indent its keys below %s:, e.g. %s: %s", key, key, example(key))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return `write each entry on its own line starting with "- ", e.g. "- name: prod"`
		}
		if n.Kind == yaml.ScalarNode {
			return fmt.Sprintf("write a list, even of one entry: %s: [%q]", key, n.Value)
		}
		return fmt.Sprintf("write a list, e.g. %s: [%s]", key, example(key))
	}
	return "see docs/configuration.md"
}

// example returns an example value of a key, for hints.
func example(key string) string {
	switch key {
	case "version", "min":
		return "1"
	case "name":
		return "prod"
	case "dir":
		return "envs/prod"
	case "engine":
		return "terraform"
	case "workspace":
		return "default"
	case "stack":
		return "dev"
	case "mode":
		return "after_merge"
	case "apply":
		return "{mode: before_merge}"
	case "approval":
		return "{min: 2}"
	case "when_modified":
		return `"*.tf", "../modules/**"`
	case "depends_on":
		return "network"
	case "from":
		return `alice, "group:platform"`
	case "policies":
		return "policies/"
	case "masks":
		return `'token-[a-z0-9]+'`
	}
	return "..."
}
