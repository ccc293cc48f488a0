package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/store"
)

// The apply runs of a merge request keep to depends_on: a project's apply
// starts only once the applies of the projects it depends on, in the same
// merge request, have succeeded. A decision (a merge, a `sluice apply`)
// creates every apply run it allows at once, and runQueuedApplies enqueues those
// that wait for nothing; each apply that ends calls runQueuedApplies again, which
// enqueues the runs now free to go and cancels, with the reason, those
// that never can (a dependency's apply failed). A run that waits has no
// job, only its row in the store, so nothing is lost when the server
// dies: Recover calls runQueuedApplies for every merge request with a queued apply
// run.

// holdKind is why a project's apply may not start now.
type holdKind int

const (
	holdNone holdKind = iota
	// holdWait: a dependency's apply is queued or running (or is being
	// created by the decision at hand); the run waits for it.
	holdWait
	holdPlanning
	holdPlanFailed
	holdDiscarded
	holdNotApplied
	holdApplyFailed
	holdInterrupted
	holdCancelled
	// holdOutputs: the dependency, applied now, changed or removed an
	// output, and the project was planned before: its plan may rest on
	// the old value.
	holdOutputs
)

// hold is what holds a project's apply back, and which dependency does.
type hold struct {
	kind holdKind
	dep  string
}

// blocks reports whether the project can never be applied with its plan
// as things stand (it does not merely wait).
func (h hold) blocks() bool { return h.kind != holdNone && h.kind != holdWait }

// finalOnMerged reports whether the hold can never lift on a merged merge
// request, which is never planned again: what the dependency needed is
// gone for good (its plan failed or was discarded, its apply failed or
// was cancelled, its outputs changed under the project's plan), or the
// dependency itself is never to be applied from it (never).
func (h hold) finalOnMerged(never map[string]bool) bool {
	switch h.kind {
	case holdPlanFailed, holdDiscarded, holdApplyFailed, holdInterrupted, holdCancelled, holdOutputs:
		return true
	case holdNotApplied:
		return never[h.dep]
	}
	return false
}

// dependsOn is a project's depends_on as sluice.yaml had it when the
// project was planned.
func dependsOn(st projectState) []string {
	if r := st.Summary.Rules; r != nil {
		return r.DependsOn
	}
	return nil
}

// holdOf says whether project st of a merge request may be applied now,
// as far as the projects it depends on go. Only dependencies the merge
// request affects count (those with a plan run in states), as in the
// local loop: one it does not affect keeps the state st was planned
// against. coming names the projects whose apply run the decision at hand
// is creating. A blocking dependency wins over one to wait for.
func holdOf(st projectState, states []projectState, coming map[string]bool) hold {
	var wait hold
	for _, dep := range dependsOn(st) {
		if dep == st.Project {
			continue
		}
		for _, ds := range states {
			if ds.Project != dep {
				continue
			}
			h := depHold(st, ds, coming)
			if h.blocks() {
				return h
			}
			if h.kind == holdWait && wait.kind == holdNone {
				wait = h
			}
		}
	}
	return wait
}

// depHold is what dependency ds means for the apply of st.
func depHold(st, ds projectState, coming map[string]bool) hold {
	h := hold{dep: ds.Project}
	switch ds.PlanRun.State {
	case store.StateSucceeded:
	case store.StateQueued, store.StateRunning:
		h.kind = holdPlanning
		return h
	default:
		h.kind = holdPlanFailed
		return h
	}
	// An apply of the dependency in this merge request that changed or
	// removed outputs after st was planned holds st back, whichever plan
	// it applied and whatever the dependency's latest plan is (planned
	// again, it may have nothing left to apply): st's plan may rest on
	// the old outputs.
	if at := ds.OutputsChangedAt; at != nil && !plannedAfter(st, *at) {
		h.kind = holdOutputs
		return h
	}
	if ds.Plan == nil || !ds.Plan.HasChanges {
		return hold{} // nothing to apply: st saw its state as it stays
	}
	if a := ds.Apply; a != nil {
		switch a.State {
		case store.StateSucceeded:
			return hold{} // its outputs are as st read them (checked above)
		case store.StateQueued, store.StateRunning:
			h.kind = holdWait
		case store.StateFailed:
			h.kind = holdApplyFailed
		case store.StateInterrupted:
			h.kind = holdInterrupted
		default:
			h.kind = holdCancelled
		}
		return h
	}
	switch {
	case ds.Plan.Discarded:
		h.kind = holdDiscarded
	case coming[ds.Project]:
		h.kind = holdWait
	default:
		h.kind = holdNotApplied
	}
	return h
}

