package flow

// The benchmark of merge requests of many projects (docs/bench.md).

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

// BenchmarkMergeRequestProjects plans and closes merge requests of 10,
// 100 and 1,000 projects (100, 10 and 1 of them) against a forge that counts its calls, a no-op
// engine and SQLite, the refreshes coalesced as the server does, and
// reports for each size the forge calls and the time per project, and
// how much the largest grows over the smallest (growth-x: about 1 when
// the cost is linear in the projects, about 100 when every run costs as
// much as the merge request has projects). A real plan takes longer than
// Flow.RefreshEvery, so there every run is followed by a refresh: the
// every-run figures (10 and 100 projects) count the forge calls then,
// which grow tenfold when every status is posted again after every run.
func BenchmarkMergeRequestProjects(b *testing.B) {
	type size struct {
		n     int
		every time.Duration
		label string
	}
	sizes := []size{{10, DefaultRefreshEvery, "10"}, {100, DefaultRefreshEvery, "100"}, {1000, DefaultRefreshEvery, "1000"},
		{10, 0, "10-every-run"}, {100, 0, "100-every-run"}}
	calls := map[string]float64{}
	took := map[string]time.Duration{}
	for b.Loop() {
		for _, sz := range sizes {
			// As many merge requests as make 1,000 projects at each size,
			// so that each size is measured over as much work (and as
			// much of the machine's noise).
			times := 1000 / sz.n
			if sz.every == 0 {
				times = 1 // a refresh after every run: the calls do not vary
			}
			for range times {
				c, d := planAndClose(b, sz.n, sz.every)
				calls[sz.label] += float64(c) / float64(sz.n*times)
				took[sz.label] += d / time.Duration(sz.n*times)
			}
		}
	}
	for _, sz := range sizes {
		b.ReportMetric(calls[sz.label]/float64(b.N), "calls/project@"+sz.label)
		if sz.every != 0 {
			b.ReportMetric(float64(took[sz.label].Microseconds())/float64(b.N), "µs/project@"+sz.label)
		}
	}
	b.ReportMetric(calls["1000"]/calls["10"], "calls-growth-x")
	b.ReportMetric(float64(took["1000"])/float64(took["10"]), "time-growth-x")
	b.ReportMetric(calls["100-every-run"]/calls["10-every-run"], "every-run-calls-growth-x")
}

// planAndClose plans a merge request of n projects, works every plan and
// closes it, as the server would, with refreshes at most every every; it
// returns the forge calls and the time taken, setting up left out.
func planAndClose(b *testing.B, n int, every time.Duration) (int, time.Duration) {
	fg := newMergeForge()
	e := newEnv(b, withTree(newManyProjects(b, n)), onForge(fg))
	e.f.RefreshEvery = every
	start := time.Now()
	e.handle("gitea", Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 7, Actor: "alice", Trigger: "opened"})
	if len(e.jobs.plans) != n {
		b.Fatalf("%d plan jobs, want %d", len(e.jobs.plans), n)
	}
	e.runPlanJobs()
	fg.setMR(func(mr *forge.MergeRequest) { mr.State = forge.MRClosed })
	e.handle("gitea", Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 7, Actor: "alice", Trigger: "closed"})
	e.f.FlushRefreshes()
	return fg.total(), time.Since(start)
}
