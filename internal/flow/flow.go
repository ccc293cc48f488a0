// Package flow is the merge request lifecycle as the server runs it:
// accepted events become plan runs (behind a project lock, in arrival
// order), plans are stored sealed and bound to their code, applies apply
// exactly a stored plan at most once, and every step is audited. It knows
// the store, engine, queue and forge only through interfaces.
package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/workspace"
)

// Jobs enqueues durable work; a job already enqueued is not enqueued again.
type Jobs interface {
	EnqueueEvent(ctx context.Context, eventID int64) error
	// RequeueEvent enqueues an unprocessed event again unless a job of it
	// will still run: a job that runs on an instance not in alive belongs
	// to a server that died and does not count.
	RequeueEvent(ctx context.Context, eventID int64, alive []string) error
	EnqueuePlan(ctx context.Context, runID int64) error
	EnqueueApply(ctx context.Context, runID int64) error
	// RequeueApply enqueues an apply run's job again, for a recovery pass,
	// unless a job of it will still run (as RequeueEvent decides): past a
	// job of a server that died, and past one that completed with the run
	// still to do, either of which an EnqueueApply would take for the same
	// job.
	RequeueApply(ctx context.Context, runID int64, alive []string) error
}

// Sealer encrypts plan artifacts at rest, bound to associated data.
type Sealer interface {
	Seal(plaintext, associatedData []byte) []byte
	Open(sealed, associatedData []byte) ([]byte, error)
}

// Auditor appends to the audit log.
type Auditor interface {
	Record(ctx context.Context, actor, action, subject string, details any) (store.AuditEntry, error)
}

// Workspaces checks out repositories.
type Workspaces interface {
	Checkout(ctx context.Context, src workspace.Source, commit, name string) (*workspace.Tree, error)
	Remove(ctx context.Context, t *workspace.Tree) error
	ChangedFiles(ctx context.Context, src workspace.Source, base, head string) ([]string, error)
	DiffFiles(ctx context.Context, src workspace.Source, from, to string) ([]string, error)
	// MergeBase is the best common ancestor of commits a and b.
	MergeBase(ctx context.Context, src workspace.Source, a, b string) (string, error)
	// TreeFS is a commit's tree; read says which files' content to load.
	TreeFS(ctx context.Context, src workspace.Source, commit string, read func(name string, size int64) bool) (fs.FS, error)
}

// Engines returns the driver for an engine name from sluice.yaml.
type Engines func(name string) (engine.Engine, error)

// Sources resolves a repository name to where it is cloned from, with
// credentials that may need asking the forge for (a GitHub App's
// installation token). An error wrapping ErrUnknownRepo or
// forge.ErrNotFound cannot pass by itself; any other is retried.
type Sources func(ctx context.Context, repo string) (workspace.Source, error)

// ErrUnknownRepo: the server is not configured for the repository.
var ErrUnknownRepo = errors.New("repository not configured")

// source resolves a repository through f.Sources; what retrying cannot
// mend is permanent.
func (f *Flow) source(ctx context.Context, repo string) (workspace.Source, error) {
	src, err := f.Sources(ctx, repo)
	if err != nil && (errors.Is(err, ErrUnknownRepo) || errors.Is(err, forge.ErrNotFound)) {
		return src, permanent.Wrap(err)
	}
	return src, err
}