// outputsChanged reports whether a stored plan changes or removes an
// output its project had (engine.Plan.RewritesOutputs, the local loop's
// rule too).
func outputsChanged(p store.Plan) bool {
	var plan struct {
		Outputs []engine.OutputChange `json:"outputs"`
	}
	if err := json.Unmarshal(p.Normalized, &plan); err != nil {
		return true // unreadable: assume the worst
	}
	return (&engine.Plan{Outputs: plan.Outputs}).RewritesOutputs()
}

// plannedAfter reports whether st's plan run began after an apply that
// ended at ended, so it read the state that apply left.
func plannedAfter(st projectState, ended time.Time) bool {
	s := st.PlanRun.StartedAt
	return s != nil && s.After(ended)
}

// why says why project was not applied, for the reply, the audit log and
// the comment. mr is the merge request as the forge has it now (nil for a
// plain git repository): what to do next depends on whether it is
// merged.
func (h hold) why(project string, mr *forge.MergeRequest) string {
	d := h.dep
	switch h.kind {
	case holdPlanning:
		return fmt.Sprintf("not applied: it depends on %s, which is still being planned; apply %s first", d, d)
	case holdPlanFailed:
		return fmt.Sprintf("not applied: it depends on %s, whose latest plan did not succeed", d)
	case holdDiscarded:
		return fmt.Sprintf("not applied: it depends on %s, whose latest plan was discarded, so %s cannot be applied", d, d)
	case holdNotApplied:
		return fmt.Sprintf("not applied: it depends on %s, whose changes are not applied", d)
	case holdApplyFailed:
		return fmt.Sprintf("not applied: it depends on %s, whose apply failed", d)
	case holdInterrupted:
		return fmt.Sprintf("not applied: it depends on %s, whose apply was interrupted", d)
	case holdCancelled:
		return fmt.Sprintf("not applied: it depends on %s, whose apply was cancelled", d)
	case holdOutputs:
		msg := fmt.Sprintf("not applied: it was planned before %s, which it depends on, changed or removed outputs (%s is applied now), so its plan may rest on the old ones: ", d, d)
		switch {
		case mr == nil:
			return msg + fmt.Sprintf("plan %s again against the new outputs and have the new plan reviewed", project)
		case mr.State == forge.MRMerged:
			// A merged merge request is not planned again (planMR
			// plans open ones only). Whether its lock stays with it (a
			// run cancelled later) or went (refused at the merge) is
			// for the reply or the comment to say.
			return msg + fmt.Sprintf("this merge request is merged and is not planned again: "+
				"plan %s from a new merge request (comment `sluice plan -p %s` on it) and have that plan reviewed", project, project)
		default:
			return msg + fmt.Sprintf("comment `sluice plan -p %s` to plan it again against the new outputs, then have it reviewed", project)
		}
	}
	return ""
}

// byDependency orders a merge request's project states so each comes
// after the states of the projects it depends on (as planned), keeping
// the given order otherwise. A cycle, which validation rejects, keeps the
// given order.
func byDependency(states []projectState) []projectState {
	left := map[string]int{}
	for _, st := range states {
		left[st.Project]++
	}
	ready := func(st projectState) bool {
		for _, d := range dependsOn(st) {
			if d != st.Project && left[d] > 0 {
				return false
			}
		}
		return true
	}
	out := make([]projectState, 0, len(states))
	placed := make([]bool, len(states))
	for len(out) < len(states) {
		next := -1
		for i, st := range states {
			if !placed[i] && ready(st) {
				next = i
				break
			}
		}
		if next < 0 {
			for i := range states {
				if !placed[i] {
					next = i
					break
				}
			}
		}
		placed[next] = true
		left[states[next].Project]--
		out = append(out, states[next])
	}
	return out
}

// runQueuedApplies carries the merge request's queued apply runs on: those that
// wait for nothing are enqueued (a job enqueued twice runs once), those
// whose dependencies' applies are still to come wait, and those that can
// never run are cancelled with the reason, answered on the forge and
// audited. Called after a decision creates apply runs, when an apply run
// ends, and by Recover (through runQueuedAppliesWith); it is idempotent.
func (f *Flow) runQueuedApplies(ctx context.Context, repo string, number int64) error {
	return f.runQueuedAppliesWith(ctx, repo, number, f.Jobs.EnqueueApply)
}

