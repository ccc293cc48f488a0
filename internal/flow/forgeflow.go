package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/affected"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/workspace"
)

// Forges resolves a repository name ("gitea:org/infra") to the forge that
// hosts it and the repository's path there; ok is false for a plain git
// repository.
type Forges func(repo string) (fg forge.Forge, path string, ok bool)

// MRPipelines is implemented by forges whose merge request pipelines are
// not the head commit's (GitLab): the checks the gate must look at.
type MRPipelines interface {
	MRChecks(ctx context.Context, repo string, number int64) ([]forge.Check, error)
}

// MergeRights is implemented by forges with per-branch merge rights
// (GitLab's protected branches "allowed to merge").
type MergeRights interface {
	CanMerge(ctx context.Context, repo, login, branch string) (bool, error)
}

// runSummary is what a finished plan run records beside its counts: the
// project's review rules as sluice.yaml had them at the planned commit, so
// the gate never needs to check the code out again.
type runSummary struct {
	PlanID  int64          `json:"plan_id"`
	Summary engine.Summary `json:"summary"`
	Changes bool           `json:"changes"`
	Rules   *projectRules  `json:"rules,omitempty"`
}

type projectRules struct {
	MinApprovals int      `json:"min_approvals"`
	From         []string `json:"from,omitempty"`
	// Owners are the CODEOWNERS owners of the project's changed files when
	// sluice.yaml asks for code owners' approval.
	Owners []string `json:"owners,omitempty"`
	Mode   string   `json:"mode"`
	// Branch is the branch whose sluice.yaml and CODEOWNERS (at its tip
	// as the forge said when the plan ran) the rules come from; "" for a
	// plain git repository, and for plans recorded before it was.
	Branch   string   `json:"branch,omitempty"`
	Relax    []string `json:"relax,omitempty"`
	Patterns []string `json:"patterns"`
	Dir      string   `json:"dir"`
	Engine   string   `json:"engine"`
	// DependsOn is the project's depends_on in the sluice.yaml it was
	// planned with: its apply waits for theirs in the same merge request.
	DependsOn []string `json:"depends_on,omitempty"`
	// Notes are shown under the project's checklist: where the head's
	// approval rules differ from those in force (the base's).
	Notes []string `json:"notes,omitempty"`
	// RulesChanged: the merge request changes the project's rules (its
	// approval, apply.mode or relax). A change of the rules is a change to
	// review, under the rules in force, even when the plan has no changes
	// to apply (toReview).
	RulesChanged bool `json:"rules_changed,omitempty"`
}

// toReview says whether project st of a merge request has a checklist to
// pass: a live plan not applied yet, with changes to apply or rules the
// merge request changes.
func toReview(st projectState) bool {
	if st.Plan == nil || st.Plan.Discarded || st.Apply != nil {
		return false
	}
	return st.Plan.HasChanges || (st.Summary.Rules != nil && st.Summary.Rules.RulesChanged)
}

func readSummary(r store.Run) runSummary {
	var s runSummary
	_ = json.Unmarshal(r.Summary, &s)
	return s
}

// forgeMR reads a merge request from its forge.
func (f *Flow) forgeMR(ctx context.Context, repo string, number int64) (forge.Forge, string, *forge.MergeRequest, error) {
	fg, path, ok := f.forgeOf(repo)
	if !ok {
		return nil, "", nil, nil
	}
	mr, err := fg.GetMR(ctx, path, number)
	if err != nil {
		if errors.Is(err, forge.ErrNotFound) {
			return fg, path, nil, permanent.Wrap(fmt.Errorf("merge request %s!%d: %w", repo, number, err))
		}
		return fg, path, nil, err
	}
	return fg, path, mr, nil
}

// projectState is where one project of a merge request stands: its
// latest plan run, the plan it made, and the apply of that plan.
type projectState struct {
	Project, Workspace string
	PlanRun            store.Run
	Plan               *store.Plan
	Apply              *store.Run
	Summary            runSummary
	// WaitsForLock: its plan run is queued behind another merge request's
	// lock of the project (set by a refresh, for the statuses).
	WaitsForLock bool
	// OutputsChangedAt is when the last apply of the project in this
	// merge request that changed or removed an output ended (nil: none
	// did), whichever plan it applied: a project that depends on it and
	// was planned before may rest on the old outputs, even once the
	// project is planned again with nothing left to apply.
	OutputsChangedAt *time.Time
}

// projectKey is the map key of a project and workspace of a merge request.
func projectKey(project, workspace string) string { return project + "\x00" + workspace }

// projectStates lists the MR's projects in the order they were planned.
// It runs on every decision and every apply's start and settling, so it
// reads each plan once (the plan a project's apply applied is usually its
// latest, read for the project too), and reads the plans of applies only
// for OutputsChangedAt, which only a project that another one depends on
// needs.
func (f *Flow) projectStates(ctx context.Context, repo string, mr int64) ([]projectState, error) {
	runs, err := f.allRuns(ctx, store.RunFilter{Repo: repo, MR: mr})
	if err != nil {
		return nil, err
	}
	plans := map[int64]store.Plan{}
	getPlan := func(id int64) (store.Plan, error) {
		if p, ok := plans[id]; ok {
			return p, nil
		}
		p, err := f.Store.GetPlan(ctx, id)
		if err == nil {
			plans[id] = p
		}
		return p, err
	}
	var (
		states  []projectState
		seen    = map[string]bool{}
		applies = map[int64]store.Run{}
		// applied: the succeeded applies, newest first.
		applied []store.Run
		// deps: the projects some plan run of the merge request (not
		// only the latest of each project: an apply may be of an older
		// plan, see applyState) lists in depends_on.
		deps = map[string]bool{}
	)
	for _, r := range runs { // newest first
		if r.Kind == store.KindApply {
			if _, ok := applies[r.PlanID]; !ok {
				applies[r.PlanID] = r
			}
			if r.State == store.StateSucceeded && r.FinishedAt != nil {
				applied = append(applied, r)
			}
			continue
		}
		summary := readSummary(r)
		if summary.Rules != nil {
			for _, d := range summary.Rules.DependsOn {
				deps[d] = true
			}
		}
		k := projectKey(r.Project, r.Workspace)
		if seen[k] {
			continue
		}
		seen[k] = true
		st := projectState{Project: r.Project, Workspace: r.Workspace, PlanRun: r, Summary: summary}
		if st.Summary.PlanID != 0 {
			// A plan that cannot be read is an error, not a project with
			// nothing to apply: the projects that depend on it would go.
			p, err := getPlan(st.Summary.PlanID)
			if err != nil {
				return nil, fmt.Errorf("reading the plan of %s: %w", subject(repo, mr, r.Project), err)
			}
			st.Plan = &p
			if a, ok := applies[p.ID]; ok {
				st.Apply = &a
			}
		}
		states = append(states, st)
	}
	// changed: by project and workspace, see OutputsChangedAt.
	changed := map[string]time.Time{}
	for _, r := range applied {
		k := projectKey(r.Project, r.Workspace)
		if !deps[r.Project] || !r.FinishedAt.After(changed[k]) {
			continue
		}
		p, err := getPlan(r.PlanID)
		if err != nil {
			return nil, fmt.Errorf("reading the plan apply run %d applied: %w", r.ID, err)
		}
		if outputsChanged(p) {
			changed[k] = *r.FinishedAt
		}
	}
	for i := range states {
		if at, ok := changed[projectKey(states[i].Project, states[i].Workspace)]; ok {
			states[i].OutputsChangedAt = &at
		}
	}
	// Planned order: oldest run first, which is dependency order.
	slices.Reverse(states)
	return states, nil
}

