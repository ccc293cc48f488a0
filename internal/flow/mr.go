package flow

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/affected"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/workspace"
)

// APISource is the source (Accept's forge argument) of the requests the
// JSON API accepts; webhooks are accepted under their forge's name.
const APISource = "api"

// APIActor is who a request of the JSON API acts as on a forge's
// repository, whatever actor its body names. The API token is not a
// person: it never counts as an approval, never has the right to apply or
// to merge, and makes no comment.
const APIActor = "api"

// fromAPI reports whether an event came through the JSON API.
func fromAPI(ev store.Event) bool { return ev.Forge == APISource }

// mergeLag is how long a merge or close webhook is retried while the
// forge's API still says the merge request is open.
const mergeLag = 10 * time.Minute

// ActAsAPI is req as the JSON API makes it for a forge's repository:
// acting as APIActor whatever actor it names, and no comment (the API
// token is not a person, so it cannot lend a person's approval or rights
// to a request). A plain git repository's request is left as it is. The
// server rewrites what the API accepts so, and HandleEvent does again for
// events accepted before it did.
func ActAsAPI(req Request) Request {
	if forgeOfRepo(req.Repo) != "" {
		req.Actor, req.ByComment, req.CommentID = APIActor, false, 0
	}
	return req
}

func subject(repo string, mr int64, project string) string {
	s := fmt.Sprintf("%s!%d", repo, mr)
	if project != "" {
		s += "/" + project
	}
	return s
}

// runsPage is how many runs allRuns reads at a time.
const runsPage = 500

// allRuns lists every run the filter matches, newest first, a page at a
// time: a merge request may have more runs than any one page (a thousand
// projects, pushed several times), and one left out would be a lock not
// released, a run not cancelled or a project not applied, in silence.
func (f *Flow) allRuns(ctx context.Context, filter store.RunFilter) ([]store.Run, error) {
	filter.Limit = runsPage
	var all []store.Run
	for {
		runs, err := f.Store.ListRuns(ctx, filter)
		if err != nil {
			return nil, err
		}
		all = append(all, runs...)
		if len(runs) < runsPage {
			return all, nil
		}
		filter.BeforeID = runs[len(runs)-1].ID
	}
}

// loadConfig reads sluice.yaml at the request's head, and each project's
// patterns there (with the local modules it calls).
func (pl planner) loadConfig(ctx context.Context, src workspace.Source, req Request, eventID int64) (*repoconfig.Config, map[string][]string, error) {
	f := pl.f
	tree, err := f.Workspaces.Checkout(ctx, src, req.HeadSHA, fmt.Sprintf("config-event-%d", eventID))
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = f.Workspaces.Remove(context.WithoutCancel(ctx), tree) }()
	fsys := os.DirFS(tree.Dir)
	cfg, err := repoconfig.Load(fsys)
	if err != nil {
		return nil, nil, permanent.Wrap(fmt.Errorf("%s at %s: %w", req.Repo, gitx.Short(req.HeadSHA), err))
	}
	patterns := make(map[string][]string, len(cfg.Projects))
	for i := range cfg.Projects {
		patterns[cfg.Projects[i].Name] = cfg.Projects[i].PatternsIn(fsys)
	}
	return cfg, patterns, nil
}

