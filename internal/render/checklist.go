package render

import (
	"fmt"
	"strings"
)

// Gate is one project's checklist before apply.
type Gate struct {
	Project string
	Items   []GateItem
	// Notes say where the server's policy overrode the repository's rules.
	Notes []string
}

// GateItem is one line of a checklist.
type GateItem struct {
	Name   string
	OK     bool
	Detail string
}

// Checklist renders the "Before apply" section of the comment (its Footer):
// the checklist of each project with changes left to apply, in the order
// given, and what to do next; merged says the merge request is merged. It
// is "" when no project is left to apply. Names, details and notes are
// plain text, escaped: they hold what the merge request controls (the
// names of its checks, the paths it changes).
func Checklist(gates []Gate, merged bool) string {
	if len(gates) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("#### Before apply\n")
	for _, g := range gates {
		if len(gates) > 1 {
			fmt.Fprintf(&b, "\n`%s`:\n", strings.ReplaceAll(g.Project, "`", ""))
		}
		for _, it := range g.Items {
			mark := "[ ]"
			if it.OK {
				mark = "[x]"
			}
			fmt.Fprintf(&b, "- %s %s — %s\n", mark, escapeText(it.Name), escapeText(it.Detail))
		}
		for _, n := range g.Notes {
			fmt.Fprintf(&b, "- note: %s\n", escapeText(n))
		}
	}
	if merged {
		b.WriteString("\nMerged, not applied: what to do is at the top of this comment.\n")
	} else {
		b.WriteString("\nComment `sluice help` for the commands.\n")
	}
	return b.String()
}
