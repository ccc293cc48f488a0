package flow

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/store"
)

// A merge request's comment and commit statuses show every project, so
// rewriting them costs as much as the merge request has projects. Doing
// it after each of its runs, and posting every status each time, made a
// merge request of a thousand projects cost a million forge calls. Two
// things keep it linear: a refresh posts only the statuses that changed
// since this process last posted them (statusMemo), and the refreshes
// that follow runs are coalesced, at most one per merge request every
// Flow.RefreshEvery (refreshQueue).

// DefaultRefreshEvery is how often, at most, the server rewrites a merge
// request's comment and statuses after its runs end.
const DefaultRefreshEvery = 2 * time.Second

// refresh updates the merge request's comment after a run changed state;
// a failure to reach the forge is logged, not fatal: the run is done.
// With Flow.RefreshEvery set, a refresh comes at once when none came in
// the last RefreshEvery, and otherwise once that time is up, covering
// every run that ended in between.
func (p *publisher) refresh(ctx context.Context, r store.Run) {
	f := p.f
	now := func() {
		if err := p.RefreshMR(context.WithoutCancel(ctx), r.Repo, r.MR); err != nil {
			f.Log.Warn("updating the merge request comment failed", "repo", r.Repo, "mr", r.MR, "err", err)
		}
	}
	if f.RefreshEvery <= 0 || p.refreshes.ask(subject(r.Repo, r.MR, ""), f.RefreshEvery, now) {
		now()
	}
}

// FlushRefreshes carries out at once the refreshes still to come, for a
// server that stops.
func (p *publisher) FlushRefreshes() {
	for _, fn := range p.refreshes.flush() {
		fn()
	}
}

// refreshQueue coalesces the refreshes of each merge request.
type refreshQueue struct {
	mu  sync.Mutex
	mrs map[string]*mrRefresh
}

type mrRefresh struct {
	// last is when the latest refresh asked for began.
	last time.Time
	// timer brings the refresh to come; nil when none is to come.
	timer *time.Timer
	later func()
}

// ask reports whether the merge request key is to be refreshed now; if
// not, a refresh comes later (later is called) and covers this request:
// it begins after it, so it reads the state as it is now or newer.
func (q *refreshQueue) ask(key string, every time.Duration, later func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mrs == nil {
		q.mrs = map[string]*mrRefresh{}
	}
	m := q.mrs[key]
	if m == nil {
		q.forget(every)
		m = &mrRefresh{}
		q.mrs[key] = m
	}
	if m.timer != nil {
		return false // the refresh to come will show it
	}
	wait := time.Until(m.last.Add(every))
	if wait <= 0 {
		m.last = time.Now()
		return true
	}
	m.later = later
	m.timer = time.AfterFunc(wait, func() {
		q.mu.Lock()
		if m.timer == nil { // flushed
			q.mu.Unlock()
			return
		}
		m.timer, m.last = nil, time.Now()
		q.mu.Unlock()
		later()
	})
	return false
}

// forget drops the merge requests whose last refresh is long past and
// that have none to come: they no longer hold a refresh back.
func (q *refreshQueue) forget(every time.Duration) {
	if len(q.mrs) < 64 {
		return
	}
	for k, m := range q.mrs {
		if m.timer == nil && time.Since(m.last) > every {
			delete(q.mrs, k)
		}
	}
}

// flush cancels the refreshes to come and returns them, to be done now.
func (q *refreshQueue) flush() []func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []func()
	for _, m := range q.mrs {
		if m.timer != nil && m.timer.Stop() {
			out = append(out, m.later)
		}
		m.timer = nil
	}
	return out
}

// commitStatus is one commit status Sluice sets: on which commit, for
// which run, and what it says.
type commitStatus struct {
	sha   string
	run   int64
	check forge.Check
}

// statusesOf are the commit statuses of a project's state, on its planned
// commit: sluice/plan: PROJECT, and sluice/apply: PROJECT once an apply
// exists.
// waitingForLock is the statuses' word for a plan queued behind another
// merge request's lock of its project.
const waitingForLock = "waiting for the project lock"

func statusesOf(st projectState) []commitStatus {
	run := st.PlanRun
	c := forge.Check{Name: "sluice/plan: " + st.Project}
	switch run.State {
	case store.StateQueued, store.StateRunning:
		c.State, c.Description = forge.CheckPending, "planning"
		if st.WaitsForLock {
			c.Description = waitingForLock
		}
	case store.StateSucceeded:
		c.State = forge.CheckSuccess
		c.Description = "no changes"
		if st.Summary.Changes {
			c.Description = render.PlanSummary(st.Summary.Summary)
		}
	default:
		c.State, c.Description = forge.CheckFailure, "plan "+string(run.State)
	}
	out := []commitStatus{{sha: run.HeadSHA, run: run.ID, check: c}}
	if a := st.Apply; a != nil {
		ac := forge.Check{Name: "sluice/apply: " + st.Project}
		switch a.State {
		case store.StateQueued, store.StateRunning:
			ac.State, ac.Description = forge.CheckPending, "applying"
		case store.StateSucceeded:
			ac.State, ac.Description = forge.CheckSuccess, "applied"
		default:
			ac.State, ac.Description = forge.CheckFailure, "apply "+string(a.State)
		}
		out = append(out, commitStatus{sha: run.HeadSHA, run: a.ID, check: ac})
	}
	return out
}