// planMR finds the projects a merge request's head touches and creates a
// plan run for each; runs whose project lock another MR holds wait queued
// (without a job) until the lock passes to this MR. On a forge: the
// merge request may be planned (mayPlan), is planned as it is now, and
// its gate is set when there is nothing to plan.
func (pl planner) planMR(ctx context.Context, ev store.Event, req Request) error {
	f := pl.f
	src, err := f.source(ctx, req.Repo)
	if err != nil {
		return err
	}
	fg, path, mr, err := f.forgeMR(ctx, req.Repo, req.MR)
	if err != nil {
		return err
	}
	if fg != nil {
		if ok, err := pl.mayPlan(ctx, fg, path, mr, req); !ok {
			return err
		}
		// Plan what the merge request is now, whatever push the event was for.
		req.HeadSHA, req.BaseSHA = mr.HeadSHA, mr.BaseSHA
	}
	cfg, patterns, err := pl.loadConfig(ctx, src, req, ev.ID)
	if err != nil {
		return err
	}
	names, err := pl.projectsToPlan(ctx, src, req, cfg, patterns)
	if err != nil {
		return err
	}
	if n := f.MaxProjectsPerMR; n > 0 && len(names) > n {
		return pl.tooManyProjects(ctx, fg, path, mr, req, names)
	}
	planOnly, err := pl.planOnly(ctx, fg, path, mr)
	if err != nil {
		return err
	}
	for _, name := range names {
		p, _ := cfg.Project(name)
		if err := pl.queuePlan(ctx, req, p, planOnly); err != nil {
			return err
		}
	}
	f.Log.Info("merge request planned", "repo", req.Repo, "mr", req.MR, "head", gitx.Short(req.HeadSHA), "projects", names, "event", ev.ID)
	if fg == nil {
		return nil
	}
	if len(names) == 0 {
		// Nothing to plan is nothing to hold: branch protection that
		// requires the gate lets the merge through.
		f.pub().setGate(ctx, fg, path, req.Repo, mr, forge.CheckSuccess, "no project is affected")
	}
	return f.pub().RefreshMR(ctx, req.Repo, req.MR)
}

// mayPlan says whether a forge's merge request is planned on this
// request: it must be open (a comment asking for more is answered); a
// comment's author needs write access (the refusal is answered); a merge request from a fork is planned only on a
// maintainer's comment (a notice says so, and its gate fails: not
// planned, it must not pass for one that changes nothing).
func (pl planner) mayPlan(ctx context.Context, fg forge.Forge, path string, mr *forge.MergeRequest, req Request) (bool, error) {
	f := pl.f
	switch {
	case mr.State != forge.MROpen:
		f.Log.Info("not planning a merge request that is not open", "repo", req.Repo, "mr", req.MR, "state", mr.State)
		if !req.ByComment {
			return false, nil
		}
		// A person asked: say why nothing happens, and what to do.
		return false, fg.Reply(ctx, path, req.MR, fmt.Sprintf("@%s, this merge request is %s, and Sluice plans open merge requests only: "+
			"plan its projects from a new merge request (comment `sluice plan -p NAME` on it).", req.Actor, mr.State))
	case req.ByComment:
		perm, err := fg.Permission(ctx, path, req.Actor)
		if err != nil {
			return false, err
		}
		if perm < forge.PermWrite {
			return false, f.refuse(ctx, fg, path, req, "plan", fmt.Sprintf("@%s, only people with write access to the repository can ask Sluice to plan.", req.Actor))
		}
	case mr.FromFork:
		f.pub().setGate(ctx, fg, path, req.Repo, mr, forge.CheckFailure, "not planned: a merge request from a fork is planned once a maintainer comments sluice plan")
		return false, f.notice(ctx, fg, path, req, "fork", "This merge request comes from a fork, so Sluice does not plan it by itself: "+
			"planning runs the code of the change. A maintainer who has read the change can comment `sluice plan`.")
	}
	return true, nil
}

