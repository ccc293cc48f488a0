package flow

// The harness of the flow's tests: a Flow over a real store (SQLite, or
// PostgreSQL where a test says so) and audit log, with fakes of what lies
// outside it: the job queue (recordingJobs), the sealer, git (tree: every
// commit one tree; commits: a few commits of their own), the engine
// (fakeEngine) and the forge (fakeForge). env is a whole flow, built by
// newEnv with options (onForge, withTree, withStore); newDepEnv and
// newSettleEnv are the env of the two projects app and net, app depending
// on net, on merge request 7 of a forge. gateFlow is a flow for the gate
// alone. A test that needs the fakes to do something else sets their
// fields (fakeForge.failWith, spyStore's hooks, fakeEngine.fail) rather
// than write a fake of its own.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/postgres"
	"github.com/sluicehq/sluice/internal/store/sqlite"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testkit/pgtest"
	"github.com/sluicehq/sluice/internal/workspace"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The commits of the tests' merge requests.
const (
	headH1 = "1111111111111111111111111111111111111111"
	headH2 = "2222222222222222222222222222222222222222"
	baseB  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	mergeM = "cccccccccccccccccccccccccccccccccccccccc"
	// rulesBase and rulesHead are the base and head of the merge request
	// of newRulesForge.
	rulesBase = baseB
	rulesHead = "cccccccccccccccccccccccccccccccccccccccc"
)

// infraRepo is the repository of the forge's merge request.
const infraRepo = "gitea:org/infra"

// depsYAML is the two projects' sluice.yaml: app depends on net.
const depsYAML = `version: 1
projects:
  - name: app
    dir: app
    engine: terraform
    depends_on: [net]
  - name: net
    dir: net
    engine: terraform
`

// The sluice.yaml of a repository of staging and prod (projectFiles),
// and edits of it.
const (
	twoProjects = `version: 1
projects:
  - name: staging
    dir: staging
  - name: prod
    dir: prod
`
	// prodRenamed calls prod production: the same directory and state.
	prodRenamed = `version: 1
projects:
  - name: staging
    dir: staging
  - name: production
    dir: prod
`
	// stagingEdited changes staging's entry alone.
	stagingEdited = `version: 1
projects:
  - name: staging
    dir: staging
    apply:
      mode: before_merge
  - name: prod
    dir: prod
`
)

// projectFiles are the files of a repository of staging and prod whose
// sluice.yaml is yaml.
func projectFiles(yaml string) map[string]string {
	return map[string]string{"sluice.yaml": yaml, "staging/main.tf": "# staging\n", "prod/main.tf": "# prod\n"}
}

// env is a Flow over a real store with the fakes of this file; fg is nil
// when every repository is plain git. nextID is the id of the last
// comment written (comment).
type env struct {
	t      testing.TB
	f      *Flow
	st     store.Store
	jobs   *recordingJobs
	fg     *fakeForge
	eng    *fakeEngine
	nextID int64
	worked int // the plan jobs worked so far (runPlanJobs)
}

// envOption sets what newEnv builds the flow with.
type envOption func(*envSetup)

type envSetup struct {
	st store.Store
	ws Workspaces
	fg *fakeForge
}

// onForge puts the repositories gitea:* on fg.
func onForge(fg *fakeForge) envOption { return func(s *envSetup) { s.fg = fg } }

// withTree is the repository every merge request is of (newNetTree when
// not given).
func withTree(ws Workspaces) envOption { return func(s *envSetup) { s.ws = ws } }

// withStore is the store (SQLite in a file when not given).
func withStore(st store.Store) envOption { return func(s *envSetup) { s.st = st } }

// newEnv is a Flow over a real store, the fakes of this file and the
// options.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	var s envSetup
	for _, o := range opts {
		o(&s)
	}
	if s.st == nil {
		s.st = openSQLite(t)
	}
	if s.ws == nil {
		s.ws = newNetTree(t)
	}
	jobs := &recordingJobs{}
	eng := &fakeEngine{outputs: map[string][]engine.OutputChange{}, fail: map[string]bool{}, none: map[string]bool{}}
	f := &Flow{
		Store:      s.st,
		Jobs:       jobs,
		Sealer:     clearSealer{},
		Audit:      audit.New(s.st),
		Workspaces: s.ws,
		Engines:    func(string) (engine.Engine, error) { return eng, nil },
		Sources: func(_ context.Context, repo string) (workspace.Source, error) {
			return workspace.Source{Repo: repo, CloneURL: "file:///nowhere"}, nil
		},
		Log:      slog.New(slog.DiscardHandler),
		Instance: "me",
		StateDir: t.TempDir(),
	}
	if fg := s.fg; fg != nil {
		f.Forges = func(repo string) (forge.Forge, string, bool) {
			path, ok := strings.CutPrefix(repo, "gitea:")
			return fg, path, ok
		}
	}
	return &env{t: t, f: f, st: s.st, jobs: jobs, fg: s.fg, eng: eng, nextID: 100}
}

