package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/depends"
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

// hold is what holds a project's apply back, and which dependency does
// (depends.Hold, the rule the local loop keeps too), with what it means
// for a merge request.
type hold struct{ depends.Hold }

// finalOnMerged reports whether the hold can never lift on a merged merge
// request, which is never planned again: what the dependency needed is
// gone for good (its plan failed or was discarded, its apply failed or
// was cancelled, its outputs changed under the project's plan), or the
// dependency itself is never to be applied from it (never).
func (h hold) finalOnMerged(never map[string]bool) bool {
	switch h.Standing {
	case depends.PlanFailed, depends.Discarded, depends.ApplyFailed, depends.ApplyInterrupted, depends.ApplyCancelled, depends.OutputsChanged:
		return true
	case depends.NotApplied:
		return never[h.Dep]
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
// as far as the projects it depends on go (depends.Of). Only dependencies
// the merge request affects count (those with a plan run in states), as
// in the local loop. coming names the projects whose apply run the
// decision at hand is creating.
func holdOf(st projectState, states []projectState, coming map[string]bool) hold {
	var deps []depends.Hold
	for _, dep := range dependsOn(st) {
		for _, ds := range states {
			if ds.Project == dep {
				deps = append(deps, depends.Hold{Dep: dep, Standing: standing(st, ds, coming)})
			}
		}
	}
	return hold{depends.Of(st.Project, deps)}
}

// standing is where dependency ds stands for the apply of st.
func standing(st, ds projectState, coming map[string]bool) depends.Standing {
	switch ds.PlanRun.State {
	case store.StateSucceeded:
	case store.StateQueued, store.StateRunning:
		return depends.Planning
	default:
		return depends.PlanFailed
	}
	// An apply of the dependency in this merge request that changed or
	// removed outputs after st was planned holds st back, whichever plan
	// it applied and whatever the dependency's latest plan is (planned
	// again, it may have nothing left to apply): st's plan may rest on
	// the old outputs.
	if at := ds.OutputsChangedAt; at != nil && !plannedAfter(st, *at) {
		return depends.OutputsChanged
	}
	if ds.Plan == nil || !ds.Plan.HasChanges {
		return depends.Ready // nothing to apply: st saw its state as it stays
	}
	if a := ds.Apply; a != nil {
		switch a.State {
		case store.StateSucceeded:
			return depends.Ready // its outputs are as st read them (checked above)
		case store.StateQueued, store.StateRunning:
			return depends.Coming
		case store.StateFailed:
			return depends.ApplyFailed
		case store.StateInterrupted:
			return depends.ApplyInterrupted
		default:
			return depends.ApplyCancelled
		}
	}
	switch {
	case ds.Plan.Discarded:
		return depends.Discarded
	case coming[ds.Project]:
		return depends.Coming
	default:
		return depends.NotApplied
	}
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
// the comment: the reason the local loop gives too (depends.Hold.Why),
// and for a dependency whose outputs changed, what to do next. mr is the
// merge request as the forge has it now (nil for a plain git
// repository): what to do next depends on whether it is merged.
func (h hold) why(project string, mr *forge.MergeRequest) string {
	if !h.Blocks() {
		return ""
	}
	msg := "not applied: it " + h.Why()
	if h.Standing != depends.OutputsChanged {
		return msg
	}
	switch {
	case mr == nil:
		return msg + fmt.Sprintf(": plan %s again against the new outputs and have the new plan reviewed", project)
	case mr.State == forge.MRMerged:
		// A merged merge request is not planned again (planMR
		// plans open ones only). Whether its lock stays with it (a
		// run cancelled later) or went (refused at the merge) is
		// for the reply or the comment to say.
		return msg + fmt.Sprintf(": this merge request is merged and is not planned again: "+
			"plan %s from a new merge request (comment `sluice plan -p %s` on it) and have that plan reviewed", project, project)
	default:
		return msg + fmt.Sprintf(": comment `sluice plan -p %s` to plan it again against the new outputs, then have it reviewed", project)
	}
}

// byDependency orders a merge request's project states so each comes
// after the states of the projects it depends on (as planned), keeping
// the given order otherwise (depends.Order).
func byDependency(states []projectState) []projectState {
	return depends.Order(states, func(st projectState) string { return st.Project }, dependsOn)
}

// runQueuedApplies carries the merge request's queued apply runs on: those that
// wait for nothing are enqueued (a job enqueued twice runs once), those
// whose dependencies' applies are still to come wait, and those that can
// never run are cancelled with the reason, answered on the forge and
// audited. Called after a decision creates apply runs, when an apply run
// ends, and by Recover (through runQueuedAppliesWith); it is idempotent.
func (aq applyQueue) runQueuedApplies(ctx context.Context, repo string, number int64) error {
	f := aq.f
	return aq.runQueuedAppliesWith(ctx, repo, number, f.Jobs.EnqueueApply)
}

// runQueuedAppliesWith is runQueuedApplies enqueuing the runs free to go with enqueue.
func (aq applyQueue) runQueuedAppliesWith(ctx context.Context, repo string, number int64, enqueue func(context.Context, int64) error) error {
	f := aq.f
	defer f.busy.lock("run queued applies " + subject(repo, number, ""))()
	states, waiting, err := aq.queuedApplies(ctx, repo, number)
	if err != nil {
		return err
	}
	var (
		mr      *forge.MergeRequest
		fg      forge.Forge
		path    string
		asked   bool
		blocked []string
	)
	for _, st := range byDependency(waiting) {
		h := holdOf(st, states, nil)
		switch {
		case h.Waits():
			continue
		case !h.Blocks():
			if err := enqueue(ctx, st.Apply.ID); err != nil {
				return err
			}
			continue
		}
		if !asked {
			asked = true
			if fg, path, mr, err = f.forgeMR(ctx, repo, number); err != nil {
				// The reason is still given, without what to do next.
				f.Log.Warn("reading the merge request to explain a cancelled apply failed", "repo", repo, "mr", number, "err", err)
				fg, mr = nil, nil
			}
		}
		line, err := aq.cancelHeld(ctx, st, h, mr)
		if err != nil {
			return err
		}
		if line != "" {
			blocked = append(blocked, line)
		}
	}
	if len(blocked) > 0 && fg != nil && mr != nil {
		aq.replyCancelled(ctx, fg, path, mr, blocked)
	}
	return nil
}

// queuedApplies returns the states of a merge request's projects and,
// oldest first, those of its queued apply runs.
func (aq applyQueue) queuedApplies(ctx context.Context, repo string, number int64) (states, waiting []projectState, err error) {
	f := aq.f
	if states, err = f.projectStates(ctx, repo, number); err != nil {
		return nil, nil, err
	}
	queued, err := f.allRuns(ctx, store.RunFilter{Repo: repo, MR: number, Kind: store.KindApply, State: store.StateQueued})
	if err != nil {
		return nil, nil, err
	}
	for i := len(queued) - 1; i >= 0; i-- { // oldest first
		st, err := aq.applyState(ctx, states, queued[i])
		if err != nil {
			return nil, nil, err
		}
		waiting = append(waiting, st)
	}
	return states, waiting, nil
}

// cancelHeld cancels the queued apply of st, which hold h keeps from
// ever running, audited, and returns the line that tells people ("" when
// the run started meanwhile, or someone else ended it).
func (aq applyQueue) cancelHeld(ctx context.Context, st projectState, h hold, mr *forge.MergeRequest) (string, error) {
	f := aq.f
	a := st.Apply
	why := h.why(st.Project, mr)
	if _, err := f.Store.FinishRun(ctx, a.ID, store.StateCancelled, why, nil); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", nil
		}
		return "", err
	}
	// The states that depend on this one see it cancelled (a is theirs
	// when it is its project's latest apply).
	a.State, a.Error = store.StateCancelled, why
	f.Log.Warn("apply run cancelled: what it depends on was not applied", "run", a.ID, "repo", a.Repo, "mr", a.MR, "project", st.Project, "reason", why)
	if _, err := f.Audit.Record(ctx, "sluice", "apply.cancelled", subject(a.Repo, a.MR, st.Project),
		map[string]any{"run": a.ID, "plan": a.PlanID, "depends_on": h.Dep, "reason": why}); err != nil {
		return "", err
	}
	return fmt.Sprintf("`%s`: %s", st.Project, strings.TrimPrefix(why, "not applied: ")), nil
}

// replyCancelled tells the merge request which applies were cancelled;
// a failure is logged (the comment says it too).
func (aq applyQueue) replyCancelled(ctx context.Context, fg forge.Forge, path string, mr *forge.MergeRequest, blocked []string) {
	f := aq.f
	msg := "These projects were not applied:\n\n- " + strings.Join(blocked, "\n- ")
	if mr.State == forge.MRMerged {
		msg += "\n\nThe project locks stay with this merge request until a person has checked the state and released them (`sluice unlock -p NAME`)."
	}
	if err := fg.Reply(ctx, path, mr.Number, msg); err != nil {
		f.Log.Warn("replying about cancelled applies failed", "repo", mr.Repo, "mr", mr.Number, "err", err)
	}
}

// runQueuedAppliesAfter is runQueuedApplies once apply run r has ended; a failure is
// logged, not returned: the run is done, and the next recovery pass
// runs the merge request's queued applies again.
func (aq applyQueue) runQueuedAppliesAfter(ctx context.Context, r store.Run) {
	f := aq.f
	if r.Kind != store.KindApply {
		return
	}
	if err := aq.runQueuedApplies(context.WithoutCancel(ctx), r.Repo, r.MR); err != nil {
		f.Log.Warn("starting the applies that waited for this one failed; the next recovery pass does it", "run", r.ID, "repo", r.Repo, "mr", r.MR, "err", err)
	}
}

// applyHold is the hold on apply run r from what its project depends on:
// holdNone when it may go.
func (aq applyQueue) applyHold(ctx context.Context, r store.Run) (hold, error) {
	f := aq.f
	states, err := f.projectStates(ctx, r.Repo, r.MR)
	if err != nil {
		return hold{}, err
	}
	st, err := aq.applyState(ctx, states, r)
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
func (aq applyQueue) applyState(ctx context.Context, states []projectState, a store.Run) (projectState, error) {
	f := aq.f
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
