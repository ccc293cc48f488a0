package queue

import (
	"context"
	"testing"
)

// TestUnfinishedCountsJobsUntilDone: jobs waiting and running count as
// unfinished, and none once they are done, so that "the queue is idle"
// (the server's GET /api/v1/queue) means their work is over.
func TestUnfinishedCountsJobsUntilDone(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			h := &busyPlans{release: make(chan struct{})}
			q, _ := be.open(t, h) // MaxConcurrent 4
			ctx := context.Background()
			unfinished := func(limit int) int {
				t.Helper()
				n, err := q.Unfinished(ctx, limit)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := unfinished(100); n != 0 {
				t.Fatalf("%d unfinished jobs in an empty queue", n)
			}
			for i := range 6 {
				if _, err := q.Enqueue(ctx, PlanArgs{RunID: int64(i + 1)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := q.Enqueue(ctx, EventArgs{EventID: 1}); err != nil {
				t.Fatal(err)
			}
			if n := unfinished(100); n != 7 {
				t.Errorf("%d unfinished jobs, want the 7 waiting", n)
			}
			if n := unfinished(3); n != 3 {
				t.Errorf("%d unfinished jobs counted up to 3, want 3", n)
			}
			start(t, q)
			// River records a job's end a moment after its work returns.
			waitFor(t, "the 4 plans running and 2 waiting, the event done", func() bool {
				return h.running.Load() == 4 && h.events.Load() == 1 && unfinished(100) == 6
			})
			close(h.release)
			waitFor(t, "no unfinished job", func() bool { return unfinished(100) == 0 })
			if n := h.running.Load(); n != 6 {
				t.Errorf("the queue is idle with %d of 6 plans worked", n)
			}
		})
	}
}
