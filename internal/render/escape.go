package render

import (
	"strings"
)

// oneLine turns line breaks into spaces, for text that must stay on one
// line (table cells, headings, list items).
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// codeSpan writes s as inline code, with a backtick delimiter longer than
// any backtick run inside s and padding when s starts or ends with a
// backtick or a space (CommonMark strips one space from each side).
func codeSpan(s string) string {
	s = oneLine(s)
	if s == "" {
		return ""
	}
	delim := strings.Repeat("`", longestRun(s, '`')+1)
	if s[0] == '`' || s[len(s)-1] == '`' || s[0] == ' ' || s[len(s)-1] == ' ' {
		s = " " + s + " "
	}
	return delim + s + delim
}

// cell writes s as inline code inside a table cell, where a pipe ends the
// cell even inside code unless it is escaped.
func cell(s string) string {
	return strings.ReplaceAll(codeSpan(s), "|", `\|`)
}

// textEscaper backslash-escapes the characters that could turn plain text
// into markup: emphasis, code, links, HTML, table pipes, headings,
// strikethrough, entities.
var textEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`<`, `\<`, `>`, `\>`, `|`, `\|`, `#`, `\#`, `~`, `\~`, `&`, `\&`,
)

// escapeText writes s as plain text on one line.
func escapeText(s string) string {
	return textEscaper.Replace(oneLine(strings.TrimSpace(s)))
}

// codeBlock writes body as a fenced code block, with a fence longer than
// any backtick run in body so nothing inside can close it.
func codeBlock(info, body string) string {
	fence := strings.Repeat("`", max(3, longestRun(body, '`')+1))
	return fence + info + "\n" + body + "\n" + fence
}
