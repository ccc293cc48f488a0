package render

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Split cuts markdown into parts of at most limit bytes each, for forges
// that cap a comment's size. Sizes are counted in bytes, never fewer than
// the characters GitHub counts. markdown that fits (or a limit <= 0) comes
// back unchanged as one part.
//
// Otherwise markdown is cut between lines, and every part starts with a
// marker line (Marker for the first part when markdown starts with it,
// PartMarker(n) for part n > 1) and a header "**Sluice plan (part n of m)**";
// each part ends with a newline. A part never leaves a block open: when a
// cut falls inside a fenced code block, the part closes the fence and the
// next part opens it again with the same fence and info string; the same
// for <details> blocks, which are closed with </details> and reopened as
// <details><summary>… (continued)</summary>. Split recognises CommonMark
// fences and <details> lines outside code (the opening tag at the start of
// its line, with its <summary> on the same line, as Markdown writes them).
//
// A cut inside a table repeats the table's header and delimiter rows at
// the start of the next part, so its rows still render as a table.
//
// A line that does not fit in an otherwise empty part is cut into pieces
// (at UTF-8 boundaries), which changes the text where it is cut; so does
// a reopened block when little room is left: the summary becomes just
// "(continued)", then the fence loses its info string and the table its
// repeated header.
//
// The limit is always kept as long as it leaves room for the header, the
// lines that close and reopen the blocks open at a cut, and one character:
// about 200 bytes for what Markdown writes. Below that, Split still keeps
// every line and every block balanced, and a part that cannot hold even
// one character more than its header carries exactly one character and
// exceeds the limit.
func Split(markdown string, limit int) []string {
	if limit <= 0 || len(markdown) <= limit {
		return []string{markdown}
	}
	l := layout(markdown, limit)
	out := make([]string, len(l.parts))
	for i, p := range l.parts {
		out[i] = strings.Join(l.lines(i, p), "\n") + "\n"
	}
	return out
}

// piece is one line of a part's body: a whole line of the input, or a
// piece of a line too long to fit (cont marks all pieces but the first).
type piece struct {
	text string
	cont bool
}

// part is one part of a split comment, before its header is written.
type part struct {
	reopen []string // lines that reopen the blocks open at the cut
	body   []piece  // the input's lines
	tail   []string // lines that close the blocks open at the end
}

// splitLayout is the result of splitting, for Split and its tests.
type splitLayout struct {
	parts  []part
	marker bool // the input starts with Marker, which the first part keeps
}

// lines is part i with its header.
func (l splitLayout) lines(i int, p part) []string {
	var out []string
	switch {
	case i > 0:
		out = append(out, PartMarker(i+1))
	case l.marker:
		out = append(out, Marker)
	}
	out = append(out, partHeader(i+1, len(l.parts)), "")
	out = append(out, p.reopen...)
	for _, pc := range p.body {
		out = append(out, pc.text)
	}
	return append(out, p.tail...)
}

func partHeader(n, total int) string {
	return "**Sluice plan (part " + strconv.Itoa(n) + " of " + strconv.Itoa(total) + ")**"
}

// layout splits markdown, numbering the parts with as many digits as the
// part count needs.
func layout(markdown string, limit int) splitLayout {
	lines := strings.Split(strings.TrimSuffix(markdown, "\n"), "\n")
	l := splitLayout{}
	if lines[0] == Marker {
		l.marker = true
		lines = lines[1:]
	}
	for digits := 1; ; digits++ {
		l.parts = splitLines(lines, limit, digits, l.marker)
		if len(strconv.Itoa(len(l.parts))) <= digits {
			return l
		}
	}
}

// headLen is the size of a part's marker, header and blank line when the
// part numbers have at most digits digits.
func headLen(first, marker bool, digits int) int {
	n := len(partHeader(0, 0)) - 2 + 2*digits + 1 + 1 // header, newline, blank line
	switch {
	case !first:
		n += len(PartMarker(2)) - 1 + digits + 1
	case marker:
		n += len(Marker) + 1
	}
	return n
}

