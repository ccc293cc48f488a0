package render

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/engine"
)

// The diff shows one line per resource, "SYMBOL ADDRESS (VERB)", then one
// line per attribute, "S     PATH: VALUE" or "S     PATH: OLD -> NEW",
// where S is + for an added, - for a removed and ! for a changed value.
// A resource that is moved or imported says so after its verb ("update
// in-place, moved from ADDRESS"); one that is only moved or imported, with
// no change to the object, has the symbol = and no attribute lines.
// attrIndent lines attributes up under the resource (the widest resource
// symbol, "-/+", plus one space).
const attrIndent = "     "

// planDiff is the content of a plan's ```diff block: resources, then
// output changes.
func planDiff(plan *engine.Plan, red func(string) string) []string {
	var lines []string
	for _, rc := range plan.Resources {
		lines = append(lines, resourceLines(rc, red)...)
	}
	var outs []string
	for _, o := range plan.Outputs {
		outs = append(outs, outputLines(o, red)...)
	}
	if len(outs) > 0 {
		if len(lines) > 0 {
			lines = append(lines, "")
		}
		lines = append(lines, "Changes to Outputs:")
		lines = append(lines, outs...)
	}
	return lines
}

func resourceLines(rc engine.ResourceChange, red func(string) string) []string {
	var sym, verb string
	switch rc.Action {
	case engine.ActionCreate:
		sym, verb = "+", "create"
	case engine.ActionUpdate:
		sym, verb = "!", "update in-place"
	case engine.ActionDelete:
		sym, verb = "-", "destroy"
	case engine.ActionReplace:
		sym, verb = "-/+", "replace"
	case engine.ActionRead:
		sym, verb = "#", "read"
	case engine.ActionNoOp, "":
		if !rc.Moved() && !rc.Import {
			return nil
		}
		// Only the state changes: the object stays as it is.
		sym = "="
	default:
		sym, verb = "!", string(rc.Action)
	}
	notes := []string{}
	if verb != "" {
		notes = append(notes, oneLine(red(verb)))
	}
	// As Terraform words them: "# (moved from terraform_data.a)",
	// "# (imported from "i-123")".
	if rc.Moved() {
		notes = append(notes, "moved from "+oneLine(red(rc.PreviousAddress)))
	}
	if rc.Import {
		if rc.ImportID != "" {
			notes = append(notes, "imported from "+strconv.Quote(red(rc.ImportID)))
		} else {
			notes = append(notes, "imported")
		}
	}
	if rc.Reason != "" {
		notes = append(notes, oneLine(red(strings.ReplaceAll(rc.Reason, "_", " "))))
	}
	lines := []string{sym + " " + oneLine(red(rc.Address)) + " (" + strings.Join(notes, ", ") + ")"}
	switch rc.Action {
	case engine.ActionCreate:
		for _, l := range flatten(rc.After, nil, nil) {
			// Known values only: no nulls, empty collections or values
			// known after apply.
			if l.kind == kindValue || l.kind == kindSensitive {
				lines = append(lines, "+"+attrIndent+l.pathText(red)+": "+l.valueText(red))
			}
		}
	case engine.ActionUpdate:
		lines = append(lines, changeLines(rc.Before, rc.After, nil, red)...)
	case engine.ActionReplace:
		lines = append(lines, changeLines(rc.Before, rc.After, rc.ReplacePaths, red)...)
	}
	return lines
}

func outputLines(o engine.OutputChange, red func(string) string) []string {
	name := []seg{{key: o.Name}}
	nameText := pathString(name, red)
	switch o.Action {
	case engine.ActionCreate:
		if o.Sensitive {
			return []string{"+" + attrIndent + nameText + ": " + engine.SensitiveValue}
		}
		var lines []string
		for _, l := range flatten(o.After, name, nil) {
			lines = append(lines, "+"+attrIndent+l.pathText(red)+": "+l.valueText(red))
		}
		return lines
	case engine.ActionDelete:
		return []string{"-" + attrIndent + nameText}
	case engine.ActionNoOp, engine.ActionRead, "":
		return nil
	}
	if o.Sensitive {
		return []string{"!" + attrIndent + nameText + ": " + engine.SensitiveValue}
	}
	before := flatten(o.Before, name, nil)
	after := flatten(o.After, name, nil)
	lines := diffLines(before, after, nil, red)
	if len(lines) == 0 {
		lines = []string{"!" + attrIndent + nameText}
	}
	return lines
}