// runQueuedAppliesWith is runQueuedApplies enqueuing the runs free to go with enqueue.
func (f *Flow) runQueuedAppliesWith(ctx context.Context, repo string, number int64, enqueue func(context.Context, int64) error) error {
	defer f.busy.lock("run queued applies " + subject(repo, number, ""))()
	states, err := f.projectStates(ctx, repo, number)
	if err != nil {
		return err
	}
	queued, err := f.allRuns(ctx, store.RunFilter{Repo: repo, MR: number, Kind: store.KindApply, State: store.StateQueued})
	if err != nil {
		return err
	}
	var waiting []projectState
	for i := len(queued) - 1; i >= 0; i-- { // oldest first
		st, err := f.applyState(ctx, states, queued[i])
		if err != nil {
			return err
		}
		waiting = append(waiting, st)
	}

	var (
		mr      *forge.MergeRequest
		fg      forge.Forge
		path    string
		asked   bool
		blocked []string
	)
	for _, st := range byDependency(waiting) {
		a := st.Apply
		h := holdOf(st, states, nil)
		switch {
		case h.kind == holdNone:
			if err := enqueue(ctx, a.ID); err != nil {
				return err
			}
			continue
		case h.kind == holdWait:
			continue
		}
		if !asked {
			asked = true
			var err error
			if fg, path, mr, err = f.forgeMR(ctx, repo, number); err != nil {
				// The reason is still given, without what to do next.
				f.Log.Warn("reading the merge request to explain a cancelled apply failed", "repo", repo, "mr", number, "err", err)
				fg, mr = nil, nil
			}
		}
		why := h.why(st.Project, mr)
		if _, err := f.Store.FinishRun(ctx, a.ID, store.StateCancelled, why, nil); err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue // it started, or someone else ended it
			}
			return err
		}
		// The states that depend on this one see it cancelled (a is
		// theirs when it is its project's latest apply).
		a.State, a.Error = store.StateCancelled, why
		f.Log.Warn("apply run cancelled: what it depends on was not applied", "run", a.ID, "repo", repo, "mr", number, "project", st.Project, "reason", why)
		if _, err := f.Audit.Record(ctx, "sluice", "apply.cancelled", subject(repo, number, st.Project),
			map[string]any{"run": a.ID, "plan": a.PlanID, "depends_on": h.dep, "reason": why}); err != nil {
			return err
		}
		blocked = append(blocked, fmt.Sprintf("`%s`: %s", st.Project, strings.TrimPrefix(why, "not applied: ")))
	}
	if len(blocked) == 0 || fg == nil || mr == nil {
		return nil
	}
	msg := "These projects were not applied:\n\n- " + strings.Join(blocked, "\n- ")
	if mr.State == forge.MRMerged {
		msg += "\n\nThe project locks stay with this merge request until a person has checked the state and released them (`sluice unlock -p NAME`)."
	}
	if err := fg.Reply(ctx, path, number, msg); err != nil {
		f.Log.Warn("replying about cancelled applies failed", "repo", repo, "mr", number, "err", err)
	}
	return nil
}

// runQueuedAppliesAfter is runQueuedApplies once apply run r has ended; a failure is
// logged, not returned: the run is done, and the next recovery pass
// runs the merge request's queued applies again.
func (f *Flow) runQueuedAppliesAfter(ctx context.Context, r store.Run) {
	if r.Kind != store.KindApply {
		return
	}
	if err := f.runQueuedApplies(context.WithoutCancel(ctx), r.Repo, r.MR); err != nil {
		f.Log.Warn("starting the applies that waited for this one failed; the next recovery pass does it", "run", r.ID, "repo", r.Repo, "mr", r.MR, "err", err)
	}
}

// applyHold is the hold on apply run r from what its project depends on:
// holdNone when it may go.
func (f *Flow) applyHold(ctx context.Context, r store.Run) (hold, error) {
	states, err := f.projectStates(ctx, r.Repo, r.MR)
	if err != nil {
		return hold{}, err
	}
	st, err := f.applyState(ctx, states, r)
	if err != nil {
		return hold{}, err
	}
	return holdOf(st, states, nil), nil
}

// applyState is the state of apply run a's project as a's plan left it:
// its project's state in states when a applies the project's latest plan
// (a is then that state's Apply, shared), else one made from a's plan and
// the run that made it (a newer plan run of the project failed, say, or
// is still planning).
func (f *Flow) applyState(ctx context.Context, states []projectState, a store.Run) (projectState, error) {
	for _, st := range states {
		if st.Apply != nil && st.Apply.ID == a.ID {
			return st, nil
		}
	}
	st := projectState{Project: a.Project, Workspace: a.Workspace, Apply: &a}
	p, err := f.Store.GetPlan(ctx, a.PlanID)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil // the apply job ends the run: its plan is gone
	}
	if err != nil {
		return st, err
	}
	st.Plan = &p
	run, err := f.Store.GetRun(ctx, p.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.PlanRun, st.Summary = run, readSummary(run)
	return st, nil
}
