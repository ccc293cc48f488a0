package queue

import (
	"context"
	"sync"
	"testing"
	"time"
)

// blockingHandler works event 1 and apply run 1 until release is closed;
// the rest at once.
type blockingHandler struct {
	mu      sync.Mutex
	events  map[int64]int
	applies map[int64]int
	release chan struct{}
}

func (h *blockingHandler) work(ctx context.Context, counts map[int64]int, id int64) error {
	h.mu.Lock()
	counts[id]++
	h.mu.Unlock()
	if id != 1 {
		return nil
	}
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *blockingHandler) HandleEvent(ctx context.Context, id int64) error {
	return h.work(ctx, h.events, id)
}

func (h *blockingHandler) HandleApply(ctx context.Context, id int64) error {
	return h.work(ctx, h.applies, id)
}

func (h *blockingHandler) HandlePlan(context.Context, int64) error { return nil }

func (h *blockingHandler) counts() (events, applies int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.events[1], h.applies[1]
}

// TestRequeueApplyLeavesALongApplyAlone: an apply's job runs for as long
// as its timeout lets it (hours), then settles its run. A recovery pass
// that finds the run unsettled while that job still runs on a live
// instance must not add a second job, which would settle the run beside
// it (the linked issues told twice): only past the apply timeout, or on
// an instance that is gone, is the job taken for lost. An event's job
// still is after a quarter of an hour.
func TestRequeueApplyLeavesALongApplyAlone(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := &blockingHandler{events: map[int64]int{}, applies: map[int64]int{}, release: make(chan struct{})}
			q, _ := be.open(t, h)
			alive := []string{"other-instance", testInstance}
			var (
				clockMu sync.Mutex
				offset  time.Duration
			)
			q.now = func() time.Time {
				clockMu.Lock()
				defer clockMu.Unlock()
				return time.Now().Add(offset)
			}
			at := func(d time.Duration) {
				clockMu.Lock()
				offset = d
				clockMu.Unlock()
			}
			if _, err := q.Enqueue(ctx, ApplyArgs{RunID: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Enqueue(ctx, EventArgs{EventID: 1}); err != nil {
				t.Fatal(err)
			}
			start(t, q)
			var once sync.Once
			release := func() { once.Do(func() { close(h.release) }) }
			t.Cleanup(release) // before the queue stops
			waitFor(t, "event 1 and apply run 1 running", func() bool {
				e, a := h.counts()
				return e == 1 && a == 1
			})
			requeueApply := func(alive []string, want bool) {
				t.Helper()
				got, err := q.RequeueApply(ctx, 1, alive)
				if err != nil || got != want {
					t.Fatalf("RequeueApply(1, %q) = %v, %v; want %v", alive, got, err, want)
				}
			}

			// Twenty minutes into the apply (an apply that took that long,
			// now settling its run): its job still counts.
			at(20 * time.Minute)
			requeueApply(alive, false)
			// An event's job that long is lost.
			if got, err := q.RequeueEvent(ctx, 1, alive); err != nil || !got {
				t.Fatalf("RequeueEvent(1) twenty minutes on = %v, %v; want a new job", got, err)
			}
			at(5 * time.Hour)
			requeueApply(alive, false)

			// On an instance that is gone, it is lost at once.
			at(0)
			requeueApply([]string{"other-instance"}, true)
			waitFor(t, "the second job of apply run 1", func() bool {
				_, a := h.counts()
				return a == 2
			})
			requeueApply(alive, false) // both run on a live instance

			// Past the apply timeout (and the margin), a job that still
			// looks running is not.
			at(applyTimeout + stuckMargin + time.Minute)
			requeueApply(alive, true)
			release()
		})
	}
}