// splitLines fills parts line by line. used counts the bytes of the part
// so far; a line goes in when it fits together with the lines that would
// then be needed to close the part.
func splitLines(lines []string, limit, digits int, marker bool) []part {
	var (
		parts []part
		cur   part
		used  int
		st    blocks
	)
	start := func() {
		head := headLen(len(parts) == 0, marker, digits)
		cur = part{reopen: st.reopen(limit - head)}
		used = head + size(cur.reopen)
	}
	start()
	for _, line := range lines {
		rest, cont := line, false
		for {
			next := st.next(rest)
			if used+len(rest)+1+next.tailLen() <= limit {
				cur.body = append(cur.body, piece{rest, cont})
				used += len(rest) + 1
				st = next
				break
			}
			if len(cur.body) > 0 {
				cur.tail = st.tail()
				parts = append(parts, cur)
				start()
				continue
			}
			// The line does not fit in an empty part: cut it.
			cut := hardCut(rest, st, limit-used)
			cur.body = append(cur.body, piece{rest[:cut], cont})
			used += cut + 1
			st = st.next(rest[:cut])
			if cut >= len(rest) {
				break
			}
			rest, cont = rest[cut:], true
		}
	}
	cur.tail = st.tail()
	return append(parts, cur)
}

// size is the bytes lines take, newlines included.
func size(lines []string) int {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	return n
}

// hardCut is where to cut s, which does not fit in room bytes: the longest
// prefix that fits with its newline and closing lines, at a UTF-8 boundary,
// moved back a little when that keeps the rest from starting like a fence
// or a tag. When not even one character fits it returns the first
// character (or all of an empty s), and the part exceeds the limit.
func hardCut(s string, st blocks, room int) int {
	fits := func(c int) bool { return c+1+st.next(s[:c]).tailLen() <= room }
	cut := min(len(s)-1, room-1-st.tailLen())
	for cut > 0 {
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 || fits(cut) {
			break
		}
		cut--
	}
	if cut <= 0 {
		if s == "" {
			return 0
		}
		_, n := utf8.DecodeRuneInString(s)
		return n
	}
	for c := cut; c > 0 && c > cut-16; c-- {
		if utf8.RuneStart(s[c]) && !looksLikeBlock(s[c:]) && fits(c) {
			return c
		}
	}
	return cut
}

// looksLikeBlock reports whether a line starting with s might open or close
// a fence or a <details> block.
func looksLikeBlock(s string) bool {
	t := strings.TrimLeft(s, " ")
	return t != "" && (t[0] == '`' || t[0] == '~' || t[0] == '<')
}

// fence is an open fenced code block.
type fence struct {
	line   string // the opening line
	indent string
	char   byte // ` or ~
	n      int  // fence length
}

// blocks is what is open after a line: <details> blocks (their opening
// lines, outermost first) and inside them at most one fence or table. It
// is a value; next never modifies the receiver's slice.
type blocks struct {
	details []string
	fence   *fence
	table   []string // header and delimiter rows of an open table
	prev    string   // the previous line, when it may head a table
}

// next is the state after line.
func (b blocks) next(line string) blocks {
	line = strings.TrimSuffix(line, "\r")
	if b.fence != nil {
		if closesFence(b.fence, line) {
			b.fence = nil
		}
		return b
	}
	prev := b.prev
	b.prev = ""
	if f, ok := opensFence(line); ok {
		b.fence, b.table = f, nil
		return b
	}
	switch d := detailsDelta(line); {
	case d > 0:
		b.details = slices.Clip(b.details)
		for range d {
			b.details = append(b.details, line)
		}
		b.table = nil
		return b
	case d < 0:
		b.details = b.details[:max(0, len(b.details)+d)]
		b.table = nil
		return b
	}
	switch {
	case strings.TrimSpace(line) == "":
		b.table = nil
	case b.table != nil: // a row
	case strings.Contains(prev, "|") && isDelimiterRow(line):
		b.table = []string{prev, line}
	case strings.Contains(line, "|"):
		b.prev = line
	}
	return b
}