// mrGate runs the gate for the projects of one merge request in one
// decision (a refresh, an apply, a merge). What the forge says of the merge
// request as a whole (reviews, threads, checks, permissions) is read once,
// when the first project needs it, and shared by every project.
type mrGate struct {
	f    *Flow
	fg   forge.Forge
	path string
	mr   *forge.MergeRequest
	// actor asks for the apply; "" when nobody asks (a refresh). With
	// actorApproves, the actor's request counts as their approval: on a
	// merged merge request the forge takes no more approvals, so an
	// eligible reviewer's `sluice apply` is how they give it.
	actor         string
	actorApproves bool
	// nobody, when set, says why no person asks (the JSON API, APIActor,
	// asks; the forge does not say who merged): the actor is never asked
	// about on the forge (a forge account may have the same name), has no
	// right to apply and never approves, and "may apply" fails saying this.
	nobody string

	read bool
	in   gate.Input // the merge request's part, once read

	// groups and unread are the members of the groups the projects' rules
	// name, each read once per decision, and why a group could not be read.
	groups map[string][]string
	unread map[string]string
	// merges and entries are what merging each planned head brings and
	// the sluice.yaml entries of each commit, read once per decision.
	merges  map[string]brought
	entries map[string]repoconfig.Entries
	// applyFrom are the branches Sluice applies from, once read.
	applyFrom []string
	// atMerge: the decision is the merge's own, the last moment the
	// merged merge request's project lock is its (see lockLost).
	atMerge bool
}

func (dc decider) newGate(fg forge.Forge, path string, mr *forge.MergeRequest, actor string, actorApproves bool) *mrGate {
	return &mrGate{f: dc.f, fg: fg, path: path, mr: mr, actor: actor, actorApproves: actorApproves && actor != ""}
}

// newAPIGate is the gate for a decision Sluice's JSON API asks for: the
// asker is APIActor, which has no permission on the forge and whose
// request is no approval, so the "may apply" item fails and says why.
func (dc decider) newAPIGate(fg forge.Forge, path string, mr *forge.MergeRequest) *mrGate {
	return dc.newNobodyGate(fg, path, mr, APIActor, apiMayNotApply)
}

// newNobodyGate is the gate for a decision no person asks for: actor
// names who asks instead, and why is the "may apply" item's detail.
func (dc decider) newNobodyGate(fg forge.Forge, path string, mr *forge.MergeRequest, actor, why string) *mrGate {
	g := dc.newGate(fg, path, mr, actor, false)
	g.nobody = why
	return g
}

// apiMayNotApply is the "may apply" item's detail when the API asks.
const apiMayNotApply = "asked through Sluice's API, which is not a person: the API token has no right to apply and never counts as an approval. " +
	"A person with write access applies with a `sluice apply` comment, or by merging"

// readMR reads the merge request's part of the gate's input.
func (g *mrGate) readMR(ctx context.Context) error {
	if g.read {
		return nil
	}
	// The permissions below may read the same teams again (Gitea's): they
	// are read once for this decision, and again for the next.
	ctx = forge.WithMemo(ctx)
	in := gate.Input{MR: *g.mr, Merged: g.mr.State == forge.MRMerged, Actor: g.actor, ReviewerPermissions: map[string]forge.Permission{}}
	into := func(read func(context.Context, *gate.Input) error) func(context.Context) error {
		return func(ctx context.Context) error { return read(ctx, &in) }
	}
	if err := runSteps(ctx, into(g.readSelf), into(g.readBranches), into(g.readAsker), into(g.readReviews),
		into(g.readCommitters), into(g.readReviewers), into(g.readThreads), into(g.readChecks)); err != nil {
		return err
	}
	g.in, g.read = in, true
	return nil
}

// readSelf reads the account Sluice acts as, which never approves (the
// gate decides).
func (g *mrGate) readSelf(ctx context.Context, in *gate.Input) (err error) {
	if in.Self, err = g.fg.Self(ctx); err != nil {
		return fmt.Errorf("asking the forge which account Sluice acts as: %w", err)
	}
	return nil
}

func (g *mrGate) readBranches(ctx context.Context, in *gate.Input) (err error) {
	in.ApplyBranches, err = g.branches(ctx)
	return err
}

// readAsker reads the access of the person who asks, if one does. Where
// the forge says who may merge into the base branch (GitLab's protected
// branches), applying needs that right too.
func (g *mrGate) readAsker(ctx context.Context, in *gate.Input) (err error) {
	if g.actor == "" || g.nobody != "" {
		return nil
	}
	if in.Permission, err = g.fg.Permission(ctx, g.path, g.actor); err != nil {
		return err
	}
	in.ReviewerPermissions[g.actor] = in.Permission
	rights, ok := unscrubbed(g.fg).(MergeRights)
	if !ok || in.Permission < forge.PermWrite {
		return nil
	}
	may, err := rights.CanMerge(ctx, g.path, g.actor, g.mr.BaseRef)
	if err == nil && !may {
		in.Permission = forge.PermRead
	}
	return err
}

func (g *mrGate) readReviews(ctx context.Context, in *gate.Input) (err error) {
	in.Reviews, err = g.fg.Reviews(ctx, g.path, g.mr.Number)
	return err
}

// readCommitters reads who pushed commits to the merge request: they may
// not approve it. When the forge cannot say, however often it is asked
// (GitHub lists 250 commits at most: forge.ErrCommitsTruncated), the gate
// fails closed and says why: failing the decision instead would retry it
// without end, and nobody would be told. Any other error (the forge
// failing for a moment) fails the decision, to be retried, as the other
// reads do: turned into a refusal, it would refuse a merge's apply for
// good.
func (g *mrGate) readCommitters(ctx context.Context, in *gate.Input) (err error) {
	switch in.Committers, err = g.fg.Committers(ctx, g.path, g.mr.Number); {
	case err == nil:
	case errors.Is(err, forge.ErrCommitsTruncated) && ctx.Err() == nil:
		in.Committers, in.CommittersUnread = nil, err.Error()
		g.f.Log.Warn("the forge cannot say who committed to the merge request; no approval counts",
			"repo", g.path, "mr", g.mr.Number, "err", err)
	default:
		return err
	}
	return nil
}

