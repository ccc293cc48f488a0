// Package queue runs Sluice's durable jobs on River, in the same database
// as the store: SQLite through riversqlite, PostgreSQL through riverpgxv5.
// A job carries only ids; the store holds the state, so a job that runs
// again finds its run already started and does nothing.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/sluicehq/sluice/internal/permanent"
)

// Handler does the work of each job kind. An error marked by
// permanent.Wrap is not retried; any other error is retried with backoff.
type Handler interface {
	HandleEvent(ctx context.Context, eventID int64) error
	HandlePlan(ctx context.Context, runID int64) error
	HandleApply(ctx context.Context, runID int64) error
}

// EventArgs asks for an accepted event to be processed. Recovery is set
// when a recovery pass enqueues the event again: a job of a server that
// died stays "running" in the queue and would block an identical one.
// Processing an event twice is harmless.
type EventArgs struct {
	EventID  int64 `json:"event_id"`
	Recovery int64 `json:"recovery,omitempty"`
}

func (EventArgs) Kind() string { return "sluice_event" }

// InsertOpts makes the job unique by its arguments: enqueuing the same
// event twice processes it once. Events have a queue of their own
// (QueueEvents), so that a close, a merge or a command is carried out
// while plans and applies keep every other worker busy.
func (EventArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEvents, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// QueueEvents is the queue of event jobs. Plans and applies are in River's
// default queue, worked by Options.MaxConcurrent workers; events have
// Options.EventWorkers of their own. A merge request of a thousand
// projects queues a thousand plans, and its close must not wait for them:
// the close is what cancels them and releases their locks.
const QueueEvents = "events"

// PlanArgs asks for a plan run to be carried out.
type PlanArgs struct {
	RunID int64 `json:"run_id"`
}

func (PlanArgs) Kind() string { return "sluice_plan" }
func (PlanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ApplyArgs asks for an apply run to be carried out. Recovery is set, as
// in EventArgs, when a recovery pass enqueues the run again past a job
// that will not run it: one left "running" by a dead process, or one that
// completed with the run still to do.
type ApplyArgs struct {
	RunID    int64 `json:"run_id"`
	Recovery int64 `json:"recovery,omitempty"`
}

func (ApplyArgs) Kind() string { return "sluice_apply" }
func (ApplyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// wrap is err as River takes it: a permanent error (permanent.Wrap)
// cancels the job, which River then never tries again; any other is
// retried.
func wrap(err error) error {
	if permanent.Is(err) {
		return river.JobCancel(err)
	}
	return err
}

// done is what a job's work returned, for River, said in the log when it
// failed: River keeps its errors in its own table only, and a job that is
// retried for hours (a forge refusing Sluice's token, say) must not do so
// unseen.
func done(log *slog.Logger, what string, id int64, j *rivertype.JobRow, err error) error {
	if err == nil {
		return nil
	}
	if permanent.Is(err) {
		log.Error("job failed for good", "job", what, "id", id, "attempt", j.Attempt, "err", err)
	} else {
		log.Warn("job failed; it is tried again later", "job", what, "id", id, "attempt", j.Attempt, "of", j.MaxAttempts, "err", err)
	}
	return wrap(err)
}

type eventWorker struct {
	river.WorkerDefaults[EventArgs]
	h   Handler
	log *slog.Logger
}

func (w *eventWorker) Work(ctx context.Context, j *river.Job[EventArgs]) error {
	return done(w.log, "event", j.Args.EventID, j.JobRow, w.h.HandleEvent(ctx, j.Args.EventID))
}

// Timeout: an event's work is a few forge and store calls; one that runs
// longer is cancelled (and retried), so a job that looks running for much
// longer than this is not really running (see RequeueEvent).
func (w *eventWorker) Timeout(*river.Job[EventArgs]) time.Duration { return eventTimeout }

const eventTimeout = 10 * time.Minute

// stuckMargin is how long past its worker's timeout a job may still look
// running on a live instance: cancelled, it is still ending (an engine
// stopped by SIGINT writes its state and releases its lock first).
const stuckMargin = 5 * time.Minute

// eventStuckAfter is how long an event's job may look running on a live
// instance, its event not processed, before RequeueEvent takes it for
// lost.
const eventStuckAfter = eventTimeout + stuckMargin

type planWorker struct {
	river.WorkerDefaults[PlanArgs]
	h   Handler
	log *slog.Logger
}

func (w *planWorker) Work(ctx context.Context, j *river.Job[PlanArgs]) error {
	return done(w.log, "plan run", j.Args.RunID, j.JobRow, w.h.HandlePlan(ctx, j.Args.RunID))
}

// Timeout: a plan may take long; River's default job timeout (1 minute)
// would cancel real-world plans.
func (w *planWorker) Timeout(*river.Job[PlanArgs]) time.Duration { return 2 * time.Hour }

type applyWorker struct {
	river.WorkerDefaults[ApplyArgs]
	h   Handler
	log *slog.Logger
}

func (w *applyWorker) Work(ctx context.Context, j *river.Job[ApplyArgs]) error {
	return done(w.log, "apply run", j.Args.RunID, j.JobRow, w.h.HandleApply(ctx, j.Args.RunID))
}

// Timeout: an apply may take long, and its job then settles the run
// (see RequeueApply).
func (w *applyWorker) Timeout(*river.Job[ApplyArgs]) time.Duration { return applyTimeout }

const applyTimeout = 6 * time.Hour

// applyStuckAfter is how long an apply's job may look running on a live
// instance before RequeueApply takes it for lost: as long as its timeout
// lets it run. The job applies, then settles the run; a recovery pass that
// finds the run unsettled meanwhile must not add a job that settles it
// beside this one, however long the apply took.
const applyStuckAfter = applyTimeout + stuckMargin

// Options configure a Queue.
type Options struct {
	// MaxConcurrent bounds how many plans and applies this process works
	// at once.
	MaxConcurrent int
	// EventWorkers bounds how many events this process works at once,
	// beside the plans and applies. Default 4.
	EventWorkers int
	Logger       *slog.Logger
	// PollInterval is how often idle workers look for jobs (SQLite has no
	// LISTEN/NOTIFY). Default 200ms.
	PollInterval time.Duration
	// ID names this process in the jobs it works (River's client id, at
	// most 100 characters): the server's instance name, so that a recovery
	// pass can tell the jobs of live instances from those of dead ones.
	// Default: a random id.
	ID string
}

// Queue is a started or startable River client.
type Queue struct {
	// now is the clock RequeueEvent and RequeueApply tell a job's age
	// with; tests may replace it.
	now    func() time.Time
	insert func(ctx context.Context, args river.JobArgs) (bool, error)
	list   func(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	start  func(ctx context.Context) error
	stop   func(ctx context.Context) error
	cancel func(ctx context.Context) error
}

// NewSQLite builds a queue on an SQLite database; db should be a pool of
// its own with one connection, as River's SQLite driver recommends.
func NewSQLite(ctx context.Context, db *sql.DB, h Handler, opts Options) (*Queue, error) {
	return build[*sql.Tx](ctx, riversqlite.New(db), h, opts)
}

// NewPostgres builds a queue on a PostgreSQL pool.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, h Handler, opts Options) (*Queue, error) {
	return build(ctx, riverpgxv5.New(pool), h, opts)
}

func build[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], h Handler, opts Options) (*Queue, error) {
	mig, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: discard(opts.Logger)})
	if err != nil {
		return nil, fmt.Errorf("preparing the job queue's migrations: %w", err)
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("migrating the job queue's tables: %w", err)
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 1
	}
	if opts.EventWorkers <= 0 {
		opts.EventWorkers = 4
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	workers := river.NewWorkers()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	river.AddWorker(workers, &eventWorker{h: h, log: log})
	river.AddWorker(workers, &planWorker{h: h, log: log})
	river.AddWorker(workers, &applyWorker{h: h, log: log})
	queues := map[string]river.QueueConfig{
		river.QueueDefault: {MaxWorkers: opts.MaxConcurrent},
		QueueEvents:        {MaxWorkers: opts.EventWorkers},
	}
	client, err := river.NewClient(driver, &river.Config{
		ID:                   opts.ID,
		Logger:               discard(opts.Logger),
		Queues:               queues,
		Workers:              workers,
		FetchPollInterval:    opts.PollInterval,
		FetchCooldown:        min(opts.PollInterval, 100*time.Millisecond),
		RescueStuckJobsAfter: 7 * time.Hour,
		JobTimeout:           -1,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the job queue: %w", err)
	}
	return &Queue{
		now: time.Now,
		insert: func(ctx context.Context, args river.JobArgs) (bool, error) {
			res, err := client.Insert(ctx, args, nil)
			if err != nil {
				return false, err
			}
			return !res.UniqueSkippedAsDuplicate, nil
		},
		list:   client.JobList,
		start:  client.Start,
		stop:   client.Stop,
		cancel: client.StopAndCancel,
	}, nil
}

// discard keeps River's own logs at warning level and above.
func discard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(warnOnly{l.Handler()}).With("component", "river")
}

// warnOnly passes on records at warning level and above.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) WithAttrs(a []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(a)} }
func (h warnOnly) WithGroup(n string) slog.Handler      { return warnOnly{h.Handler.WithGroup(n)} }

// Enqueue inserts a job; inserted is false when an identical job already
// exists (it will run, or ran, once).
func (q *Queue) Enqueue(ctx context.Context, args river.JobArgs) (inserted bool, err error) {
	inserted, err = q.insert(ctx, args)
	if err != nil {
		return false, fmt.Errorf("enqueuing %s job: %w", args.Kind(), err)
	}
	return inserted, nil
}

// RequeueEvent enqueues an event's job again, for a recovery pass that
// found the event accepted but not processed, unless a job for it is still
// to run: waiting, scheduled for a retry, or running on one of the alive
// instances (Options.ID) for less than a quarter of an hour (its timeout
// and a margin). Without that check every pass would add a job while one
// waits out a retry, and an outage of the forge would pile them up. A job
// of a process that died stays "running" and would block an identical
// job, so the new one carries a Recovery key.
func (q *Queue) RequeueEvent(ctx context.Context, eventID int64, alive []string) (inserted bool, err error) {
	return q.requeue(ctx, EventArgs{}.Kind(), "event_id", eventID, alive, eventStuckAfter, EventArgs{EventID: eventID, Recovery: time.Now().UnixNano()})
}

// RequeueApply enqueues an apply run's job again, for a recovery pass that
// found the run still to do (queued, or applied with what follows an apply
// left undone), unless a job for it is still to run, as RequeueEvent
// decides, except that a job running on an alive instance counts for as
// long as an apply may take (its timeout and a margin): the job of a long
// apply settles its run once applied, and a second job would settle it
// beside it. The job of a process that died stays "running", and a job
// that completed while its run was left queued stays "completed": either
// would block an identical job, so the new one carries a Recovery key. A
// run worked by two jobs is still carried out once (the store's StartRun).
func (q *Queue) RequeueApply(ctx context.Context, runID int64, alive []string) (inserted bool, err error) {
	return q.requeue(ctx, ApplyArgs{}.Kind(), "run_id", runID, alive, applyStuckAfter, ApplyArgs{RunID: runID, Recovery: time.Now().UnixNano()})
}

// unfinished are the states of a job still to do: waiting, waiting out a
// retry's backoff, or running.
var unfinished = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStateRunning}

