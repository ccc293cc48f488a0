// Package store defines Sluice's durable state — runs and their logs, plan
// artifacts, project locks with their queues, accepted events and the audit
// log — as one interface with two implementations: SQLite (the embedded
// default) and PostgreSQL (for several replicas sharing the work). The
// contract both must meet is the test suite in store/storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Error kinds, to be tested with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict means a conditional change found the row in another state.
	ErrConflict = errors.New("conflict")
)

// RunKind is what a run does.
type RunKind string

const (
	KindPlan  RunKind = "plan"
	KindApply RunKind = "apply"
)

// RunState is where a run is in its life:
//
//	queued → running → succeeded | failed | cancelled | interrupted
//	queued → cancelled
type RunState string

const (
	StateQueued      RunState = "queued"
	StateRunning     RunState = "running"
	StateSucceeded   RunState = "succeeded"
	StateFailed      RunState = "failed"
	StateCancelled   RunState = "cancelled"
	StateInterrupted RunState = "interrupted"
)

// Final reports whether a run in this state will never change again.
func (s RunState) Final() bool {
	switch s {
	case StateSucceeded, StateFailed, StateCancelled, StateInterrupted:
		return true
	}
	return false
}

// Run is one plan or apply of one project of one merge request at one head.
type Run struct {
	ID        int64    `json:"id"`
	Kind      RunKind  `json:"kind"`
	Repo      string   `json:"repo"`    // forge-qualified repository, e.g. "gitea:org/infra"
	MR        int64    `json:"mr"`      // merge request number; 0 for the default branch (drift)
	Project   string   `json:"project"` // project name from sluice.yaml
	Workspace string   `json:"workspace"`
	HeadSHA   string   `json:"head_sha"`
	BaseSHA   string   `json:"base_sha"`
	State     RunState `json:"state"`
	// Dir is the project's directory, for a plan run: with the repository
	// and the workspace, the key of the lock it plans under (LockKey).
	Dir string `json:"dir,omitempty"`
	// Actor is who caused the run (a forge user, or "sluice").
	Actor string `json:"actor"`
	// Owner is the server instance that started it; empty while queued.
	Owner string `json:"owner,omitempty"`
	// PlanID is the plan an apply applies (0 for plans).
	PlanID int64 `json:"plan_id,omitempty"`
	// Error says why a run failed, was cancelled or interrupted.
	Error string `json:"error,omitempty"`
	// StateLockID is the engine's state lock an interrupted apply may have
	// left behind, when known, for a person to release.
	StateLockID string `json:"state_lock_id,omitempty"`
	// Summary is a small JSON document with the run's result (counts),
	// shown as JSON (not base64) by the API.
	Summary    json.RawMessage `json:"summary,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	// SettledAt is when what follows a succeeded apply was done (its lock
	// released on a merged merge request, the applies that waited for it
	// started, the linked issues told); nil until then, and for any other
	// run.
	SettledAt *time.Time `json:"settled_at,omitempty"`
}

// RunFilter selects runs to list; zero fields match everything. Runs come
// newest first.
type RunFilter struct {
	Repo      string
	MR        int64
	Project   string
	Workspace string
	Dir       string
	Kind      RunKind
	HeadSHA   string
	PlanID    int64
	State     RunState
	Limit     int // default 100
	// BeforeID pages: only runs with a smaller ID.
	BeforeID int64
	// Unsettled: only succeeded apply runs not settled yet (see
	// Run.SettledAt).
	Unsettled bool
}

// LogLine is one line of a run's output, numbered from 1 within the run.
type LogLine struct {
	Seq    int64     `json:"seq"`
	Stream string    `json:"stream"` // stdout, stderr or sluice
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

// Plan is a saved plan: the engine's artifact (sealed, i.e. encrypted by the
// caller — the store never sees it in clear) and the normalised plan, bound
// to the code and base it was made from.
type Plan struct {
	ID        int64  `json:"id"`
	RunID     int64  `json:"run_id"`
	Repo      string `json:"repo"`
	MR        int64  `json:"mr"`
	Project   string `json:"project"`
	Workspace string `json:"workspace"`
	HeadSHA   string `json:"head_sha"`
	BaseSHA   string `json:"base_sha"`
	// ArtifactSHA256 is the hash of the artifact in clear, checked before
	// an apply.
	ArtifactSHA256 string `json:"artifact_sha256"`
	Sealed         []byte `json:"-"`
	// Normalized is the engine.Plan as JSON, sensitive values masked.
	Normalized []byte    `json:"-"`
	HasChanges bool      `json:"has_changes"`
	CreatedAt  time.Time `json:"created_at"`
	// Discarded plans (a newer push, a closed MR) can never be applied.
	// Set when saving, the plan is stored already discarded.
	Discarded bool `json:"discarded"`
	// AppliedRunID is the apply run that used this plan, once one started.
	AppliedRunID int64 `json:"applied_run_id,omitempty"`
}

// LockKey names one lockable thing: what a project plans and applies, its
// directory and its workspace (or Pulumi stack) in a repository. A project
// is locked by what it protects, not by its name: renamed, or discovered
// under another name, it is the same lockable thing.
type LockKey struct {
	Repo      string `json:"repo"`
	Dir       string `json:"dir"`
	Workspace string `json:"workspace"`
}

// Lock is a held lock and the merge requests queued behind it, in order.
type Lock struct {
	LockKey
	// Project is the name the holder gives the project it locks.
	Project    string    `json:"project"`
	MR         int64     `json:"mr"`
	AcquiredAt time.Time `json:"acquired_at"`
	Queue      []Waiter  `json:"queue,omitempty"`
}

// Waiter is a merge request queued for a lock, with the name it gives the
// project.
type Waiter struct {
	MR         int64     `json:"mr"`
	Project    string    `json:"project"`
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// LockResult is the outcome of asking for a lock.
type LockResult struct {
	// Held is true when the asking MR holds the lock (now or already).
	Held bool `json:"held"`
	// Holder is the MR that holds the lock.
	Holder int64 `json:"holder"`
	// Position is the asking MR's place in the queue, from 1, when not held.
	Position int `json:"position,omitempty"`
}

// Event is a webhook delivery (or other trigger) accepted for processing.
type Event struct {
	ID    int64  `json:"id"`
	Forge string `json:"forge"`
	// DeliveryID is the forge's id of the delivery (X-GitHub-Delivery...).
	DeliveryID string `json:"delivery_id"`
	// SemanticKey identifies what the event asks for (forge, repo, MR, head
	// SHA, action), so a redelivery under a new id is still a duplicate.
	SemanticKey string    `json:"semantic_key"`
	Kind        string    `json:"kind"`
	Payload     []byte    `json:"-"`
	ReceivedAt  time.Time `json:"received_at"`
	// ProcessedAt is set once the event's work has been queued.
	ProcessedAt *time.Time `json:"processed_at,omitempty"`
}

// AuditEntry is one record of the append-only, hash-chained audit log.
type AuditEntry struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Subject string    `json:"subject"`
	// Details is a JSON object.
	Details  []byte `json:"details,omitempty"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// HashFunc computes an entry's hash from its fields and PrevHash.
type HashFunc func(e AuditEntry) string

// Store is Sluice's durable state. Every method is safe for concurrent use,
// also from several processes sharing one database (PostgreSQL).
type Store interface {
	// CreateRun inserts a run in state queued and returns it with its ID.
	CreateRun(ctx context.Context, r Run) (Run, error)
	GetRun(ctx context.Context, id int64) (Run, error)
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	// StartRun moves a queued run to running, owned by owner. It returns
	// ErrConflict when the run is not queued: this is what makes a run
	// start at most once, whatever the job queue does.
	StartRun(ctx context.Context, id int64, owner string) (Run, error)
	// FinishRun moves a running run to a final state. ErrConflict when it
	// is not running (or, for cancelled, not queued or running).
	FinishRun(ctx context.Context, id int64, state RunState, errMsg string, summary []byte) (Run, error)
	// SettleRun records that what follows a succeeded run was done
	// (SettledAt); settling it again changes nothing. ErrConflict when
	// the run did not succeed.
	SettleRun(ctx context.Context, id int64) error
	// SetStateLockID records the engine state lock a running apply holds.
	SetStateLockID(ctx context.Context, id int64, lockID string) error
	// InterruptRuns marks every running run whose owner is not in alive as
	// interrupted and returns them.
	InterruptRuns(ctx context.Context, alive []string) ([]Run, error)

	// AppendLogs stores output lines of a run; Seq is assigned by the store
	// in the order given, continuing the run's numbering.
	AppendLogs(ctx context.Context, runID int64, lines []LogLine) error
	// Logs returns the lines with Seq > afterSeq, at most limit (0: all).
	Logs(ctx context.Context, runID, afterSeq int64, limit int) ([]LogLine, error)

	// SavePlan stores a plan. A live plan discards the live plan of the
	// same repo, MR, project and workspace. It is stored discarded, and
	// the live plan left alone, when p.Discarded is set or when the live
	// plan comes from a newer run (a larger RunID): an older plan saved
	// after a newer one never replaces it.
	SavePlan(ctx context.Context, p Plan) (Plan, error)
	GetPlan(ctx context.Context, id int64) (Plan, error)
	// LatestPlan returns the newest undiscarded plan of a project of an MR.
	LatestPlan(ctx context.Context, repo string, mr int64, project, workspace string) (Plan, error)
	// DiscardPlans discards every plan of an MR (all projects).
	DiscardPlans(ctx context.Context, repo string, mr int64) error
	// ClaimPlan records that applyRunID applies the plan. ErrConflict when
	// the plan is discarded or another run already claimed it: a plan is
	// applied at most once.
	ClaimPlan(ctx context.Context, planID, applyRunID int64) error

	// AcquireLock gives the lock to mr if it is free (or already mr's);
	// otherwise queues mr behind the holder (once; asking again keeps the
	// place) and reports its position. project is the name mr gives the
	// locked project (Lock.Project, Waiter.Project): asking again under
	// another name renames it. Atomic across processes.
	AcquireLock(ctx context.Context, k LockKey, project string, mr int64) (LockResult, error)
	// ReleaseLock frees the lock if mr holds it, or takes mr out of its
	// queue. When the lock is freed, the first queued MR gets it atomically
	// and is returned (nil when the queue was empty).
	ReleaseLock(ctx context.Context, k LockKey, mr int64) (next *Waiter, err error)
	// ReleaseMR releases every lock and queue place of an MR in a repo and
	// returns the locks passed on to the next MR, keyed by lock.
	ReleaseMR(ctx context.Context, repo string, mr int64) (map[LockKey]Waiter, error)
	GetLock(ctx context.Context, k LockKey) (Lock, error)
	ListLocks(ctx context.Context, repo string) ([]Lock, error)

	// InsertEvent stores an event unless one with the same delivery id or
	// semantic key exists; inserted is false for a duplicate (then the
	// existing event is returned).
	InsertEvent(ctx context.Context, e Event) (stored Event, inserted bool, err error)
	// FindEvent returns the event a new one with these keys would be a
	// duplicate of (the same delivery id of the same forge, or the same
	// semantic key), or ErrNotFound. Empty keys match nothing.
	FindEvent(ctx context.Context, forge, deliveryID, semanticKey string) (Event, error)
	GetEvent(ctx context.Context, id int64) (Event, error)
	MarkEventProcessed(ctx context.Context, id int64) error
	// PendingEvents returns unprocessed events received before cutoff,
	// oldest first: work accepted but not yet queued (after a crash).
	PendingEvents(ctx context.Context, before time.Time, limit int) ([]Event, error)
	// DeleteProcessedEvents deletes the events processed before cutoff and
	// returns how many went. An unprocessed event is never deleted,
	// whatever its age. Their delivery ids and semantic keys go with them:
	// a duplicate of a deleted event is new again.
	DeleteProcessedEvents(ctx context.Context, before time.Time) (int64, error)

	// AppendAudit appends an entry: the store assigns Seq and PrevHash
	// (from the last entry, atomically) and sets Hash = hash(entry).
	AppendAudit(ctx context.Context, e AuditEntry, hash HashFunc) (AuditEntry, error)
	// AuditEntries returns entries with Seq > afterSeq and At >= since,
	// in Seq order, at most limit (0: all).
	AuditEntries(ctx context.Context, afterSeq int64, since time.Time, limit int) ([]AuditEntry, error)

	// Heartbeat records that a server instance is alive; Instances lists
	// those seen since the cutoff.
	Heartbeat(ctx context.Context, instance string) error
	Instances(ctx context.Context, since time.Time) ([]string, error)

	// Ping checks the database answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