// changeLines lists the attributes that differ between before and after.
// forces are the paths that force a replacement; their lines are marked.
func changeLines(before, after any, forces []string, red func(string) string) []string {
	lines := diffLines(flatten(before, nil, nil), flatten(after, nil, nil), forces, red)
	if len(lines) > 0 {
		return lines
	}
	// Nothing visible changes, so a sensitive value does: the model cannot
	// tell which, so name them all, as hidden values.
	for _, l := range flatten(after, nil, nil) {
		if l.kind == kindSensitive {
			lines = append(lines, "!"+attrIndent+l.pathText(red)+": "+engine.SensitiveValue)
		}
	}
	if len(lines) == 0 {
		lines = []string{" " + attrIndent + "# (no visible attribute changes)"}
	}
	return lines
}

func diffLines(before, after []leaf, forces []string, red func(string) string) []string {
	var forced [][]string
	for _, f := range forces {
		forced = append(forced, parsePath(f))
	}
	matched := make([]bool, len(forced))
	isForced := func(p []seg) bool {
		hit := false
		for i, f := range forced {
			if hasPrefix(p, f) {
				matched[i], hit = true, true
			}
		}
		return hit
	}

	before = collapseUnder(before, after)
	old := make(map[string]leaf, len(before))
	for _, l := range before {
		old[l.key()] = l
	}
	cur := make(map[string]leaf, len(after))
	for _, l := range after {
		cur[l.key()] = l
	}
	all := slices.Concat(after, before)
	slices.SortStableFunc(all, func(a, b leaf) int { return comparePaths(a.path, b.path) })

	var lines []string
	for i, l := range all {
		if i > 0 && comparePaths(all[i-1].path, l.path) == 0 {
			continue // present on both sides; handled the first time
		}
		b, inB := old[l.key()]
		a, inA := cur[l.key()]
		var line string
		switch {
		case inB && inA:
			if a.kind == b.kind && a.text == b.text && !isForced(l.path) {
				continue
			}
			line = "!" + attrIndent + l.pathText(red) + ": " + b.valueText(red) + " -> " + a.valueText(red)
		case inA:
			line = "+" + attrIndent + l.pathText(red) + ": " + a.valueText(red)
		default:
			line = "-" + attrIndent + l.pathText(red) + ": " + b.valueText(red)
		}
		if isForced(l.path) {
			line += " # forces replacement"
		}
		lines = append(lines, line)
	}
	// A path that forces the replacement but shows no value of its own (it
	// was absent on both sides, say) is still named.
	for i, f := range forced {
		if !matched[i] && len(f) > 0 {
			lines = append(lines, "!"+attrIndent+oneLine(red(strings.Join(f, ".")))+" # forces replacement")
		}
	}
	return lines
}

// collapseUnder replaces the before-leaves below a path that after holds
// as a whole placeholder (unknown, sensitive or null) by one leaf counting
// them, so `output: (6 values) -> (known after apply)` is one line rather
// than six removals and an addition.
func collapseUnder(before, after []leaf) []leaf {
	var whole [][]seg
	for _, a := range after {
		if a.kind == kindUnknown || a.kind == kindSensitive || a.kind == kindNull {
			whole = append(whole, a.path)
		}
	}
	if len(whole) == 0 {
		return before
	}
	out := make([]leaf, 0, len(before))
	counts := map[int]int{}
	for _, b := range before {
		under := -1
		for i, w := range whole {
			if len(b.path) > len(w) && comparePaths(b.path[:len(w)], w) == 0 {
				under = i
				break
			}
		}
		if under < 0 {
			out = append(out, b)
			continue
		}
		if counts[under] == 0 {
			out = append(out, leaf{path: whole[under], kind: kindValue})
		}
		counts[under]++
	}
	for i := range out {
		for w, n := range counts {
			if out[i].text == "" && out[i].kind == kindValue && comparePaths(out[i].path, whole[w]) == 0 {
				out[i].text = fmt.Sprintf("(%d values)", n)
			}
		}
	}
	return out
}

// kind is what a flattened leaf holds.
type kind int

const (
	kindValue     kind = iota // a known, non-null scalar or non-empty string
	kindNull                  // null
	kindEmpty                 // {} or []
	kindUnknown               // engine.UnknownValue
	kindSensitive             // engine.SensitiveValue
)

// seg is one step of an attribute path: a map key or a list index.
type seg struct {
	key   string
	index int
	isIdx bool
}