// requeue inserts args unless a job of kind whose argument field is id
// waits, waits out a retry's backoff, or runs on an alive instance (for
// less than stuckAfter).
func (q *Queue) requeue(ctx context.Context, kind, field string, id int64, alive []string, stuckAfter time.Duration, args river.JobArgs) (bool, error) {
	res, err := q.list(ctx, river.NewJobListParams().
		Kinds(kind).
		States(unfinished...).
		Where("CAST(args ->> '"+field+"' AS TEXT) = @id", river.NamedArgs{"id": strconv.FormatInt(id, 10)}).
		First(100))
	if err != nil {
		return false, fmt.Errorf("looking for the %s jobs of %s %d: %w", kind, field, id, err)
	}
	for _, j := range res.Jobs {
		if j.State != rivertype.JobStateRunning || runsOn(j, alive, q.now(), stuckAfter) {
			return false, nil // it will run, or runs
		}
	}
	return q.Enqueue(ctx, args)
}

// runsOn reports whether a running job is worked by one of the alive
// instances, and not for suspiciously long: for less than stuckAfter at
// now since its attempt began.
func runsOn(j *rivertype.JobRow, alive []string, now time.Time, stuckAfter time.Duration) bool {
	if len(j.AttemptedBy) == 0 || j.AttemptedAt == nil || now.Sub(*j.AttemptedAt) > stuckAfter {
		return false
	}
	return slices.Contains(alive, j.AttemptedBy[len(j.AttemptedBy)-1])
}

// Unfinished counts the jobs still to do, of every kind and on every
// instance sharing the database: waiting, scheduled for a retry, or
// running. It counts at most limit of them (at least 1), which is enough
// to say whether the queue is idle.
func (q *Queue) Unfinished(ctx context.Context, limit int) (int, error) {
	res, err := q.list(ctx, river.NewJobListParams().States(unfinished...).First(min(10000, max(1, limit))))
	if err != nil {
		return 0, fmt.Errorf("counting the unfinished jobs: %w", err)
	}
	return len(res.Jobs), nil
}

// Start begins working jobs until Stop.
func (q *Queue) Start(ctx context.Context) error { return q.start(ctx) }

// Stop stops fetching new jobs and waits for running ones to finish, until
// ctx ends; then running jobs are cancelled (their engines get SIGINT) and
// waited for.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.stop(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return q.cancel(cctx)
}

var _ rivertype.JobArgs = PlanArgs{}