// newDepEnv is the env of the two projects (app and net) of yaml, which a
// merge request changes both of, and merge request 7 on newMergeForge.
func newDepEnv(t testing.TB, yaml string) *env {
	t.Helper()
	return newEnv(t, onForge(newMergeForge()), withTree(newDepTree(t, yaml)))
}

// newSettleEnv is newDepEnv of depsYAML whose merge request closes issue
// 12; it returns the env and its forge.
func newSettleEnv(t testing.TB) (*env, *fakeForge) {
	e := newDepEnv(t, depsYAML)
	e.fg.setMR(func(mr *forge.MergeRequest) { mr.Body = "Closes #12" })
	return e, e.fg
}

// handle accepts a request from source (a forge's name, or APISource)
// and carries it out, as the event's job does. A comment's request is
// written on the forge first, as its actor wrote it.
func (e *env) handle(source string, req Request) store.Event {
	e.t.Helper()
	ctx := e.t.Context()
	if req.ByComment && source != APISource && e.fg != nil {
		e.fg.wrote(req)
	}
	ev, _, err := e.f.Accept(ctx, source, fmt.Sprintf("delivery-%d", time.Now().UnixNano()), req)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.f.HandleEvent(ctx, ev.ID); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// runPlanJobs works every plan job not worked yet, in order, as the job
// queue would (the jobs they enqueue included).
func (e *env) runPlanJobs() { e.runSomePlanJobs(0) }

// runSomePlanJobs is runPlanJobs of at most n jobs (0: all).
func (e *env) runSomePlanJobs(n int) {
	e.t.Helper()
	for done := 0; n == 0 || done < n; done++ {
		e.jobs.mu.Lock()
		if e.worked >= len(e.jobs.plans) {
			e.jobs.mu.Unlock()
			return
		}
		id := e.jobs.plans[e.worked]
		e.jobs.mu.Unlock()
		e.worked++
		if err := e.f.HandlePlan(e.t.Context(), id); err != nil {
			e.t.Fatal(err)
		}
	}
}

// plan plans merge request 7 as its webhook does, and runs the plan jobs.
func (e *env) plan() {
	e.t.Helper()
	e.handle("gitea", Request{Action: ActionPlan, Repo: infraRepo, MR: 7, Actor: "alice", Trigger: "opened"})
	e.runPlanJobs()
}

// comment carries out a `sluice ...` comment of actor on merge request 7.
func (e *env) comment(actor, action string, projects ...string) {
	e.t.Helper()
	e.nextID++
	e.handle("gitea", Request{Action: action, Repo: infraRepo, MR: 7, Actor: actor, Projects: projects,
		ByComment: true, CommentID: e.nextID, Trigger: fmt.Sprintf("comment:%d", e.nextID)})
}

// merge merges merge request 7 (carol merges) and handles the webhook.
func (e *env) merge() {
	e.t.Helper()
	e.fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	e.handle("gitea", Request{Action: ActionClose, Repo: infraRepo, MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})
}

// refresh refreshes merge request 7 and returns its comment.
func (e *env) refresh() string {
	e.t.Helper()
	if err := e.f.RefreshMR(e.t.Context(), infraRepo, 7); err != nil {
		e.t.Fatal(err)
	}
	return e.fg.sticky()
}

// planRun creates the plan run of project net of merge request mr at
// head, as planMR does, with the lock held by the merge request.
func (e *env) planRun(repo string, mr int64, head string) store.Run {
	e.t.Helper()
	ctx := e.t.Context()
	r, err := e.st.CreateRun(ctx, store.Run{Kind: store.KindPlan, Repo: repo, MR: mr, Project: "net", Workspace: "default", Dir: "net",
		HeadSHA: head, BaseSHA: baseB, Actor: "alice"})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.AcquireLock(ctx, store.LockKey{Repo: repo, Dir: "net", Workspace: "default"}, "net", mr); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// plannedRun stores a succeeded plan run of project net with its plan,
// discarded or not, as HandlePlan leaves them.
func (e *env) plannedRun(repo string, mr int64, head string, discarded bool) (store.Run, store.Plan) {
	e.t.Helper()
	return e.plannedRunMode(repo, mr, head, discarded, repoconfig.ApplyAfterMerge)
}

// plannedRunMode is plannedRun of a project in apply mode mode.
func (e *env) plannedRunMode(repo string, mr int64, head string, discarded bool, mode string) (store.Run, store.Plan) {
	e.t.Helper()
	ctx := e.t.Context()
	r := e.planRun(repo, mr, head)
	if _, err := e.st.StartRun(ctx, r.ID, "me"); err != nil {
		e.t.Fatal(err)
	}
	p, err := e.st.SavePlan(ctx, store.Plan{RunID: r.ID, Repo: repo, MR: mr, Project: "net", Workspace: "default",
		HeadSHA: head, BaseSHA: baseB, ArtifactSHA256: "abc", Sealed: []byte("artifact"),
		Normalized: []byte(`{"engine":"terraform","resources":[],"summary":{"add":1,"change":0,"destroy":0,"replace":0},"text":""}`),
		HasChanges: true, Discarded: discarded})
	if err != nil {
		e.t.Fatal(err)
	}
	summary, _ := json.Marshal(runSummary{PlanID: p.ID, Summary: engine.Summary{Add: 1}, Changes: true,
		Rules: &projectRules{MinApprovals: 1, Mode: mode, Patterns: []string{"net/**"}, Dir: "net", Engine: "terraform"}})
	if r, err = e.st.FinishRun(ctx, r.ID, store.StateSucceeded, "", summary); err != nil {
		e.t.Fatal(err)
	}
	return r, p
}

// applies lists the apply runs of a merge request, newest first.
func (e *env) applies(repo string, mr int64) []store.Run {
	e.t.Helper()
	runs, err := e.st.ListRuns(e.t.Context(), store.RunFilter{Repo: repo, MR: mr, Kind: store.KindApply})
	if err != nil {
		e.t.Fatal(err)
	}
	return runs
}

// applyOf returns the latest apply run of project of merge request 7.
func (e *env) applyOf(project string) store.Run {
	e.t.Helper()
	for _, r := range e.applies(infraRepo, 7) { // newest first
		if r.Project == project {
			return r
		}
	}
	e.t.Fatalf("no apply run of %s; runs: %+v", project, e.applies(infraRepo, 7))
	return store.Run{}
}

// runApply carries out the apply job of project of merge request 7,
// which must have been enqueued.
func (e *env) runApply(project string) {
	e.t.Helper()
	r := e.applyOf(project)
	if !slices.Contains(e.enqueued(), r.ID) {
		e.t.Fatalf("the apply run %d of %s was not enqueued (enqueued: %v)", r.ID, project, e.enqueued())
	}
	if err := e.f.HandleApply(e.t.Context(), r.ID); err != nil {
		e.t.Fatal(err)
	}
}

// enqueued lists the apply jobs enqueued so far.
func (e *env) enqueued() []int64 {
	e.jobs.mu.Lock()
	defer e.jobs.mu.Unlock()
	return slices.Clone(e.jobs.applies)
}

func (e *env) run(id int64) store.Run {
	e.t.Helper()
	r, err := e.st.GetRun(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// lockHolder is the merge request that holds project's lock in the
// forge's repository (0: none).
func (e *env) lockHolder(project string) int64 {
	e.t.Helper()
	l, err := e.st.GetLock(e.t.Context(), store.LockKey{Repo: infraRepo, Dir: project, Workspace: "default"})
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return l.MR
}

func (e *env) replies() []string {
	e.fg.mu.Lock()
	defer e.fg.mu.Unlock()
	return slices.Clone(e.fg.replies)
}

// auditActions lists "actor action subject" of every audit entry.
func (e *env) auditActions() []string {
	e.t.Helper()
	entries, err := e.st.AuditEntries(e.t.Context(), 0, time.Time{}, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, a := range entries {
		out = append(out, a.Actor+" "+a.Action+" "+a.Subject)
	}
	return out
}

// applyEntries returns the details of the audit entries "apply" of the
// apply run id.
func (e *env) applyEntries(id int64) []map[string]any {
	e.t.Helper()
	entries, err := e.st.AuditEntries(e.t.Context(), 0, time.Time{}, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, a := range entries {
		if a.Action != "apply" {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal(a.Details, &d); err != nil {
			e.t.Fatal(err)
		}
		if d["run"] == float64(id) {
			out = append(out, d)
		}
	}
	return out
}

// gateFlow is a flow for the gate alone: merge request 7 holds every
// project lock (heldLocks), repositories are read from ws, and fg (nil:
// none) is the forge of every repository.
func gateFlow(ws Workspaces, fg *fakeForge) *Flow {
	f := &Flow{
		Store:      heldLocks{mr: 7},
		Workspaces: ws,
		Sources:    func(_ context.Context, r string) (workspace.Source, error) { return workspace.Source{Repo: r}, nil },
		Log:        slog.New(slog.DiscardHandler),
		Policy:     gate.Policy{MinApprovalsFloor: 1, MayRelax: []string{"threads", "checks", "draft"}},
	}
	if fg != nil {
		f.Forges = func(string) (forge.Forge, string, bool) { return fg, "org/infra", true }
	}
	return f
}

// headProject reads a project from the head's sluice.yaml, as the plan run
// does from its checkout.
func headProject(t *testing.T, yaml, name string) *repoconfig.Project {
	t.Helper()
	cfg, err := repoconfig.Parse(nil, repoconfig.FileName, []byte(yaml))
	if err != nil {
		t.Fatalf("head sluice.yaml: %v", err)
	}
	p, ok := cfg.Project(name)
	if !ok {
		t.Fatalf("no project %s in the head's sluice.yaml", name)
	}
	return p
}

// storeKind is a real store of one kind.
type storeKind struct {
	name string
	open func(t testing.TB) store.Store
}

// bothStores are SQLite in a file, and a fresh PostgreSQL database.
func bothStores() []storeKind {
	return []storeKind{
		{"sqlite", openSQLite},
		{"postgres", func(t testing.TB) store.Store {
			pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			st, err := postgres.New(context.Background(), pool)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	}
}

func openSQLite(t testing.TB) store.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// spyStore is a real store that lets a test act between the flow's calls,
// or fail some of them: beforeAcquire runs once, before the next
// AcquireLock; afterApplyCreated after each apply run is created;
// beforeMRRuns before each read of a merge request's runs (all of them:
// no kind, no state), with its count. The plans read are counted
// (planReads), and reading those in failPlans fails, as a database that
// is briefly unreachable would.
type spyStore struct {
	store.Store
	mu                sync.Mutex
	beforeAcquire     func()
	afterApplyCreated func(store.Run)
	beforeMRRuns      func(n int)
	mrRuns            int
	failPlans         map[int64]bool
	planReads         map[int64]int
}

func (s *spyStore) AcquireLock(ctx context.Context, k store.LockKey, project string, mr int64) (store.LockResult, error) {
	if fn := s.beforeAcquire; fn != nil {
		s.beforeAcquire = nil
		fn()
	}
	return s.Store.AcquireLock(ctx, k, project, mr)
}

func (s *spyStore) CreateRun(ctx context.Context, r store.Run) (store.Run, error) {
	created, err := s.Store.CreateRun(ctx, r)
	if err == nil && created.Kind == store.KindApply && s.afterApplyCreated != nil {
		s.afterApplyCreated(created)
	}
	return created, err
}

func (s *spyStore) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	if f.MR != 0 && f.Kind == "" && f.State == "" && s.beforeMRRuns != nil {
		s.mu.Lock()
		s.mrRuns++
		n := s.mrRuns
		s.mu.Unlock()
		s.beforeMRRuns(n)
	}
	return s.Store.ListRuns(ctx, f)
}

func (s *spyStore) GetPlan(ctx context.Context, id int64) (store.Plan, error) {
	s.mu.Lock()
	if s.planReads == nil {
		s.planReads = map[int64]int{}
	}
	s.planReads[id]++
	fail := s.failPlans[id]
	s.mu.Unlock()
	if fail {
		return store.Plan{}, fmt.Errorf("getting plan %d: database is locked", id)
	}
	return s.Store.GetPlan(ctx, id)
}

// setFailPlans makes reading the plans ids fail (none: none fails).
func (s *spyStore) setFailPlans(ids ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failPlans = map[int64]bool{}
	for _, id := range ids {
		s.failPlans[id] = true
	}
}

// heldLocks is a store in which merge request mr holds every project
// lock; it knows nothing else.
type heldLocks struct {
	store.Store
	mr int64
}

func (h heldLocks) GetLock(_ context.Context, k store.LockKey) (store.Lock, error) {
	return store.Lock{LockKey: k, MR: h.mr}, nil
}

// recordingJobs records the jobs the flow enqueues, and the events and
// applies a recovery pass queues again.
type recordingJobs struct {
	mu             sync.Mutex
	plans, applies []int64
	requeued       []requeuedApply
	events         []int64 // RequeueEvent's
}

type requeuedApply struct {
	run   int64
	alive []string
}

func (j *recordingJobs) EnqueueEvent(context.Context, int64) error { return nil }

func (j *recordingJobs) RequeueEvent(_ context.Context, id int64, _ []string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, id)
	return nil
}

func (j *recordingJobs) EnqueuePlan(_ context.Context, id int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.plans = append(j.plans, id)
	return nil
}

func (j *recordingJobs) EnqueueApply(_ context.Context, id int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.applies = append(j.applies, id)
	return nil
}

// RequeueApply records the job in applies, and in requeued with the alive
// instances it was given.
func (j *recordingJobs) RequeueApply(_ context.Context, id int64, alive []string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.applies = append(j.applies, id)
	j.requeued = append(j.requeued, requeuedApply{id, slices.Clone(alive)})
	return nil
}

// clearSealer "seals" by copying: these tests are not about encryption.
type clearSealer struct{}

func (clearSealer) Seal(p, _ []byte) []byte { return slices.Clone(p) }

func (clearSealer) Open(s, _ []byte) ([]byte, error) { return slices.Clone(s), nil }

// failingAuditor fails the next Record of action fail (once), as a
// database that refuses a write for a moment would.
type failingAuditor struct {
	Auditor
	mu   sync.Mutex
	fail string
}

func (a *failingAuditor) Record(ctx context.Context, actor, action, subject string, details any) (store.AuditEntry, error) {
	a.mu.Lock()
	fail := action == a.fail
	if fail {
		a.fail = ""
	}
	a.mu.Unlock()
	if fail {
		return store.AuditEntry{}, errors.New("recording audit entry: database is locked")
	}
	return a.Auditor.Record(ctx, actor, action, subject, details)
}

// fakeEngine plans one resource to add in every project (nothing for
// the projects in none: their changes are applied already), with the
// output changes of outputs[project]; every plan's artifact differs. Its
// applies are recorded in order, and fail for the projects in fail.
type fakeEngine struct {
	mu      sync.Mutex
	n       int
	outputs map[string][]engine.OutputChange
	fail    map[string]bool
	none    map[string]bool
	applied []string
}

func (e *fakeEngine) Name() string { return "terraform" }

func (e *fakeEngine) Plan(_ context.Context, req engine.PlanRequest) (*engine.Plan, error) {
	e.mu.Lock()
	e.n++
	body := fmt.Appendf(nil, "plan %d of %s", e.n, req.Project)
	outputs, summary := e.outputs[req.Project], engine.Summary{Add: 1}
	if e.none[req.Project] {
		outputs, summary = nil, engine.Summary{}
	}
	e.mu.Unlock()
	if err := os.WriteFile(req.PlanFile, body, 0o600); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return &engine.Plan{Engine: "terraform", Summary: summary, Outputs: outputs, OutputChanges: len(outputs) > 0,
		Artifact: engine.Artifact{Path: req.PlanFile, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}}, nil
}

func (e *fakeEngine) Apply(_ context.Context, req engine.ApplyRequest) (*engine.ApplyResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applied = append(e.applied, req.Project)
	if e.fail[req.Project] {
		return nil, &engine.RunError{Project: req.Project, Command: "terraform apply", Lines: []string{"Error: creating the network failed"}}
	}
	return &engine.ApplyResult{Text: "Apply complete", Summary: engine.Summary{Add: 1}}, nil
}

// order lists the projects applied, in order.
func (e *fakeEngine) order() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.applied)
}

// setNone makes the plans of project have no changes from now on.
func (e *fakeEngine) setNone(project string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.none[project] = true
}

// tree is a repository whose every commit is the same tree, in dir: a
// merge request changes the paths in changed, two commits differ in diff,
// and every branch has all of its base. The base's files, as the rules
// read them, are the tree's, or none when bare (a base without
// sluice.yaml).
type tree struct {
	dir     string
	changed []string
	diff    []string
	bare    bool
}

// newTree writes files (path: content) into a tree whose merge requests
// change changed.
func newTree(t testing.TB, files map[string]string, changed ...string) *tree {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		testkit.WriteFile(t, filepath.Join(dir, filepath.FromSlash(name)), body)
	}
	return &tree{dir: dir, changed: changed}
}

// newNetTree is a tree of one Terraform project, net, that merge requests
// change; its base's files are none.
func newNetTree(t testing.TB) *tree {
	w := newTree(t, map[string]string{
		"sluice.yaml": "version: 1\nprojects:\n  - name: net\n    dir: net\n    engine: terraform\n",
		"net/main.tf": "# nothing\n",
	}, "net/main.tf")
	w.bare = true
	return w
}

// newDepTree is a tree of projects net and app, with the given
// sluice.yaml; merge requests change both.
func newDepTree(t testing.TB, yaml string) *tree {
	return newTree(t, map[string]string{"sluice.yaml": yaml, "net/main.tf": "# net\n", "app/main.tf": "# app\n"},
		"net/main.tf", "app/main.tf")
}

// newManyProjects is a tree of n Terraform projects, p0001 to pN, each in
// its own directory; merge requests change them all.
func newManyProjects(t testing.TB, n int) *tree {
	t.Helper()
	var yaml strings.Builder
	yaml.WriteString("version: 1\nprojects:\n")
	files := map[string]string{}
	var paths []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("p%04d", i)
		fmt.Fprintf(&yaml, "  - name: %s\n    dir: %s\n    engine: terraform\n", name, name)
		files[name+"/main.tf"] = "# nothing\n"
		paths = append(paths, name+"/main.tf")
	}
	files["sluice.yaml"] = yaml.String()
	return newTree(t, files, paths...)
}

// changing is the same tree, whose merge requests change paths.
func (w *tree) changing(paths ...string) *tree {
	c := *w
	c.changed = paths
	return &c
}

func (w *tree) Checkout(context.Context, workspace.Source, string, string) (*workspace.Tree, error) {
	return &workspace.Tree{Dir: w.dir}, nil
}

func (w *tree) Remove(context.Context, *workspace.Tree) error { return nil }

func (w *tree) ChangedFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return w.changed, nil
}

func (w *tree) DiffFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return w.diff, nil
}

func (w *tree) MergeBase(_ context.Context, _ workspace.Source, _, b string) (string, error) {
	return b, nil
}

func (w *tree) TreeFS(context.Context, workspace.Source, string, func(string, int64) bool) (fs.FS, error) {
	if w.bare {
		return fstest.MapFS{}, nil
	}
	return os.DirFS(w.dir), nil
}

// commits is a repository of a few commits, each its files (path:
// content). A merge request at head changes heads[head], or changed;
// diffs[from+to] are the paths that differ between two commits;
// bases[a+b] is where a branch at a left a base at b (none: b). Every
// read of a commit it does not have fails, and every read fails once
// broken (a fetch that fails). checkouts counts the checkouts.
type commits struct {
	t         testing.TB
	files     map[string]map[string]string
	changed   []string
	heads     map[string][]string
	diffs     map[string][]string
	bases     map[string]string
	broken    bool
	checkouts int
}

// newCommits is the repository of files (by commit), its maps made.
func newCommits(t testing.TB, files map[string]map[string]string) *commits {
	return &commits{t: t, files: files, heads: map[string][]string{}, diffs: map[string][]string{}, bases: map[string]string{}}
}

func (c *commits) have(commit string) error {
	if c.broken {
		return errors.New("fetching gitea:org/infra: connection refused")
	}
	if _, ok := c.files[commit]; !ok {
		return fmt.Errorf("commit %s is not in the repository", gitx.Short(commit))
	}
	return nil
}

func (c *commits) Checkout(_ context.Context, _ workspace.Source, commit, _ string) (*workspace.Tree, error) {
	if err := c.have(commit); err != nil {
		return nil, err
	}
	c.checkouts++
	dir := c.t.TempDir()
	for p, content := range c.files[commit] {
		testkit.WriteFile(c.t, filepath.Join(dir, filepath.FromSlash(p)), content)
	}
	return &workspace.Tree{Dir: dir}, nil
}

func (c *commits) Remove(context.Context, *workspace.Tree) error { return nil }

func (c *commits) ChangedFiles(_ context.Context, _ workspace.Source, base, head string) ([]string, error) {
	if err := c.have(base); err != nil {
		return nil, err
	}
	if paths, ok := c.heads[head]; ok {
		return paths, nil
	}
	return c.changed, nil
}

func (c *commits) DiffFiles(_ context.Context, _ workspace.Source, from, to string) ([]string, error) {
	if err := c.have(from); err != nil {
		return nil, err
	}
	if err := c.have(to); err != nil {
		return nil, err
	}
	return c.diffs[from+to], nil
}

func (c *commits) MergeBase(_ context.Context, _ workspace.Source, a, b string) (string, error) {
	if err := c.have(a); err != nil {
		return "", err
	}
	if err := c.have(b); err != nil {
		return "", err
	}
	if mb, ok := c.bases[a+b]; ok {
		return mb, nil
	}
	return b, nil
}

// TreeFS is the commit's files; every one is read.
func (c *commits) TreeFS(_ context.Context, _ workspace.Source, commit string, _ func(string, int64) bool) (fs.FS, error) {
	if err := c.have(commit); err != nil {
		return nil, err
	}
	fsys := fstest.MapFS{}
	for p, content := range c.files[commit] {
		fsys[p] = &fstest.MapFile{Data: []byte(content)}
	}
	return fsys, nil
}

// fakeForge is a forge with one merge request, mr, answering what the
// flow and the gate ask: reviews, committers, checks, permissions (perms)
// and groups; the comments people wrote (written, read back before a
// command is carried out); what Sluice writes (replies, its comments by
// marker, statuses, comments on issues). calls counts the gate's
// questions, by call ("Reviews", "Permission bob", "GroupMembers sre");
// total counts every call. A call made to fail (failNext, failWith) fails
// before it answers. The rest of forge.Forge is not used.
type fakeForge struct {
	forge.Forge
	mu         sync.Mutex
	name, self string
	mr         forge.MergeRequest
	reviews    []forge.Review
	committers []string
	checks     []forge.Check
	perms      map[string]forge.Permission
	groups     map[string][]string
	calls      map[string]int
	all        int
	written    map[int64]forge.Comment
	replies    []string
	comments   map[string]string // by marker
	last       string            // the comment Sluice wrote last (sticky)
	statuses   []string          // "SHA NAME STATE DESCRIPTION", in the order posted
	issues     []string          // "#N: BODY"
	fails      map[string]func(ctx context.Context) error
}

// greenChecks is a merge request's CI, passed.
var greenChecks = []forge.Check{{Name: "ci", State: forge.CheckSuccess}}

// newMergeForge is a Gitea whose merge request 7 (by alice, at H2 on base
// B, into main) bob approved after any plan of these tests, with CI
// passed; bob and carol have write access, and carol merges.
func newMergeForge() *fakeForge {
	return &fakeForge{
		name: "gitea", self: "sluice-bot",
		mr: forge.MergeRequest{Repo: "org/infra", Number: 7, State: forge.MROpen, HeadSHA: headH2, BaseSHA: baseB, BaseRef: "main",
			Author: forge.User{Login: "alice"}, MergedBy: &forge.User{Login: "carol"}},
		reviews: []forge.Review{{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: headH2, At: time.Now().Add(time.Hour)}},
		checks:  greenChecks,
		perms:   map[string]forge.Permission{"bob": forge.PermWrite, "carol": forge.PermWrite, "api": forge.PermAdmin},
	}
}

// newRulesForge is the forge name whose merge request 7 is open into main
// at rulesHead on rulesBase, as the plan run asks it for the branch its
// rules come from; nobody reviewed it, no CI ran.
func newRulesForge(name string) *fakeForge {
	return &fakeForge{name: name,
		mr: forge.MergeRequest{Repo: "org/infra", Number: 7, State: forge.MROpen, HeadSHA: rulesHead, BaseSHA: rulesBase, BaseRef: "main"}}
}

// count records a call; gate says it is one of the gate's questions.
func (f *fakeForge) count(call string, gate bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.all++
	if gate {
		if f.calls == nil {
			f.calls = map[string]int{}
		}
		f.calls[call]++
	}
}

// failing is the error call fails with now, if it is made to fail.
func (f *fakeForge) failing(ctx context.Context, call string) error {
	f.mu.Lock()
	fail := f.fails[call]
	f.mu.Unlock()
	if fail == nil {
		return nil
	}
	return fail(ctx)
}

// failWith makes call fail with what fail returns (nil: it answers).
func (f *fakeForge) failWith(call string, fail func(ctx context.Context) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails == nil {
		f.fails = map[string]func(context.Context) error{}
	}
	f.fails[call] = fail
}

// failNext makes call fail the next n times, as a forge answering 502
// does.
func (f *fakeForge) failNext(call string, n int) {
	var left atomic.Int64
	left.Store(int64(n))
	f.failWith(call, func(context.Context) error {
		if left.Add(-1) < 0 {
			return nil
		}
		return fmt.Errorf("gitea: %s of org/infra!7: HTTP 502 Bad Gateway", call)
	})
}

// wrote records on the forge the comment a command request of a webhook
// names, as its actor wrote it: Sluice reads it back before acting.
func (f *fakeForge) wrote(req Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.written == nil {
		f.written = map[int64]forge.Comment{}
	}
	f.written[req.CommentID] = commentOf(req)
}

func (f *fakeForge) setMR(update func(*forge.MergeRequest)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	update(&f.mr)
}

// sticky is the comment Sluice wrote or updated last.
func (f *fakeForge) sticky() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// posted are the statuses posted, in order.
func (f *fakeForge) posted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.statuses)
}

