package flow

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/store"
)

// LockProber finds the state lock an interrupted engine left behind.
type LockProber interface {
	ProbeLock(ctx context.Context, req engine.ProbeRequest) (string, error)
}

// Recover deals with what a dead server process left: runs it was running
// are marked interrupted — a plan is queued again as a new run unless a
// newer plan run of its project and merge request exists, an apply
// is never re-run by itself but left for a person, with the engine's
// state lock id when one is held — apply runs that waited for the applies
// of what they depend on are started (or cancelled, when one of those
// failed or was interrupted), succeeded applies that did not settle get a
// job that settles them, and accepted events that never got their job are
// queued. alive lists the instances known to be running.
//
// What fails for one run, merge request or event is logged and the pass
// goes on with the others: one that cannot be dealt with must not keep
// the rest waiting (or, at start, the server from starting). Only a
// failure of the pass itself (listing what to look at) or a cancelled
// context is returned.
func (f *Flow) Recover(ctx context.Context, alive []string, pendingBefore time.Time) error {
	runs, err := f.Store.InterruptRuns(ctx, alive)
	if err != nil {
		return fmt.Errorf("marking interrupted runs: %w", err)
	}
	for _, r := range runs {
		if err := f.recoverer().interrupted(ctx, r); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.Log.Error("dealing with an interrupted run failed", "run", r.ID, "kind", r.Kind, "repo", r.Repo, "mr", r.MR, "project", r.Project, "err", err)
		}
	}
	if err := f.recoverer().recoverQueuedApplies(ctx, alive); err != nil {
		return err
	}
	if err := f.recoverer().settleLeft(ctx, alive); err != nil {
		return err
	}
	events, err := f.Store.PendingEvents(ctx, pendingBefore, 1000)
	if err != nil {
		return fmt.Errorf("listing pending events: %w", err)
	}
	for _, e := range events {
		if err := f.Jobs.RequeueEvent(ctx, e.ID, alive); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.Log.Warn("queueing a pending event again failed; the next recovery pass tries again", "event", e.ID, "err", err)
		}
	}
	return nil
}

// interrupted deals with a run a dead server left running, now marked
// interrupted: a plan is planned again, unless superseded; an apply's
// state lock is probed. Either is audited.
func (rc recoverer) interrupted(ctx context.Context, r store.Run) error {
	f := rc.f
	details := map[string]any{"run": r.ID, "kind": r.Kind, "instance": r.Owner}
	switch r.Kind {
	case store.KindPlan:
		newer, err := f.runs().supersededBy(ctx, r)
		if err != nil {
			return err
		}
		if newer != 0 {
			// Planning the old head again would make a plan newer, by
			// its run, than the newer push's.
			details["superseded_by"] = newer
			f.Log.Warn("interrupted plan not queued again: a newer plan run of the project exists", "run", r.ID, "newer_run", newer, "repo", r.Repo, "mr", r.MR, "project", r.Project)
			break
		}
		id, err := f.runs().planAgain(ctx, r)
		if err != nil {
			return err
		}
		details["replanned_as"] = id
		f.Log.Warn("interrupted plan queued again", "run", r.ID, "new_run", id, "repo", r.Repo, "mr", r.MR, "project", r.Project)
	case store.KindApply:
		if id := rc.probeLock(ctx, r); id != "" {
			if err := f.Store.SetStateLockID(ctx, r.ID, id); err != nil {
				return err
			}
			details["state_lock_id"] = id
		}
		f.Log.Error("apply interrupted: not re-run; a person must check the state and decide",
			"run", r.ID, "repo", r.Repo, "mr", r.MR, "project", r.Project, "state_lock_id", details["state_lock_id"])
	}
	if _, err := f.Audit.Record(ctx, "sluice", string(r.Kind)+".interrupted", subject(r.Repo, r.MR, r.Project), details); err != nil {
		return err
	}
	// The dead server's plan file, the plan in clear, goes (a plan is
	// made again from the start; an apply is never re-run).
	if err := os.Remove(f.runs().private(r, ".plan")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.Log.Warn("removing an interrupted run's plan file failed", "run", r.ID, "err", err)
	}
	// The comment and statuses still say the run is under way: they say
	// what became of it now, not at the merge request's next event.
	f.pub().refresh(ctx, r)
	if r.Kind == store.KindApply {
		f.pub().tellApplyFailed(ctx, r, "its apply was interrupted (the server stopped during it) and is not run again")
	}
	return nil
}