// readReviewers reads the access of each approver.
func (g *mrGate) readReviewers(ctx context.Context, in *gate.Input) error {
	for _, rv := range in.Reviews {
		if _, ok := in.ReviewerPermissions[rv.User.Login]; ok || rv.State != forge.ReviewApproved {
			continue
		}
		p, err := g.fg.Permission(ctx, g.path, rv.User.Login)
		if err != nil && !errors.Is(err, forge.ErrNotFound) {
			return err
		}
		in.ReviewerPermissions[rv.User.Login] = p
	}
	return nil
}

func (g *mrGate) readThreads(ctx context.Context, in *gate.Input) (err error) {
	in.Threads, err = g.fg.UnresolvedThreads(ctx, g.path, g.mr.Number)
	return err
}

// readChecks reads the head's other checks; on GitLab, the merge request
// pipelines, which run on a merge commit the head's checks do not show.
func (g *mrGate) readChecks(ctx context.Context, in *gate.Input) (err error) {
	if mc, ok := unscrubbed(g.fg).(MRPipelines); ok {
		in.Checks, err = mc.MRChecks(ctx, g.path, g.mr.Number)
		return err
	}
	in.Checks, err = g.fg.Checks(ctx, g.path, g.mr.HeadSHA)
	return err
}

// branches are the branches Sluice applies from (applyBranches), asked
// once per decision.
func (g *mrGate) branches(ctx context.Context) ([]string, error) {
	if g.applyFrom == nil {
		b, err := g.f.applyBranches(ctx, g.fg, g.path)
		if err != nil {
			return nil, err
		}
		g.applyFrom = b
	}
	return g.applyFrom, nil
}

// evaluate runs the gate for one project of the merge request.
func (g *mrGate) evaluate(ctx context.Context, st projectState) (gate.Result, error) {
	if err := g.readMR(ctx); err != nil {
		return gate.Result{}, err
	}
	in := g.in
	in.ActorApproves, in.Now, in.NobodyAsks = g.actorApproves, g.f.now(), g.nobody
	if st.Plan != nil && (g.mr.State == forge.MROpen || g.atMerge) && slices.Contains(in.ApplyBranches, g.mr.BaseRef) {
		var err error
		if in.LockLost, err = g.f.locks().lockLost(ctx, st.PlanRun, g.mr.State == forge.MRMerged); err != nil {
			return gate.Result{}, err
		}
	}
	rules := gate.DefaultRules()
	var relax, notes []string
	if r := st.Summary.Rules; r != nil {
		rules = gate.Rules{MinApprovals: r.MinApprovals, From: r.From, Owners: r.Owners}
		relax = r.Relax
		in.RulesBranch = r.Branch
	}
	// The server's policy has the last word over sluice.yaml.
	rules, in.Relaxed, notes = gate.Effective(rules, relax, g.f.Policy)
	if err := g.readGroups(ctx, gate.GroupsOf(rules)); err != nil {
		return gate.Result{}, err
	}
	in.Groups, in.UnreadGroups = g.groups, g.unread
	if st.Plan != nil {
		in.PlanHead, in.PlanAt = st.Plan.HeadSHA, st.Plan.CreatedAt
		var err error
		if in.Diverged, err = g.diverged(ctx, st); err != nil {
			return gate.Result{}, err
		}
	}
	res := gate.Evaluate(rules, in)
	res.Notes = notes
	if r := st.Summary.Rules; r != nil {
		res.Notes = append(res.Notes, r.Notes...)
	}
	return res, nil
}

// readGroups reads the members of the groups not read yet in this
// decision. A group that cannot be read (it does not exist, the token may
// not see it, the forge fails) matches nobody: the gate fails closed and
// its checklist says why. Only a cancelled context is an error.
func (g *mrGate) readGroups(ctx context.Context, names []string) error {
	if g.groups == nil {
		g.groups, g.unread = map[string][]string{}, map[string]string{}
	}
	for _, name := range names {
		if _, ok := g.groups[name]; ok {
			continue
		}
		if _, ok := g.unread[name]; ok {
			continue
		}
		members, err := g.fg.GroupMembers(ctx, g.path, name)
		switch {
		case err == nil:
			g.groups[name] = members
		case ctx.Err() != nil:
			return err
		case errors.Is(err, forge.ErrNotFound):
			g.unread[name] = "not found"
		default:
			g.unread[name] = "the forge refused or failed (the Sluice server log has the error)"
			g.f.Log.Warn("reading the members of a group failed; its members' approvals do not count",
				"repo", g.path, "mr", g.mr.Number, "group", name, "err", err)
		}
	}
	return nil
}

// diverged lists the project's files in which what the merge brings
// differs from what was planned (gate.Input.Diverged): its patterns, its
// entry in sluice.yaml and every file under its directory
// (repoconfig.FreshnessPatterns).
func (g *mrGate) diverged(ctx context.Context, st projectState) ([]string, error) {
	src, err := g.f.source(ctx, st.PlanRun.Repo)
	if err != nil {
		return nil, err
	}
	b, err := g.brought(ctx, src, st.Plan.HeadSHA)
	if err != nil || len(b.paths) == 0 {
		return nil, err
	}
	// The files bound to the plan are those the local loop binds: the
	// project's patterns, sluice.yaml, and every file in its directory
	// (a script a provisioner runs must be what was reviewed).
	patterns := []string{repoconfig.FileName}
	if r := st.Summary.Rules; r != nil {
		patterns = repoconfig.FreshnessPatterns(r.Dir, r.Patterns)
	}
	m, err := affected.NewMatcher([]affected.Project{{Name: st.Project, Patterns: patterns}})
	if err != nil {
		return nil, err
	}
	hit := m.Match(b.paths)
	if len(hit) == 0 {
		return nil, nil
	}
	return g.withoutOthersSettings(ctx, src, st.Project, b, hit[0].Paths)
}

// brought is what merging a planned head brings that its plan did not
// see: the paths that differ between each pair of commits (a path must
// differ in every pair to count), once per planned head in a decision.
type brought struct {
	pairs [][2]string
	paths []string
}

