package render

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/engine"
)

// openBlocks walks markdown the way a CommonMark renderer finds fences and
// <details> lines, independently of split.go, and reports what is left open
// at the end and whether a </details> ever closed nothing.
func openBlocks(md string) (fenceOpen bool, details int, stray bool) {
	var fenceChar byte
	fenceLen := 0
	for _, line := range strings.Split(md, "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		run := func(c byte) int {
			n := 0
			for n < len(trimmed) && trimmed[n] == c {
				n++
			}
			return n
		}
		if fenceOpen {
			if n := run(fenceChar); indent <= 3 && n >= fenceLen && strings.TrimRight(trimmed[n:], " \t") == "" {
				fenceOpen = false
			}
			continue
		}
		if indent <= 3 && trimmed != "" && (trimmed[0] == '`' || trimmed[0] == '~') {
			c := trimmed[0]
			if n := run(c); n >= 3 && !(c == '`' && strings.Contains(trimmed[n:], "`")) {
				fenceOpen, fenceChar, fenceLen = true, c, n
				continue
			}
		}
		t := strings.ToLower(strings.TrimSpace(line))
		if strings.HasPrefix(t, "<details") || strings.HasPrefix(t, "</details") {
			for _, f := range strings.Split(t, "<details")[1:] {
				if f == "" || f[0] == '>' || f[0] == ' ' || f[0] == '\t' {
					details++
				}
			}
			for range strings.Count(t, "</details>") {
				if details == 0 {
					stray = true
					continue
				}
				details--
			}
		}
	}
	return fenceOpen, details, stray
}

// checkBalanced fails unless md closes every block it opens.
func checkBalanced(t *testing.T, md string) {
	t.Helper()
	if fence, details, stray := openBlocks(md); fence || details != 0 || stray {
		t.Errorf("unbalanced markdown (fence open %v, %d <details> open, stray </details> %v):\n%s", fence, details, stray, md)
	}
}

// longComment is a comment with several projects and big diff blocks.
func longComment(resources int) string {
	var rcs []engine.ResourceChange
	for i := range resources {
		rcs = append(rcs, engine.ResourceChange{
			Address: fmt.Sprintf("module.m%d.terraform_data.node_group[%d]", i%3, i),
			Action:  engine.ActionUpdate,
			Before: map[string]any{"input": map[string]any{
				"desired_size": float64(i), "name": "workers", "labels": []any{"a", "b"},
				"policy": strings.Repeat("x", i*7%300),
			}},
			After: map[string]any{"input": map[string]any{
				"desired_size": float64(i + 1), "name": "workers-" + strings.Repeat("é", i%40), "labels": []any{"a", "c"},
				"policy": strings.Repeat("y", i*7%300) + "```",
			}},
		})
	}
	c := Comment{
		Head: head, Base: base,
		Projects: []ProjectResult{
			{Name: "prod", Dir: "envs/prod", Engine: "terraform", Status: StatusPlanned,
				Plan: &engine.Plan{Summary: engine.Summary{Change: resources}, Resources: rcs,
					Warnings: []string{"Warning: something deprecated"}}},
			{Name: "db", Dir: "envs/db", Engine: "terraform", Status: StatusFailed, Message: "terraform plan failed",
				ErrorLines: strings.Split(strings.Repeat("Error: a long error line that goes on and on\n", 30), "\n")},
			{Name: "app", Dir: "envs/app", Engine: "terraform", Status: StatusApplied,
				Plan:      &engine.Plan{Summary: engine.Summary{Add: 1}},
				ApplyText: strings.Repeat("terraform_data.x: Creating...\n", 40)},
			{Name: "staging", Dir: "envs/staging", Engine: "opentofu", Status: StatusPlanned,
				Plan: &engine.Plan{Summary: engine.Summary{Change: resources}, Resources: rcs}},
		},
	}
	return Markdown(c, nil)
}

