package flow

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

// recordingJobs records the jobs the flow enqueues.
type recordingJobs struct {
	mu             sync.Mutex
	plans, applies []int64
	requeued       []requeuedApply
}

func (j *recordingJobs) EnqueueEvent(context.Context, int64) error { return nil }

func (j *recordingJobs) RequeueEvent(context.Context, int64, []string) error { return nil }

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

type requeuedApply struct {
	run   int64
	alive []string
}

// clearSealer "seals" by copying: these tests are not about encryption.
type clearSealer struct{}

func (clearSealer) Seal(p, _ []byte) []byte { return slices.Clone(p) }

func (clearSealer) Open(s, _ []byte) ([]byte, error) { return slices.Clone(s), nil }

// oneTree is a repository whose every commit is the same tree: one
// Terraform project, net. Every path of the project changed.
type oneTree struct{ dir string }

func newOneTree(t *testing.T) oneTree {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"sluice.yaml": "version: 1\nprojects:\n  - name: net\n    dir: net\n    engine: terraform\n",
		"net/main.tf": "# nothing\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return oneTree{dir: dir}
}

func (o oneTree) Checkout(context.Context, workspace.Source, string, string) (*workspace.Tree, error) {
	return &workspace.Tree{Dir: o.dir}, nil
}

func (o oneTree) Remove(context.Context, *workspace.Tree) error { return nil }

func (o oneTree) ChangedFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return []string{"net/main.tf"}, nil
}

func (o oneTree) DiffFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return nil, nil
}

// MergeBase says every branch has all of its base.
func (o oneTree) MergeBase(_ context.Context, _ workspace.Source, _, b string) (string, error) {
	return b, nil
}

func (o oneTree) TreeFS(context.Context, workspace.Source, string, func(string, int64) bool) (fs.FS, error) {
	return fstest.MapFS{}, nil
}

// artifactEngine plans one resource to add; its artifact names the
// planned directory and a counter, so every plan's artifact differs.
type artifactEngine struct {
	mu sync.Mutex
	n  int
}

func (e *artifactEngine) Name() string { return "terraform" }

func (e *artifactEngine) Plan(_ context.Context, req engine.PlanRequest) (*engine.Plan, error) {
	e.mu.Lock()
	e.n++
	body := fmt.Appendf(nil, "plan %d of %s", e.n, req.Dir)
	e.mu.Unlock()
	if err := os.WriteFile(req.PlanFile, body, 0o600); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return &engine.Plan{Engine: "terraform", Summary: engine.Summary{Add: 1},
		Artifact: engine.Artifact{Path: req.PlanFile, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}}, nil
}

