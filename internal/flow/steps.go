package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/store"
)

// A plan or apply run, once admitted (its turn has come) and started
// (checked out, marked running, its log open), is a list of steps, each
// a method of the run's job that takes what the steps before it found.
// The first step that fails ends the run failed, with its error. What
// follows (recording the result) returns its errors to the job queue
// instead: the run's work is done, and a retried job finishes recording
// it.

// runSteps runs steps in order, up to the first that fails.
func runSteps(ctx context.Context, steps ...func(context.Context) error) error {
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// job is what the steps of a run share: the run started, its project as
// the checkout defines it, and the engine that runs it.
type job struct {
	f *Flow
	*started
	project *repoconfig.Project
	masks   []*regexp.Regexp
	eng     engine.Engine
	// artifact is the plan file's path, in Sluice's private data.
	artifact string
}

func (rn runner) newJob(st *started) job {
	f := rn.f
	return job{f: f, started: st, artifact: f.runs().private(st.run, ".plan")}
}

// readProject reads the run's project and masks from the checkout, hides
// the masks in its log from now on, and finds the project's engine.
func (j *job) readProject(context.Context) error {
	p, masks, err := j.f.runs().project(j.tree, j.run)
	if err != nil {
		return err
	}
	j.project, j.masks = p, masks
	j.logs.setRedactor(j.f.redactor(nil, masks))
	j.eng, err = j.f.Engines(p.Engine)
	return err
}

// dir is the project's directory in the checkout.
func (j *job) dir() string {
	return filepath.Join(j.tree.Dir, filepath.FromSlash(j.project.Dir))
}

// HandlePlan carries out a plan run: admitted, started, then planned,
// sealed and its rules read, then recorded. A run that is not queued any
// more (already started, cancelled) is left alone, so a repeated job is
// harmless.
func (f *Flow) HandlePlan(ctx context.Context, runID int64) error {
	r, ok, err := f.runs().admitPlan(ctx, runID)
	if !ok {
		return err
	}
	st, done, err := f.runs().start(ctx, r)
	if st == nil {
		return err
	}
	defer done()
	j := &planJob{job: f.runs().newJob(st)}
	defer os.Remove(j.artifact)
	if err := runSteps(ctx, j.readProject, j.plan, j.seal, j.readRules); err != nil {
		return f.runs().finishFailed(ctx, j.run, j.logs, err)
	}
	return j.record(ctx)
}

// admitPlan reads plan run runID and says whether it goes now: it is
// queued, and holds its project's lock (or takes none: a merge request
// into a branch Sluice does not apply from is planned at most, and never
// holds a lock, which would keep the merge requests that can be applied
// waiting for one that never is). A run that waits for the lock goes
// when the lock's release enqueues it again.
func (rn runner) admitPlan(ctx context.Context, runID int64) (store.Run, bool, error) {
	f := rn.f
	r, err := f.Store.GetRun(ctx, runID)
	if err != nil || r.State != store.StateQueued {
		return r, false, err
	}
	planOnly, err := f.intoOtherBranch(ctx, r)
	if err != nil || planOnly {
		return r, err == nil, err
	}
	lock, err := f.Store.AcquireLock(ctx, lockOf(r), r.Project, r.MR)
	if err != nil {
		return r, false, err
	}
	cur, err := f.Store.GetRun(ctx, r.ID)
	switch {
	case err != nil:
		return r, false, err
	case cur.State != store.StateQueued:
		// It ended while the lock was asked for: its merge request was
		// closed, and released its locks, just before this one took it.
		return r, false, f.locks().releaseIfUnused(ctx, cur)
	}
	return r, lock.Held, nil
}

// planJob is a plan run under way.
type planJob struct {
	job
	// result is what the engine planned; saved the plan as it is stored.
	result *engine.Plan
	saved  store.Plan
	rules  *projectRules
}

// plan runs the engine's plan. Its output is stored once the plan says
// what to hide in it.
func (j *planJob) plan(ctx context.Context) error {
	j.logs.hold()
	plan, err := j.eng.Plan(ctx, engine.PlanRequest{
		Project:   j.run.Project,
		Root:      j.tree.Dir,
		Dir:       j.dir(),
		Workspace: j.run.Workspace,
		StateDir:  j.f.runs().stateDir(j.run),
		PlanFile:  j.artifact,
		Log:       j.logs.Line,
	})
	if err != nil {
		return err
	}
	j.result = plan
	return nil
}

// seal reads the plan file the engine wrote, checks it is the plan the
// engine showed, hides the plan's secrets in the plan and the log, and
// seals the file for its apply.
func (j *planJob) seal(context.Context) error {
	r, plan := j.run, j.result
	red := j.f.redactor(plan.Secrets, j.masks)
	j.logs.setRedactor(red)
	plain, err := engine.ReadRegular(j.artifact, engine.MaxArtifact)
	if err == nil && engine.HashBytes(j.artifact, plain).SHA256 != plan.Artifact.SHA256 {
		err = fmt.Errorf("it is not the plan the engine showed: %w", engine.ErrArtifactChanged)
	}
	if err != nil {
		return fmt.Errorf("reading the plan artifact: %w", err)
	}
	plan.Redact(red)
	normalized, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	j.saved = store.Plan{
		RunID: r.ID, Repo: r.Repo, MR: r.MR, Project: r.Project, Workspace: r.Workspace,
		HeadSHA: r.HeadSHA, BaseSHA: r.BaseSHA, ArtifactSHA256: plan.Artifact.SHA256,
		Normalized: normalized, HasChanges: plan.Changes(),
	}
	j.saved.Sealed = j.f.Sealer.Seal(plain, artifactAD(j.saved))
	return nil
}

// readRules reads the rules the project's gate will apply (rulesOf), and
// notes in the log where the merge request's own differ.
func (j *planJob) readRules(ctx context.Context) error {
	rules, notes, err := j.f.runs().rulesOf(ctx, j.run, j.project, os.DirFS(j.tree.Dir))
	if err != nil {
		return err
	}
	for _, n := range notes {
		j.logs.Line("sluice", "note: "+n)
	}
	j.rules = rules
	return nil
}

// record saves the sealed plan (discarded at once when a newer push was
// planned meanwhile: it must not replace that one), ends the run
// succeeded, audits it and refreshes the comment.
func (j *planJob) record(ctx context.Context) error {
	f, r, plan := j.f, j.run, j.result
	newer, err := f.runs().supersededBy(ctx, r)
	if err != nil {
		return err
	}
	j.saved.Discarded = newer != 0
	saved, err := f.Store.SavePlan(ctx, j.saved)
	if err != nil {
		return err
	}
	summary, _ := json.Marshal(runSummary{PlanID: saved.ID, Summary: plan.Summary, Changes: plan.Changes(), Rules: j.rules})
	if _, err := f.Store.FinishRun(ctx, r.ID, store.StateSucceeded, "", summary); err != nil {
		return err
	}
	if _, err := f.Audit.Record(ctx, r.Actor, "plan", subject(r.Repo, r.MR, r.Project), map[string]any{
		"run": r.ID, "plan": saved.ID, "workspace": r.Workspace, "head": r.HeadSHA, "base": r.BaseSHA,
		"artifact_sha256": plan.Artifact.SHA256, "summary": plan.Summary,
	}); err != nil {
		return err
	}
	f.pub().refresh(ctx, r)
	return nil
}

// HandleApply applies exactly the run's stored plan, at most once:
// admitted, started, then the plan claimed, unsealed and applied, then
// recorded and settled (see settle). A job of a run that succeeded but
// did not settle (the forge failed, the server died in between) settles
// it.
func (f *Flow) HandleApply(ctx context.Context, runID int64) error {
	r, plan, ok, err := f.runs().admitApply(ctx, runID)
	if !ok {
		return err
	}
	st, done, err := f.runs().start(ctx, r)
	if st == nil {
		return err
	}
	defer done()
	j := &applyJob{job: f.runs().newJob(st), plan: plan}
	defer os.Remove(j.artifact)
	if err := runSteps(ctx, j.claim, j.readProject, j.unseal, j.apply); err != nil {
		return f.runs().finishFailed(ctx, j.run, j.logs, err)
	}
	return j.record(ctx)
}

// admitApply reads apply run runID and its plan, and says whether it goes
// now. A run not queued is left alone, or settled if it succeeded and did
// not settle; one whose plan is gone or no longer current, or whose merge
// request no longer holds the project's lock, is cancelled; one whose
// dependencies are not applied waits or is cancelled
// (dependenciesAllow).
func (rn runner) admitApply(ctx context.Context, runID int64) (store.Run, store.Plan, bool, error) {
	f := rn.f
	r, err := f.Store.GetRun(ctx, runID)
	switch {
	case err != nil:
		return r, store.Plan{}, false, err
	case r.State != store.StateQueued:
		if r.Kind == store.KindApply && r.State == store.StateSucceeded && r.SettledAt == nil {
			return r, store.Plan{}, false, rn.settle(ctx, r, false)
		}
		return r, store.Plan{}, false, nil
	}
	plan, err := f.Store.GetPlan(ctx, r.PlanID)
	switch {
	case err != nil:
		return r, plan, false, rn.cancelUnstarted(ctx, r, fmt.Errorf("the plan to apply is gone: %w", err))
	case plan.Discarded || plan.HeadSHA != r.HeadSHA || plan.BaseSHA != r.BaseSHA:
		return r, plan, false, rn.cancelUnstarted(ctx, r, errors.New("the plan is no longer current (a newer push or a closed merge request replaced it); plan again"))
	}
	// The decision checked the lock; a person may have released it since.
	// The lock is the plan run's (an apply run names no directory).
	planRun, err := f.Store.GetRun(ctx, plan.RunID)
	if err != nil {
		return r, plan, false, err
	}
	if why, err := f.locks().lockLost(ctx, planRun, false); err != nil || why != "" {
		if err == nil {
			err = rn.cancelUnstarted(ctx, r, errors.New("not applied: "+why))
		}
		return r, plan, false, err
	}
	ok, err := rn.dependenciesAllow(ctx, r)
	return r, plan, ok, err
}

// dependenciesAllow says whether the projects apply run r depends on are
// applied, as they must be first. Only a run free to go is enqueued
// (runQueuedApplies), but a job may come early or late: one that must
// wait is retried, one that can never run is cancelled.
func (rn runner) dependenciesAllow(ctx context.Context, r store.Run) (bool, error) {
	f := rn.f
	h, err := f.applyQueue().applyHold(ctx, r)
	switch {
	case err != nil:
		return false, err
	case h.Waits():
		return false, fmt.Errorf("apply run %d waits for the apply of %s, which it depends on", r.ID, h.Dep)
	case !h.Blocks():
		return true, nil
	}
	// runQueuedApplies cancels the run, with the reason. If what holds it
	// changed meanwhile (a dependency's plan ended), it may leave the run
	// queued, or enqueue it: as this very job, a duplicate. This job then
	// must not end with the run still to do: it is tried again.
	if err := f.applyQueue().runQueuedApplies(ctx, r.Repo, r.MR); err != nil {
		return false, err
	}
	cur, err := f.Store.GetRun(ctx, r.ID)
	if err == nil && cur.State == store.StateQueued {
		err = fmt.Errorf("apply run %d: what it depends on changed while it was looked at; trying again", r.ID)
	}
	return false, err
}

// applyJob is an apply run under way.
type applyJob struct {
	job
	plan   store.Plan
	result *engine.ApplyResult
}

// claim makes the plan applied at most once, whatever else runs.
func (j *applyJob) claim(ctx context.Context) error {
	err := j.f.Store.ClaimPlan(ctx, j.plan.ID, j.run.ID)
	if errors.Is(err, store.ErrConflict) {
		err = errors.New("the plan was already applied or discarded")
	}
	return err
}

// unseal opens the sealed plan (bound to this merge request, project and
// commits) and writes it for the engine.
func (j *applyJob) unseal(context.Context) error {
	plain, err := j.f.Sealer.Open(j.plan.Sealed, artifactAD(j.plan))
	if err != nil {
		return fmt.Errorf("the stored plan does not open with this server's plan key (or was tampered with): %w", err)
	}
	return engine.WriteNew(j.artifact, plain)
}

// apply runs the engine's apply of the plan file, which the engine checks
// against the plan's recorded SHA-256.
func (j *applyJob) apply(ctx context.Context) error {
	res, err := j.eng.Apply(ctx, engine.ApplyRequest{
		// The plan's secrets are hidden in the apply's output too.
		Secrets:    func(secrets []string) { j.logs.setRedactor(j.f.redactor(secrets, j.masks)) },
		Project:    j.run.Project,
		Root:       j.tree.Dir,
		Dir:        j.dir(),
		Workspace:  j.run.Workspace,
		StateDir:   j.f.runs().stateDir(j.run),
		PlanFile:   j.artifact,
		PlanSHA256: j.plan.ArtifactSHA256,
		Log:        j.logs.Line,
	})
	j.result = res
	return err
}

// record ends the run succeeded, audits it and settles it.
func (j *applyJob) record(ctx context.Context) error {
	f := j.f
	summary, _ := json.Marshal(applySummary{PlanID: j.plan.ID, Summary: j.result.Summary})
	r, err := f.Store.FinishRun(ctx, j.run.ID, store.StateSucceeded, "", summary)
	if err != nil {
		return err
	}
	if _, err := f.Audit.Record(ctx, r.Actor, "apply", subject(r.Repo, r.MR, r.Project), applyDetails(r, j.plan, j.result.Summary)); err != nil {
		// The job is retried: it settles the run, and records the entry
		// then (settle, audited false).
		return err
	}
	return f.runs().settle(ctx, r, true)
}