// brought compares what was planned, the head, with what the merge
// brings. Merged: the merge commit, which must have the head's files.
// Open: what the base changed since the branch left it (from their merge
// base to the base's tip) and the head does not have as the base has it
// (head to tip): merging brings exactly those, whether the base moved
// before the plan or after it. A branch that has all of the base (their
// merge base is the tip) brings nothing.
func (g *mrGate) brought(ctx context.Context, src workspace.Source, head string) (brought, error) {
	if b, ok := g.merges[head]; ok {
		return b, nil
	}
	ws, mr := g.f.Workspaces, g.mr
	var b brought
	switch {
	case mr.State == forge.MRMerged && mr.MergeSHA != "":
		paths, err := ws.DiffFiles(ctx, src, head, mr.MergeSHA)
		if err != nil {
			return b, err
		}
		b = brought{pairs: [][2]string{{head, mr.MergeSHA}}, paths: paths}
	case mr.State == forge.MRMerged || mr.BaseSHA == "":
	default:
		tip := mr.BaseSHA
		mb, err := ws.MergeBase(ctx, src, head, tip)
		if err != nil || mb == tip {
			return b, err
		}
		changed, err := ws.DiffFiles(ctx, src, mb, tip)
		if err != nil || len(changed) == 0 {
			return b, err
		}
		lacking, err := ws.DiffFiles(ctx, src, head, tip)
		if err != nil {
			return b, err
		}
		b = brought{pairs: [][2]string{{mb, tip}, {head, tip}}}
		for _, p := range changed {
			if slices.Contains(lacking, p) {
				b.paths = append(b.paths, p)
			}
		}
	}
	if g.merges == nil {
		g.merges = map[string]brought{}
	}
	g.merges[head] = b
	return b, nil
}

// withoutOthersSettings drops sluice.yaml from the paths a project's plan
// diverged in unless the project's own entry (or the masks) differs in
// every pair of commits b compares: a change to another project's entry
// does not make this one's plan stale, nor does the base's change to this
// one that the head already has. What binds a project's plan is its own
// settings, not the whole file.
func (g *mrGate) withoutOthersSettings(ctx context.Context, src workspace.Source, project string, b brought, paths []string) ([]string, error) {
	i := slices.Index(paths, repoconfig.FileName)
	if i < 0 {
		return paths, nil
	}
	for _, pair := range b.pairs {
		from, err := g.entriesAt(ctx, src, pair[0])
		if err != nil {
			return nil, err
		}
		to, err := g.entriesAt(ctx, src, pair[1])
		if err != nil {
			return nil, err
		}
		if !from.Same(to, project) {
			continue
		}
		if paths = slices.Delete(slices.Clone(paths), i, i+1); len(paths) == 0 {
			return nil, nil
		}
		return paths, nil
	}
	return paths, nil
}

// entriesAt is Flow.entriesAt, read once per commit in a decision: every
// project of the merge request compares the same commits.
func (g *mrGate) entriesAt(ctx context.Context, src workspace.Source, commit string) (repoconfig.Entries, error) {
	if e, ok := g.entries[commit]; ok {
		return e, nil
	}
	e, err := g.f.planner().entriesAt(ctx, src, commit)
	if err != nil {
		return nil, err
	}
	if g.entries == nil {
		g.entries = map[string]repoconfig.Entries{}
	}
	g.entries[commit] = e
	return e, nil
}

// RefreshMR rewrites the merge request's one comment and its commit
// statuses from the stored runs. Refreshes of one MR never interleave in
// this process, so the last one written saw the latest state.
func (p *publisher) RefreshMR(ctx context.Context, repo string, number int64) error {
	f := p.f
	defer f.busy.lock("refresh " + subject(repo, number, ""))()

	fg, path, mr, err := f.forgeMR(ctx, repo, number)
	if err != nil || fg == nil {
		return err
	}
	states, err := f.projectStates(ctx, repo, number)
	if err != nil {
		return err
	}
	memo := subject(repo, number, "")
	before, after := p.statuses.posted(memo), map[statusKey]commitStatus{}
	comment := render.Comment{Head: mr.HeadSHA, Base: mr.BaseSHA}
	// Merged, the checklist is the merger's, as the merge's decision was:
	// it says why the merge applied nothing.
	g := f.decider().newGate(fg, path, mr, "", false)
	if mr.State == forge.MRMerged {
		g, _ = f.decider().mergedByGate(fg, path, mr)
	}
	var gates []render.Gate
	results := map[string]gate.Result{}
	for i := range states {
		st := &states[i]
		var waitingFor string
		if st.Apply != nil && st.Apply.State == store.StateQueued {
			if h := holdOf(*st, states, nil); h.Waits() {
				waitingFor = h.Dep
			}
		}
		pr, err := p.projectResult(ctx, *st, waitingFor, mr.State == forge.MRMerged)
		if err != nil {
			return err
		}
		st.WaitsForLock = pr.HeldBy != ""
		comment.Projects = append(comment.Projects, pr)
		// A checklist says whether a plan may be applied: not shown once
		// its apply exists (running, done, or failed: the project says).
		if mr.State != forge.MRClosed && toReview(*st) {
			res, err := g.evaluate(ctx, *st)
			if err != nil {
				return err
			}
			gates = append(gates, checklistOf(st.Project, res))
			results[projectKey(st.Project, st.Workspace)] = res
		}
		f.pub().postStatuses(ctx, fg, path, *st, before, after)
	}
	branches, err := g.branches(ctx)
	if err != nil {
		return err
	}
	into := slices.Contains(branches, mr.BaseRef)
	if k := (statusKey{mr.HeadSHA, GateStatus}); mr.State == forge.MROpen && len(states) > 0 && into {
		f.pub().postStatus(ctx, fg, path, memo, gateOf(mr, states, results), before, after)
	} else if s, ok := before[k]; ok {
		after[k] = s // set by planMR: a merge request without projects
	}
	p.statuses.keep(memo, after)
	if comment.Top, err = f.pub().topOf(ctx, mr, states, results, comment.Projects, branches); err != nil {
		return err
	}
	comment.Footer = render.Checklist(gates, mr.State == forge.MRMerged)
	if mr.State == forge.MRClosed {
		comment.Footer = "Closed without merging: the plans were discarded and the project locks released. Nothing was applied."
	}
	md := render.Markdown(comment, nil)
	return fg.UpsertComment(ctx, path, number, render.Marker, render.Split(md, fg.CommentLimit()))
}