func (f *fakeForge) issueComments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.issues)
}

// total is the number of calls the forge answered.
func (f *fakeForge) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.all
}

func (f *fakeForge) Name() string { return f.name }

func (f *fakeForge) Self(context.Context) (string, error) { return f.self, nil }

func (f *fakeForge) DefaultBranch(context.Context, string) (string, error) {
	f.count("DefaultBranch", false)
	return "main", nil
}

func (f *fakeForge) GetMR(ctx context.Context, _ string, n int64) (*forge.MergeRequest, error) {
	f.count("GetMR", false)
	if err := f.failing(ctx, "GetMR"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n != f.mr.Number {
		return nil, fmt.Errorf("merge request %d: %w", n, forge.ErrNotFound)
	}
	mr := f.mr
	return &mr, nil
}

func (f *fakeForge) GetComment(_ context.Context, _ string, n, id int64) (*forge.Comment, error) {
	f.count("GetComment", false)
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.written[id]
	if !ok || n != f.mr.Number {
		return nil, fmt.Errorf("comment %d of !%d: %w", id, n, forge.ErrNotFound)
	}
	return &c, nil
}

func (f *fakeForge) Reviews(context.Context, string, int64) ([]forge.Review, error) {
	f.count("Reviews", true)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reviews, nil
}

func (f *fakeForge) Committers(ctx context.Context, _ string, _ int64) ([]string, error) {
	f.count("Committers", true)
	if err := f.failing(ctx, "Committers"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.committers, nil
}

func (f *fakeForge) UnresolvedThreads(context.Context, string, int64) (int, error) {
	f.count("UnresolvedThreads", true)
	return 0, nil
}

func (f *fakeForge) Checks(context.Context, string, string) ([]forge.Check, error) {
	f.count("Checks", true)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checks, nil
}

func (f *fakeForge) Permission(_ context.Context, _, login string) (forge.Permission, error) {
	f.count("Permission "+login, true)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.perms[login], nil
}

// GroupMembers knows the groups in groups; "broken" fails as a forge that
// answers 500 would, and a cancelled context fails as a request would.
func (f *fakeForge) GroupMembers(ctx context.Context, _, group string) ([]string, error) {
	f.count("GroupMembers "+group, true)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing the members of %s: %w", group, err)
	}
	if group == "broken" {
		return nil, errors.New("gitea: listing the teams of organisation org: HTTP 500")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.groups[group]
	if !ok {
		return nil, fmt.Errorf("team %s: %w", group, forge.ErrNotFound)
	}
	return m, nil
}

func (f *fakeForge) UpsertComment(_ context.Context, _ string, _ int64, marker string, parts []string) error {
	f.count("UpsertComment", false)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.comments == nil {
		f.comments = map[string]string{}
	}
	f.last = strings.Join(parts, "\n")
	f.comments[marker] = f.last
	return nil
}

func (f *fakeForge) Reply(_ context.Context, _ string, _ int64, body string) error {
	f.count("Reply", false)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies = append(f.replies, body)
	return nil
}

func (f *fakeForge) SetStatus(_ context.Context, _, sha string, ch forge.Check) error {
	f.count("SetStatus", false)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, fmt.Sprintf("%s %s %s %s", gitx.Short(sha), ch.Name, ch.State, ch.Description))
	return nil
}

func (f *fakeForge) CommentLimit() int { return 65536 }

func (f *fakeForge) CommentIssue(_ context.Context, _ string, n int64, body string) error {
	f.count("CommentIssue", false)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issues = append(f.issues, fmt.Sprintf("#%d: %s", n, body))
	return nil
}

// commentOf is the comment a command request of a webhook names, as its
// actor wrote it.
func commentOf(req Request) forge.Comment {
	verb := map[string]string{ActionPlan: "plan", ActionApply: "apply", ActionUnlock: "unlock", ActionHelp: "help"}[req.Action]
	body := "sluice " + verb
	for _, p := range req.Projects {
		body += " -p " + p
	}
	return forge.Comment{ID: req.CommentID, Author: forge.User{Login: req.Actor}, Body: body}
}
