package queue

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// busyPlans blocks every plan until release is closed, and counts the
// plans running and the events handled.
type busyPlans struct {
	running atomic.Int64
	events  atomic.Int64
	release chan struct{}
}

func (h *busyPlans) HandleEvent(context.Context, int64) error {
	h.events.Add(1)
	return nil
}

func (h *busyPlans) HandlePlan(ctx context.Context, _ int64) error {
	h.running.Add(1)
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *busyPlans) HandleApply(context.Context, int64) error { return nil }

// TestEventsDoNotWaitBehindPlans: with every worker busy planning and
// more plans waiting, an event (a close, which is what cancels those
// plans and releases their locks) is still carried out. Events, plans and
// applies in one queue made a merge request's close wait behind its
// thousand plans.
func TestEventsDoNotWaitBehindPlans(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			h := &busyPlans{release: make(chan struct{})}
			q, _ := be.open(t, h) // MaxConcurrent 4
			ctx := context.Background()
			for i := range 12 {
				if _, err := q.Enqueue(ctx, PlanArgs{RunID: int64(i + 1)}); err != nil {
					t.Fatal(err)
				}
			}
			start(t, q)
			t.Cleanup(func() { close(h.release) })
			waitFor(t, "every plan worker to be busy", func() bool { return h.running.Load() == 4 })
			if _, err := q.Enqueue(ctx, EventArgs{EventID: 1}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, fmt.Sprintf("the event, while %d plans run and 8 wait", h.running.Load()), func() bool { return h.events.Load() == 1 })
			if n := h.running.Load(); n != 4 {
				t.Errorf("%d plans started, want the 4 that hold the workers (none ended)", n)
			}
		})
	}
}
