package render

import (
	"regexp"
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

// escapeText writes s as plain text on one line. It is what every message,
// warning and checklist line goes through, and those hold text the merge
// request's code controls (a provider's warning, Pulumi's log.warn, an
// engine's error in a message, the names of its checks). Apart from the
// markup, it neutralises what a forge acts on in plain text (no forge does
// inside code spans and code blocks, so codeSpan and codeBlock need none
// of this):
//
//   - bare links (https://..., www....) are written as inline code, so no
//     forge makes them links; they stay readable and can be copied;
//   - @mentions (@user, @org/team, GitLab's @all) get a ZERO WIDTH SPACE
//     (U+200B) after the @, and so do issue references (#12,
//     owner/repo#12) after the #: GitHub, GitLab and Gitea all need the
//     name or number right after the sign, so nobody is notified and no
//     issue gets a cross-reference, while the text reads as written (and
//     copies as written, but for the invisible space). A backslash escape
//     would not do: the forges find mentions in the rendered text, where
//     it is gone. GitLab's merge request references (!12) are left alone:
//     Sluice's own messages name merge requests so ("held by !12").
func escapeText(s string) string {
	s = oneLine(strings.TrimSpace(s))
	var b strings.Builder
	last := 0
	for _, m := range bareLink.FindAllStringIndex(s, -1) {
		start, end := m[0], linkEnd(s[m[0]:m[1]])+m[0]
		b.WriteString(plainText(s[last:start]))
		b.WriteString(codeSpan(s[start:end]))
		last = end
	}
	b.WriteString(plainText(s[last:]))
	return b.String()
}

// bareLink matches what a forge links without link syntax: a URL with a
// scheme (GitLab links any scheme://, GitHub and Gitea http, https and
// ftp) or starting with www. (GitHub's and Gitea's extended autolinks).
// E-mail addresses are mentions as far as escapeText is concerned: the
// ZERO WIDTH SPACE after their @ breaks the autolink too.
var bareLink = regexp.MustCompile(`(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S+`)

// linkEnd is where a bare link ends, without the punctuation after it:
// trailing .,:;!?'"*_~ and closing brackets the link does not open, much
// as the forges' autolinkers end it.
func linkEnd(link string) int {
	end := len(link)
	for end > 0 {
		c := link[end-1]
		switch c {
		case '.', ',', ':', ';', '!', '?', '\'', '"', '*', '_', '~':
			end--
			continue
		case ')', ']', '}', '>':
			open := map[byte]byte{')': '(', ']': '[', '}': '{', '>': '<'}[c]
			if strings.Count(link[:end], string(open)) < strings.Count(link[:end], string(c)) {
				end--
				continue
			}
		}
		break
	}
	return end
}

// zeroWidthSpace goes after the sign of a mention or a reference.
const zeroWidthSpace = "\u200b"

// plainText escapes markup and breaks mentions and references (see
// escapeText).
func plainText(s string) string {
	if strings.ContainsAny(s, "@#") {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteByte(s[i])
			if i+1 == len(s) {
				break
			}
			next := s[i+1]
			switch s[i] {
			case '@':
				if next != ' ' && next != '\t' {
					b.WriteString(zeroWidthSpace)
				}
			case '#':
				if '0' <= next && next <= '9' {
					b.WriteString(zeroWidthSpace)
				}
			}
		}
		s = b.String()
	}
	return textEscaper.Replace(s)
}

// codeBlock writes body as a fenced code block, with a fence longer than
// any backtick run in body so nothing inside can close it.
func codeBlock(info, body string) string {
	fence := strings.Repeat("`", max(3, longestRun(body, '`')+1))
	return fence + info + "\n" + body + "\n" + fence
}