// projectsToPlan names, in dependency order, the projects a request
// plans: those it names (`-p`), or those the merge request's changed
// files touch, and those whose entry in sluice.yaml it changed.
func (pl planner) projectsToPlan(ctx context.Context, src workspace.Source, req Request, cfg *repoconfig.Config, patterns map[string][]string) ([]string, error) {
	f := pl.f
	if len(req.Projects) > 0 {
		for _, n := range req.Projects {
			if _, ok := cfg.Project(n); !ok {
				return nil, permanent.Wrap(fmt.Errorf("%w: no project %q in %s (projects: %s)", ErrInvalid, n, req.Repo, strings.Join(cfg.Names(), ", ")))
			}
		}
		return cfg.Order(req.Projects), nil
	}
	paths, err := f.Workspaces.ChangedFiles(ctx, src, req.BaseSHA, req.HeadSHA)
	if err != nil {
		return nil, err
	}
	ps := make([]affected.Project, len(cfg.Projects))
	for i := range cfg.Projects {
		name := cfg.Projects[i].Name
		ps[i] = affected.Project{Name: name, Patterns: patterns[name]}
	}
	m, err := affected.NewMatcher(ps)
	if err != nil {
		return nil, permanent.Wrap(err)
	}
	var names []string
	for _, hit := range m.Match(paths) {
		names = append(names, hit.Project)
	}
	if slices.Contains(paths, repoconfig.FileName) {
		changed, err := pl.settingsChanged(ctx, src, req, cfg)
		if err != nil {
			return nil, err
		}
		names = append(names, changed...)
	}
	return cfg.Order(names), nil
}

// planOnly says whether a merge request merges into a branch Sluice does
// not apply from: it is planned at most, and takes no project lock (see
// admitPlan). A plain git repository's are applied.
func (pl planner) planOnly(ctx context.Context, fg forge.Forge, path string, mr *forge.MergeRequest) (bool, error) {
	f := pl.f
	if fg == nil {
		return false, nil
	}
	branches, err := f.applyBranches(ctx, fg, path)
	if err != nil {
		return false, err
	}
	return !slices.Contains(branches, mr.BaseRef), nil
}

// settingsChanged names the projects of cfg, the head's configuration,
// whose entry in sluice.yaml (or the masks) the head changed from the
// base's: a change to sluice.yaml affects those only, not every project it
// configures. When either side's entries cannot be read (no sluice.yaml,
// one that is not valid YAML), every project counts as changed.
func (pl planner) settingsChanged(ctx context.Context, src workspace.Source, req Request, cfg *repoconfig.Config) ([]string, error) {
	before, err := pl.entriesAt(ctx, src, req.BaseSHA)
	if err != nil {
		return nil, err
	}
	now, err := pl.entriesAt(ctx, src, req.HeadSHA)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, name := range cfg.Names() {
		if !before.Same(now, name) {
			changed = append(changed, name)
		}
	}
	return changed, nil
}