// checkSplit asserts Split's invariants for markdown and limit. strict
// means every part must fit (the limit is feasible for the input).
func checkSplit(t *testing.T, markdown string, limit int, strict bool) {
	t.Helper()
	parts := Split(markdown, limit)
	if limit <= 0 || len(markdown) <= limit {
		if len(parts) != 1 || parts[0] != markdown {
			t.Fatalf("text that fits was changed: %q", parts)
		}
		return
	}
	l := layout(markdown, limit)
	if len(l.parts) != len(parts) {
		t.Fatalf("layout has %d parts, Split %d", len(l.parts), len(parts))
	}
	var lines []string
	for i, p := range parts {
		if want := strings.Join(l.lines(i, l.parts[i]), "\n") + "\n"; p != want {
			t.Fatalf("part %d differs from its layout", i+1)
		}
		if len(p) > limit {
			body := l.parts[i].body
			if strict || len(body) != 1 || utf8.RuneCountInString(body[0].text) > 1 {
				t.Fatalf("part %d of %d is %d bytes, over the limit %d:\n%s", i+1, len(parts), len(p), limit, p)
			}
		}
		if fence, details, _ := openBlocks(p); fence || details != 0 {
			t.Fatalf("part %d leaves blocks open (fence %v, details %d):\n%s", i+1, fence, details, p)
		}
		if strict {
			checkBalanced(t, p)
		}
		first, rest, _ := strings.Cut(p, "\n")
		wantMarker := PartMarker(i + 1)
		if i == 0 && !l.marker {
			wantMarker, rest = "", p
		}
		if first != wantMarker && wantMarker != "" {
			t.Fatalf("part %d starts with %q, want %q", i+1, first, wantMarker)
		}
		if header, _, _ := strings.Cut(rest, "\n"); header != partHeader(i+1, len(parts)) {
			t.Fatalf("part %d has header %q", i+1, header)
		}
		for _, pc := range l.parts[i].body {
			if pc.cont {
				if len(lines) == 0 {
					t.Fatalf("part %d starts with a continuation", i+1)
				}
				lines[len(lines)-1] += pc.text
			} else {
				lines = append(lines, pc.text)
			}
		}
	}
	want := strings.Split(strings.TrimSuffix(markdown, "\n"), "\n")
	if l.marker {
		want = want[1:]
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") || len(lines) != len(want) {
		t.Fatalf("parts do not give back the original lines: got %d lines, want %d", len(lines), len(want))
	}
}

func TestSplit(t *testing.T) {
	long := longComment(60)
	checkBalanced(t, long)
	limits := []int{200, 201, 230, 256, 300, 333, 512, 777, 1000, 2048, 4096, 10000, LimitGitHub, len(long) - 1, len(long), LimitGitLab}
	for _, limit := range limits {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			checkSplit(t, long, limit, true)
		})
	}
	if n := len(Split(long, 200)); n < 100 {
		t.Errorf("expected many parts at limit 200, got %d", n)
	}
}

