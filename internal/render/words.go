package render

import (
	"regexp"
	"strconv"
	"strings"
)

// What a forge calls a merge request. Sluice's texts say "merge request";
// Gitea and GitHub call it a pull request, and their people should read
// their own forge's words.

// Noun is what forgeName calls a merge request: "pull request" on Gitea
// and GitHub, "merge request" on GitLab (and for a plain git repository).
func Noun(forgeName string) string {
	switch forgeName {
	case "gitea", "github":
		return "pull request"
	}
	return "merge request"
}

// Ref is how forgeName writes a reference to merge request n: #n on Gitea
// and GitHub, !n on GitLab (and for a plain git repository).
func Ref(forgeName string, n int64) string {
	switch forgeName {
	case "gitea", "github":
		return "#" + strconv.FormatInt(n, 10)
	}
	return "!" + strconv.FormatInt(n, 10)
}

// refRE matches what Ref writes, and nothing else: HeldBy is written as
// it is.
var refRE = regexp.MustCompile(`^[#!][0-9]+$`)

// Words rewrites Sluice's "merge request" into forgeName's word (Noun) in
// markdown, outside code blocks and code spans: what an engine printed, or
// a command to type, is left as it was.
func Words(markdown, forgeName string) string {
	noun := Noun(forgeName)
	if noun == "merge request" || !strings.Contains(strings.ToLower(markdown), "merge request") {
		return markdown
	}
	lines := strings.SplitAfter(markdown, "\n")
	var st blocks
	for i, l := range lines {
		inFence := st.fence != nil
		st = st.next(strings.TrimSuffix(l, "\n"))
		if inFence || st.fence != nil {
			continue // in a fenced block, or the line that opens one
		}
		lines[i] = outsideSpans(l, func(s string) string {
			s = strings.ReplaceAll(s, "merge request", noun)
			return strings.ReplaceAll(s, "Merge request", strings.ToUpper(noun[:1])+noun[1:])
		})
	}
	return strings.Join(lines, "")
}

// outsideSpans applies f to the parts of line outside its code spans.
func outsideSpans(line string, f func(string) string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(line, '`')
		if i < 0 {
			b.WriteString(f(line))
			return b.String()
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		ticks := line[i : i+n]
		end := strings.Index(line[i+n:], ticks)
		if end < 0 {
			b.WriteString(f(line))
			return b.String()
		}
		b.WriteString(f(line[:i]))
		b.WriteString(line[i : i+n+end+n])
		line = line[i+n+end+n:]
	}
}
