package flow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/affected"
	"github.com/sluicehq/sluice/internal/codeowners"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/safename"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/workspace"
)

// artifactAD binds a sealed artifact to the plan it belongs to: opened
// under any other plan's data, it fails.
func artifactAD(p store.Plan) []byte {
	return []byte(strings.Join([]string{"sluice-plan-v1", p.Repo, fmt.Sprint(p.MR), p.Project, p.Workspace, p.HeadSHA, p.BaseSHA, p.ArtifactSHA256}, "\x00"))
}

// stateDir is where the engine keeps the run's project's working data:
// STATEDIR/REPOHASH/PROJECT/WORKSPACE. The project and workspace come
// from the repository: sluice.yaml's validation refuses one that is not a
// plain name, and here each is made one path segment whatever it holds
// (a Pulumi stack ORG/PROJECT/STACK becomes ORG%2FPROJECT%2FSTACK), so no
// name can lead out of StateDir; the engine driver refuses a bad name
// before it runs anything.
// private is a file of Sluice's own for run r's project (its lock) or for
// run r itself (its saved plan, ".plan"), in a directory of StateDir that
// no engine reaches: the project's working data (stateDir) is the
// engines', and what they leave there (a link to Sluice's plan key, a
// FIFO) must never be what Sluice reads or writes.
func (rn runner) private(r store.Run, kind string) string {
	f := rn.f
	dir := filepath.Join(f.StateDir, ".sluice")
	_ = os.MkdirAll(dir, 0o700) // an error shows when the file is opened
	if kind == "lock" {
		h := sha256.Sum256([]byte(rn.stateDir(r)))
		return filepath.Join(dir, hex.EncodeToString(h[:12])+".lock")
	}
	return filepath.Join(dir, fmt.Sprintf("run-%d%s", r.ID, kind))
}

func (rn runner) stateDir(r store.Run) string {
	f := rn.f
	return filepath.Join(f.StateDir, workspaceKey(r.Repo), safename.Segment(r.Project), safename.Segment(r.Workspace))
}

// workspaceKey names a repository's directory under StateDir: a hash, so
// nothing of the repository's name reaches the path.
func workspaceKey(repo string) string {
	h := sha256.Sum256([]byte(repo))
	return hex.EncodeToString(h[:8])
}

// checkout prepares the run's code in a worktree of its own, so runs of
// the same merge request never share files. The engine's working data
// lives in stateDir, shared by the project's runs, so init is reused.
func (rn runner) checkout(ctx context.Context, r store.Run) (*workspace.Tree, error) {
	f := rn.f
	src, err := f.source(ctx, r.Repo)
	if err != nil {
		return nil, err
	}
	return f.Workspaces.Checkout(ctx, src, r.HeadSHA, fmt.Sprintf("run-%d", r.ID))
}