// recoverQueuedApplies runs the queued applies of every merge request with a queued apply run. A
// run that waits for the applies of what it depends on has no job: the
// apply it waited for enqueues it when it ends. If the server died in
// between (or the apply it waited for was interrupted), this starts it,
// or cancels it with the reason. A run free to go is enqueued past a job
// of it that will not run it (RequeueApply): one left running by a dead
// server (River rescues those only after hours), or one that completed
// while the run stayed queued; a job that waits, or runs on an alive
// instance, is left to do it. A merge request whose runQueuedApplies fails is
// logged and left to the next pass; only listing the runs fails the pass.
func (rc recoverer) recoverQueuedApplies(ctx context.Context, alive []string) error {
	f := rc.f
	requeue := func(ctx context.Context, id int64) error { return f.Jobs.RequeueApply(ctx, id, alive) }
	runs, err := f.allRuns(ctx, store.RunFilter{Kind: store.KindApply, State: store.StateQueued})
	if err != nil {
		return fmt.Errorf("listing queued apply runs: %w", err)
	}
	type mrKey struct {
		repo string
		mr   int64
	}
	seen := map[mrKey]bool{}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		k := mrKey{runs[i].Repo, runs[i].MR}
		if seen[k] {
			continue
		}
		seen[k] = true
		if err := f.applyQueue().runQueuedAppliesWith(ctx, k.repo, k.mr, requeue); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.Log.Warn("starting the waiting applies of a merge request failed; the next recovery pass tries again",
				"repo", k.repo, "mr", k.mr, "err", err)
		}
	}
	return nil
}

// settleLeft enqueues again the job of each succeeded apply run that is
// not settled (see settle), unless a job of it waits, waits out a retry
// or runs on a live instance: its job failed to settle it until it gave
// up (the forge was down for long), or the server died between the end
// of the apply and its settling (its job stays "running" for hours).
// The job settles the run, or gives up a day after the apply ended on
// what the forge keeps refusing (see settle): a run is not queued again
// without end. Only listing the runs fails the pass.
func (rc recoverer) settleLeft(ctx context.Context, alive []string) error {
	f := rc.f
	runs, err := f.allRuns(ctx, store.RunFilter{Unsettled: true})
	if err != nil {
		return fmt.Errorf("listing applies not settled: %w", err)
	}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		r := runs[i]
		if err := f.Jobs.RequeueApply(ctx, r.ID, alive); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.Log.Warn("queueing the settling of an apply again failed; the next recovery pass tries again", "run", r.ID, "repo", r.Repo, "mr", r.MR, "err", err)
		}
	}
	return nil
}

// supersededBy returns the newest plan run of plan run r's project and
// merge request when it is newer than r (0 when r is the newest): a newer
// push, a person's `sluice plan`, or the re-plan of a newer interrupted
// run. Plans are ordered by their runs' ids (the store keeps the newest
// run's plan live), so a run that is planned again after a newer one would
// replace the newer plan; r's head is superseded and is not planned again.
func (rn runner) supersededBy(ctx context.Context, r store.Run) (int64, error) {
	f := rn.f
	runs, err := f.Store.ListRuns(ctx, store.RunFilter{Repo: r.Repo, MR: r.MR, Project: r.Project, Workspace: r.Workspace, Kind: store.KindPlan, Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("looking for newer plan runs of %s: %w", subject(r.Repo, r.MR, r.Project), err)
	}
	if len(runs) > 0 && runs[0].ID > r.ID {
		return runs[0].ID, nil
	}
	return 0, nil
}

// probeLock asks the engine, in the interrupted apply's workspace, whether
// a state lock is held and by which id. Best effort: "" when unknown.
func (rc recoverer) probeLock(ctx context.Context, r store.Run) string {
	f := rc.f
	tree, err := f.runs().checkout(ctx, r)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Workspaces.Remove(context.WithoutCancel(ctx), tree) }()
	p, _, err := f.runs().project(tree, r)
	if err != nil {
		return ""
	}
	eng, err := f.Engines(p.Engine)
	if err != nil {
		return ""
	}
	prober, ok := eng.(LockProber)
	if !ok {
		return ""
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	id, err := prober.ProbeLock(pctx, engine.ProbeRequest{
		Root: tree.Dir, Dir: filepath.Join(tree.Dir, filepath.FromSlash(p.Dir)), Workspace: r.Workspace, StateDir: f.runs().stateDir(r),
	})
	if err != nil {
		f.Log.Warn("could not check for a held state lock", "run", r.ID, "err", err)
		return ""
	}
	return id
}