// topOf is what the comment says first (render.Comment.Top): the current
// truth a reader must not have to piece together from the checklist and
// the replies below. A merged merge request says what it did not apply,
// why and what to do (or that it merged into a branch Sluice does not
// apply from); any merge request says which projects' latest plan, or
// apply, failed.
func (p *publisher) topOf(ctx context.Context, mr *forge.MergeRequest, states []projectState, results map[string]gate.Result, shown []render.ProjectResult, branches []string) (string, error) {
	var parts []string
	switch {
	case mr.State != forge.MRMerged || len(states) == 0:
	case !slices.Contains(branches, mr.BaseRef):
		parts = append(parts, render.MergedElsewhere(mr.BaseRef, branches))
	default:
		unapplied, err := p.notApplied(ctx, mr, states, results)
		if err != nil {
			return "", err
		}
		parts = append(parts, render.NotApplied(mr.BaseRef, unapplied))
	}
	var plans, applies []string
	for _, p := range shown {
		switch p.Status {
		case render.StatusFailed:
			plans = append(plans, p.Name)
		case render.StatusApplyFailed:
			applies = append(applies, p.Name)
		}
	}
	if mr.State != forge.MROpen {
		plans = nil // a merged or closed merge request is not planned again
	}
	parts = append(parts, render.Failed(plans, applies))
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n\n"), nil
}

// notApplied lists the projects of a merged merge request whose changes
// Sluice did not apply and will not apply by itself, as its state is now:
// refused at the merge (the checklist's failing items, the merger's
// included; a dependency not applied; a discarded plan), cancelled, or a
// plan that never succeeded.
func (p *publisher) notApplied(ctx context.Context, mr *forge.MergeRequest, states []projectState, results map[string]gate.Result) ([]render.Unapplied, error) {
	f := p.f
	var out []render.Unapplied
	held := map[store.LockKey]bool{}
	locks, err := f.Store.ListLocks(ctx, states[0].PlanRun.Repo)
	if err != nil {
		return nil, err
	}
	for _, l := range locks {
		if l.MR == mr.Number {
			held[l.LockKey] = true
		}
	}
	never := map[string]bool{}
	for _, st := range byDependency(states) {
		u := render.Unapplied{Project: st.Project, Held: held[lockOf(st.PlanRun)]}
		switch {
		case st.PlanRun.State == store.StateFailed || st.PlanRun.State == store.StateInterrupted:
			u.Why, u.Never = []string{"its latest plan did not succeed"}, true
		case st.Plan == nil || !st.Plan.HasChanges:
			continue
		case st.Apply != nil && st.Apply.State == store.StateCancelled:
			u.Why, u.Never = []string{st.Apply.Error}, true
		case st.Apply != nil:
			continue // applied, applying, or its apply failed (render.Failed)
		case st.Plan.Discarded:
			u.Why, u.Never = []string{discardedWhy}, true
		case gate.ModeRefusal(modeOf(st), true, false) != "":
			u.Why = []string{gate.ModeRefusal(modeOf(st), true, false)}
		default:
			res := results[projectKey(st.Project, st.Workspace)]
			if !res.OK() {
				var final bool
				u.Why, _, final = reasons(res)
				u.Never = final
			} else if h := holdOf(st, states, nil); h.Blocks() {
				u.Why, u.Never = []string{h.why(st.Project, mr)}, h.finalOnMerged(never)
			} else {
				u.Why = []string{"it was not applied at the merge; its checklist passes now"}
			}
		}
		if u.Never {
			never[st.Project] = true
		}
		out = append(out, u)
	}
	return out, nil
}

// projectResult turns a project's state into what the comment shows.
// waitingFor names the project whose apply a queued apply waits for.
func (p *publisher) projectResult(ctx context.Context, st projectState, waitingFor string, merged bool) (render.ProjectResult, error) {
	f := p.f
	pr := render.ProjectResult{Name: st.Project, Workspace: st.Workspace, PlannedAt: st.PlanRun.HeadSHA}
	if r := st.Summary.Rules; r != nil {
		pr.Dir, pr.Engine = r.Dir, r.Engine
	}
	run := st.PlanRun
	switch run.State {
	case store.StateQueued:
		pr.Status, pr.Message = render.StatusPending, "queued"
		if l, err := f.Store.GetLock(ctx, lockOf(run)); err == nil && l.MR != run.MR {
			pr.Message, pr.HeldBy = "waiting for the project lock", render.Ref(forgeOfRepo(run.Repo), l.MR)
		}
		return pr, nil
	case store.StateRunning:
		pr.Status, pr.Message = render.StatusPending, fmt.Sprintf("planning (run %d)", run.ID)
		return pr, nil
	case store.StateFailed:
		pr.Status, pr.Message = render.StatusFailed, run.Error
		lines, err := p.errorLines(ctx, run.ID)
		if err != nil {
			return pr, err
		}
		pr.ErrorLines = lines
		return pr, nil
	case store.StateCancelled, store.StateInterrupted:
		pr.Status, pr.Message = render.StatusSkipped, string(run.State)+": "+run.Error
		return pr, nil
	}
	var plan engine.Plan
	if st.Plan != nil {
		if err := json.Unmarshal(st.Plan.Normalized, &plan); err != nil {
			return pr, fmt.Errorf("reading stored plan %d: %w", st.Plan.ID, err)
		}
		pr.Plan = &plan
		if pr.Engine == "" {
			pr.Engine = plan.Engine
		}
	}
	pr.Status = render.StatusPlanned
	if pr.Plan == nil || !pr.Plan.Changes() {
		pr.Status = render.StatusNoChanges
	}
	if a := st.Apply; a != nil {
		switch a.State {
		case store.StateSucceeded:
			pr.Status = render.StatusApplied
			pr.Message = fmt.Sprintf("Applied by run %d, asked by %s.", a.ID, a.Actor)
		case store.StateFailed:
			pr.Status, pr.Message = render.StatusApplyFailed, a.Error
			lines, err := p.errorLines(ctx, a.ID)
			if err != nil {
				return pr, err
			}
			pr.ErrorLines = lines
		case store.StateInterrupted:
			pr.Status = render.StatusApplyFailed
			pr.Message = "the apply was interrupted when its server stopped; Sluice will not run it again. Check the state"
			if a.StateLockID != "" {
				pr.Message += fmt.Sprintf(" (the state is locked: lock id %s)", a.StateLockID)
			}
			if merged {
				// A merged merge request is never planned again, and keeps
				// the project's lock until a person releases it.
				pr.Message += "."
				pr.ReleaseAndReplan = true
			} else {
				pr.Message += ", then plan again."
			}
		case store.StateCancelled:
			// Not applied: what it depends on was not (the reason says).
			pr.Status, pr.Message = render.StatusSkipped, a.Error
		case store.StateQueued:
			pr.Status, pr.Message = render.StatusPending, fmt.Sprintf("applying (run %d)", a.ID)
			if waitingFor != "" {
				pr.Message = fmt.Sprintf("waiting for %s to be applied first (run %d)", waitingFor, a.ID)
			}
		case store.StateRunning:
			pr.Status, pr.Message = render.StatusPending, fmt.Sprintf("applying (run %d)", a.ID)
		}
	}
	return pr, nil
}