// statusMemo keeps, per merge request, the commit statuses this process
// last posted. The run is part of what was posted: another replica may
// have posted a newer run's status on the same commit and context since,
// so the same words of another run are posted again. Only the statuses of
// the latest refresh are kept, which bounds the memo by the projects of
// the merge requests refreshed; it forgets everything past memoMRs merge
// requests (a status posted twice is harmless).
type statusMemo struct {
	mu  sync.Mutex
	mrs map[string]map[statusKey]commitStatus
}

type statusKey struct{ sha, name string }

const memoMRs = 1000

// posted returns what was last posted for merge request key. RefreshMR,
// one at a time per merge request, reads it and then replaces it.
func (m *statusMemo) posted(key string) map[statusKey]commitStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mrs[key]
}

// set records one status posted outside a refresh (the gate status of a
// merge request not planned), leaving the map a refresh may be reading
// as it was.
func (m *statusMemo) set(key string, s commitStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mrs == nil || len(m.mrs) >= memoMRs {
		m.mrs = map[string]map[statusKey]commitStatus{}
	}
	posted := map[statusKey]commitStatus{}
	for k, v := range m.mrs[key] {
		posted[k] = v
	}
	posted[statusKey{s.sha, s.check.Name}] = s
	m.mrs[key] = posted
}

func (m *statusMemo) keep(key string, posted map[statusKey]commitStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mrs == nil || len(m.mrs) >= memoMRs {
		m.mrs = map[string]map[statusKey]commitStatus{}
	}
	m.mrs[key] = posted
}

// postStatuses sets the commit statuses of a project's state that differ
// from those in before (what was last posted), and records in after what
// the forge now has.
func (p *publisher) postStatuses(ctx context.Context, fg forge.Forge, path string, st projectState, before, after map[statusKey]commitStatus) {
	for _, s := range statusesOf(st) {
		p.postStatus(ctx, fg, path, subject(st.PlanRun.Repo, st.PlanRun.MR, st.Project), s, before, after)
	}
}

// postStatus sets one commit status unless before (what was last posted)
// has it, and records in after what the forge now has. A status that
// fails to post is logged, and tried again by the next refresh.
func (p *publisher) postStatus(ctx context.Context, fg forge.Forge, path, what string, s commitStatus, before, after map[statusKey]commitStatus) {
	f := p.f
	k := statusKey{s.sha, s.check.Name}
	if before[k] == s {
		after[k] = s
		return
	}
	if err := fg.SetStatus(ctx, path, s.sha, s.check); err != nil {
		f.Log.Warn("setting commit status failed", "subject", what, "status", s.check.Name, "err", err)
		return
	}
	after[k] = s
}

// GateStatus is the commit status on a merge request's head that the
// forge's branch protection is to require (docs/forges): success once
// merging would apply every project the merge request changes (each
// project's checklist passes, its plan has no changes, or it was applied
// before the merge) and when it changes no project; pending while a plan
// or an apply runs and while the checklist only waits (for an approval, a
// check still running...); failure when the merge request must change
// (a plan failed, changes requested, a branch behind its base...). The
// forge then refuses the merges Sluice would refuse to apply, which its own
// rules cannot express (a committer's approval, approval.from, a branch
// behind its base in the project's files).
const GateStatus = "sluice/gate"

// gateDescriptionMax is about what the forges show of a status's
// description (GitHub keeps 140 characters).
const gateDescriptionMax = 140

// gateOf is the sluice/gate status of an open merge request's head, from
// its projects' states and the checklists of those with changes left to
// apply (results, by projectKey). While plans or applies run, the
// description names only what failed: it does not change as each of a
// thousand projects finishes, so the status is posted twice, not a
// thousand times.
//
// A status is the commit's, not the merge request's: only merge requests
// into a branch Sluice applies from set one (the branches to protect with
// it), so that one into another branch with the same head, of which
// nothing is ever applied, cannot pass it for the one that counts.
func gateOf(mr *forge.MergeRequest, states []projectState, results map[string]gate.Result) commitStatus {
	c := forge.Check{Name: GateStatus, State: forge.CheckSuccess}
	var failed, waiting, ready []string
	running := ""
	for _, st := range states {
		state, why := projectVerdict(st, results)
		switch {
		case state == forge.CheckSuccess && why != "":
			ready = append(ready, st.Project)
		case state == forge.CheckSuccess:
		case state == forge.CheckFailure:
			failed = append(failed, st.Project+": "+why)
		case why == "planning" || why == "applying":
			running = cmp.Or(running, why)
		default:
			waiting = append(waiting, st.Project+": "+why)
		}
	}
	switch {
	case len(failed) > 0:
		c.State = forge.CheckFailure
	case running != "" || len(waiting) > 0:
		c.State = forge.CheckPending
	}
	held := failed
	if running == "" {
		held = append(held, waiting...)
	} else {
		held = append(held, running)
	}
	switch {
	case c.State != forge.CheckSuccess:
		c.Description = "not ready: " + upTo(held, "; ", gateDescriptionMax-len("not ready: "))
	case len(ready) > 0:
		c.Description = "ready: merging applies " + upTo(ready, ", ", gateDescriptionMax-len("ready: merging applies "))
	default:
		c.Description = "nothing left to apply"
	}
	return commitStatus{sha: mr.HeadSHA, check: c}
}