// entriesAt reads the project entries of sluice.yaml at commit; nil (no
// entry the same as any other) when the commit has none or they cannot be
// read (too large, not YAML). Only a failure to read the commit is an
// error.
func (pl planner) entriesAt(ctx context.Context, src workspace.Source, commit string) (repoconfig.Entries, error) {
	f := pl.f
	if commit == "" {
		return nil, nil
	}
	tree, err := f.Workspaces.TreeFS(ctx, src, commit, func(name string, size int64) bool {
		return name == repoconfig.FileName && size <= repoconfig.MaxFileSize
	})
	if err != nil {
		return nil, err
	}
	data, err := repoconfig.ReadFile(tree, repoconfig.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var entries repoconfig.Entries
	if err == nil {
		entries, err = repoconfig.EntriesOf(data)
	}
	if err != nil {
		f.Log.Info("comparing the projects' entries of sluice.yaml: every project counts as changed", "repo", src.Repo, "commit", gitx.Short(commit), "err", err)
		return nil, nil
	}
	return entries, nil
}

// tooManyProjects refuses to plan a merge request that would plan more
// projects than the server's cap (MaxProjectsPerMR): one merge request
// must not queue a thousand plans in front of everyone else. Nothing is
// planned and no lock is taken; the merge request is told, in one notice
// kept up to date, how many projects it touches, the cap and what to do.
func (pl planner) tooManyProjects(ctx context.Context, fg forge.Forge, path string, mr *forge.MergeRequest, req Request, names []string) error {
	f := pl.f
	limit := f.MaxProjectsPerMR
	what := "touches"
	if len(req.Projects) > 0 {
		what = "names"
	}
	shown := names
	if len(shown) > 20 {
		shown = shown[:20]
	}
	list := strings.Join(shown, ", ")
	if len(names) > len(shown) {
		list += fmt.Sprintf(" and %d more", len(names)-len(shown))
	}
	msg := fmt.Sprintf("This merge request was not planned: at %s it %s %d projects, more than the %d this server plans for one merge request "+
		"(its `--max-projects-per-mr` setting). Nothing was planned and no project lock was taken.\n\n"+
		"To go on, split the change into merge requests of at most %d projects each; or comment `sluice plan -p NAME,NAME` naming at most %d of them; "+
		"or ask the server's operator to raise `--max-projects-per-mr`.\n\nThe projects: %s.",
		gitx.Short(req.HeadSHA), what, len(names), limit, limit, limit, list)
	if _, err := f.Audit.Record(ctx, req.Actor, "plan.refused", subject(req.Repo, req.MR, ""),
		map[string]any{"reason": "too many projects", "projects": len(names), "max_projects_per_mr": limit, "head": req.HeadSHA}); err != nil {
		return err
	}
	f.Log.Warn("not planning a merge request with more projects than --max-projects-per-mr",
		"repo", req.Repo, "mr", req.MR, "head", gitx.Short(req.HeadSHA), "projects", len(names), "max_projects_per_mr", limit)
	if fg == nil {
		return permanent.Wrap(fmt.Errorf("%w: %s", ErrInvalid, msg))
	}
	f.pub().setGate(ctx, fg, path, req.Repo, mr, forge.CheckFailure, fmt.Sprintf("not planned: %d projects, more than the %d this server plans", len(names), limit))
	return f.notice(ctx, fg, path, req, "too-many-projects", msg)
}

// refuse answers a command that may not be carried out, and audits it.
func (f *Flow) refuse(ctx context.Context, fg forge.Forge, path string, req Request, what, msg string) error {
	if _, err := f.Audit.Record(ctx, req.Actor, what+".refused", subject(req.Repo, req.MR, strings.Join(req.Projects, ",")),
		map[string]any{"reason": msg, "comment": req.CommentID}); err != nil {
		return err
	}
	return fg.Reply(ctx, path, req.MR, msg)
}

// notice posts an explanation once per merge request and kind.
func (f *Flow) notice(ctx context.Context, fg forge.Forge, path string, req Request, kind, msg string) error {
	marker := "<!-- sluice:notice " + kind + " -->"
	return fg.UpsertComment(ctx, path, req.MR, marker, []string{marker + "\n" + msg})
}

// queuePlan creates the plan run of one project (once per head and base)
// and enqueues it if the MR holds the project's lock, or takes none
// (planOnly: it merges into a branch Sluice does not apply from).
func (pl planner) queuePlan(ctx context.Context, req Request, p *repoconfig.Project, planOnly bool) error {
	f := pl.f
	ws := p.EngineWorkspace()
	existing, err := f.Store.ListRuns(ctx, store.RunFilter{Repo: req.Repo, MR: req.MR, Project: p.Name, Workspace: ws, Kind: store.KindPlan, HeadSHA: req.HeadSHA, Limit: 20})
	if err != nil {
		return err
	}
	// The same head and base is planned once — unless a person asks again
	// (a comment), the plan failed, or it was discarded (a reopened MR).
	var run store.Run
	for _, r := range existing {
		if req.ByComment || r.BaseSHA != req.BaseSHA || r.State == store.StateCancelled || r.State == store.StateInterrupted || r.State == store.StateFailed {
			continue
		}
		if s := readSummary(r); s.PlanID != 0 {
			if p, err := f.Store.GetPlan(ctx, s.PlanID); err == nil && p.Discarded {
				continue
			}
		}
		run = r
		break
	}
	if run.ID == 0 {
		run, err = f.Store.CreateRun(ctx, store.Run{
			Kind: store.KindPlan, Repo: req.Repo, MR: req.MR, Project: p.Name, Workspace: ws, Dir: p.Dir,
			HeadSHA: req.HeadSHA, BaseSHA: req.BaseSHA, Actor: req.Actor,
		})
		if err != nil {
			return err
		}
	}
	// The run supersedes the MR's older runs still waiting. They are
	// cancelled after it exists, so a superseded run is never the
	// project's latest.
	if err := f.locks().cancelWaiting(ctx, run); err != nil {
		return err
	}
	if run.State != store.StateQueued {
		return nil
	}
	if planOnly {
		return f.Jobs.EnqueuePlan(ctx, run.ID)
	}
	lock, err := f.Store.AcquireLock(ctx, lockOf(run), p.Name, req.MR)
	if err != nil {
		return err
	}
	if !lock.Held {
		f.Log.Info("plan waits for the project lock", "run", run.ID, "repo", req.Repo, "mr", req.MR, "project", p.Name, "holder", lock.Holder, "position", lock.Position)
		return nil
	}
	return f.Jobs.EnqueuePlan(ctx, run.ID)
}

// lockOf is the lock plan run r plans under: its project's directory and
// workspace, whatever the project is called (a merge request that renames
// a project, or names a discovered one, must wait for the lock another
// holds on the same code and state).
func lockOf(r store.Run) store.LockKey {
	return store.LockKey{Repo: r.Repo, Dir: r.Dir, Workspace: r.Workspace}
}

// cancelWaiting cancels the queued plan runs of plan run newer's project
// and merge request older than newer.
func (lk locker) cancelWaiting(ctx context.Context, newer store.Run) error {
	f := lk.f
	runs, err := f.allRuns(ctx, store.RunFilter{Repo: newer.Repo, MR: newer.MR, Project: newer.Project, Workspace: newer.Workspace, Kind: store.KindPlan, State: store.StateQueued})
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.ID >= newer.ID {
			continue
		}
		if _, err := f.Store.FinishRun(ctx, r.ID, store.StateCancelled, "superseded by a newer push", nil); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}

// applyMR creates an apply run for each project of the MR whose latest
// plan has changes, and starts them in dependency order.
func (dc decider) applyMR(ctx context.Context, ev store.Event, req Request) error {
	f := dc.f
	fg, path, mr, err := f.forgeMR(ctx, req.Repo, req.MR)
	if err != nil {
		return err
	}
	if fg != nil {
		return dc.applyForgeMR(ctx, ev, req, fg, path, mr)
	}
	// A plain git repository has no review: its projects' runs are
	// created in dependency order, as on a forge (a dependent's run
	// created before its dependency's would be cancelled by a runQueuedApplies
	// that came in between, its dependency's changes not applied and not
	// coming), and wait for their dependencies' applies.
	states, err := f.projectStates(ctx, req.Repo, req.MR)
	if err != nil {
		return err
	}
	verdicts, err := decideApplies(ctx, nil, ungated, states, req.Projects, nil)
	if err != nil {
		return err
	}
	var created []int64
	for _, v := range verdicts {
		id, err := dc.createApply(ctx, *v.st.Plan, req.Actor)
		if err != nil {
			return err
		}
		if id != 0 {
			created = append(created, id)
		}
	}
	// The runs start in dependency order: those that depend on another
	// project's apply wait for it (runQueuedApplies).
	if err := f.applyQueue().runQueuedApplies(ctx, req.Repo, req.MR); err != nil {
		return err
	}
	f.Log.Info("apply requested", "repo", req.Repo, "mr", req.MR, "actor", req.Actor, "runs", created, "event", ev.ID)
	return nil
}

// closeMR handles a merge request that closed. Merged, its reviewed plans
// of projects that apply after merge are applied if the gate allows (else
// the comment says why, and the locks stay until a person applies or
// unlocks); the rest of its locks go to the next merge requests. Closed
// without merge, its plans are discarded and its locks released.
//
// On a forge, what counts is what the forge says the merge request is
// now, not what the request claims (an API request, a late redelivery):
// merged, it is handled as merged; closed, as closed without merge; open,
// the request is ignored. A plain git repository has only the request's
// word.
func (dc decider) closeMR(ctx context.Context, ev store.Event, req Request) error {
	f := dc.f
	fg, path, mr, err := f.forgeMR(ctx, req.Repo, req.MR)
	if err != nil {
		return err
	}
	if fg != nil {
		var end mrEnd
		if end, err = dc.endOf(ctx, ev, fg, path, mr, req); err != nil || end == endNone {
			return err
		}
		if end == endMerged {
			return f.decider().mergedForgeMR(ctx, ev, req, fg, path, mr)
		}
		req.Merged = end == endMergedElsewhere
	}
	if err := dc.endMR(ctx, ev, req); err != nil {
		return err
	}
	if fg != nil {
		return f.pub().RefreshMR(ctx, req.Repo, req.MR)
	}
	return nil
}

// mrEnd is how a merge request ended, as its forge says.
type mrEnd int

const (
	endNone            mrEnd = iota // it is open: the request is ignored
	endMerged                       // merged into a branch Sluice applies from
	endMergedElsewhere              // merged into another branch: handled as closed
	endClosed                       // closed without merging
)

// endOf reads how a forge's merge request ended, whatever the request
// claims. One the forge says is still open is asked about again (an
// error, for the job's backoff) a while after a webhook: the forge's API
// may not say merged or closed yet when its webhook already does. After
// that, it was reopened, and the request is ignored.
func (dc decider) endOf(ctx context.Context, ev store.Event, fg forge.Forge, path string, mr *forge.MergeRequest, req Request) (mrEnd, error) {
	f := dc.f
	switch mr.State {
	case forge.MRMerged:
		elsewhere, err := f.mergedElsewhere(ctx, fg, path, mr)
		if err != nil || !elsewhere {
			return endMerged, err
		}
		return endMergedElsewhere, nil
	case forge.MRClosed:
		if req.Merged {
			f.Log.Warn("a request says the merge request was merged, but the forge says it was closed without merging: handling it as closed",
				"repo", req.Repo, "mr", req.MR, "actor", req.Actor, "event", ev.ID)
		}
		return endClosed, nil
	}
	if !fromAPI(ev) && f.now().Sub(ev.ReceivedAt) < mergeLag {
		what := "closed"
		if req.Merged {
			what = "merged"
		}
		return endNone, fmt.Errorf("merge request %s!%d: the webhook says %s, the forge still says %s; asking again", req.Repo, req.MR, what, mr.State)
	}
	f.Log.Warn("ignoring a close request: the forge says the merge request is open",
		"repo", req.Repo, "mr", req.MR, "state", mr.State, "merged", req.Merged, "actor", req.Actor, "event", ev.ID)
	return endNone, nil
}

// endMR ends a merge request that applies nothing: its plans are
// discarded, its waiting plan runs cancelled, its locks released (and
// passed to the merge requests waiting for them, which start), audited
// as closed or merged.
func (dc decider) endMR(ctx context.Context, ev store.Event, req Request) error {
	f := dc.f
	if err := f.Store.DiscardPlans(ctx, req.Repo, req.MR); err != nil {
		return err
	}
	waiting, err := f.allRuns(ctx, store.RunFilter{Repo: req.Repo, MR: req.MR, Kind: store.KindPlan, State: store.StateQueued})
	if err != nil {
		return err
	}
	for _, r := range waiting {
		if _, err := f.Store.FinishRun(ctx, r.ID, store.StateCancelled, "the merge request was closed", nil); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	passed, err := f.Store.ReleaseMR(ctx, req.Repo, req.MR)
	if err != nil {
		return err
	}
	action := "mr.closed"
	if req.Merged {
		action = "mr.merged"
	}
	if _, err := f.Audit.Record(ctx, req.Actor, action, subject(req.Repo, req.MR, ""), map[string]any{"event": ev.ID}); err != nil {
		return err
	}
	return f.locks().startWaiters(ctx, passed)
}

// unlockMR releases an MR's locks at a person's request; on a forge, the
// person needs write access.
func (lk locker) unlockMR(ctx context.Context, ev store.Event, req Request) error {
	f := lk.f
	fg, path, onForge := f.forgeOf(req.Repo)
	if onForge && req.ByComment {
		perm, err := fg.Permission(ctx, path, req.Actor)
		if err != nil && !errors.Is(err, forge.ErrNotFound) {
			return err
		}
		if perm < forge.PermWrite {
			return f.refuse(ctx, fg, path, req, "unlock", fmt.Sprintf("@%s, only people with write access to the repository can release Sluice's locks.", req.Actor))
		}
	}
	if len(req.Projects) == 0 {
		passed, err := f.Store.ReleaseMR(ctx, req.Repo, req.MR)
		if err != nil {
			return err
		}
		if err := f.locks().startWaiters(ctx, passed); err != nil {
			return err
		}
	} else {
		keys, err := f.locks().locksOf(ctx, req.Repo, req.MR, func(l store.Lock) bool { return slices.Contains(req.Projects, l.Project) })
		if err != nil {
			return err
		}
		if err := f.locks().releaseLocks(ctx, req.MR, keys...); err != nil {
			return err
		}
	}
	if _, err := f.Audit.Record(ctx, req.Actor, "lock.released", subject(req.Repo, req.MR, strings.Join(req.Projects, ",")),
		map[string]any{"reason": req.Reason, "event": ev.ID}); err != nil {
		return err
	}
	// Its checklist and sluice/gate say at once that its released projects
	// may not be applied from it.
	f.pub().refresh(ctx, store.Run{Repo: req.Repo, MR: req.MR})
	return nil
}

// LockRef names a lock as a person does: its repository and workspace,
// and the project's name as the lock shows it, or its directory.
type LockRef struct {
	Repo      string `json:"repo"`
	Project   string `json:"project,omitempty"`
	Dir       string `json:"dir,omitempty"`
	Workspace string `json:"workspace"`
}

// ReleaseLock releases one lock at a person's request (the API's and the
// CLI's `locks release`), audited with the reason, and starts the next MR.
func (lk locker) ReleaseLock(ctx context.Context, actor string, ref LockRef, reason string) (store.Lock, error) {
	f := lk.f
	l, err := lk.findLock(ctx, ref)
	if err != nil {
		return store.Lock{}, err
	}
	if err := lk.releaseLocks(ctx, l.MR, l.LockKey); err != nil {
		return store.Lock{}, err
	}
	_, err = f.Audit.Record(ctx, actor, "lock.released", subject(l.Repo, l.MR, l.Project),
		map[string]any{"workspace": l.Workspace, "dir": l.Dir, "reason": reason})
	// The merge request that held it no longer may apply the project:
	// its checklist and sluice/gate say so now, not at its next event.
	f.pub().refresh(ctx, store.Run{Repo: l.Repo, MR: l.MR})
	return l, err
}

// findLock finds the lock ref names: by its directory, or else by the
// name its holder gives the project, which two locks may share (two
// directories each called prod by a merge request): then the directory
// must be named.
func (lk locker) findLock(ctx context.Context, ref LockRef) (store.Lock, error) {
	f := lk.f
	if ref.Dir != "" {
		return f.Store.GetLock(ctx, store.LockKey{Repo: ref.Repo, Dir: ref.Dir, Workspace: ref.Workspace})
	}
	locks, err := f.Store.ListLocks(ctx, ref.Repo)
	if err != nil {
		return store.Lock{}, err
	}
	var found []store.Lock
	for _, l := range locks {
		if l.Project == ref.Project && l.Workspace == ref.Workspace {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 0:
		return store.Lock{}, fmt.Errorf("no lock of project %s (workspace %s) in %s is held: %w", ref.Project, ref.Workspace, ref.Repo, store.ErrNotFound)
	case 1:
		return found[0], nil
	}
	var dirs []string
	for _, l := range found {
		dirs = append(dirs, l.Dir)
	}
	return store.Lock{}, fmt.Errorf("%w: %d locks of %s are held as project %s (workspace %s), of the directories %s; name the directory to release",
		ErrInvalid, len(found), ref.Repo, ref.Project, ref.Workspace, strings.Join(dirs, ", "))
}

// locksOf lists the keys of the locks in repo that merge request mr holds
// and keep accepts.
func (lk locker) locksOf(ctx context.Context, repo string, mr int64, keep func(store.Lock) bool) ([]store.LockKey, error) {
	f := lk.f
	locks, err := f.Store.ListLocks(ctx, repo)
	if err != nil {
		return nil, err
	}
	var keys []store.LockKey
	for _, l := range locks {
		if l.MR == mr && keep(l) {
			keys = append(keys, l.LockKey)
		}
	}
	return keys, nil
}

// releaseLocks releases merge request mr's locks of keys and starts the
// waiting plan of each merge request a lock passes to.
func (lk locker) releaseLocks(ctx context.Context, mr int64, keys ...store.LockKey) error {
	f := lk.f
	passed := map[store.LockKey]store.Waiter{}
	for _, k := range keys {
		next, err := f.Store.ReleaseLock(ctx, k, mr)
		if err != nil {
			return err
		}
		if next != nil {
			passed[k] = *next
		}
	}
	return lk.startWaiters(ctx, passed)
}

// startWaiters enqueues the waiting plan run of each MR a lock passed to.
func (lk locker) startWaiters(ctx context.Context, passed map[store.LockKey]store.Waiter) error {
	f := lk.f
	for k, w := range passed {
		runs, err := f.Store.ListRuns(ctx, store.RunFilter{Repo: k.Repo, MR: w.MR, Dir: k.Dir, Workspace: k.Workspace, Kind: store.KindPlan, State: store.StateQueued, Limit: 1})
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			// Nothing waiting (the MR was planned, then queued again?):
			// the lock is the MR's until it closes.
			continue
		}
		f.Log.Info("lock passed on", "repo", k.Repo, "project", w.Project, "dir", k.Dir, "workspace", k.Workspace, "mr", w.MR, "run", runs[0].ID)
		if err := f.Jobs.EnqueuePlan(ctx, runs[0].ID); err != nil {
			return err
		}
	}
	return nil
}

// lockLost says why the merge request of plan run r no longer holds its
// project's lock ("" when it does): a person released it (`sluice
// unlock`, `sluice locks release`), and another merge request may hold
// it now. Its plan must not be applied then: the lock is what keeps two
// merge requests from changing the same infrastructure at once.
func (lk locker) lockLost(ctx context.Context, r store.Run, merged bool) (string, error) {
	f := lk.f
	l, err := f.Store.GetLock(ctx, lockOf(r))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return "", err
	case l.MR == r.MR:
		return "", nil
	}
	why := "the project lock was released from this merge request"
	if err == nil {
		why = fmt.Sprintf("the project lock was released from this merge request, and merge request %d holds it now", l.MR)
	}
	if merged {
		return why + fmt.Sprintf(": plan %s from a new merge request (comment `sluice plan -p %s` on it)", r.Project, r.Project), nil
	}
	return why + fmt.Sprintf(": comment `sluice plan -p %s` to take it again and plan anew", r.Project), nil
}
