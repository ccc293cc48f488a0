package render

import (
	"fmt"
	"strings"
)

// What a merge request's comment says first, right under its title
// (Comment.Top): the current truth, where the rest of the comment (a
// checklist of boxes ticked before the merge) or a reply far below it
// would leave readers to piece it together. The replies that notify
// people say the same.

// Unapplied is a project whose changes a merge did not apply.
type Unapplied struct {
	Project string
	// Why are the reasons, plain text.
	Why []string
	// Never: Sluice can never apply it from this merge request (what was
	// merged is not what was planned, no reviewed plan is left, its apply
	// was cancelled).
	Never bool
	// Held: the merge request still holds the project's lock (Sluice
	// released the locks of the projects it refused for good at the merge).
	Held bool
}

// NotApplied says that a merge request was merged into base but Sluice
// did not apply these projects, why, and what to do: for a project it can
// still apply, a `sluice apply` once its checklist passes (or its lock
// released); for one it never can, a plan from a new merge request.
// Names go in code spans, reasons are escaped.
func NotApplied(base string, projects []Unapplied) string {
	if len(projects) == 0 {
		return ""
	}
	var all, later, held, never []string
	for _, p := range projects {
		all = append(all, p.Project)
		switch {
		case !p.Never:
			later = append(later, p.Project)
		case p.Held:
			held = append(held, p.Project)
			never = append(never, p.Project)
		default:
			never = append(never, p.Project)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**Merged, but Sluice did not apply** %s — %s now has changes the infrastructure does not.\n\n", list(all), codeSpan(base))
	for _, p := range projects {
		why := escapeText(strings.Join(p.Why, "; "))
		switch {
		case p.Never && p.Held:
			why = "never from this merge request: " + why
		case p.Never:
			why = "never from this merge request, and its lock was released: " + why
		}
		fmt.Fprintf(&b, "- %s: %s\n", codeSpan(p.Project), why)
	}
	b.WriteString("\nWhat to do:\n")
	if len(later) > 0 {
		fmt.Fprintf(&b, "- %s: once the checklist passes, a person with write access comments `sluice apply` here "+
			"(an eligible reviewer's `sluice apply` counts as their approval). "+
			"Or leave it unapplied here: release the lock with %s and plan it from a new merge request, as below.\n",
			list(later), codeSpan("sluice unlock -p "+strings.Join(later, ",")))
	}
	if len(held) > 0 {
		fmt.Fprintf(&b, "- %s: release the lock with %s, then plan it from a new merge request, as below.\n",
			list(held), codeSpan("sluice unlock -p "+strings.Join(held, ",")))
	}
	plan, lead := later, "To apply"
	if len(never) > 0 {
		plan, lead = never, list(never)+": to apply"
	}
	fmt.Fprintf(&b, "- %s what %s has now, open a new merge request (it need not change the project) and comment %s on it: "+
		"that plan is reviewed and applied like any other.\n", lead, codeSpan(base), codeSpan("sluice plan -p "+strings.Join(plan, ",")))
	return b.String()
}

// MergedElsewhere says that a merge request was merged into base, a
// branch Sluice does not apply from (it applies from branches): nothing of
// it is applied, and it needs a merge request of its own into one of them.
func MergedElsewhere(base string, branches []string) string {
	var quoted []string
	for _, b := range branches {
		quoted = append(quoted, codeSpan(b))
	}
	return fmt.Sprintf("**Merged into %s**, which is not a branch Sluice applies from (%s): nothing was applied, the plans were discarded and the project locks released. "+
		"The change is applied when it reaches %s through a merge request of its own.",
		codeSpan(base), strings.Join(quoted, ", "), strings.Join(quoted, " or "))
}

// Failed says which projects' latest plan, or apply, failed; the
// project's section below has the engine's errors.
func Failed(plans, applies []string) string {
	var lines []string
	if len(plans) > 0 {
		lines = append(lines, fmt.Sprintf("**Plan failed:** %s (the errors are below). Push a fix, or comment `sluice plan` to plan again.", list(plans)))
	}
	if len(applies) > 0 {
		lines = append(lines, fmt.Sprintf("**Apply failed:** %s (see below): check the project's state before anything else.", list(applies)))
	}
	return strings.Join(lines, "\n\n")
}

// list writes project names as code spans, separated by commas.
func list(projects []string) string {
	var out []string
	for _, p := range projects {
		out = append(out, codeSpan(p))
	}
	return strings.Join(out, ", ")
}