// errorLines returns the engine's error lines a failed run logged.
func (p *publisher) errorLines(ctx context.Context, runID int64) ([]string, error) {
	f := p.f
	lines, err := f.Store.Logs(ctx, runID, 0, 0)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range lines {
		if l.Stream == "sluice" && !strings.HasPrefix(l.Text, "error: ") {
			out = append(out, l.Text)
		}
	}
	if len(out) > 40 {
		out = out[len(out)-40:]
	}
	return out, nil
}

// checklistOf is a project's gate as the comment shows it.
func checklistOf(project string, res gate.Result) render.Gate {
	g := render.Gate{Project: project, Notes: res.Notes}
	for _, it := range res.Items {
		g.Items = append(g.Items, render.GateItem{Name: it.Name, OK: it.OK, Detail: it.Detail})
	}
	return g
}

var closesRE = regexp.MustCompile(`(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b`)

// maxLinkedIssues is how many issues a merge request's description may
// have Sluice comment on: the description is the author's to write, and
// each issue costs a call to the forge.
const maxLinkedIssues = 10

// LinkedIssues finds the issues a merge request description says it
// closes ("Closes #12", "fixes #3"), the first maxLinkedIssues of them.
func LinkedIssues(body string) []int64 {
	var out []int64
	for _, m := range closesRE.FindAllStringSubmatch(body, -1) {
		if len(out) == maxLinkedIssues {
			break
		}
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// afterApply runs when an apply succeeded: the comment and statuses are
// updated; once the merge request is merged, the locks of its projects
// with nothing left to apply go to the next merge requests and, once
// nothing is left to apply at all, the issues it closes are told. It can
// run again for the same apply (settle retries it) and changes nothing
// more: a lock released is released, and only the apply that ended last
// tells the issues.
func (f *Flow) afterApply(ctx context.Context, r store.Run) error {
	fg, path, mr, err := f.forgeMR(ctx, r.Repo, r.MR)
	if err != nil || fg == nil || mr.State != forge.MRMerged {
		f.pub().refresh(ctx, r)
		return err
	}
	defer f.pub().refresh(ctx, r) // last: the comment then shows the locks gone
	states, err := f.projectStates(ctx, r.Repo, r.MR)
	if err != nil {
		return err
	}
	if _, err := f.locks().releaseApplied(ctx, r.Repo, r.MR, states, nil); err != nil {
		return err
	}
	var (
		applied []string
		last    *store.Run
	)
	for _, st := range states {
		if st.Plan == nil || !st.Plan.HasChanges {
			continue
		}
		a := st.Apply
		if a == nil || a.State != store.StateSucceeded {
			return nil // more to apply
		}
		applied = append(applied, st.Project)
		if last == nil || endedAfter(*a, *last) {
			last = a
		}
	}
	if last == nil || last.ID != r.ID {
		return nil // the apply that ended last tells the issues
	}
	f.pub().tellIssues(ctx, fg, path, r.Repo, mr, fmt.Sprintf("Sluice applied %s from merge request %s.",
		strings.Join(applied, ", "), issueRef(r.Repo, mr)))
	return nil
}

// tellIssues comments msg on the issues merged merge request mr says it
// closes: the forge closes them at the merge, applied or not, so each is
// told what became of the change it asked for. A failure is logged: the
// merge request's own comment says the same.
func (p *publisher) tellIssues(ctx context.Context, fg forge.Forge, path, repo string, mr *forge.MergeRequest, msg string) {
	f := p.f
	for _, n := range LinkedIssues(mr.Body) {
		if err := fg.CommentIssue(ctx, path, n, msg); err != nil {
			f.Log.Warn("commenting on the linked issue failed", "repo", repo, "issue", n, "err", err)
		}
	}
}

// tellApplyFailed tells the issues a merged merge request closes that the
// apply of one of its projects did not succeed (why): the forge closed
// them at the merge.
func (p *publisher) tellApplyFailed(ctx context.Context, r store.Run, why string) {
	f := p.f
	fg, path, mr, err := f.forgeMR(ctx, r.Repo, r.MR)
	if err != nil || fg == nil || mr.State != forge.MRMerged {
		return
	}
	p.tellIssuesNotApplied(ctx, fg, path, r.Repo, mr, []string{r.Project}, why)
}

// tellIssuesNotApplied tells the issues a merged merge request closes
// that projects of it were not applied, and where to read why and what to
// do: its comment.
func (p *publisher) tellIssuesNotApplied(ctx context.Context, fg forge.Forge, path, repo string, mr *forge.MergeRequest, projects []string, why string) {
	if len(projects) == 0 || len(LinkedIssues(mr.Body)) == 0 {
		return
	}
	p.tellIssues(ctx, fg, path, repo, mr, fmt.Sprintf("Merge request %s was merged, but Sluice did not apply %s: %s. "+
		"The infrastructure does not have this change yet; the merge request's comment says what to do.",
		issueRef(repo, mr), strings.Join(projects, ", "), why))
}

// issueRef is how an issue's comment names merge request mr: its
// reference, and its address when the forge gave one.
func issueRef(repo string, mr *forge.MergeRequest) string {
	ref := render.Ref(forgeOfRepo(repo), mr.Number)
	if mr.WebURL == "" {
		return ref
	}
	return ref + " (" + mr.WebURL + ")"
}

// endedAfter reports whether run a ended after run b (the later id, when
// the times do not tell).
func endedAfter(a, b store.Run) bool {
	if a.FinishedAt == nil || b.FinishedAt == nil || a.FinishedAt.Equal(*b.FinishedAt) {
		return a.ID > b.ID
	}
	return a.FinishedAt.After(*b.FinishedAt)
}

// unapplied names (by their locks) the projects of a merge request whose
// latest plan has changes not applied: applied later, or waiting for a
// person. Their locks stay with a merged merge request.
func unapplied(states []projectState) map[store.LockKey]bool {
	held := map[store.LockKey]bool{}
	for _, st := range states {
		if st.Plan == nil || !st.Plan.HasChanges || (st.Apply != nil && st.Apply.State == store.StateSucceeded) {
			continue
		}
		held[lockOf(st.PlanRun)] = true
	}
	return held
}

// releaseApplied releases the locks a merged merge request holds for
// projects with nothing left to apply, and those of never (projects
// never to be applied from it, refused for good at its merge), and
// starts the merge requests they pass to. It returns the locks of never
// it released.
func (lk locker) releaseApplied(ctx context.Context, repo string, mr int64, states []projectState, never map[store.LockKey]string) ([]store.Lock, error) {
	f := lk.f
	held := unapplied(states)
	locks, err := f.Store.ListLocks(ctx, repo)
	if err != nil {
		return nil, err
	}
	var (
		free     []store.LockKey
		released []store.Lock
	)
	for _, l := range locks {
		_, gone := never[l.LockKey]
		if l.MR != mr || held[l.LockKey] && !gone {
			continue
		}
		free = append(free, l.LockKey)
		if gone {
			released = append(released, l)
		}
	}
	return released, lk.releaseLocks(ctx, mr, free...)
}

// help answers `sluice help` and commands Sluice does not understand.
func (f *Flow) help(ctx context.Context, req Request) error {
	fg, path, _, err := f.forgeMR(ctx, req.Repo, req.MR)
	if err != nil || fg == nil {
		return err
	}
	msg := HelpText
	switch {
	case req.Reason == "":
	case req.ByComment || req.Actor != APIActor:
		msg = fmt.Sprintf("@%s, %s.\n\n%s", req.Actor, req.Reason, HelpText)
	default: // asked through the API: nobody to mention
		msg = fmt.Sprintf("Asked through Sluice's API: %s.\n\n%s", req.Reason, HelpText)
	}
	return fg.Reply(ctx, path, req.MR, msg)
}

// applyForgeMR carries out `sluice apply` on a forge's merge request: for
// each project with a plan to apply, the gate decides, with the commenter
// as the one asking. Refusals are answered and audited.
func (dc decider) applyForgeMR(ctx context.Context, ev store.Event, req Request, fg forge.Forge, path string, mr *forge.MergeRequest) error {
	f := dc.f
	if mr.State == forge.MRClosed {
		return f.refuse(ctx, fg, path, req, "apply", greeting(ev, req)+"this merge request was closed without merging; its plans were discarded and nothing is applied.")
	}
	states, err := f.projectStates(ctx, req.Repo, req.MR)
	if err != nil {
		return err
	}
	g := dc.newGate(fg, path, mr, req.Actor, mr.State == forge.MRMerged)
	if fromAPI(ev) {
		g = dc.newAPIGate(fg, path, mr)
	}
	verdicts, err := decideApplies(ctx, g, byRequest, states, req.Projects, mr)
	if err != nil {
		return err
	}
	var (
		refused []string
		// A stale plan is planned again: the new plan then needs its own
		// review.
		replan bool
	)
	created, notApplied, err := dc.queueApplies(ctx, verdicts, req.Actor)
	if err != nil {
		return err
	}
	for _, v := range notApplied {
		replan = replan || v.stale
		refused = append(refused, fmt.Sprintf("`%s`: %s", v.st.Project, strings.Join(v.why, "; ")))
	}
	// The runs that wait for nothing start; the others wait for the
	// applies of what they depend on.
	if err := f.applyQueue().runQueuedApplies(ctx, req.Repo, req.MR); err != nil {
		return err
	}
	if replan && mr.State == forge.MROpen {
		refused = append(refused, "Sluice is planning again; the new plan needs a review before it can be applied")
	}
	if len(refused) > 0 {
		msg := fmt.Sprintf("%sSluice did not apply:\n\n- %s", greeting(ev, req), strings.Join(refused, "\n- "))
		if err := f.refuse(ctx, fg, path, req, "apply", msg); err != nil {
			return err
		}
	}
	if len(created) == 0 && len(refused) == 0 {
		if err := fg.Reply(ctx, path, req.MR, greeting(ev, req)+"there is no reviewed plan with changes left to apply."); err != nil {
			return err
		}
	}
	f.Log.Info("apply requested", "repo", req.Repo, "mr", req.MR, "actor", req.Actor, "runs", created, "refused", len(refused), "event", ev.ID)
	if replan && mr.State == forge.MROpen {
		return f.planner().planMR(ctx, ev, Request{Action: ActionPlan, Repo: req.Repo, MR: req.MR, Actor: req.Actor})
	}
	return f.pub().RefreshMR(ctx, req.Repo, req.MR)
}

// createApply creates the apply run of a plan, once: 0 when it exists
// already (another processing of a request created it).
func (dc decider) createApply(ctx context.Context, p store.Plan, actor string) (int64, error) {
	f := dc.f
	run, err := f.Store.CreateRun(ctx, store.Run{
		Kind: store.KindApply, Repo: p.Repo, MR: p.MR, Project: p.Project, Workspace: p.Workspace,
		HeadSHA: p.HeadSHA, BaseSHA: p.BaseSHA, Actor: actor, PlanID: p.ID,
	})
	if errors.Is(err, store.ErrConflict) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return run.ID, nil
}

// queueApply creates the apply run of st's plan in a decision
// (createApply): st's project counts as coming for the projects that
// depend on it (holdOf) whether this processing created the run or an
// earlier one did, and a run it created is added to created. The audit
// log records who approved what the run applies (apply.approved): the
// approvals the gate counted for it.
func (dc decider) queueApply(ctx context.Context, st projectState, actor string, approvers []string, created []int64) ([]int64, error) {
	f := dc.f
	id, err := dc.createApply(ctx, *st.Plan, actor)
	if err != nil {
		return created, err
	}
	if id == 0 {
		return created, nil
	}
	if _, err := f.Audit.Record(ctx, actor, "apply.approved", subject(st.Plan.Repo, st.Plan.MR, st.Project), map[string]any{
		"run": id, "plan": st.Plan.ID, "head": st.Plan.HeadSHA, "approvers": approvers,
	}); err != nil {
		return created, err
	}
	return append(created, id), nil
}

// mergedForgeMR applies, on merge, the plans of projects in after_merge
// mode when the gate allows it, with the merger as the one asking: the
// person the forge says merged (mr.MergedBy), never the sender a webhook
// names, which whoever holds the webhook secret can sign (the API itself
// never has the right to apply). The caller has checked that the forge
// says the merge request is merged. A project whose latest plan was
// discarded is not applied. A project refused for good (what was merged
// is not what was planned; no reviewed plan is left; it depends on one
// such) has nothing this merge request can ever apply: its lock goes to
// the next merge request at once, audited, rather than wait for a person.
func (dc decider) mergedForgeMR(ctx context.Context, ev store.Event, req Request, fg forge.Forge, path string, mr *forge.MergeRequest) error {
	f := dc.f
	details := map[string]any{"event": ev.ID, "merge_sha": mr.MergeSHA}
	g, actor := dc.mergerGate(ev, req, fg, path, mr, details)
	if _, err := f.Audit.Record(ctx, actor, "mr.merged", subject(req.Repo, req.MR, ""), details); err != nil {
		return err
	}
	states, err := f.projectStates(ctx, req.Repo, req.MR)
	if err != nil {
		return err
	}
	g.atMerge = true
	verdicts, err := decideApplies(ctx, g, byMerge, states, nil, mr)
	if err != nil {
		return err
	}
	created, refused, err := dc.queueApplies(ctx, verdicts, actor)
	if err != nil {
		return err
	}
	released, err := dc.refuseAtMerge(ctx, ev, req, actor, states, refused)
	if err != nil {
		return err
	}
	// The runs that wait for nothing start; the others wait for the
	// applies of what they depend on.
	if err := f.applyQueue().runQueuedApplies(ctx, req.Repo, req.MR); err != nil {
		return err
	}
	if len(refused) > 0 {
		// The comment says it at its top too; the reply tells people.
		if err := fg.Reply(ctx, path, req.MR, render.NotApplied(mr.BaseRef, unappliedOf(refused))); err != nil {
			return err
		}
		f.pub().tellIssuesNotApplied(ctx, fg, path, req.Repo, mr, projectsOf(refused), "the merge did not pass Sluice's checks")
	}
	f.Log.Info("merge request merged", "repo", req.Repo, "mr", req.MR, "applies", created, "refused", len(refused), "locks_released", len(released))
	return f.pub().RefreshMR(ctx, req.Repo, req.MR)
}

// queueApplies creates, in order, the apply runs of the verdicts that
// apply, as actor asks, and returns their ids and the verdicts refused.
func (dc decider) queueApplies(ctx context.Context, verdicts []verdict, actor string) (created []int64, refused []verdict, err error) {
	for _, v := range verdicts {
		if !v.apply {
			refused = append(refused, v)
			continue
		}
		if created, err = dc.queueApply(ctx, v.st, actor, v.approvers, created); err != nil {
			return nil, nil, err
		}
	}
	return created, refused, nil
}

// refuseAtMerge audits the projects a merge refused (apply.refused), and
// releases, audited, the locks of those refused for good: they go to the
// next merge requests, with those of the projects with nothing left to
// apply; the others stay, applied later or waiting for a person. It
// returns the locks released.
func (dc decider) refuseAtMerge(ctx context.Context, ev store.Event, req Request, actor string, states []projectState, refused []verdict) ([]store.Lock, error) {
	f := dc.f
	never := map[store.LockKey]string{}
	for _, v := range refused {
		if v.final {
			never[lockOf(v.st.PlanRun)] = strings.Join(v.why, "; ")
		}
		if v.audit == nil {
			continue
		}
		v.audit["reason"], v.audit["on"] = v.why, "merge"
		if _, err := f.Audit.Record(ctx, actor, "apply.refused", subject(req.Repo, req.MR, v.st.Project), v.audit); err != nil {
			return nil, err
		}
	}
	released, err := f.locks().releaseApplied(ctx, req.Repo, req.MR, states, never)
	if err != nil {
		return nil, err
	}
	for _, l := range released {
		if _, err := f.Audit.Record(ctx, "sluice", "lock.released", subject(l.Repo, l.MR, l.Project), map[string]any{
			"dir": l.Dir, "workspace": l.Workspace, "on": "merge", "event": ev.ID,
			"reason": "merged, and never to be applied from this merge request: " + never[l.LockKey],
		}); err != nil {
			return nil, err
		}
	}
	return released, nil
}

// unappliedOf is how the comment names refused projects.
func unappliedOf(refused []verdict) []render.Unapplied {
	out := make([]render.Unapplied, len(refused))
	for i, v := range refused {
		out[i] = render.Unapplied{Project: v.st.Project, Why: v.why, Never: v.final, Held: !v.final}
	}
	return out
}

func projectsOf(vs []verdict) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.st.Project
	}
	return out
}