func (e *artifactEngine) Apply(context.Context, engine.ApplyRequest) (*engine.ApplyResult, error) {
	return nil, errors.New("not used")
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

const (
	headH1 = "1111111111111111111111111111111111111111"
	headH2 = "2222222222222222222222222222222222222222"
	baseB  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	mergeM = "cccccccccccccccccccccccccccccccccccccccc"
)

// flowEnv is a Flow over a real SQLite store with the fakes above; fg is
// nil for a plain git repository.
type flowEnv struct {
	t    *testing.T
	f    *Flow
	st   store.Store
	jobs *recordingJobs
	fg   *fakeForge
}

func newFlowEnv(t *testing.T, fg *fakeForge) *flowEnv {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	jobs := &recordingJobs{}
	eng := &artifactEngine{}
	f := &Flow{
		Store:      st,
		Jobs:       jobs,
		Sealer:     clearSealer{},
		Audit:      audit.New(st),
		Workspaces: newOneTree(t),
		Engines:    func(string) (engine.Engine, error) { return eng, nil },
		Sources: func(_ context.Context, repo string) (workspace.Source, error) {
			return workspace.Source{Repo: repo, CloneURL: "file:///nowhere"}, nil
		},
		Log:      slog.New(slog.DiscardHandler),
		Instance: "me",
		StateDir: t.TempDir(),
	}
	if fg != nil {
		f.Forges = func(repo string) (forge.Forge, string, bool) {
			path, ok := strings.CutPrefix(repo, "gitea:")
			return fg, path, ok
		}
	}
	return &flowEnv{t: t, f: f, st: st, jobs: jobs, fg: fg}
}

// planRun creates the plan run of project net of merge request mr at
// head, as planMR does, with the lock held by the merge request.
func (e *flowEnv) planRun(repo string, mr int64, head string) store.Run {
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
func (e *flowEnv) plannedRun(repo string, mr int64, head string, discarded bool) (store.Run, store.Plan) {
	e.t.Helper()
	return e.plannedRunMode(repo, mr, head, discarded, repoconfig.ApplyAfterMerge)
}

// plannedRunMode is plannedRun of a project in apply mode mode.
func (e *flowEnv) plannedRunMode(repo string, mr int64, head string, discarded bool, mode string) (store.Run, store.Plan) {
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

// handle accepts a request from source (a forge's name, or APISource)
// and carries it out.
func (e *flowEnv) handle(source string, req Request) store.Event {
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

// applies lists the apply runs of a merge request.
func (e *flowEnv) applies(repo string, mr int64) []store.Run {
	e.t.Helper()
	runs, err := e.st.ListRuns(e.t.Context(), store.RunFilter{Repo: repo, MR: mr, Kind: store.KindApply})
	if err != nil {
		e.t.Fatal(err)
	}
	return runs
}

// auditActions lists "actor action subject" of every audit entry.
func (e *flowEnv) auditActions() []string {
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

const infraRepo = "gitea:org/infra"

// depTree is a repository whose every commit is the same tree, with the
// given sluice.yaml; the merge request changes both projects.
type depTree struct{ dir string }

func newDepTree(t *testing.T, yaml string) depTree {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"sluice.yaml": yaml, "net/main.tf": "# net\n", "app/main.tf": "# app\n"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return depTree{dir: dir}
}

func (d depTree) Checkout(context.Context, workspace.Source, string, string) (*workspace.Tree, error) {
	return &workspace.Tree{Dir: d.dir}, nil
}

func (d depTree) Remove(context.Context, *workspace.Tree) error { return nil }

func (d depTree) ChangedFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return []string{"net/main.tf", "app/main.tf"}, nil
}

func (d depTree) DiffFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return nil, nil
}

func (d depTree) MergeBase(_ context.Context, _ workspace.Source, _, b string) (string, error) {
	return b, nil
}

func (d depTree) TreeFS(context.Context, workspace.Source, string, func(string, int64) bool) (fs.FS, error) {
	return os.DirFS(d.dir), nil
}

// depEngine plans one resource to add in every project, with the output
// changes of outputs[project]; its applies are recorded in order and fail
// for the projects in fail.
type depEngine struct {
	mu      sync.Mutex
	n       int
	outputs map[string][]engine.OutputChange
	fail    map[string]bool
	applied []string
}

func (e *depEngine) Name() string { return "terraform" }

func (e *depEngine) Plan(_ context.Context, req engine.PlanRequest) (*engine.Plan, error) {
	e.mu.Lock()
	e.n++
	body := fmt.Appendf(nil, "plan %d of %s", e.n, req.Project)
	outputs := e.outputs[req.Project]
	e.mu.Unlock()
	if err := os.WriteFile(req.PlanFile, body, 0o600); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return &engine.Plan{Engine: "terraform", Summary: engine.Summary{Add: 1}, Outputs: outputs, OutputChanges: len(outputs) > 0,
		Artifact: engine.Artifact{Path: req.PlanFile, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}}, nil
}

func (e *depEngine) Apply(_ context.Context, req engine.ApplyRequest) (*engine.ApplyResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applied = append(e.applied, req.Project)
	if e.fail[req.Project] {
		return nil, &engine.RunError{Project: req.Project, Command: "terraform apply", Lines: []string{"Error: creating the network failed"}}
	}
	return &engine.ApplyResult{Text: "Apply complete", Summary: engine.Summary{Add: 1}}, nil
}

func (e *depEngine) order() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.applied)
}

const depRepo = "gitea:org/infra"

// depEnv is a flowEnv on the two projects' repository, with merge
// request 7 (see newMergeForge) on a forge.
type depEnv struct {
	*flowEnv
	eng    *depEngine
	nextID int64
}

func newDepEnv(t *testing.T, yaml string) *depEnv {
	t.Helper()
	fg := newMergeForge()
	e := newFlowEnv(t, fg)
	eng := &depEngine{outputs: map[string][]engine.OutputChange{}, fail: map[string]bool{}}
	e.f.Workspaces = newDepTree(t, yaml)
	e.f.Engines = func(string) (engine.Engine, error) { return eng, nil }
	return &depEnv{flowEnv: e, eng: eng, nextID: 100}
}

// plan plans the merge request as its webhook does, and runs the plan
// jobs.
func (e *depEnv) plan() {
	e.t.Helper()
	e.handle("gitea", Request{Action: ActionPlan, Repo: depRepo, MR: 7, Actor: "alice", Trigger: "opened"})
	e.runPlanJobs()
}

// runPlanJobs carries out the plan jobs enqueued so far, in order.
func (e *depEnv) runPlanJobs() {
	e.t.Helper()
	e.jobs.mu.Lock()
	plans := slices.Clone(e.jobs.plans)
	e.jobs.plans = nil
	e.jobs.mu.Unlock()
	for _, id := range plans {
		if err := e.f.HandlePlan(e.t.Context(), id); err != nil {
			e.t.Fatal(err)
		}
	}
}

// comment carries out a `sluice ...` comment of actor.
func (e *depEnv) comment(actor, action string, projects ...string) {
	e.t.Helper()
	e.nextID++
	e.handle("gitea", Request{Action: action, Repo: depRepo, MR: 7, Actor: actor, Projects: projects,
		ByComment: true, CommentID: e.nextID, Trigger: fmt.Sprintf("comment:%d", e.nextID)})
}

// merge merges the merge request (carol merges) and handles the webhook.
func (e *depEnv) merge() {
	e.t.Helper()
	e.fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	e.handle("gitea", Request{Action: ActionClose, Repo: depRepo, MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})
}

// enqueued lists the apply jobs enqueued so far.
func (e *depEnv) enqueued() []int64 {
	e.jobs.mu.Lock()
	defer e.jobs.mu.Unlock()
	return slices.Clone(e.jobs.applies)
}

// applyOf returns the latest apply run of project.
func (e *depEnv) applyOf(project string) store.Run {
	e.t.Helper()
	for _, r := range e.applies(depRepo, 7) { // newest first
		if r.Project == project {
			return r
		}
	}
	e.t.Fatalf("no apply run of %s; runs: %+v", project, e.applies(depRepo, 7))
	return store.Run{}
}

// runApply carries out project's apply job, which must have been
// enqueued.
func (e *depEnv) runApply(project string) {
	e.t.Helper()
	r := e.applyOf(project)
	if !slices.Contains(e.enqueued(), r.ID) {
		e.t.Fatalf("the apply run %d of %s was not enqueued (enqueued: %v)", r.ID, project, e.enqueued())
	}
	if err := e.f.HandleApply(e.t.Context(), r.ID); err != nil {
		e.t.Fatal(err)
	}
}

func (e *depEnv) replies() []string {
	e.fg.mu.Lock()
	defer e.fg.mu.Unlock()
	return slices.Clone(e.fg.replies)
}

func (e *depEnv) refresh() string {
	e.t.Helper()
	if err := e.f.RefreshMR(e.t.Context(), depRepo, 7); err != nil {
		e.t.Fatal(err)
	}
	return e.fg.sticky()
}

// manyProjects is a repository whose every commit is the same tree, with
// projects p0001 to pN, each in its own directory.
type manyProjects struct {
	dir   string
	paths []string
}

func newManyProjects(t testing.TB, n int) manyProjects {
	t.Helper()
	dir := t.TempDir()
	var yaml strings.Builder
	yaml.WriteString("version: 1\nprojects:\n")
	m := manyProjects{dir: dir}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("p%04d", i)
		fmt.Fprintf(&yaml, "  - name: %s\n    dir: %s\n    engine: terraform\n", name, name)
		testkit.WriteFile(t, filepath.Join(dir, name, "main.tf"), "# nothing\n")
		m.paths = append(m.paths, name+"/main.tf")
	}
	testkit.WriteFile(t, filepath.Join(dir, "sluice.yaml"), yaml.String())
	return m
}