func TestSplitCases(t *testing.T) {
	tests := []struct {
		name  string
		md    string
		limit int
		want  []string // when set, the exact parts
	}{
		{name: "fits", md: "short", limit: 10, want: []string{"short"}},
		{name: "no limit", md: strings.Repeat("x", 100), limit: 0, want: []string{strings.Repeat("x", 100)}},
		{
			name:  "fence reopened",
			md:    Marker + "\n" + "intro\n\n````diff\n" + strings.Repeat("+ line\n", 20) + "````\nafter\n",
			limit: 120,
			want: []string{
				Marker + "\n**Sluice plan (part 1 of 4)**\n\nintro\n\n````diff\n" + strings.Repeat("+ line\n", 6) + "````\n",
				"<!-- sluice:plan part 2 -->\n**Sluice plan (part 2 of 4)**\n\n````diff\n" + strings.Repeat("+ line\n", 6) + "````\n",
				"<!-- sluice:plan part 3 -->\n**Sluice plan (part 3 of 4)**\n\n````diff\n" + strings.Repeat("+ line\n", 6) + "````\n",
				"<!-- sluice:plan part 4 -->\n**Sluice plan (part 4 of 4)**\n\n````diff\n" + strings.Repeat("+ line\n", 2) + "````\nafter\n",
			},
		},
		{
			name:  "details and fence reopened",
			md:    "<details><summary>Show plan</summary>\n\n```text\n" + strings.Repeat("0123456789\n", 12) + "```\n\n</details>\n",
			limit: 180,
			want: []string{
				"**Sluice plan (part 1 of 3)**\n\n<details><summary>Show plan</summary>\n\n```text\n" + strings.Repeat("0123456789\n", 7) + "```\n</details>\n",
				"<!-- sluice:plan part 2 -->\n**Sluice plan (part 2 of 3)**\n\n<details><summary>Show plan (continued)</summary>\n\n```text\n" + strings.Repeat("0123456789\n", 4) + "```\n</details>\n",
				"<!-- sluice:plan part 3 -->\n**Sluice plan (part 3 of 3)**\n\n<details><summary>Show plan (continued)</summary>\n\n```text\n0123456789\n```\n\n</details>\n",
			},
		},
		{
			name:  "table header repeated",
			md:    "| a | b |\n| --- | ---: |\n" + strings.Repeat("| `x` | 1 |\n", 8) + "\nafter\n",
			limit: 110,
			want: []string{
				"**Sluice plan (part 1 of 4)**\n\n| a | b |\n| --- | ---: |\n" + strings.Repeat("| `x` | 1 |\n", 4),
				"<!-- sluice:plan part 2 -->\n**Sluice plan (part 2 of 4)**\n\n| a | b |\n| --- | ---: |\n" + strings.Repeat("| `x` | 1 |\n", 2),
				"<!-- sluice:plan part 3 -->\n**Sluice plan (part 3 of 4)**\n\n| a | b |\n| --- | ---: |\n" + strings.Repeat("| `x` | 1 |\n", 2) + "\n",
				"<!-- sluice:plan part 4 -->\n**Sluice plan (part 4 of 4)**\n\nafter\n",
			},
		},
		{name: "long line hard-split", md: strings.Repeat("é", 500) + "\n", limit: 100},
		{name: "long line in fence", md: "```\n" + strings.Repeat("ab", 300) + "\n```\n", limit: 100},
		{name: "details inside a fence is code", md: "```\n<details>\n" + strings.Repeat("x\n", 100) + "```\n", limit: 100},
		{name: "tilde fence with backticks", md: "~~~ info\n```\n" + strings.Repeat("x\n", 100) + "~~~\n", limit: 100},
		{name: "crlf", md: "```go\r\n" + strings.Repeat("x\r\n", 100) + "```\r\n", limit: 100},
		{name: "nested details", md: "<details><summary>a</summary>\n\n<details><summary>b</summary>\n\n" + strings.Repeat("text\n", 100) + "</details>\n</details>\n", limit: 220},
		{name: "unclosed fence at end", md: "```\n" + strings.Repeat("x\n", 100), limit: 100},
		{name: "many parts need two digits", md: strings.Repeat("line of text\n", 400), limit: 90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want != nil {
				got := Split(tt.md, tt.limit)
				if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") {
					t.Errorf("Split =\n%q\nwant\n%q", got, tt.want)
				}
			}
			checkSplit(t, tt.md, tt.limit, true)
		})
	}
}

// TestSplitTinyLimit checks the documented behaviour when a limit cannot
// hold the header: every line is kept, blocks stay balanced, and parts over
// the limit carry one character.
func TestSplitTinyLimit(t *testing.T) {
	md := "<details><summary>x</summary>\n\n```\n" + strings.Repeat("abc\n", 10) + "```\n</details>\n"
	for _, limit := range []int{1, 20, 60, 80} {
		checkSplit(t, md, limit, false)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add(longComment(3), 200)
	f.Add("<details><summary>a</summary>\n\n```diff\n+ a\n- b\n```\n\n</details>\n"+strings.Repeat("x\n", 50), 150)
	f.Add("~~~~\n```\n<details>\n~~~~\n</details>\n"+strings.Repeat("é", 300), 130)
	f.Add("```\n"+strings.Repeat("`", 200)+"\n", 100)
	f.Add(Marker+"\n</details>\n</details>\n"+strings.Repeat("z", 400), 500)
	f.Fuzz(func(t *testing.T, md string, limit int) {
		if limit < 0 {
			limit = -limit
		}
		limit = 120 + limit%2000
		// Whether every part fits depends on the blocks the input opens;
		// checkSplit then allows only one-character parts over the limit.
		checkSplit(t, md, limit, false)
	})
}