// mergerUnknown is the "may apply" item's detail on a merge the forge
// does not say who made.
const mergerUnknown = "the forge does not say who merged this merge request, so nobody asks for its apply. " +
	"A person with write access applies with a `sluice apply` comment"

// mergerGate is the gate of a merge's applies, asked by whoever the forge
// says merged, and the actor the decision is audited and applied as:
// the merger, or for a request of the JSON API, APIActor. The sender a
// webhook names is only a claim; where it is not the forge's merger,
// details keep it beside the merger.
func (dc decider) mergerGate(ev store.Event, req Request, fg forge.Forge, path string, mr *forge.MergeRequest, details map[string]any) (*mrGate, string) {
	f := dc.f
	merger := ""
	if mr.MergedBy != nil {
		merger = mr.MergedBy.Login
	}
	if merger != "" {
		details["merged_by"] = merger
	}
	if fromAPI(ev) {
		if merger == "" {
			return dc.newAPIGate(fg, path, mr), req.Actor
		}
		return dc.newGate(fg, path, mr, merger, false), req.Actor
	}
	if !strings.EqualFold(req.Actor, merger) {
		details["webhook_sender"] = req.Actor
		f.Log.Warn("a merge webhook names another sender than the forge's merger; the merger asks for the applies",
			"event", ev.ID, "repo", req.Repo, "mr", req.MR, "webhook_sender", req.Actor, "merged_by", merger)
	}
	return dc.mergedByGate(fg, path, mr)
}

