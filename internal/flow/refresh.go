package flow

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
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
func (f *Flow) refresh(ctx context.Context, r store.Run) {
	now := func() {
		if err := f.RefreshMR(context.WithoutCancel(ctx), r.Repo, r.MR); err != nil {
			f.Log.Warn("updating the merge request comment failed", "repo", r.Repo, "mr", r.MR, "err", err)
		}
	}
	if f.RefreshEvery <= 0 || f.refreshes.ask(subject(r.Repo, r.MR, ""), f.RefreshEvery, now) {
		now()
	}
}

// FlushRefreshes carries out at once the refreshes still to come, for a
// server that stops.
func (f *Flow) FlushRefreshes() {
	for _, fn := range f.refreshes.flush() {
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
func statusesOf(st projectState) []commitStatus {
	run := st.PlanRun
	c := forge.Check{Name: "sluice/plan: " + st.Project}
	switch run.State {
	case store.StateQueued, store.StateRunning:
		c.State, c.Description = forge.CheckPending, "planning"
	case store.StateSucceeded:
		c.State = forge.CheckSuccess
		c.Description = "no changes"
		if st.Summary.Changes {
			s := st.Summary.Summary
			c.Description = fmt.Sprintf("%d to add, %d to change, %d to destroy", s.Add, s.Change, s.Destroy)
			if s.Replace > 0 {
				c.Description += fmt.Sprintf(", %d to replace", s.Replace)
			}
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
// the forge now has. A status that fails to post is logged, and tried
// again by the next refresh.
func (f *Flow) postStatuses(ctx context.Context, fg forge.Forge, path string, st projectState, before, after map[statusKey]commitStatus) {
	for _, s := range statusesOf(st) {
		k := statusKey{s.sha, s.check.Name}
		if before[k] == s {
			after[k] = s
			continue
		}
		if err := fg.SetStatus(ctx, path, s.sha, s.check); err != nil {
			f.Log.Warn("setting commit status failed", "repo", st.PlanRun.Repo, "mr", st.PlanRun.MR, "project", st.Project, "status", s.check.Name, "err", err)
			continue
		}
		after[k] = s
	}
}
