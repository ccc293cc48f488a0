// Package render writes the one markdown comment Sluice keeps on a merge
// request: a summary table, then per project the plan as a diff, the
// failure, the skip reason or the apply result. Split cuts that comment into
// parts that fit a forge's size limit without breaking its code blocks.
package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/redact"
)

// Status is where one project of the comment stands.
type Status string

// The statuses a project can have.
const (
	StatusPlanned     Status = "planned"
	StatusNoChanges   Status = "no_changes"
	StatusFailed      Status = "failed"
	StatusSkipped     Status = "skipped"
	StatusApplied     Status = "applied"
	StatusApplyFailed Status = "apply_failed"
	// StatusPending: the plan is queued, waiting for a lock, or running;
	// Message says which.
	StatusPending Status = "pending"
)

// Marker is the first line of every comment Markdown writes (and of the
// first part Split returns); it is how Sluice finds its sticky comment
// again. Later parts start with PartMarker(n).
const Marker = "<!-- sluice:plan -->"

// PartMarker is the first line of part n (counting from 1) of a split
// comment. PartMarker(1) is Marker.
func PartMarker(n int) string {
	if n <= 1 {
		return Marker
	}
	return "<!-- sluice:plan part " + strconv.Itoa(n) + " -->"
}

// Comment size limits of the forges, for Split. GitHub counts characters;
// Split counts bytes, which is never fewer.
const (
	LimitGitHub = 65536
	LimitGitLab = 1000000
)

// ProjectResult is one project's outcome, as the comment shows it.
type ProjectResult struct {
	Name, Dir, Engine, Workspace string

	Status Status
	// Plan is set for planned, no_changes, applied and apply_failed.
	Plan *engine.Plan
	// ErrorLines are the engine's own error lines (colour-free), for failed
	// and apply_failed.
	ErrorLines []string
	// Message is a short human reason: "terraform plan failed",
	// "depends on prod, which failed".
	Message string
	// ApplyText is the tail of the engine's apply output, for applied and
	// apply_failed.
	ApplyText string
	// PlannedAt is the commit the plan shown was made at; when it is not
	// the comment's Head, the project says so (a push Sluice missed, or a
	// plan still to come).
	PlannedAt string
	// ReleaseAndReplan, on a failed apply of a merged merge request
	// (interrupted), says what to do next: release its lock of the
	// project, and plan it from a new merge request (a merged one is never
	// planned again).
	ReleaseAndReplan bool
	// HeldBy is the reference (Ref) of the merge request whose project lock
	// a pending project waits for: written after Message as a reference
	// the forge links, where Message's own are broken.
	HeldBy string
}

// Comment is everything one merge request comment shows.
type Comment struct {
	Head, Base string // commit SHAs; shown in their 7-character short form
	Projects   []ProjectResult
	// Top is optional markdown written first, right under the title: what
	// readers must know before anything else (NotApplied, Failed).
	Top    string
	Footer string // optional markdown, e.g. a link to the run; written last
}

// Markdown renders the comment. Every piece of text that comes from outside
// Sluice (names, values, engine output, messages, the footer) passes through
// r, and through the literals of every project's Plan.Secrets, before it is
// placed and escaped: so secrets are hidden in the whole comment before it
// is split, and a secret that happens to equal a word of the comment's own
// markup (a fence's "diff", the marker's "plan") cannot break that markup.
// r may be nil.
func Markdown(c Comment, r *redact.Redactor) string {
	var secrets []string
	for _, p := range c.Projects {
		if p.Plan != nil {
			secrets = append(secrets, p.Plan.Secrets...)
		}
	}
	own := redact.New(secrets, nil)
	red := func(s string) string { return own.String(r.String(s)) }

	title := "Sluice plan"
	for _, p := range c.Projects {
		if p.Status == StatusApplied || p.Status == StatusApplyFailed {
			title = "Sluice apply"
			break
		}
	}
	blocks := []string{Marker + "\n## " + title}
	if t := strings.TrimSpace(red(c.Top)); t != "" {
		blocks = append(blocks, t)
	}
	if c.Head != "" {
		s := "Commit " + codeSpan(red(gitx.Short(c.Head)))
		if c.Base != "" {
			s += " against base " + codeSpan(red(gitx.Short(c.Base)))
		}
		blocks = append(blocks, s+".")
	}
	if len(c.Projects) == 0 {
		blocks = append(blocks, "No projects are affected by this change.")
	} else {
		blocks = append(blocks, table(c.Projects, red))
		for _, p := range c.Projects {
			blocks = append(blocks, project(p, c.Head, red)...)
		}
	}
	if f := strings.TrimSpace(red(c.Footer)); f != "" {
		blocks = append(blocks, "---", f)
	}
	return strings.Join(blocks, "\n\n") + "\n"
}