// mergedByGate is the gate of a merged merge request's applies, asked by
// whoever the forge says merged it, and that person's login: "unknown",
// who may not apply, when the forge does not say.
func (dc decider) mergedByGate(fg forge.Forge, path string, mr *forge.MergeRequest) (*mrGate, string) {
	if mr.MergedBy == nil || mr.MergedBy.Login == "" {
		return dc.newNobodyGate(fg, path, mr, "unknown", mergerUnknown), "unknown"
	}
	return dc.newGate(fg, path, mr, mr.MergedBy.Login, false), mr.MergedBy.Login
}

// greeting opens a reply to a request: the person who asked, mentioned; a
// request of the JSON API has nobody to mention.
func greeting(ev store.Event, req Request) string {
	if fromAPI(ev) {
		return "Asked through Sluice's API: "
	}
	return "@" + req.Actor + ", "
}

// reasons lists the failing items of a checklist as "name: detail"; stale
// says a new plan would mend one (the head, or the branch merged into,
// moved since the plan: a branch behind its base needs the base's changes
// instead, which a new plan of the same head would not bring), final that
// one can never pass once the merge request is merged (it is not planned
// again, and the merge commit stays what it is).
func reasons(res gate.Result) (why []string, stale, final bool) {
	for _, it := range res.Failing() {
		why = append(why, it.Name+": "+it.Detail)
		stale = stale || it.Name == gate.ItemFresh
		final = final || it.Name == gate.ItemFresh || it.Name == gate.ItemDiverged || it.Name == gate.ItemLock
	}
	return why, stale, final
}