// projectVerdict is what one project says of merging its merge request
// now: success with why "ready" when the merge applies it, success with no
// why when nothing of it is left to apply; otherwise pending or failure,
// and why (the failing items of its checklist, or what runs).
func projectVerdict(st projectState, results map[string]gate.Result) (forge.CheckState, string) {
	switch st.PlanRun.State {
	case store.StateQueued, store.StateRunning:
		if st.WaitsForLock {
			return forge.CheckPending, waitingForLock
		}
		return forge.CheckPending, "planning"
	case store.StateSucceeded:
	default:
		return forge.CheckFailure, "plan " + string(st.PlanRun.State)
	}
	if st.Plan == nil || !st.Plan.HasChanges {
		// Nothing to apply; but rules the merge request changes are
		// reviewed under the rules in force.
		if toReview(st) {
			if res, ok := results[projectKey(st.Project, st.Workspace)]; ok && !res.OK() {
				return failingVerdict(res)
			}
		}
		return forge.CheckSuccess, ""
	}
	if a := st.Apply; a != nil {
		switch a.State {
		case store.StateSucceeded:
			return forge.CheckSuccess, ""
		case store.StateQueued, store.StateRunning:
			return forge.CheckPending, "applying"
		}
		return forge.CheckFailure, "apply " + string(a.State)
	}
	res, ok := results[projectKey(st.Project, st.Workspace)]
	switch {
	case st.Plan.Discarded || !ok:
		return forge.CheckFailure, "no reviewed plan"
	case !res.OK():
		return failingVerdict(res)
	}
	if gate.ModeRefusal(modeOf(st), true, false) != "" {
		return forge.CheckPending, "to apply before the merge"
	}
	return forge.CheckSuccess, "ready"
}

// failingVerdict is the verdict of a checklist that fails: pending when
// every failing item only waits, failure otherwise, and their names.
func failingVerdict(res gate.Result) (forge.CheckState, string) {
	var names []string
	for _, it := range res.Failing() {
		names = append(names, it.Name)
	}
	if res.Waiting() {
		return forge.CheckPending, strings.Join(names, ", ")
	}
	return forge.CheckFailure, strings.Join(names, ", ")
}

// upTo joins items with sep in at most n characters, saying how many
// more there are when they do not all fit.
func upTo(items []string, sep string, n int) string {
	out := ""
	for i, it := range items {
		next := it
		if i > 0 {
			next = out + sep + it
		}
		more := ""
		if i+1 < len(items) {
			more = fmt.Sprintf("%sand %d more", sep, len(items)-i-1)
		}
		if utf8.RuneCountInString(next+more) > n {
			if i == 0 {
				return string([]rune(it)[:max(0, n-1)]) + "…"
			}
			return out + fmt.Sprintf("%sand %d more", sep, len(items)-i)
		}
		out = next
	}
	return out
}

// setGate posts the sluice/gate status of a merge request that is not
// planned (it changes no project, or Sluice does not plan it by itself),
// unless this process posted the same already; a refresh of a merge request
// without projects leaves it as it is. Only merge requests into a branch
// Sluice applies from get one (see gateOf).
func (p *publisher) setGate(ctx context.Context, fg forge.Forge, path, repo string, mr *forge.MergeRequest, state forge.CheckState, description string) {
	f := p.f
	branches, err := f.applyBranches(ctx, fg, path)
	if err != nil {
		f.Log.Warn("setting commit status failed", "subject", subject(repo, mr.Number, ""), "status", GateStatus, "err", err)
		return
	}
	if !slices.Contains(branches, mr.BaseRef) {
		return
	}
	memo := subject(repo, mr.Number, "")
	sha := mr.HeadSHA
	s := commitStatus{sha: sha, check: forge.Check{Name: GateStatus, State: state, Description: description}}
	after := map[statusKey]commitStatus{}
	p.postStatus(ctx, fg, path, memo, s, p.statuses.posted(memo), after)
	if _, ok := after[statusKey{sha, GateStatus}]; ok {
		p.statuses.set(memo, s)
	}
}
