package queue

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// applyHandler works apply runs by id: 1 blocks until release is closed,
// 2 always fails transiently, others succeed.
type applyHandler struct {
	mu      sync.Mutex
	worked  map[int64]int
	release chan struct{}
}

func (h *applyHandler) HandleApply(ctx context.Context, id int64) error {
	h.mu.Lock()
	h.worked[id]++
	h.mu.Unlock()
	switch id {
	case 1:
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	case 2:
		return errors.New("the forge is down")
	}
	return nil
}

func (h *applyHandler) count(id int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.worked[id]
}

func (h *applyHandler) HandleEvent(context.Context, int64) error { return nil }
func (h *applyHandler) HandlePlan(context.Context, int64) error  { return nil }

// TestRequeueApplyOnlyWhenNoJobWillRun: a recovery pass enqueues an apply
// run's job again only when no job of it waits, waits out a retry, or
// runs on a live instance: past the job of a dead instance, and past one
// that completed (which would make an identical job a duplicate, however
// long the run stays to do).
func TestRequeueApplyOnlyWhenNoJobWillRun(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := &applyHandler{worked: map[int64]int{}, release: make(chan struct{})}
			q, _ := be.open(t, h)
			alive := []string{"other-instance", testInstance}
			requeue := func(id int64, alive []string, want bool) {
				t.Helper()
				got, err := q.RequeueApply(ctx, id, alive)
				if err != nil || got != want {
					t.Fatalf("RequeueApply(%d, %q) = %v, %v; want %v", id, alive, got, err, want)
				}
			}
			for _, id := range []int64{1, 2, 5} {
				if _, err := q.Enqueue(ctx, ApplyArgs{RunID: id}); err != nil {
					t.Fatal(err)
				}
			}
			requeue(1, alive, false) // waiting to run
			requeue(3, alive, true)  // its job was lost
			requeue(3, alive, false) // now it has one
			// Jobs of events with the same id are not the run's.
			if _, err := q.Enqueue(ctx, EventArgs{EventID: 4}); err != nil {
				t.Fatal(err)
			}
			requeue(4, alive, true)
			start(t, q)

			waitFor(t, "run 1's job running", func() bool { return h.count(1) == 1 })
			requeue(1, alive, false) // running on a live instance
			waitFor(t, "run 2's first attempt", func() bool { return h.count(2) >= 1 })
			waitFor(t, "runs 3, 4 and 5", func() bool { return h.count(3) == 1 && h.count(4) == 1 && h.count(5) == 1 })
			waitFor(t, "run 2's job to wait for its retry", func() bool {
				res, err := q.list(ctx, river.NewJobListParams().Kinds(ApplyArgs{}.Kind()).States(rivertype.JobStateRetryable))
				if err != nil {
					t.Fatal(err)
				}
				return len(res.Jobs) == 1
			})
			requeue(2, nil, false)

			// Run 5's job completed. Were the run still to do (its job ended
			// while what it depends on changed), an ordinary enqueue would
			// be a duplicate of the completed job; a recovery one is not.
			waitFor(t, "run 5's job completed", func() bool {
				res, err := q.list(ctx, river.NewJobListParams().Kinds(ApplyArgs{}.Kind()).States(rivertype.JobStateCompleted))
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range res.Jobs {
					var a ApplyArgs
					if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
						t.Fatal(err)
					}
					if a == (ApplyArgs{RunID: 5}) {
						return true
					}
				}
				return false
			})
			if again, err := q.Enqueue(ctx, ApplyArgs{RunID: 5}); err != nil || again {
				t.Fatalf("enqueue after completion: inserted=%v err=%v, want a duplicate", again, err)
			}
			requeue(5, alive, true)
			waitFor(t, "run 5 again", func() bool { return h.count(5) == 2 })

			// Run 1's job runs on an instance that is not alive (as after a
			// kill -9, seen from a replica or the next start): a new job
			// runs beside it.
			requeue(1, []string{"other-instance"}, true)
			close(h.release)
			waitFor(t, "run 1 again", func() bool { return h.count(1) == 2 })
		})
	}
}
