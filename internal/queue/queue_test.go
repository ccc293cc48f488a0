package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/postgres"
	"github.com/sluicehq/sluice/internal/store/sqlite"
	"github.com/sluicehq/sluice/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// handler counts the jobs it works; plans and applies go through the
// store's run state machine as the real flow does, with no engine.
type handler struct {
	st      store.Store
	plans   atomic.Int64
	applies atomic.Int64
	events  atomic.Int64
	fail    atomic.Int64 // fail this many plan attempts transiently
	perm    atomic.Bool  // fail plans permanently
	done    chan int64
}

func (h *handler) HandleEvent(ctx context.Context, id int64) error {
	h.events.Add(1)
	return nil
}

func (h *handler) HandlePlan(ctx context.Context, id int64) error {
	h.plans.Add(1)
	if h.perm.Load() {
		return permanent.Wrap(errors.New("bad configuration"))
	}
	if h.fail.Add(-1) >= 0 {
		return errors.New("database busy")
	}
	return h.run(ctx, id)
}

func (h *handler) HandleApply(ctx context.Context, id int64) error {
	h.applies.Add(1)
	return h.run(ctx, id)
}

func (h *handler) run(ctx context.Context, id int64) error {
	if h.st != nil {
		if _, err := h.st.StartRun(ctx, id, "bench"); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil
			}
			return err
		}
		if _, err := h.st.FinishRun(ctx, id, store.StateSucceeded, "", nil); err != nil {
			return err
		}
	}
	if h.done != nil {
		h.done <- id
	}
	return nil
}

// testInstance is the instance name the test queues work jobs as.
const testInstance = "test-instance"

type backend struct {
	name string
	open func(t testing.TB, h Handler) (*Queue, store.Store)
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t testing.TB, h Handler) (*Queue, store.Store) {
			path := filepath.Join(t.TempDir(), "sluice.db")
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			db, err := sqlite.OpenDB(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			t.Cleanup(func() { db.Close() })
			q, err := NewSQLite(context.Background(), db, h, Options{MaxConcurrent: 4, PollInterval: 20 * time.Millisecond, ID: testInstance})
			if err != nil {
				t.Fatal(err)
			}
			return q, st
		}},
		{"postgres", func(t testing.TB, h Handler) (*Queue, store.Store) {
			url := pgtest.NewDatabase(t)
			pool, err := pgxpool.New(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			st, err := postgres.New(context.Background(), pool)
			if err != nil {
				t.Fatal(err)
			}
			q, err := NewPostgres(context.Background(), pool, h, Options{MaxConcurrent: 4, PollInterval: 20 * time.Millisecond, ID: testInstance})
			if err != nil {
				t.Fatal(err)
			}
			return q, st
		}},
	}
}

var _ = sql.ErrNoRows

func start(t testing.TB, q *Queue) {
	t.Helper()
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitIdle waits until q has no job left to do (waiting, retrying or
// running): what a job could still do has been done.
func waitIdle(t *testing.T, q *Queue) {
	t.Helper()
	waitFor(t, "the queue to be idle", func() bool {
		n, err := q.Unfinished(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

func TestSameJobTwiceRunsOnce(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			h := &handler{}
			q, _ := be.open(t, h)
			ctx := context.Background()
			first, err := q.Enqueue(ctx, PlanArgs{RunID: 7})
			if err != nil || !first {
				t.Fatalf("first enqueue: inserted=%v err=%v", first, err)
			}
			second, err := q.Enqueue(ctx, PlanArgs{RunID: 7})
			if err != nil || second {
				t.Fatalf("second enqueue: inserted=%v err=%v, want a skipped duplicate", second, err)
			}
			start(t, q)
			waitFor(t, "the job", func() bool { return h.plans.Load() >= 1 })
			// Once done, the same job is still a duplicate.
			waitIdle(t, q)
			if again, err := q.Enqueue(ctx, PlanArgs{RunID: 7}); err != nil || again {
				t.Fatalf("enqueue after completion: inserted=%v err=%v", again, err)
			}
			waitIdle(t, q)
			if n := h.plans.Load(); n != 1 {
				t.Errorf("the job ran %d times, want 1", n)
			}
			// A different job is not a duplicate.
			if other, err := q.Enqueue(ctx, ApplyArgs{RunID: 7}); err != nil || !other {
				t.Fatalf("apply job for the same id: inserted=%v err=%v", other, err)
			}
			waitFor(t, "the apply job", func() bool { return h.applies.Load() == 1 })
		})
	}
}

func TestTransientErrorsRetryPermanentOnesDoNot(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			h := &handler{}
			h.fail.Store(1)
			q, _ := be.open(t, h)
			start(t, q)
			if _, err := q.Enqueue(context.Background(), PlanArgs{RunID: 1}); err != nil {
				t.Fatal(err)
			}
			// River's first retry comes after a backoff of a second or so.
			waitFor(t, "the retry", func() bool { return h.plans.Load() == 2 })

			h2 := &handler{}
			h2.perm.Store(true)
			q2, _ := be.open(t, h2)
			start(t, q2)
			if _, err := q2.Enqueue(context.Background(), PlanArgs{RunID: 1}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the attempt", func() bool { return h2.plans.Load() == 1 })
			// A job to retry stays unfinished until it is retried.
			waitIdle(t, q2)
			if n := h2.plans.Load(); n != 1 {
				t.Errorf("a permanent failure was retried: %d attempts", n)
			}
		})
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			var running, peak atomic.Int64
			var wg sync.WaitGroup
			h := &boundedHandler{running: &running, peak: &peak, wg: &wg}
			q, _ := be.open(t, h) // MaxConcurrent 4
			for i := range 12 {
				wg.Add(1)
				if _, err := q.Enqueue(context.Background(), PlanArgs{RunID: int64(i + 1)}); err != nil {
					t.Fatal(err)
				}
			}
			start(t, q)
			wg.Wait()
			if p := peak.Load(); p > 4 || p < 2 {
				t.Errorf("peak concurrency %d, want between 2 and the bound 4", p)
			}
		})
	}
}

