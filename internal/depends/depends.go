// Package depends is what depends_on means once projects are planned: the
// order they go in (Order), and whether a project's apply may go, given
// where the projects it depends on stand (Of), with the reason in words
// (Hold.Why). The local loop (`sluice apply` in a checkout) and the server
// (a merge request's applies) both decide by it, so they refuse for the
// same reasons and say them alike; each tells where a dependency stands
// from its own record, and adds what to do next where it is run.
// It imports no other Sluice package.
package depends

import "fmt"

// Order returns items sorted so that each comes after the items it
// depends on, keeping the given order otherwise: each time, the first
// item left whose dependencies among the items left are all placed goes
// next. A dependency that is not among the items, or an item's on itself,
// does not count. A cycle, which validation rejects, keeps the given
// order for what is left.
func Order[T any](items []T, name func(T) string, deps func(T) []string) []T {
	left := map[string]int{} // items not placed yet, by name
	for _, it := range items {
		left[name(it)]++
	}
	ready := func(it T) bool {
		n := name(it)
		for _, d := range deps(it) {
			if d != n && left[d] > 0 {
				return false
			}
		}
		return true
	}
	out := make([]T, 0, len(items))
	placed := make([]bool, len(items))
	for len(out) < len(items) {
		next := -1
		for i, it := range items {
			if !placed[i] && ready(it) {
				next = i
				break
			}
		}
		if next < 0 { // a cycle
			for i := range items {
				if !placed[i] {
					next = i
					break
				}
			}
		}
		placed[next] = true
		left[name(items[next])]--
		out = append(out, items[next])
	}
	return out
}

// Standing is where a dependency stands, as far as the apply of a project
// that depends on it goes.
type Standing int

const (
	// Ready: nothing of it is left to apply (its plan has no changes, or
	// its apply succeeded without changing an output the project may have
	// read): the project was planned against the state it keeps.
	Ready Standing = iota
	// Coming: the apply at hand applies it first (it is selected with the
	// project, or the same decision gives it an apply run), or its apply
	// is queued or running: the project waits for it.
	Coming
	// Planning: it is still being planned.
	Planning
	// PlanFailed: its latest plan did not succeed.
	PlanFailed
	// NotPlanned: it was not planned with the project (`sluice plan -p`
	// left it out, or a dependency of its own failed).
	NotPlanned
	// Discarded: its latest plan was discarded: no reviewed plan of it is
	// left to apply.
	Discarded
	// NotApplied: it has changes that are not applied, and the apply at
	// hand does not apply them.
	NotApplied
	// ApplyFailed, ApplyInterrupted, ApplyCancelled: its apply did not
	// succeed.
	ApplyFailed
	ApplyInterrupted
	ApplyCancelled
	// OutputsChanged: it was applied after the project was planned, and
	// changed or removed an output it had (engine.Plan.RewritesOutputs):
	// the project's plan may rest on the old one.
	OutputsChanged
)

// Hold is what holds a project's apply back: a dependency, and where it
// stands. The zero Hold holds nothing.
type Hold struct {
	Dep      string
	Standing Standing
	// Detail says more of where Dep stands (why it was not planned),
	// shown in brackets after the reason; may be empty.
	Detail string
}

// Blocks reports whether the project cannot be applied with its plan as
// things stand: it does not merely wait.
func (h Hold) Blocks() bool { return h.Standing != Ready && h.Standing != Coming }

// Waits reports whether the project waits for Dep's apply.
func (h Hold) Waits() bool { return h.Standing == Coming }

// Of is the hold on project's apply from the dependencies in deps (in
// depends_on order, with where each stands): the first that blocks it,
// else the first it waits for, else none. Only the dependencies the
// change affects belong in deps (one planned with the project): one it
// does not affect keeps the state the project was planned against.
func Of(project string, deps []Hold) Hold {
	var wait Hold
	for _, h := range deps {
		if h.Dep == project {
			continue
		}
		if h.Blocks() {
			return h
		}
		if h.Waits() && !wait.Waits() {
			wait = h
		}
	}
	return wait
}

// Why is the reason a blocking hold gives, worded to follow the project's
// name: "app " + Why() reads "app depends on net, whose apply failed". It
// says nothing of what to do next, which depends on where Sluice runs;
// "" for a hold that does not block.
func (h Hold) Why() string {
	d := h.Dep
	var s string
	switch h.Standing {
	case Planning:
		s = fmt.Sprintf("depends on %s, which is still being planned; apply %s first", d, d)
	case PlanFailed:
		s = fmt.Sprintf("depends on %s, whose latest plan did not succeed", d)
	case NotPlanned:
		s = fmt.Sprintf("depends on %s, which was not planned", d)
	case Discarded:
		s = fmt.Sprintf("depends on %s, whose latest plan was discarded, so %s cannot be applied", d, d)
	case NotApplied:
		s = fmt.Sprintf("depends on %s, whose changes are not applied", d)
	case ApplyFailed:
		s = fmt.Sprintf("depends on %s, whose apply failed", d)
	case ApplyInterrupted:
		s = fmt.Sprintf("depends on %s, whose apply was interrupted", d)
	case ApplyCancelled:
		s = fmt.Sprintf("depends on %s, whose apply was cancelled", d)
	case OutputsChanged:
		s = fmt.Sprintf("was planned before %s, which it depends on, changed or removed outputs (%s is applied now), so its plan may rest on the old ones", d, d)
	default:
		return ""
	}
	if h.Detail != "" {
		s += " (" + h.Detail + ")"
	}
	return s
}

// ApplyFirst is what to do about a dependency whose changes are not
// applied (NotApplied) when the apply named projects and left it out.
func ApplyFirst(dep string) string {
	return fmt.Sprintf("apply `%s` first, or add `-p %s`", dep, dep)
}