// Flow carries out events and runs.
type Flow struct {
	Store      store.Store
	Jobs       Jobs
	Sealer     Sealer
	Audit      Auditor
	Workspaces Workspaces
	Engines    Engines
	Sources    Sources
	Log        *slog.Logger
	// Instance names this server process; it owns the runs it starts.
	Instance string
	// StateDir keeps each project's engine working data between runs.
	StateDir string
	// Forges resolves forge repositories; nil when none is configured.
	Forges Forges
	// Policy is the server's say over what a repository may relax.
	Policy gate.Policy
	// ApplyBranches are the only branches whose merge requests are
	// applied; empty: each forge repository's default branch.
	ApplyBranches []string
	// MaxProjectsPerMR is the most projects one merge request plans at
	// once (0: no cap); past it nothing is planned and the merge request
	// is told why (tooManyProjects).
	MaxProjectsPerMR int
	// RefreshEvery is how often, at most, a merge request's comment and
	// statuses are rewritten after its runs end (DefaultRefreshEvery in
	// the server); 0 rewrites them after every run.
	RefreshEvery time.Duration
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// OwnSecrets are the values of Sluice's own secrets: hidden from
	// everything the flow stores or writes (see secrets.go).
	OwnSecrets []string
	secrets    ownSecrets

	// busy serialises, in this process, the handling of one event (a
	// recovered event may be queued twice) and the refreshes of one merge
	// request.
	busy keyLocks
	// publish keeps the merge requests' comments and statuses (pub).
	publish     publisher
	publishOnce sync.Once
	// configs keeps the sluice.yaml read at recent commits (configs.go).
	configs configCache
}

// publisher keeps what a forge shows of Sluice's state: each merge
// request's one comment and its commit statuses (refresh.go), and the
// comments on the issues it closes. It remembers the statuses it posted
// and coalesces the refreshes that follow runs.
type publisher struct {
	f         *Flow
	statuses  statusMemo
	refreshes refreshQueue
}

// pub is the flow's publisher.
func (f *Flow) pub() *publisher {
	f.publishOnce.Do(func() { f.publish.f = f })
	return &f.publish
}

// RefreshMR rebuilds a merge request's comment and statuses from the
// stored runs (publisher.RefreshMR).
func (f *Flow) RefreshMR(ctx context.Context, repo string, number int64) error {
	return f.pub().RefreshMR(ctx, repo, number)
}

// FlushRefreshes carries out at once the refreshes still to come
// (publisher.FlushRefreshes).
func (f *Flow) FlushRefreshes() { f.pub().FlushRefreshes() }

// intake reads an accepted event and decides whether, and as whose
// request, it is carried out (HandleEvent's stages).
type intake struct{ f *Flow }

func (f *Flow) intake() intake { return intake{f} }

// planner turns a plan request into plan runs: whether the merge request
// may be planned, which projects, and one run each behind its lock.
type planner struct{ f *Flow }

func (f *Flow) planner() planner { return planner{f} }

// decider makes the apply decision for what asks (a comment, the API, a
// merge; decide.go) and acts on it: the gate of a merge request (mrGate),
// asked as the right person, the apply runs created, the refusals
// answered or audited.
type decider struct{ f *Flow }

func (f *Flow) decider() decider { return decider{f} }

// runner carries out plan and apply runs: their admission, checkout and
// start, the steps (steps.go), and what follows an apply (settle).
type runner struct{ f *Flow }

func (f *Flow) runs() runner { return runner{f} }

// applyQueue carries a merge request's queued apply runs on, in
// dependency order: those free to go are enqueued, those waiting for a
// dependency's apply wait, those that can never run are cancelled.
type applyQueue struct{ f *Flow }

func (f *Flow) applyQueue() applyQueue { return applyQueue{f} }

// recoverer mends what a dead server left (Recover's passes): runs it
// left running, applies left queued or unsettled.
type recoverer struct{ f *Flow }

func (f *Flow) recoverer() recoverer { return recoverer{f} }

// locker keeps the project locks: who holds each, who waits, and
// passing a released lock to the merge request next in its queue, whose
// waiting plan then starts.
type locker struct{ f *Flow }

func (f *Flow) locks() locker { return locker{f} }

// ReleaseLock releases one lock at a person's request (locker.ReleaseLock).
func (f *Flow) ReleaseLock(ctx context.Context, actor string, ref LockRef, reason string) (store.Lock, error) {
	return f.locks().ReleaseLock(ctx, actor, ref, reason)
}

// keyLocks is a mutex per key, for keys that come and go.
type keyLocks struct {
	mu   sync.Mutex
	cond *sync.Cond
	held map[string]bool
}