// table is the summary table. The Import and Move columns are there only
// when a project of the comment imports or moves resources.
func table(projects []ProjectResult, red func(string) string) string {
	counted := func(p ProjectResult) bool {
		return p.Plan != nil && p.Status != StatusFailed && p.Status != StatusSkipped
	}
	stateColumns := false
	for _, p := range projects {
		if counted(p) && p.Plan.Summary.Import+p.Plan.Summary.Move > 0 {
			stateColumns = true
		}
	}
	var b strings.Builder
	if stateColumns {
		b.WriteString("| Project | Dir | Add | Change | Destroy | Replace | Import | Move | Status |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	} else {
		b.WriteString("| Project | Dir | Add | Change | Destroy | Replace | Status |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | --- |")
	}
	for _, p := range projects {
		n := []string{"-", "-", "-", "-", "-", "-"}
		if counted(p) {
			s := p.Plan.Summary
			for i, c := range []int{s.Add, s.Change, s.Destroy, s.Replace, s.Import, s.Move} {
				n[i] = strconv.Itoa(c)
			}
		} else if p.Status == StatusNoChanges {
			n = []string{"0", "0", "0", "0", "0", "0"}
		}
		if !stateColumns {
			n = n[:4]
		}
		fmt.Fprintf(&b, "\n| %s | %s | %s | %s |",
			cell(red(p.Name)), cell(red(p.Dir)), strings.Join(n, " | "), statusWord(p))
	}
	return b.String()
}

// statusWord is the status as the summary table shows it.
func statusWord(p ProjectResult) string {
	switch p.Status {
	case StatusPlanned:
		if p.Plan != nil && !p.Plan.Changes() {
			return "no changes"
		}
		return "planned"
	case StatusNoChanges:
		return "no changes"
	case StatusFailed:
		return "**failed**"
	case StatusSkipped:
		return "skipped"
	case StatusApplied:
		return "applied"
	case StatusApplyFailed:
		return "**apply failed**"
	case StatusPending:
		return "pending"
	}
	return escapeText(string(p.Status))
}

// project renders one project's section as markdown blocks.
func project(p ProjectResult, head string, red func(string) string) []string {
	heading := "### " + codeSpan(red(p.Name))
	if p.Dir != "" && p.Dir != p.Name {
		heading += " (" + codeSpan(red(p.Dir)) + ")"
	}
	blocks := []string{heading}

	var info []string
	if p.Engine != "" {
		e := escapeText(red(p.Engine))
		if p.Plan != nil && p.Plan.EngineVersion != "" {
			e += " " + escapeText(red(p.Plan.EngineVersion))
		}
		info = append(info, e)
	}
	if p.Workspace != "" && p.Workspace != "default" {
		info = append(info, "workspace "+codeSpan(red(p.Workspace)))
	}
	if len(info) > 0 {
		blocks = append(blocks, strings.Join(info, " · "))
	}
	if p.PlannedAt != "" && head != "" && p.PlannedAt != head && p.Status != StatusPending {
		blocks = append(blocks, "**Planned at "+codeSpan(red(gitx.Short(p.PlannedAt)))+"**, not at the merge request's latest commit "+
			codeSpan(red(gitx.Short(head)))+": comment `sluice plan` to plan it.")
	}

	showErrors := func() {
		if len(p.ErrorLines) > 0 {
			blocks = append(blocks, codeBlock("text", red(strings.Join(p.ErrorLines, "\n"))))
		}
	}
	switch p.Status {
	case StatusFailed:
		blocks = append(blocks, "**Plan failed:** "+orDefault(escapeText(red(p.Message)), "the engine reported an error."))
		showErrors()
	case StatusSkipped:
		blocks = append(blocks, "**Skipped:** "+orDefault(escapeText(red(p.Message)), "not planned."))
	case StatusPending:
		msg := orDefault(escapeText(red(p.Message)), "queued.")
		if refRE.MatchString(p.HeldBy) {
			msg = strings.TrimSuffix(msg, ".") + ", held by " + p.HeldBy
		}
		blocks = append(blocks, "**Pending:** "+msg)
	case StatusApplied:
		s := "**Applied.**"
		if p.Plan != nil {
			s = "**Apply complete:** " + applySummary(p.Plan.Summary) + "."
		}
		blocks = append(blocks, s)
		if m := escapeText(red(p.Message)); m != "" {
			blocks = append(blocks, m)
		}
		if t := strings.TrimRight(red(p.ApplyText), "\n"); t != "" {
			blocks = append(blocks, details("Apply output", codeBlock("text", t)))
		}
		blocks = append(blocks, appliedPlan(p.Plan, red)...)
	case StatusApplyFailed:
		msg := orDefault(escapeText(red(p.Message)), "the engine reported an error.")
		if p.ReleaseAndReplan {
			msg += fmt.Sprintf(" Release this merge request's lock of it (comment %s), then plan it from a new merge request (comment %s on it).",
				codeSpan("sluice unlock -p "+p.Name), codeSpan("sluice plan -p "+p.Name))
		}
		blocks = append(blocks, "**Apply failed:** "+msg)
		showErrors()
		if t := strings.TrimRight(red(p.ApplyText), "\n"); t != "" {
			blocks = append(blocks, "Apply output:", codeBlock("text", t))
		}
		blocks = append(blocks, appliedPlan(p.Plan, red)...)
	default: // planned, no_changes and anything unknown
		blocks = append(blocks, planBlocks(p.Plan, red)...)
	}
	if p.Plan != nil && len(p.Plan.Warnings) > 0 {
		var b strings.Builder
		b.WriteString("**Warnings:**\n")
		for i, w := range p.Plan.Warnings {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString("- " + orDefault(escapeText(red(w)), "(empty warning)"))
		}
		blocks = append(blocks, b.String())
	}
	return blocks
}

// appliedPlan is the reviewed plan an apply applied, collapsed under its
// result: what was reviewed stays beside what was done.
func appliedPlan(plan *engine.Plan, red func(string) string) []string {
	if plan == nil || !plan.Changes() {
		return nil
	}
	if lines := planDiff(plan, red); len(lines) > 0 {
		return []string{details("The plan that was applied ("+PlanSummary(plan.Summary)+")", codeBlock("diff", strings.Join(lines, "\n")))}
	}
	return nil
}

func planBlocks(plan *engine.Plan, red func(string) string) []string {
	if plan == nil || !plan.Changes() {
		return []string{"No changes."}
	}
	s := "**Plan:** " + PlanSummary(plan.Summary) + "."
	if plan.OutputChanges {
		s += " Outputs change."
	}
	blocks := []string{s}
	if lines := planDiff(plan, red); len(lines) > 0 {
		blocks = append(blocks, details("Show plan", codeBlock("diff", strings.Join(lines, "\n"))))
	}
	return blocks
}

// PlanSummary is the plan's counts, phrased as Terraform does (imports
// first, when there are any), plus the replacements and the moves when
// there are any: "1 to import, 0 to add, 1 to change, 0 to destroy, 1 to
// move". The comment, the commit status sluice/plan and the local loop's
// progress all say it in these words.
func PlanSummary(s engine.Summary) string {
	out := fmt.Sprintf("%d to add, %d to change, %d to destroy", s.Add, s.Change, s.Destroy)
	if s.Import > 0 {
		out = fmt.Sprintf("%d to import, ", s.Import) + out
	}
	if s.Replace > 0 {
		out += fmt.Sprintf(", %d to replace", s.Replace)
	}
	if s.Move > 0 {
		out += fmt.Sprintf(", %d to move", s.Move)
	}
	return out
}

func applySummary(s engine.Summary) string {
	out := fmt.Sprintf("%d added, %d changed, %d destroyed", s.Add, s.Change, s.Destroy)
	if s.Import > 0 {
		out = fmt.Sprintf("%d imported, ", s.Import) + out
	}
	if s.Replace > 0 {
		out += fmt.Sprintf(", %d replaced", s.Replace)
	}
	if s.Move > 0 {
		out += fmt.Sprintf(", %d moved", s.Move)
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// details wraps a markdown body in a collapsed <details> block. The
// <details><summary> line stays on one line, which Split relies on to
// reopen the block in the next part.
func details(summary, body string) string {
	return "<details><summary>" + summary + "</summary>\n\n" + body + "\n\n</details>"
}