// lockWorkData serialises this instance's engine runs of one project: they
// share the engine's working data. The lock is a file lock, released by
// the kernel if the process dies.
func (rn runner) lockWorkData(ctx context.Context, r store.Run) (func(), error) {
	fh, err := engine.OpenLock(rn.private(r, "lock"))
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(fh.Fd()), syscall.LOCK_UN); fh.Close() }, nil
		}
		select {
		case <-ctx.Done():
			fh.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// project reads the run's project from sluice.yaml in its checkout, and
// the masks to hide in its output, compiled.
func (rn runner) project(tree *workspace.Tree, r store.Run) (*repoconfig.Project, []*regexp.Regexp, error) {
	f := rn.f
	cfg, _, err := f.configs.get("head\x00"+r.Repo+"\x00"+r.HeadSHA, func() (*repoconfig.Config, string, error) {
		cfg, err := repoconfig.Load(os.DirFS(tree.Dir))
		return cfg, "", err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s at %s: %w", r.Repo, gitx.Short(r.HeadSHA), err)
	}
	p, ok := cfg.Project(r.Project)
	if !ok {
		return nil, nil, fmt.Errorf("project %s is no longer in %s at %s", r.Project, r.Repo, gitx.Short(r.HeadSHA))
	}
	return p, cfg.MaskPatterns(), nil
}

// started is a run that has begun: checked out, marked running, its log
// open and its project's engine lock held.
type started struct {
	run  store.Run
	tree *workspace.Tree
	logs *logWriter
}

// start checks a queued run's code out and starts it. It returns nil and
// the error to give the job queue when the run is not to go on: a
// transient failure (retried, the run stays queued), a permanent one (the
// run is cancelled), or a run someone else started. done releases
// everything start took.
func (rn runner) start(ctx context.Context, r store.Run) (*started, func(), error) {
	f := rn.f
	tree, err := rn.checkout(ctx, r)
	if err != nil {
		if permanent.Is(err) {
			return nil, nil, rn.cancelUnstarted(ctx, r, err)
		}
		return nil, nil, err
	}
	removeTree := func() { _ = f.Workspaces.Remove(context.WithoutCancel(ctx), tree) }
	r, err = f.Store.StartRun(ctx, r.ID, f.Instance)
	if err != nil {
		removeTree()
		if errors.Is(err, store.ErrConflict) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	logs := f.runs().newLogWriter(ctx, r.ID)
	unlock, err := f.runs().lockWorkData(ctx, r)
	if err != nil {
		err = f.runs().finishFailed(ctx, r, logs, err)
		logs.Close()
		removeTree()
		return nil, nil, err
	}
	return &started{run: r, tree: tree, logs: logs}, func() {
		unlock()
		logs.Close()
		removeTree()
	}, nil
}

// releaseIfUnused gives up the lock (or the place in its queue) that
// HandlePlan took for plan run r, which ended meanwhile, unless something
// else of r's merge request needs it: a plan run of the project still to
// run, or a live plan. A close cancels the merge request's waiting runs,
// then releases its locks; a plan job that read its run queued before the
// close and asked for the lock after it would otherwise leave the lock
// with a closed merge request for good.
func (lk locker) releaseIfUnused(ctx context.Context, r store.Run) error {
	f := lk.f
	for _, state := range []store.RunState{store.StateQueued, store.StateRunning} {
		runs, err := f.Store.ListRuns(ctx, store.RunFilter{Repo: r.Repo, MR: r.MR, Dir: r.Dir, Workspace: r.Workspace,
			Kind: store.KindPlan, State: state, Limit: 1})
		if err != nil || len(runs) > 0 {
			return err
		}
	}
	switch _, err := f.Store.LatestPlan(ctx, r.Repo, r.MR, r.Project, r.Workspace); {
	case err == nil:
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	f.Log.Info("releasing a lock taken for a plan run that ended meanwhile", "run", r.ID, "repo", r.Repo, "mr", r.MR, "project", r.Project, "state", r.State)
	return lk.releaseLocks(ctx, r.MR, lockOf(r))
}

// rulesOf records the project's rules for the gate. What is planned (the
// project's patterns, dir and engine) is the head's. Who must approve
// (approval), how it is applied (apply.mode) and which checks are relaxed
// (relax) are the base's, as CODEOWNERS is: a merge request must not set
// its own approval rules, say approval.from naming its author's second
// account. A project the base does not have (this merge request adds it),
// or a base without sluice.yaml, gets what a project without those
// settings gets: one approval from anyone with write access, after_merge,
// nothing relaxed (the server's policy then applies, in the gate). The
// head may only ask for more approvals: approval.min is the greater of the
// two. The notes say where the head asks for other rules, which hold once
// it is merged. On a forge the base is the target branch as the forge says
// it is when the plan runs, recorded with its name (rulesCommit): the gate
// applies those rules only to a merge into that branch, and applies only
// merges into the branches Sluice applies from.
func (rn runner) rulesOf(ctx context.Context, r store.Run, p *repoconfig.Project, head fs.FS) (*projectRules, []string, error) {
	f := rn.f
	src, err := f.source(ctx, r.Repo)
	if err != nil {
		return nil, nil, err
	}
	// The base, for the rules, is the target branch's tip as the forge
	// says it now (rulesCommit): a rule of its own is recorded with the
	// branch it belongs to.
	rulesAt, branch, err := f.rulesCommit(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	base := &baseRules{f: f, src: src, at: rulesAt, repo: r.Repo}
	bp, why, err := base.project(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	rules, notes := gate.InForce(p.Name, bp, p, why)
	pr := &projectRules{MinApprovals: rules.Min, From: rules.From, Mode: rules.Mode, Branch: branch, Relax: rules.Relax, Patterns: p.PatternsIn(head), Dir: p.Dir, Engine: p.Engine,
		DependsOn: p.DependsOn, Notes: notes, RulesChanged: len(notes) > 0}
	if rules.Codeowners {
		if pr.Owners, err = base.owners(ctx, r, p, bp, pr.Patterns); err != nil {
			return nil, nil, err
		}
	}
	return pr, notes, nil
}

// baseRules reads the rules of a merge request's base: the commit the
// rules come from (rulesCommit), whose tree is read once, for its
// sluice.yaml (kept in f.configs, per commit) and again for CODEOWNERS
// when the rules ask for it.
type baseRules struct {
	f    *Flow
	src  workspace.Source
	at   string
	repo string
	tree fs.FS
}

func (b *baseRules) fs(ctx context.Context) (fs.FS, error) {
	if b.tree != nil {
		return b.tree, nil
	}
	t, err := b.f.runs().baseTree(ctx, b.src, b.at)
	b.tree = t
	return t, err
}

// project is p's entry in the base's sluice.yaml (the same directory and
// workspace under another name when the merge request renames it: the
// same code and state keep the rules they had, or renaming would shed
// them); nil, and why, when the base has none.
func (b *baseRules) project(ctx context.Context, p *repoconfig.Project) (*repoconfig.Project, string, error) {
	cfg, why, err := b.f.configs.get("base\x00"+b.repo+"\x00"+b.at, func() (*repoconfig.Config, string, error) {
		t, err := b.fs(ctx)
		if err != nil {
			return nil, "", err
		}
		cfg, why := baseConfig(t, b.at)
		return cfg, why, nil
	})
	if err != nil || cfg == nil {
		return nil, why, err
	}
	if bp, ok := cfg.Project(p.Name); ok {
		return bp, why, nil
	}
	if bp := sameProject(cfg, p); bp != nil {
		return bp, why, nil
	}
	return nil, fmt.Sprintf("project %s is not in %s on the base branch (at %s)", p.Name, repoconfig.FileName, gitx.Short(b.at)), nil
}

// owners are the base's CODEOWNERS owners of the files of project p the
// merge request changes (a team as group:ORG/TEAM): a merge request must
// not choose its own reviewers by editing CODEOWNERS. The project's
// files are those the head (headPatterns) and the base (bp) define: a
// head that moves the project (another dir, other patterns) still needs
// the owners of what it changes under the base's definition.
func (b *baseRules) owners(ctx context.Context, r store.Run, p, bp *repoconfig.Project, headPatterns []string) ([]string, error) {
	t, err := b.fs(ctx)
	if err != nil {
		return nil, err
	}
	co, err := codeownersAt(t, b.f.runs().forgeName(r.Repo))
	if err != nil {
		return nil, err
	}
	if co == nil {
		return nil, fmt.Errorf("project %s asks for code owners' approval, but %s has no CODEOWNERS file on its base branch", p.Name, r.Repo)
	}
	paths, err := b.f.Workspaces.ChangedFiles(ctx, b.src, r.BaseSHA, r.HeadSHA)
	if err != nil {
		return nil, err
	}
	patterns := slices.Clone(headPatterns)
	if bp != nil {
		for _, pat := range bp.Patterns() {
			if !slices.Contains(patterns, pat) {
				patterns = append(patterns, pat)
			}
		}
	}
	m, err := affected.NewMatcher([]affected.Project{{Name: p.Name, Patterns: patterns}})
	if err != nil {
		return nil, err
	}
	var owners []string
	for _, hit := range m.Match(paths) {
		for _, path := range hit.Paths {
			for _, o := range co.Owners(path) {
				if strings.Contains(o, "/") {
					o = "group:" + o
				}
				if !slices.Contains(owners, o) {
					owners = append(owners, o)
				}
			}
		}
	}
	return owners, nil
}

// sameProject is the project of cfg with p's directory and workspace or
// stack: p under another name.
func sameProject(cfg *repoconfig.Config, p *repoconfig.Project) *repoconfig.Project {
	for i := range cfg.Projects {
		b := &cfg.Projects[i]
		if b.Dir == p.Dir && b.EngineWorkspace() == p.EngineWorkspace() {
			return b
		}
	}
	return nil
}

// baseTree is the commit the rules come from (rulesCommit) as git has
// it, with the content of the files rulesOf reads there: sluice.yaml and
// CODEOWNERS (wherever a forge looks for it), each if at most
// repoconfig.MaxFileSize (a larger one is listed, not read, and refused
// by repoconfig.ReadFile). nil when there is no base commit. A base that
// cannot be read (a fetch that failed) is an error, never a base without
// those files, whose defaults may be weaker than its rules.
func (rn runner) baseTree(ctx context.Context, src workspace.Source, base string) (fs.FS, error) {
	f := rn.f
	if base == "" {
		return nil, nil
	}
	owners := codeowners.Locations("")
	return f.Workspaces.TreeFS(ctx, src, base, func(name string, size int64) bool {
		return size <= repoconfig.MaxFileSize && (name == repoconfig.FileName || slices.Contains(owners, name))
	})
}

// baseConfig reads sluice.yaml in the base's tree. It returns nil, and
// why, when there are no rules to take from there: no base commit, no
// sluice.yaml, or one that is not valid (larger than
// repoconfig.MaxFileSize, say: the base's own plans fail then too; its
// fix must be reviewable).
func baseConfig(base fs.FS, at string) (*repoconfig.Config, string) {
	if base == nil {
		return nil, "the merge request has no base commit"
	}
	data, err := repoconfig.ReadFile(base, repoconfig.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Sprintf("the base branch has no %s at %s", repoconfig.FileName, gitx.Short(at))
	}
	if err == nil {
		// With the tree, which lists every file, as the base's own plans
		// read it: an engine told by a Pulumi.yaml in the project's dir,
		// a dir that is a link known by the directory it leads to (so that
		// a project moved behind a link keeps its rules).
		var cfg *repoconfig.Config
		if cfg, err = repoconfig.Parse(base, repoconfig.FileName, data); err == nil {
			return cfg, ""
		}
		// The rules, whether or not every directory they name is there.
		if cfg, err = repoconfig.Parse(nil, repoconfig.FileName, data); err == nil {
			return cfg, ""
		}
	}
	return nil, fmt.Sprintf("the base branch's %s at %s is not valid: %v", repoconfig.FileName, gitx.Short(at), err)
}

// codeownersAt reads the CODEOWNERS file the forge uses in the base's
// tree: the first of its locations that exists; nil when there is none
// (or no base). One that cannot be read (a symbolic link, too large) is an
// error: the next location or no owners would be weaker rules.
func codeownersAt(base fs.FS, forgeName string) (*codeowners.File, error) {
	if base == nil {
		return nil, nil
	}
	for _, loc := range codeowners.Locations(forgeName) {
		b, err := repoconfig.ReadFile(base, loc)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("on the base branch: %w", err)
		}
		return codeowners.Parse(string(b)), nil
	}
	return nil, nil
}

// forgeName is the name of the forge that hosts repo (github, gitlab,
// gitea), "" for a plain git repository.
func (rn runner) forgeName(repo string) string {
	f := rn.f
	if f.Forges == nil {
		return ""
	}
	if fg, _, ok := f.Forges(repo); ok && fg != nil {
		return fg.Name()
	}
	return ""
}

// applySummary is what a succeeded apply run records as its summary.
type applySummary struct {
	PlanID  int64          `json:"plan_id"`
	Summary engine.Summary `json:"summary"`
}

// applyDetails are the details of the audit entry "apply" of run r.
func applyDetails(r store.Run, plan store.Plan, summary engine.Summary) map[string]any {
	return map[string]any{
		"run": r.ID, "plan": plan.ID, "workspace": r.Workspace, "head": r.HeadSHA, "base": r.BaseSHA,
		"artifact_sha256": plan.ArtifactSHA256, "summary": summary,
	}
}

// settleAbandonAfter is how long after a succeeded apply ended its
// settling is tried again before Sluice gives up on what the forge keeps
// refusing (a revoked token, an uninstalled App: a 401 or 403 as much as
// a forge down for a day), and settles the run as it is, audited
// (apply.settle_abandoned) and logged as an error for a person to finish.
const settleAbandonAfter = 24 * time.Hour

// applyAuditWindow is how long after an apply run finished the audit
// entry its job records right then is looked for (see applyAudited).
const applyAuditWindow = 10 * time.Minute

// settle does what follows a succeeded apply, then records it done
// (store.Run.SettledAt): the applies that waited for it are started, the
// comment is updated, and on a merged merge request the locks of its
// projects with nothing left to apply go to the next merge requests and,
// once everything is applied, the linked issues are told (afterApply).
// Each step can be done again, so settle runs until it is recorded: an
// error is returned for the job to be retried, and a run whose job ended
// or died before it settled is settled by a job a recovery pass enqueues
// (settleLeft). What retrying cannot mend (the merge request is gone) is
// logged, and the run settles; so does one the forge kept failing for
// settleAbandonAfter (abandonSettle).
//
// audited says the apply's audit entry was recorded by this very job.
// Otherwise (a retry, or the job of a recovery pass) the entry is looked
// for, and recorded now when the job that applied did not record it: it
// failed to, or its server died first.
func (rn runner) settle(ctx context.Context, r store.Run, audited bool) error {
	f := rn.f
	// The applies that waited for this one may go now.
	f.applyQueue().runQueuedAppliesAfter(ctx, r)
	if err := f.afterApply(ctx, r); err != nil {
		switch {
		case permanent.Is(err):
			f.Log.Warn("what follows a succeeded apply cannot be done", "run", r.ID, "repo", r.Repo, "mr", r.MR, "project", r.Project, "err", err)
		case ctx.Err() == nil && r.FinishedAt != nil && f.now().Sub(*r.FinishedAt) >= settleAbandonAfter:
			if err := rn.abandonSettle(ctx, r, err); err != nil {
				return err
			}
		default:
			return fmt.Errorf("apply run %d succeeded; what follows it is not done yet: %w", r.ID, err)
		}
	}
	// Recorded last, right before the run settles, so that a later job
	// never has to look for an entry written long after the apply: only
	// one whose SettleRun failed right after may record it twice.
	if !audited {
		if err := rn.auditApplyLate(ctx, r); err != nil {
			return err
		}
	}
	return f.Store.SettleRun(context.WithoutCancel(ctx), r.ID)
}

// abandonSettle gives up on what follows succeeded apply run r, which
// failed with cause for settleAbandonAfter since the apply ended: it is
// audited (apply.settle_abandoned) and logged as an error saying what was
// not done, and the run then settles, so that it is not tried again
// without end.
func (rn runner) abandonSettle(ctx context.Context, r store.Run, cause error) error {
	f := rn.f
	f.Log.Error("giving up on what follows a succeeded apply: the forge kept failing for a day since it ended "+
		"(a revoked token? an uninstalled App?). Not done: the merge request's comment and statuses; on a merged merge request, "+
		"the release of the locks of its projects with nothing left to apply, which may still be held (release them with `sluice locks release`), "+
		"and the comment on the issues it closes",
		"run", r.ID, "repo", r.Repo, "mr", r.MR, "project", r.Project, "finished_at", r.FinishedAt, "err", cause)
	_, err := f.Audit.Record(context.WithoutCancel(ctx), "sluice", "apply.settle_abandoned", subject(r.Repo, r.MR, r.Project), map[string]any{
		"run": r.ID, "finished_at": r.FinishedAt, "error": cause.Error(),
	})
	return err
}

// auditApplyLate records the audit entry "apply" of succeeded apply run r
// unless it is in the log already.
func (rn runner) auditApplyLate(ctx context.Context, r store.Run) error {
	f := rn.f
	found, err := rn.applyAudited(ctx, r)
	if err != nil || found {
		return err
	}
	plan, err := f.Store.GetPlan(ctx, r.PlanID)
	if err != nil {
		return fmt.Errorf("reading the plan apply run %d applied, for its audit entry: %w", r.ID, err)
	}
	var s applySummary
	_ = json.Unmarshal(r.Summary, &s)
	details := applyDetails(r, plan, s.Summary)
	details["recorded_late"] = true // at its settling, not when it ended
	_, err = f.Audit.Record(context.WithoutCancel(ctx), r.Actor, "apply", subject(r.Repo, r.MR, r.Project), details)
	return err
}

// applyAudited reports whether the audit entry "apply" of apply run r is
// in the log. The job that applied records it right after the run
// finished, so it is looked for among the entries of the minutes around
// then (applyAuditWindow), not the whole log.
func (rn runner) applyAudited(ctx context.Context, r store.Run) (bool, error) {
	f := rn.f
	if r.FinishedAt == nil {
		return false, nil
	}
	const page = 200
	since, until := r.FinishedAt.Add(-time.Minute), r.FinishedAt.Add(applyAuditWindow)
	subj := subject(r.Repo, r.MR, r.Project)
	var after int64
	for {
		entries, err := f.Store.AuditEntries(ctx, after, since, page)
		if err != nil {
			return false, fmt.Errorf("looking for the audit entry of apply run %d: %w", r.ID, err)
		}
		for _, e := range entries {
			if e.At.After(until) {
				return false, nil
			}
			if e.Action != "apply" || e.Subject != subj {
				continue
			}
			var d struct {
				Run int64 `json:"run"`
			}
			if json.Unmarshal(e.Details, &d) == nil && d.Run == r.ID {
				return true, nil
			}
		}
		if len(entries) < page {
			return false, nil
		}
		after = entries[len(entries)-1].Seq
	}
}

// cancelUnstarted ends, cancelled, a run that never started.
func (rn runner) cancelUnstarted(ctx context.Context, r store.Run, cause error) error {
	f := rn.f
	if _, err := f.Store.FinishRun(ctx, r.ID, store.StateCancelled, f.scrub(cause.Error()), nil); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	f.Log.Warn("run cancelled", "run", r.ID, "kind", r.Kind, "err", cause)
	// The applies that wait for this one will not run.
	f.applyQueue().runQueuedAppliesAfter(ctx, r)
	return nil
}

// finishFailed ends a started run as failed (or cancelled, when the server
// is stopping), writing the engine's own error lines to its log.
func (rn runner) finishFailed(ctx context.Context, r store.Run, logs *logWriter, cause error) error {
	f := rn.f
	var re *engine.RunError
	msg := cause.Error()
	if errors.As(cause, &re) {
		for _, l := range re.Lines {
			logs.Line("sluice", l)
		}
		msg = re.Error()
		if errors.Is(cause, engine.ErrStalePlan) {
			msg = "the saved plan is stale: the state changed after it was planned; plan again and have it reviewed"
		}
	}
	msg = logs.redact(msg)
	logs.Line("sluice", "error: "+msg)
	logs.Close()
	state := store.StateFailed
	if ctx.Err() != nil {
		state = store.StateCancelled
		msg = "stopped with the server: " + msg
	}
	if _, err := f.Store.FinishRun(context.WithoutCancel(ctx), r.ID, state, msg, nil); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	if state == store.StateCancelled && r.Kind == store.KindPlan {
		// A plan stopped by a shutdown is planned again by the next server
		// (an apply never is), unless a newer push has its own run: a new
		// run of the older head would count as the newer plan.
		newer, err := rn.supersededBy(context.WithoutCancel(ctx), r)
		if err != nil {
			return err
		}
		if newer == 0 {
			if _, err := f.runs().planAgain(context.WithoutCancel(ctx), r); err != nil {
				return err
			}
		}
	}
	action := string(r.Kind) + ".failed"
	_, err := f.Audit.Record(context.WithoutCancel(ctx), r.Actor, action, subject(r.Repo, r.MR, r.Project), map[string]any{"run": r.ID, "error": msg})
	// The applies that wait for this one will not run.
	f.applyQueue().runQueuedAppliesAfter(ctx, r)
	f.pub().refresh(ctx, r)
	if state == store.StateFailed && r.Kind == store.KindApply {
		f.pub().tellApplyFailed(context.WithoutCancel(ctx), r, "its apply failed")
	}
	return err
}

// planAgain creates and enqueues a new plan run of what plan run r was to
// plan, for a run that a stopping or dead server cut short.
func (rn runner) planAgain(ctx context.Context, r store.Run) (int64, error) {
	f := rn.f
	nr, err := f.Store.CreateRun(ctx, store.Run{
		Kind: store.KindPlan, Repo: r.Repo, MR: r.MR, Project: r.Project, Workspace: r.Workspace, Dir: r.Dir,
		HeadSHA: r.HeadSHA, BaseSHA: r.BaseSHA, Actor: r.Actor,
	})
	if err != nil {
		return 0, err
	}
	return nr.ID, f.Jobs.EnqueuePlan(ctx, nr.ID)
}