// leaf is one scalar of a flattened value, with its path.
type leaf struct {
	path []seg
	kind kind
	text string // raw string for strings; formatted otherwise
	str  bool   // text is a string to quote
}

func (l leaf) key() string { return pathString(l.path, nil) }

func (l leaf) pathText(red func(string) string) string { return pathString(l.path, red) }

// valueText is the leaf as the diff shows it: strings quoted Go-style (so
// a value never spans lines), placeholders bare, the rest as written.
func (l leaf) valueText(red func(string) string) string {
	if l.str {
		return strconv.Quote(red(l.text))
	}
	return oneLine(red(l.text))
}

// flatten lists the scalars of a JSON-like value with their paths, map keys
// in sorted order and list elements in order. An empty map or list is one
// leaf of kind kindEmpty.
func flatten(v any, path []seg, out []leaf) []leaf {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			return append(out, leaf{path: path, kind: kindEmpty, text: "{}"})
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = flatten(v[k], append(slices.Clip(path), seg{key: k}), out)
		}
		return out
	case []any:
		if len(v) == 0 {
			return append(out, leaf{path: path, kind: kindEmpty, text: "[]"})
		}
		for i, e := range v {
			out = flatten(e, append(slices.Clip(path), seg{index: i, isIdx: true}), out)
		}
		return out
	case nil:
		return append(out, leaf{path: path, kind: kindNull, text: "null"})
	case string:
		switch v {
		case engine.UnknownValue:
			return append(out, leaf{path: path, kind: kindUnknown, text: v})
		case engine.SensitiveValue:
			return append(out, leaf{path: path, kind: kindSensitive, text: v})
		}
		return append(out, leaf{path: path, kind: kindValue, text: v, str: true})
	}
	return append(out, leaf{path: path, kind: kindValue, text: scalar(v)})
}

// scalar formats a non-string scalar: numbers as written (integers without
// an exponent), booleans as true/false.
func scalar(v any) string {
	switch v := v.(type) {
	case json.Number:
		return v.String()
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e21 {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return scalar(float64(v))
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

// isIdentifier reports whether a map key reads well after a dot.
func isIdentifier(k string) bool {
	for i, c := range k {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && (c == '-' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return k != ""
}

// pathString writes a path as input.tags.env, list[0] or tags["a.b"].
// red, when not nil, hides secrets in the keys.
func pathString(p []seg, red func(string) string) string {
	var b strings.Builder
	for i, s := range p {
		switch {
		case s.isIdx:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		default:
			k := s.key
			if red != nil {
				k = red(k)
			}
			if isIdentifier(k) {
				if i > 0 {
					b.WriteByte('.')
				}
				b.WriteString(k)
			} else {
				b.WriteString("[" + strconv.Quote(k) + "]")
			}
		}
	}
	return b.String()
}

// comparePaths orders paths step by step, list indices numerically.
func comparePaths(a, b []seg) int {
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		var c int
		switch {
		case x.isIdx && y.isIdx:
			c = cmp.Compare(x.index, y.index)
		case x.isIdx:
			c = -1
		case y.isIdx:
			c = 1
		default:
			c = strings.Compare(x.key, y.key)
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// parsePath reads a path as an engine writes it in ReplacePaths, in any of
// the forms a.b.c, a[0], a["b"] or a.0, into its steps.
func parsePath(s string) []string {
	var steps []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '.':
			i++
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if q := s[i+1:]; strings.HasPrefix(q, `"`) {
				if u, err := strconv.QuotedPrefix(q); err == nil {
					k, _ := strconv.Unquote(u)
					steps = append(steps, k)
					i += 1 + len(u)
					if i < len(s) && s[i] == ']' {
						i++
					}
					continue
				}
			}
			if end < 0 {
				return append(steps, s[i:])
			}
			steps = append(steps, s[i+1:i+end])
			i += end + 1
		default:
			end := strings.IndexAny(s[i:], ".[")
			if end < 0 {
				end = len(s) - i
			}
			steps = append(steps, s[i:i+end])
			i += end
		}
	}
	return steps
}

// hasPrefix reports whether the path p starts with the steps of prefix.
func hasPrefix(p []seg, prefix []string) bool {
	if len(prefix) == 0 || len(prefix) > len(p) {
		return false
	}
	for i, step := range prefix {
		s := p[i]
		if s.isIdx {
			if step != strconv.Itoa(s.index) {
				return false
			}
		} else if step != s.key {
			return false
		}
	}
	return true
}
