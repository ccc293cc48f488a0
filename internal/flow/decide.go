package flow

import (
	"context"
	"slices"

	"github.com/sluicehq/sluice/internal/depends"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/store"
)

// The apply decision: which projects of a merge request an apply request
// gets apply runs for now, and why not the others. It is made in one
// place, decideApplies, whatever asked (the trigger); its callers act on
// the verdicts (create the runs, answer, audit, release locks).

// applyTrigger is what asks for the applies.
type applyTrigger int

const (
	// byRequest: a `sluice apply` comment, or the JSON API, on a forge's
	// merge request, open or merged.
	byRequest applyTrigger = iota
	// byMerge: the merge itself, for the projects that apply after it;
	// the forge's merger asks.
	byMerge
	// ungated: the JSON API on a plain git repository, which has no
	// review: no gate, and the runs wait for (or are cancelled with) the
	// applies of their dependencies (runQueuedApplies).
	ungated
)

// verdict is what one apply decision says of one project.
type verdict struct {
	st projectState
	// apply: the project gets an apply run; approvers are the approvals
	// the gate counted for it.
	apply     bool
	approvers []string
	// why says why the project was refused ("" for one applied).
	why []string
	// final, on a merge: the project can never be applied from this
	// merge request (what was merged is not what was planned, no
	// reviewed plan is left, a dependency never will be).
	final bool
	// stale: a new plan would mend it (the head or the target moved).
	stale bool
	// audit, when not nil, holds the details of the refusal's
	// apply.refused entry (on a merge: one per project).
	audit map[string]any
}

// discardedWhy is why a project whose latest plan was discarded is not
// applied, whatever asks.
const discardedWhy = "its latest plan was discarded (another plan replaced it, or the merge request was closed): there is no reviewed plan to apply"

// modeOf is the apply mode project st was planned with ("" for a plan
// that recorded none: the default).
func modeOf(st projectState) string {
	if r := st.Summary.Rules; r != nil {
		return r.Mode
	}
	return ""
}

// decideApplies decides, for each project of a merge request with
// changes left to apply, in dependency order, whether trigger t gets it an
// apply run now. only names the projects asked for (`-p`; empty: all); g
// is the merge request's gate, nil for an ungated trigger. A project with
// nothing to apply (no plan with changes, its apply made or under way)
// gets no verdict.
func decideApplies(ctx context.Context, g *mrGate, t applyTrigger, states []projectState, only []string, mr *forge.MergeRequest) ([]verdict, error) {
	var (
		out []verdict
		// coming: the projects this decision gives an apply run; a
		// project that depends on one of them waits for its apply.
		coming = map[string]bool{}
		// never: the projects refused for good.
		never = map[string]bool{}
	)
	asked := func(name string) bool { return len(only) == 0 || slices.Contains(only, name) }
	for _, st := range byDependency(states) {
		if !asked(st.Project) {
			continue
		}
		v, ok, err := decideApply(ctx, g, t, st, mr)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if v.apply && t != ungated {
			v = holdApply(v, t, states, coming, never, asked, mr)
		}
		if v.apply {
			coming[st.Project] = true
		}
		if v.final {
			never[st.Project] = true
		}
		out = append(out, v)
	}
	return out, nil
}

// decideApply is a project's verdict as far as its own plan and its gate
// go; ok is false when it has nothing to apply.
func decideApply(ctx context.Context, g *mrGate, t applyTrigger, st projectState, mr *forge.MergeRequest) (verdict, bool, error) {
	v := verdict{st: st}
	if st.Plan == nil || !st.Plan.HasChanges || (st.Apply != nil && st.Apply.State == store.StateSucceeded) {
		return v, false, nil
	}
	mode := gate.ModeRefusal(modeOf(st), t == byMerge, mr != nil && mr.State == forge.MROpen)
	switch t {
	case byMerge:
		if st.Plan.Discarded && st.Apply == nil {
			// An apply run of a discarded plan would only fail.
			return v.refuse([]string{discardedWhy}, true, map[string]any{"plan": st.Plan.ID}), true, nil
		}
		if mode != "" {
			return v.refuse([]string{mode}, false, nil), true, nil
		}
		if st.Apply != nil {
			return v, false, nil
		}
	default:
		if st.Plan.Discarded || st.Apply != nil {
			return v, false, nil
		}
		if t == byRequest && mode != "" {
			return v.refuse([]string{mode}, false, nil), true, nil
		}
	}
	if t == ungated {
		v.apply = true
		return v, true, nil
	}
	res, err := g.evaluate(ctx, st)
	if err != nil {
		return v, false, err
	}
	if !res.OK() {
		why, stale, final := reasons(res)
		v = v.refuse(why, final && t == byMerge, auditOnMerge(t, map[string]any{}))
		v.stale = stale
		return v, true, nil
	}
	v.apply, v.approvers = true, res.Approvers
	return v, true, nil
}

// holdApply refuses the apply of a project the gate passed whose
// dependency is not applied and not coming in this decision: once it is,
// `sluice apply` applies both, in order; unless it never will be.
func holdApply(v verdict, t applyTrigger, states []projectState, coming, never map[string]bool, asked func(string) bool, mr *forge.MergeRequest) verdict {
	h := holdOf(v.st, states, coming)
	if !h.Blocks() {
		return v
	}
	why := h.why(v.st.Project, mr)
	if t == byRequest && h.Standing == depends.NotApplied && !asked(h.Dep) {
		why += ": " + depends.ApplyFirst(h.Dep)
	}
	v.apply, v.approvers = false, nil
	return v.refuse([]string{why}, t == byMerge && h.finalOnMerged(never), auditOnMerge(t, map[string]any{"depends_on": h.Dep}))
}

func (v verdict) refuse(why []string, final bool, audit map[string]any) verdict {
	v.why, v.final, v.audit = why, final, audit
	return v
}

// auditOnMerge is details on a merge, whose refusals are audited one per
// project; a request's are audited once, with its answer.
func auditOnMerge(t applyTrigger, details map[string]any) map[string]any {
	if t == byMerge {
		return details
	}
	return nil
}
