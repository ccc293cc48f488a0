// Package redact hides secrets in text before it leaves Sluice: in merge
// request comments, logs and stored outputs.
package redact

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask is what every hidden secret is replaced with.
const Mask = "***"

// MinLen is the length in bytes of the shortest literal a Redactor hides.
// Shorter literals ("", "1", "no") are ignored: masking every occurrence of
// them would hide most of the text and protect nothing.
const MinLen = 3

// Redactor hides secrets in text: literal values (such as the values a plan
// marks sensitive) and regular expressions (such as sluice.yaml masks).
//
// Every occurrence of every literal is hidden, including occurrences that
// overlap each other: the matched ranges are merged and each merged range
// becomes one Mask, so no part of an overlapping secret is left visible.
// For each literal the Redactor also hides its Go/JSON-escaped form (as it
// appears inside a quoted string) and, for a multi-line literal, each of its
// lines, because engines print secrets in those forms too.
//
// A nil *Redactor is valid and hides nothing. A Redactor is safe for
// concurrent use.
type Redactor struct {
	patterns []*regexp.Regexp // immutable after New

	mu       sync.Mutex               // serialises Add
	literals atomic.Pointer[[]string] // unique, longest first; replaced, never modified
}

// New returns a Redactor hiding the given literals and every match of the
// given patterns. Literals shorter than MinLen and nil patterns are ignored.
// A pattern with capturing groups hides only what its groups match (so
// `password=(\S+)` keeps "password=" visible); a pattern without groups
// hides its whole match.
func New(literals []string, patterns []*regexp.Regexp) *Redactor {
	r := &Redactor{}
	for _, p := range patterns {
		if p != nil {
			r.patterns = append(r.patterns, p)
		}
	}
	lits := normalise(nil, literals)
	r.literals.Store(&lits)
	return r
}

// Add hides more literals from now on, under the same rules as New. It is
// safe to call while other goroutines call String. Add on a nil Redactor
// does nothing.
func (r *Redactor) Add(literals ...string) {
	if r == nil || len(literals) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var old []string
	if p := r.literals.Load(); p != nil {
		old = *p
	}
	lits := normalise(old, literals)
	r.literals.Store(&lits)
}

// String returns s with every secret replaced by Mask. It returns s itself,
// without allocating, when there is nothing to hide.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	var lits []string
	if p := r.literals.Load(); p != nil {
		lits = *p
	}
	var spans []span
	for _, lit := range lits {
		spans = appendLiteral(spans, s, lit)
	}
	for _, re := range r.patterns {
		spans = appendPattern(spans, s, re)
	}
	if len(spans) == 0 {
		return s
	}
	return mask(s, spans)
}

// span is a byte range [start, end) of the text to hide.
type span struct{ start, end int }

// appendLiteral appends the ranges where lit occurs in s, overlapping
// occurrences included; consecutive overlapping occurrences are merged as
// they are found, so a run like "aaaaaa" for "aaa" costs one span.
func appendLiteral(spans []span, s, lit string) []span {
	first := len(spans)
	for i := 0; i <= len(s)-len(lit); {
		j := strings.Index(s[i:], lit)
		if j < 0 {
			break
		}
		start := i + j
		end := start + len(lit)
		if n := len(spans); n > first && start <= spans[n-1].end {
			spans[n-1].end = end
		} else {
			spans = append(spans, span{start, end})
		}
		i = start + 1
	}
	return spans
}

// appendPattern appends the ranges matched by re, or by its capturing
// groups when it has any. Empty matches hide nothing.
func appendPattern(spans []span, s string, re *regexp.Regexp) []span {
	if re.NumSubexp() == 0 {
		for _, m := range re.FindAllStringIndex(s, -1) {
			if m[1] > m[0] {
				spans = append(spans, span{m[0], m[1]})
			}
		}
		return spans
	}
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		for g := 2; g+1 < len(m); g += 2 {
			if m[g] >= 0 && m[g+1] > m[g] {
				spans = append(spans, span{m[g], m[g+1]})
			}
		}
	}
	return spans
}

// mask replaces the union of spans in s by one Mask per merged range.
// Touching ranges are merged too, so adjacent secrets read as one.
func mask(s string, spans []span) string {
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	var b strings.Builder
	b.Grow(len(s))
	pos := 0 // end of the text already written or hidden
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start <= end; i++ {
			end = max(end, spans[i].end)
		}
		b.WriteString(s[pos:start])
		b.WriteString(Mask)
		pos = end
	}
	b.WriteString(s[pos:])
	return b.String()
}

// normalise returns the literals of old plus the forms of each new literal
// worth hiding, without duplicates, longest first (then in byte order, so
// the result does not depend on the order literals were added in).
func normalise(old, literals []string) []string {
	seen := make(map[string]bool, len(old)+len(literals))
	out := make([]string, 0, len(old)+len(literals))
	add := func(s string) {
		if len(s) >= MinLen && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range old {
		add(s)
	}
	for _, lit := range literals {
		if len(lit) < MinLen {
			continue
		}
		add(lit)
		// The escaped form, as the literal appears inside "..." in engine
		// output, JSON and the rendered plan.
		q := strconv.Quote(lit)
		add(q[1 : len(q)-1])
		// Each line of a multi-line secret (a PEM key, a JSON credential),
		// since engines print long values line by line.
		if strings.Contains(lit, "\n") {
			for line := range strings.SplitSeq(lit, "\n") {
				add(strings.TrimSpace(line))
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}