func (m manyProjects) Checkout(context.Context, workspace.Source, string, string) (*workspace.Tree, error) {
	return &workspace.Tree{Dir: m.dir}, nil
}

func (m manyProjects) Remove(context.Context, *workspace.Tree) error { return nil }

func (m manyProjects) ChangedFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return m.paths, nil
}

func (m manyProjects) DiffFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return nil, nil
}

func (m manyProjects) MergeBase(_ context.Context, _ workspace.Source, _, b string) (string, error) {
	return b, nil
}

func (m manyProjects) TreeFS(context.Context, workspace.Source, string, func(string, int64) bool) (fs.FS, error) {
	return os.DirFS(m.dir), nil
}

// scaleStore is a real store of each kind: SQLite in a file, and a fresh
// PostgreSQL database.
type scaleStore struct {
	name string
	open func(t testing.TB) store.Store
}

func scaleStores() []scaleStore {
	return []scaleStore{
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

// newScaleFlow is a Flow over st, on the repository ws, with the forge fg
// for gitea: repositories (nil: every repository is plain git).
func newScaleFlow(t testing.TB, st store.Store, ws Workspaces, fg forge.Forge) (*Flow, *recordingJobs) {
	jobs := &recordingJobs{}
	eng := &artifactEngine{}
	f := &Flow{
		Store: st, Jobs: jobs, Sealer: clearSealer{}, Audit: audit.New(st), Workspaces: ws,
		Engines: func(string) (engine.Engine, error) { return eng, nil },
		Sources: func(_ context.Context, repo string) (workspace.Source, error) {
			return workspace.Source{Repo: repo, CloneURL: "file:///nowhere"}, nil
		},
		Log: slog.New(slog.DiscardHandler), Instance: "me", StateDir: t.TempDir(),
	}
	if fg != nil {
		f.Forges = func(repo string) (forge.Forge, string, bool) {
			path, ok := strings.CutPrefix(repo, "gitea:")
			return fg, path, ok
		}
	}
	return f, jobs
}

// accept accepts a request and carries it out, as the event job does.
func accept(t testing.TB, f *Flow, req Request) {
	t.Helper()
	ctx := context.Background()
	ev, _, err := f.Accept(ctx, "gitea", fmt.Sprintf("delivery-%d", time.Now().UnixNano()), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.HandleEvent(ctx, ev.ID); err != nil {
		t.Fatal(err)
	}
}

// workPlans works the plan jobs enqueued since the first next, in order,
// as the job queue would (jobs they enqueue included), at most max of
// them (0: all); it returns where it stopped.
func workPlans(t testing.TB, f *Flow, jobs *recordingJobs, next, max int) int {
	t.Helper()
	for done := 0; max == 0 || done < max; done++ {
		jobs.mu.Lock()
		if next >= len(jobs.plans) {
			jobs.mu.Unlock()
			break
		}
		id := jobs.plans[next]
		jobs.mu.Unlock()
		next++
		if err := f.HandlePlan(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	return next
}

// hookStore runs beforeAcquire (once) before the next AcquireLock.
type hookStore struct {
	store.Store
	beforeAcquire func()
}

func (h *hookStore) AcquireLock(ctx context.Context, k store.LockKey, project string, mr int64) (store.LockResult, error) {
	if fn := h.beforeAcquire; fn != nil {
		h.beforeAcquire = nil
		fn()
	}
	return h.Store.AcquireLock(ctx, k, project, mr)
}

func auditOf(t *testing.T, st store.Store) []string {
	t.Helper()
	entries, err := st.AuditEntries(t.Context(), 0, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range entries {
		out = append(out, a.Actor+" "+a.Action+" "+a.Subject)
	}
	return out
}

// newSettleEnv is a depEnv whose merge request closes issue 12; it
// returns the env and its forge.
func newSettleEnv(t *testing.T) (*depEnv, *fakeForge) {
	e := newDepEnv(t, depsYAML)
	e.fg.setMR(func(mr *forge.MergeRequest) { mr.Body = "Closes #12" })
	return e, e.fg
}

func (e *depEnv) lockHolder(project string) int64 {
	e.t.Helper()
	l, err := e.st.GetLock(e.t.Context(), store.LockKey{Repo: depRepo, Dir: project, Workspace: "default"})
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return l.MR
}

func (e *depEnv) run(id int64) store.Run {
	e.t.Helper()
	r, err := e.st.GetRun(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

const revokedErr = "github: getting pull request org/infra#7: 403 Forbidden: Resource not accessible by integration"

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

// applyEntries returns the details of the audit entries "apply" of the
// apply run id.
func (e *depEnv) applyEntries(id int64) []map[string]any {
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

// flipStore runs flip once, before the second read of the merge request's
// runs (the one advance makes after HandleApply's own): what holds an
// apply back changes between the two.
type flipStore struct {
	store.Store
	mu    sync.Mutex
	reads int
	flip  func()
}

func (s *flipStore) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	if f.MR != 0 && f.Kind == "" && f.State == "" {
		s.mu.Lock()
		s.reads++
		flip := s.reads == 2 && s.flip != nil
		s.mu.Unlock()
		if flip {
			s.flip()
		}
	}
	return s.Store.ListRuns(ctx, f)
}

const tooManyCommitsErr = "github: listing commits of org/infra#7: not every commit can be listed: GitHub lists only the first 250 commits of a pull request, so who wrote the others cannot be told; squash or split the pull request"

// replanEngine is depEngine whose plans of the projects in none have no
// changes: the project's changes are applied already.
type replanEngine struct {
	*depEngine
	mu   sync.Mutex
	none map[string]bool
}

func (e *replanEngine) Plan(ctx context.Context, req engine.PlanRequest) (*engine.Plan, error) {
	p, err := e.depEngine.Plan(ctx, req)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.none[req.Project] {
		p.Summary, p.Outputs, p.OutputChanges = engine.Summary{}, nil, false
	}
	return p, nil
}

func (e *replanEngine) setNone(project string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.none[project] = true
}

// useReplanEngine makes e plan through a replanEngine.
func useReplanEngine(e *depEnv) *replanEngine {
	re := &replanEngine{depEngine: e.eng, none: map[string]bool{}}
	e.f.Engines = func(string) (engine.Engine, error) { return re, nil }
	return re
}

// diffRepo is a repository whose commits differ in the given paths.
type diffRepo struct {
	oneTree
	diff []string
}

func (d diffRepo) DiffFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return d.diff, nil
}

// noProject is a repository whose merge requests change no project.
type noProject struct{ manyProjects }

func (noProject) ChangedFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return []string{"README.md"}, nil
}

// commitTrees is a repository of a few commits, each a directory of its
// own; changed[head] is what a merge request at head changes, diffs[from
// + to] what differs between two commits, mergeBases[a + b] where a
// branch at a left a base at b (none: b).
type commitTrees struct {
	trees      map[string]string
	changed    map[string][]string
	diffs      map[string][]string
	mergeBases map[string]string
}

// newCommitTrees writes each commit's files (path: content).
func newCommitTrees(t *testing.T, commits map[string]map[string]string) *commitTrees {
	t.Helper()
	c := &commitTrees{trees: map[string]string{}, changed: map[string][]string{}, diffs: map[string][]string{}, mergeBases: map[string]string{}}
	for sha, files := range commits {
		dir := t.TempDir()
		for name, body := range files {
			testkit.WriteFile(t, filepath.Join(dir, filepath.FromSlash(name)), body)
		}
		c.trees[sha] = dir
	}
	return c
}

func (c *commitTrees) Checkout(_ context.Context, _ workspace.Source, commit, _ string) (*workspace.Tree, error) {
	return &workspace.Tree{Dir: c.trees[commit]}, nil
}

func (c *commitTrees) Remove(context.Context, *workspace.Tree) error { return nil }

func (c *commitTrees) ChangedFiles(_ context.Context, _ workspace.Source, _, head string) ([]string, error) {
	return c.changed[head], nil
}

func (c *commitTrees) DiffFiles(_ context.Context, _ workspace.Source, from, to string) ([]string, error) {
	return c.diffs[from+to], nil
}

// MergeBase is mergeBases[a+b], or b: a branch that has all of its base.
func (c *commitTrees) MergeBase(_ context.Context, _ workspace.Source, a, b string) (string, error) {
	if mb, ok := c.mergeBases[a+b]; ok {
		return mb, nil
	}
	return b, nil
}

func (c *commitTrees) TreeFS(_ context.Context, _ workspace.Source, commit string, _ func(string, int64) bool) (fs.FS, error) {
	dir, ok := c.trees[commit]
	if !ok {
		return nil, fmt.Errorf("commit %s is not in the repository", gitx.Short(commit))
	}
	return os.DirFS(dir), nil
}

type noJobs struct{}

func (noJobs) EnqueueEvent(context.Context, int64) error { return nil }

func (noJobs) RequeueEvent(context.Context, int64, []string) error { return nil }

func (noJobs) EnqueuePlan(context.Context, int64) error { return nil }

func (noJobs) EnqueueApply(context.Context, int64) error { return nil }

func (noJobs) RequeueApply(context.Context, int64, []string) error { return nil }

// moduleTree is a repository whose every commit is the same tree: project
// prod calls the local module modules/vpc, project dev calls nothing; the
// merge request changes the module only.
type moduleTree struct{ oneTree }

func (moduleTree) ChangedFiles(context.Context, workspace.Source, string, string) ([]string, error) {
	return []string{"modules/vpc/main.tf"}, nil
}

// betweenCreates is a store that runs between each apply run it creates
// and the next: a recovery pass, or another apply of the merge request
// ending, at the worst moment.
type betweenCreates struct {
	store.Store
	between func(store.Run)
}

func (s *betweenCreates) CreateRun(ctx context.Context, r store.Run) (store.Run, error) {
	created, err := s.Store.CreateRun(ctx, r)
	if err == nil && created.Kind == store.KindApply {
		s.between(created)
	}
	return created, err
}

// planFailStore is a store whose GetPlan fails, as a database that is
// briefly unreachable would, for the plans in fail.
type planFailStore struct {
	store.Store
	mu   sync.Mutex
	fail map[int64]bool
}

func (s *planFailStore) GetPlan(ctx context.Context, id int64) (store.Plan, error) {
	s.mu.Lock()
	fail := s.fail[id]
	s.mu.Unlock()
	if fail {
		return store.Plan{}, fmt.Errorf("getting plan %d: database is locked", id)
	}
	return s.Store.GetPlan(ctx, id)
}

// planCountingStore counts the plans read, by id.
type planCountingStore struct {
	store.Store
	mu    sync.Mutex
	reads map[int64]int
}

func (s *planCountingStore) GetPlan(ctx context.Context, id int64) (store.Plan, error) {
	s.mu.Lock()
	s.reads[id]++
	s.mu.Unlock()
	return s.Store.GetPlan(ctx, id)
}

// requeueRecorder is recordingJobs that also records the events a
// recovery pass queues again.
type requeueRecorder struct {
	*recordingJobs
	mu     sync.Mutex
	events []int64
}

func (j *requeueRecorder) RequeueEvent(_ context.Context, id int64, _ []string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, id)
	return nil
}

const (
	rulesBase = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	rulesHead = "cccccccccccccccccccccccccccccccccccccccc"
)

// commitFiles is a repository as the flow reads it: the files of each
// commit, and the paths a merge request changes.
type commitFiles struct {
	t       *testing.T
	commits map[string]map[string]string
	changed []string
	// broken makes every read fail, as a fetch that fails would.
	broken    bool
	checkouts int
}

func (c *commitFiles) have(commit string) error {
	if c.broken {
		return errors.New("fetching gitea:org/infra: connection refused")
	}
	if _, ok := c.commits[commit]; !ok {
		return fmt.Errorf("commit %s is not in the repository", commit[:7])
	}
	return nil
}

func (c *commitFiles) Checkout(_ context.Context, _ workspace.Source, commit, _ string) (*workspace.Tree, error) {
	if err := c.have(commit); err != nil {
		return nil, err
	}
	c.checkouts++
	dir := c.t.TempDir()
	for p, content := range c.commits[commit] {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	return &workspace.Tree{Dir: dir}, nil
}

func (c *commitFiles) Remove(context.Context, *workspace.Tree) error { return nil }

func (c *commitFiles) ChangedFiles(_ context.Context, _ workspace.Source, base, head string) ([]string, error) {
	if err := c.have(base); err != nil {
		return nil, err
	}
	return c.changed, nil
}

func (c *commitFiles) DiffFiles(_ context.Context, _ workspace.Source, from, to string) ([]string, error) {
	if err := c.have(from); err != nil {
		return nil, err
	}
	if err := c.have(to); err != nil {
		return nil, err
	}
	return nil, nil
}

func (c *commitFiles) MergeBase(_ context.Context, _ workspace.Source, a, b string) (string, error) {
	if err := c.have(a); err != nil {
		return "", err
	}
	return b, c.have(b)
}

// TreeFS is the commit's files; every one is read.
func (c *commitFiles) TreeFS(_ context.Context, _ workspace.Source, commit string, _ func(string, int64) bool) (fs.FS, error) {
	if err := c.have(commit); err != nil {
		return nil, err
	}
	fsys := fstest.MapFS{}
	for p, content := range c.commits[commit] {
		fsys[p] = &fstest.MapFile{Data: []byte(content)}
	}
	return fsys, nil
}

func rulesFlow(repo *commitFiles, fg *fakeForge) *Flow {
	return &Flow{
		Store:      heldLocks{mr: 7},
		Workspaces: repo,
		Sources:    func(_ context.Context, r string) (workspace.Source, error) { return workspace.Source{Repo: r}, nil },
		Forges:     func(string) (forge.Forge, string, bool) { return fg, "org/infra", true },
		Log:        slog.New(slog.DiscardHandler),
		Policy:     gate.Policy{MinApprovalsFloor: 1, MayRelax: []string{"threads", "checks", "draft"}},
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