type boundedHandler struct {
	running, peak *atomic.Int64
	wg            *sync.WaitGroup
}

func (h *boundedHandler) HandleEvent(context.Context, int64) error { return nil }
func (h *boundedHandler) HandleApply(context.Context, int64) error { return nil }
func (h *boundedHandler) HandlePlan(ctx context.Context, id int64) error {
	n := h.running.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(150 * time.Millisecond)
	h.running.Add(-1)
	h.wg.Done()
	return nil
}

// eventHandler works events by id: 1 blocks until release is closed, 2
// always fails transiently, 4 fails permanently, others succeed.
type eventHandler struct {
	mu      sync.Mutex
	worked  map[int64]int
	release chan struct{}
}

func (h *eventHandler) HandleEvent(ctx context.Context, id int64) error {
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
	case 4:
		return permanent.Wrap(errors.New("unreadable payload"))
	}
	return nil
}

func (h *eventHandler) count(id int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.worked[id]
}

func (h *eventHandler) HandlePlan(context.Context, int64) error  { return nil }
func (h *eventHandler) HandleApply(context.Context, int64) error { return nil }

// TestRequeueEventOnlyWhenNoJobWillRun: a recovery pass re-queues an
// unprocessed event only when no job of it waits, waits out a retry, or
// runs on a live instance.
func TestRequeueEventOnlyWhenNoJobWillRun(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := &eventHandler{worked: map[int64]int{}, release: make(chan struct{})}
			q, _ := be.open(t, h)
			alive := []string{"other-instance", testInstance}
			requeue := func(id int64, alive []string, want bool) {
				t.Helper()
				got, err := q.RequeueEvent(ctx, id, alive)
				if err != nil || got != want {
					t.Fatalf("RequeueEvent(%d, %q) = %v, %v; want %v", id, alive, got, err, want)
				}
			}
			for _, id := range []int64{1, 2, 4} {
				if _, err := q.Enqueue(ctx, EventArgs{EventID: id}); err != nil {
					t.Fatal(err)
				}
			}
			requeue(1, alive, false) // waiting to run
			requeue(3, alive, true)  // its job was lost
			requeue(3, alive, false) // now it has one
			start(t, q)

			waitFor(t, "event 1 running", func() bool { return h.count(1) == 1 })
			requeue(1, alive, false) // running on a live instance
			waitFor(t, "event 2's first attempt", func() bool { return h.count(2) >= 1 })
			waitFor(t, "event 4's attempt", func() bool { return h.count(4) == 1 })
			waitFor(t, "event 3", func() bool { return h.count(3) == 1 })
			// River's first retry of event 2 comes after a backoff of
			// about a second: meanwhile its job waits, and counts, even
			// when the instance that tried it is gone.
			waitFor(t, "event 2's job to wait for its retry", func() bool {
				res, err := q.list(ctx, river.NewJobListParams().States(rivertype.JobStateRetryable))
				if err != nil {
					t.Fatal(err)
				}
				return len(res.Jobs) == 1
			})
			requeue(2, nil, false)
			// Event 4's job was cancelled: nothing will run it.
			waitFor(t, "event 4's job finished", func() bool {
				got, err := q.RequeueEvent(ctx, 4, alive)
				if err != nil {
					t.Fatal(err)
				}
				return got
			})
			waitFor(t, "event 4 again", func() bool { return h.count(4) == 2 })
			// Event 1 runs on an instance that is not alive (as after a
			// kill -9, seen from a replica or the next start): a new job
			// runs beside it.
			requeue(1, []string{"other-instance"}, true)
			close(h.release)
			waitFor(t, "event 1 again", func() bool { return h.count(1) == 2 })
		})
	}
}

// BenchmarkJobs measures jobs enqueued and completed per second with a
// no-op engine — each job moves its run through queued → running →
// succeeded in the store, as a real plan does — on SQLite and on
// PostgreSQL in one run, and reports the ratio.
func BenchmarkJobs(b *testing.B) {
	rates := map[string]float64{}
	const jobs = 300
	for _, be := range backends() {
		h := &handler{done: make(chan int64, jobs)}
		q, st := be.open(b, h)
		h.st = st
		start(b, q)
		ctx := context.Background()
		var total time.Duration
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			for j := 0; j < jobs; j++ {
				r, err := st.CreateRun(ctx, store.Run{Kind: store.KindPlan, Repo: "bench", MR: int64(i*jobs + j + 1), Project: "p", Workspace: "default", Actor: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := q.Enqueue(ctx, PlanArgs{RunID: r.ID}); err != nil {
					b.Fatal(err)
				}
			}
			for j := 0; j < jobs; j++ {
				<-h.done
			}
			total += time.Since(t0)
		}
		rates[be.name] = float64(jobs*b.N) / total.Seconds()
		b.ReportMetric(rates[be.name], be.name+"-jobs/s")
	}
	if rates["sqlite"] > 0 {
		b.ReportMetric(rates["postgres"]/rates["sqlite"], "postgres/sqlite")
	}
	fmt.Printf("jobs/s: sqlite %.0f, postgres %.0f, ratio postgres/sqlite %.2f\n", rates["sqlite"], rates["postgres"], rates["postgres"]/rates["sqlite"])
}