// lock waits until no one holds key, takes it, and returns its release.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cond == nil {
		k.cond, k.held = sync.NewCond(&k.mu), map[string]bool{}
	}
	for k.held[key] {
		k.cond.Wait()
	}
	k.held[key] = true
	return func() {
		k.mu.Lock()
		delete(k.held, key)
		k.mu.Unlock()
		k.cond.Broadcast()
	}
}

// Request is what an event asks for. Forges translate their webhooks into
// it; the API accepts it as it is.
type Request struct {
	// Action: plan (a push to a merge request), apply (an apply command),
	// close (merged or closed without merge), unlock.
	Action   string   `json:"action"`
	Repo     string   `json:"repo"`
	MR       int64    `json:"mr"`
	HeadSHA  string   `json:"head_sha,omitempty"`
	BaseSHA  string   `json:"base_sha,omitempty"`
	BaseRef  string   `json:"base_ref,omitempty"`
	Actor    string   `json:"actor"`
	Merged   bool     `json:"merged,omitempty"`
	Projects []string `json:"projects,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	// ByComment is true for requests made with a `sluice ...` comment.
	ByComment bool  `json:"by_comment,omitempty"`
	CommentID int64 `json:"comment_id,omitempty"`
	// FromFork is true when the merge request comes from a fork.
	FromFork bool `json:"from_fork,omitempty"`
	// Trigger is what caused the request (the forge's action, or
	// "comment:ID"); requests with different triggers are never
	// duplicates of each other.
	Trigger string `json:"trigger,omitempty"`
	// Digest is the SHA-256 of the webhook delivery's verified body (hex),
	// for SemanticKey; empty for API requests, which cannot set it.
	Digest string `json:"-"`
}

// Actions a Request may carry.
const (
	ActionPlan   = "plan"
	ActionApply  = "apply"
	ActionClose  = "close"
	ActionUnlock = "unlock"
)

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// Validate checks a request before it is accepted.
func (r Request) Validate() error {
	var problems []string
	switch r.Action {
	case ActionPlan, ActionApply, ActionClose, ActionUnlock, ActionRefresh, ActionHelp:
	default:
		problems = append(problems, fmt.Sprintf("action %q is not one of plan, apply, close, unlock, refresh, help", r.Action))
	}
	if r.Repo == "" {
		problems = append(problems, "repo is empty")
	}
	if r.MR <= 0 {
		problems = append(problems, "mr must be a merge request number ≥ 1")
	}
	if r.Actor == "" {
		problems = append(problems, "actor is empty")
	}
	// A forge's merge request is read from the forge when it is planned;
	// a plain git repository needs both commits in the request.
	if _, onForge := forge.ParseRepoID(r.Repo); r.Action == ActionPlan && !onForge && !r.ByComment {
		if !shaRE.MatchString(r.HeadSHA) {
			problems = append(problems, "head_sha must be a full commit id")
		}
		if !shaRE.MatchString(r.BaseSHA) {
			problems = append(problems, "base_sha must be a full commit id")
		}
	}
	if r.HeadSHA != "" && !shaRE.MatchString(r.HeadSHA) {
		problems = append(problems, "head_sha must be a full commit id")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// SemanticKey identifies what a request means, so that a redelivery, or a
// replay of a captured delivery under a new delivery id (or none), is a
// duplicate. Every webhook has one:
//
//   - a comment, by its id: one request however often it arrives (a
//     second `sluice plan` is another comment, with another id);
//   - a merge, once per merge request;
//   - a push (opened, synchronize), once per head, base and trigger;
//   - any other delivery (a close, a reopen, ready or draft, an edit, a
//     review), by what the forge signed: its body's Digest. The body
//     holds the merge request's updated_at (and the review), so the same
//     transition made again by a person (a reopen after a close, a new
//     approval after changes were asked) is new, and the same delivery
//     sent again is not.
//
// An API request is keyed by its Idempotency-Key only (a person may ask
// twice on purpose), except a plan, keyed as a push.
func (r Request) SemanticKey(forgeName string) string {
	key := func(parts ...string) string {
		return strings.Join(append([]string{forgeName, r.Repo, fmt.Sprint(r.MR)}, parts...), "|")
	}
	push := r.Action == ActionPlan && (r.Digest == "" || r.Trigger == forge.ActionOpened || r.Trigger == forge.ActionSynchronize)
	switch {
	case r.ByComment && r.CommentID != 0:
		return key("comment", fmt.Sprint(r.CommentID))
	case r.Action == ActionClose && r.Merged:
		return key("merged")
	case push:
		return key(r.HeadSHA, r.BaseSHA, r.Action, r.Trigger)
	case r.Digest != "":
		return key(r.Action, r.Trigger, "body", r.Digest)
	}
	return ""
}

// ErrInvalid marks a request that can never be carried out: it is
// permanent.
var ErrInvalid = permanent.Wrap(errors.New("invalid request"))

// Accept stores a request durably (deduplicated by delivery id and by its
// semantic key) and enqueues its processing. It returns the event and
// whether it was new. Once Accept returns without error, the request will
// be carried out even if the process dies right after: unprocessed events
// are enqueued again at start (see Recover).
func (f *Flow) Accept(ctx context.Context, forge, deliveryID string, req Request) (store.Event, bool, error) {
	if err := req.Validate(); err != nil {
		return store.Event{}, false, err
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return store.Event{}, false, err
	}
	ev, inserted, err := f.Store.InsertEvent(ctx, store.Event{
		Forge:       forge,
		DeliveryID:  deliveryID,
		SemanticKey: req.SemanticKey(forge),
		Kind:        req.Action,
		Payload:     payload,
		ReceivedAt:  f.now(),
	})
	if err != nil {
		return store.Event{}, false, fmt.Errorf("storing the event: %w", err)
	}
	if !inserted {
		return ev, false, nil
	}
	if err := f.Jobs.EnqueueEvent(ctx, ev.ID); err != nil {
		// Stored but not queued: Recover will queue it. Not an error for
		// the sender, whose event is safe.
		f.Log.Warn("event stored but not queued; it will be queued on recovery", "event", ev.ID, "err", err)
	}
	return ev, true, nil
}

func (f *Flow) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// HandleEvent carries out an accepted event. It is idempotent: processing
// the same event twice creates each run once.
func (f *Flow) HandleEvent(ctx context.Context, eventID int64) error {
	defer f.busy.lock(fmt.Sprintf("event %d", eventID))()
	ev, req, ok, err := f.intake().readEvent(ctx, eventID)
	if !ok {
		return err
	}
	req, ok, err = f.intake().fromPerson(ctx, ev, req)
	if err != nil {
		return err
	}
	if !ok {
		return f.Store.MarkEventProcessed(ctx, eventID)
	}
	if err := f.intake().carryOut(ctx, ev, req); err != nil {
		return err
	}
	return f.Store.MarkEventProcessed(ctx, eventID)
}

// readEvent reads an accepted event and its request; ok is false for one
// processed already. A request of the JSON API acts as the API
// (ActAsAPI) even when accepted before the server rewrote it.
func (it intake) readEvent(ctx context.Context, eventID int64) (store.Event, Request, bool, error) {
	f := it.f
	var req Request
	ev, err := f.Store.GetEvent(ctx, eventID)
	if err != nil || ev.ProcessedAt != nil {
		return ev, req, false, err
	}
	if err := json.Unmarshal(ev.Payload, &req); err != nil {
		return ev, req, false, permanent.Wrap(fmt.Errorf("event %d has an unreadable payload: %w", eventID, err))
	}
	if fromAPI(ev) {
		req = ActAsAPI(req)
	}
	return ev, req, true, nil
}

// fromPerson says whether a request is to be carried out as far as who
// wrote it goes, and returns it as the forge has it: a command comment
// must be confirmed by the forge (confirmCommand: the request is then the
// forge's comment's, its author the forge's) and written by a person, not
// by the account Sluice acts as or a bot. Those that are not are logged
// and ignored.
func (it intake) fromPerson(ctx context.Context, ev store.Event, req Request) (Request, bool, error) {
	f := it.f
	if !req.ByComment {
		return req, true, nil
	}
	req, why, err := it.confirmCommand(ctx, ev, req)
	if err != nil {
		return req, false, err
	}
	if why != "" {
		f.Log.Warn("ignoring a command the forge does not confirm: "+why,
			"event", ev.ID, "repo", req.Repo, "mr", req.MR, "comment", req.CommentID, "webhook_author", req.Actor)
		return req, false, nil
	}
	machine, err := it.byMachine(ctx, req)
	if err != nil {
		return req, false, err
	}
	if machine {
		f.Log.Warn("ignoring a command written by the account Sluice acts as, or by a bot: commands come from people (give Sluice an account of its own)",
			"event", ev.ID, "repo", req.Repo, "mr", req.MR, "author", req.Actor)
		return req, false, nil
	}
	return req, true, nil
}

// carryOut hands a request to its handler. An error retrying cannot
// mend is said where people look (a reply) and logged, and the event is
// done; any other is returned, for the job to be retried.
func (it intake) carryOut(ctx context.Context, ev store.Event, req Request) error {
	f := it.f
	var err error
	switch req.Action {
	case ActionPlan:
		err = f.planner().planMR(ctx, ev, req)
	case ActionApply:
		err = f.decider().applyMR(ctx, ev, req)
	case ActionClose:
		err = f.decider().closeMR(ctx, ev, req)
	case ActionUnlock:
		err = f.locks().unlockMR(ctx, ev, req)
	case ActionRefresh:
		err = f.pub().RefreshMR(ctx, req.Repo, req.MR)
	case ActionHelp:
		err = f.help(ctx, req)
	default:
		err = permanent.Wrap(fmt.Errorf("event %d: unknown action %q", ev.ID, req.Action))
	}
	if err == nil || !permanent.Is(err) {
		return err
	}
	f.Log.Warn("event cannot be carried out", "event", ev.ID, "repo", req.Repo, "mr", req.MR, "err", err)
	if fg, path, ok := f.forgeOf(req.Repo); ok {
		msg := fmt.Sprintf("This merge request's %s could not be carried out: %s", req.Action, err)
		return fg.Reply(ctx, path, req.MR, msg)
	}
	return nil
}

// byMachine reports whether a command comment was written by a machine
// (gate.MachineAccount: the account Sluice acts as, or a bot): commands
// come from people. Without this, a comment of Sluice's own that reads as
// a command would be answered, and the answer answered, without end.
func (it intake) byMachine(ctx context.Context, req Request) (bool, error) {
	f := it.f
	self := ""
	if fg, _, ok := f.forgeOf(req.Repo); ok {
		var err error
		if self, err = fg.Self(ctx); err != nil {
			return false, fmt.Errorf("asking the forge which account Sluice acts as: %w", err)
		}
	}
	return gate.MachineAccount(req.Actor, self) != "", nil
}

// forgeOf is the forge of a repository and its path there; everything
// written through it has Sluice's own secrets hidden.
func (f *Flow) forgeOf(repo string) (forge.Forge, string, bool) {
	if f.Forges == nil {
		return nil, "", false
	}
	fg, path, ok := f.Forges(repo)
	if !ok || fg == nil {
		return fg, path, ok
	}
	return scrubbed{Forge: fg, r: f.own(), name: forgeOfRepo(repo)}, path, true
}

// forgeOfRepo is the forge a repository's id names ("gitea" for
// gitea:org/infra), "" for a plain git repository.
func forgeOfRepo(repo string) string {
	id, _ := forge.ParseRepoID(repo)
	return id.Forge
}