// isDelimiterRow reports whether line is a table's delimiter row, such as
// "| --- | ---: |".
func isDelimiterRow(line string) bool {
	t := strings.TrimSpace(line)
	if !strings.Contains(t, "|") {
		return false
	}
	t = strings.TrimSuffix(strings.TrimPrefix(t, "|"), "|")
	for c := range strings.SplitSeq(t, "|") {
		c = strings.TrimSpace(c)
		c = strings.TrimSuffix(strings.TrimPrefix(c, ":"), ":")
		if c == "" || strings.Trim(c, "-") != "" {
			return false
		}
	}
	return true
}

// tail is the lines that close every open block.
func (b blocks) tail() []string {
	var out []string
	if b.fence != nil {
		out = append(out, strings.Repeat(string(b.fence.char), b.fence.n))
	}
	for range b.details {
		out = append(out, "</details>")
	}
	return out
}

func (b blocks) tailLen() int {
	n := len(b.details) * len("</details>\n")
	if b.fence != nil {
		n += b.fence.n + 1
	}
	return n
}

// reopen is the lines that open again the blocks open at a cut, at the
// start of the next part. It takes the fullest form that leaves at least a
// quarter of the part for content, else the shortest.
func (b blocks) reopen(room int) []string {
	var lines []string
	for form := range 3 {
		lines = lines[:0]
		for _, d := range b.details {
			summary := "(continued)"
			if s, ok := summaryOf(d); ok && form == 0 {
				summary = s + " (continued)"
			}
			lines = append(lines, "<details><summary>"+summary+"</summary>")
		}
		if len(b.details) > 0 {
			lines = append(lines, "") // markdown inside <details> needs a blank line
		}
		if f := b.fence; f != nil {
			if form < 2 {
				lines = append(lines, f.line)
			} else {
				lines = append(lines, f.indent+strings.Repeat(string(f.char), f.n))
			}
		}
		if form < 2 {
			lines = append(lines, b.table...)
		}
		if room-size(lines)-b.tailLen() >= room/4 {
			break
		}
	}
	return lines
}

// summaryOf is the text of the <summary> on a <details> line, when it is
// plain enough to repeat.
func summaryOf(line string) (string, bool) {
	_, after, ok := strings.Cut(line, "<summary>")
	if !ok {
		return "", false
	}
	s, _, ok := strings.Cut(after, "</summary>")
	if !ok || strings.Contains(strings.ToLower(s), "details") {
		return "", false
	}
	return s, true
}

// opensFence reports whether line opens a fenced code block: up to three
// spaces, then three or more backticks (with no backtick after them) or
// tildes.
func opensFence(line string) (*fence, bool) {
	i := 0
	for i < len(line) && i < 3 && line[i] == ' ' {
		i++
	}
	if i >= len(line) || (line[i] != '`' && line[i] != '~') {
		return nil, false
	}
	c := line[i]
	j := i
	for j < len(line) && line[j] == c {
		j++
	}
	if j-i < 3 || (c == '`' && strings.IndexByte(line[j:], '`') >= 0) {
		return nil, false
	}
	return &fence{line: line, indent: line[:i], char: c, n: j - i}, true
}

// closesFence reports whether line closes f: up to three spaces, at least
// as many of the same character, then only spaces or tabs.
func closesFence(f *fence, line string) bool {
	i := 0
	for i < len(line) && i < 3 && line[i] == ' ' {
		i++
	}
	j := i
	for j < len(line) && line[j] == f.char {
		j++
	}
	return j-i >= f.n && strings.Trim(line[j:], " \t") == ""
}

// detailsDelta is how many <details> blocks a line outside code opens
// (positive) or closes (negative); only lines starting with a <details> or
// </details> tag count.
func detailsDelta(line string) int {
	t := strings.ToLower(strings.TrimSpace(line))
	if !strings.HasPrefix(t, "<details") && !strings.HasPrefix(t, "</details") {
		return 0
	}
	opens := 0
	for rest := t; ; {
		i := strings.Index(rest, "<details")
		if i < 0 {
			break
		}
		rest = rest[i+len("<details"):]
		if rest == "" || rest[0] == '>' || rest[0] == ' ' || rest[0] == '\t' {
			opens++
		}
	}
	return opens - strings.Count(t, "</details>")
}
