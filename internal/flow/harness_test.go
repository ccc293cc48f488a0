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

// mrForge is a forge with one merge request, mr, that answers what the
// gate asks through countingForge and keeps Sluice's replies.
type mrForge struct {
	*countingForge
	mu      sync.Mutex
	mr      forge.MergeRequest
	replies []string
	// comments are the merge request's comments by id, as people wrote
	// them (wrote).
	comments map[int64]forge.Comment
}

// wrote records on the forge the comment a command request of a webhook
// names, as its actor wrote it: Sluice reads it back before acting.
func (m *mrForge) wrote(req Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.comments == nil {
		m.comments = map[int64]forge.Comment{}
	}
	m.comments[req.CommentID] = commentOf(req)
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

func (m *mrForge) GetComment(_ context.Context, _ string, n, id int64) (*forge.Comment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.comments[id]
	if !ok || n != m.mr.Number {
		return nil, fmt.Errorf("comment %d of !%d: %w", id, n, forge.ErrNotFound)
	}
	return &c, nil
}

func (m *mrForge) GetMR(_ context.Context, repo string, n int64) (*forge.MergeRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n != m.mr.Number {
		return nil, fmt.Errorf("merge request %d: %w", n, forge.ErrNotFound)
	}
	mr := m.mr
	return &mr, nil
}

func (m *mrForge) Reply(_ context.Context, _ string, _ int64, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replies = append(m.replies, body)
	return nil
}

func (m *mrForge) UpsertComment(context.Context, string, int64, string, []string) error { return nil }

func (m *mrForge) SetStatus(context.Context, string, string, forge.Check) error { return nil }

func (m *mrForge) CommentLimit() int { return 65536 }

func (m *mrForge) CommentIssue(context.Context, string, int64, string) error { return nil }

func (m *mrForge) Self(context.Context) (string, error) { return "sluice-bot", nil }

func (m *mrForge) setMR(update func(*forge.MergeRequest)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	update(&m.mr)
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
	fg   *mrForge
}

func newFlowEnv(t *testing.T, fg *mrForge) *flowEnv {
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

// newMergeForge is a forge whose merge request 7 (by alice, at H2 on
// base B) bob approved after any plan of these tests; bob and carol have
// write access.
func newMergeForge() *mrForge {
	return &mrForge{
		countingForge: &countingForge{
			reviews: []forge.Review{{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, CommitSHA: headH2, At: time.Now().Add(time.Hour)}},
			perms:   map[string]forge.Permission{"bob": forge.PermWrite, "carol": forge.PermWrite, "api": forge.PermAdmin},
			calls:   map[string]int{},
		},
		mr: forge.MergeRequest{Repo: "org/infra", Number: 7, State: forge.MROpen, HeadSHA: headH2, BaseSHA: baseB, BaseRef: "main",
			Author: forge.User{Login: "alice"}, MergedBy: &forge.User{Login: "carol"}},
	}
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

// stickyForge is mrForge keeping the sticky comment.
type stickyForge struct {
	*mrForge
	smu     sync.Mutex
	comment string
}

func (s *stickyForge) UpsertComment(_ context.Context, _ string, _ int64, _ string, parts []string) error {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.comment = strings.Join(parts, "\n")
	return nil
}

func (s *stickyForge) sticky() string {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.comment
}

const depRepo = "gitea:org/infra"

// depEnv is a flowEnv on the two projects' repository, with merge
// request 7 (see newMergeForge) on a forge.
type depEnv struct {
	*flowEnv
	eng    *depEngine
	sticky *stickyForge
	nextID int64
}

func newDepEnv(t *testing.T, yaml string) *depEnv {
	t.Helper()
	fg := newMergeForge()
	e := newFlowEnv(t, fg)
	eng := &depEngine{outputs: map[string][]engine.OutputChange{}, fail: map[string]bool{}}
	sf := &stickyForge{mrForge: fg}
	e.f.Workspaces = newDepTree(t, yaml)
	e.f.Engines = func(string) (engine.Engine, error) { return eng, nil }
	e.f.Forges = func(repo string) (forge.Forge, string, bool) {
		path, ok := strings.CutPrefix(repo, "gitea:")
		return sf, path, ok
	}
	return &depEnv{flowEnv: e, eng: eng, sticky: sf, nextID: 100}
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
	return e.sticky.sticky()
}

// countingForge answers what the gate asks of a merge request and counts
// the calls; the rest of forge.Forge is not used.
type countingForge struct {
	forge.Forge
	reviews    []forge.Review
	committers []string
	perms      map[string]forge.Permission
	groups     map[string][]string
	calls      map[string]int
}

func (c *countingForge) Self(context.Context) (string, error) { return "sluice", nil }

func (c *countingForge) DefaultBranch(context.Context, string) (string, error) { return "main", nil }

func (c *countingForge) Reviews(context.Context, string, int64) ([]forge.Review, error) {
	c.calls["Reviews"]++
	return c.reviews, nil
}

func (c *countingForge) Committers(context.Context, string, int64) ([]string, error) {
	c.calls["Committers"]++
	return c.committers, nil
}

func (c *countingForge) UnresolvedThreads(context.Context, string, int64) (int, error) {
	c.calls["UnresolvedThreads"]++
	return 0, nil
}

func (c *countingForge) Checks(context.Context, string, string) ([]forge.Check, error) {
	c.calls["Checks"]++
	return []forge.Check{{Name: "ci", State: forge.CheckSuccess}}, nil
}

func (c *countingForge) Permission(_ context.Context, _, login string) (forge.Permission, error) {
	c.calls["Permission "+login]++
	return c.perms[login], nil
}

// GroupMembers knows the groups in c.groups; "broken" fails as a forge
// that answers 500 would, and a cancelled context fails as a request would.
func (c *countingForge) GroupMembers(ctx context.Context, _, group string) ([]string, error) {
	c.calls["GroupMembers "+group]++
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing the members of %s: %w", group, err)
	}
	if group == "broken" {
		return nil, errors.New("gitea: listing the teams of organisation org: HTTP 500")
	}
	m, ok := c.groups[group]
	if !ok {
		return nil, fmt.Errorf("team %s: %w", group, forge.ErrNotFound)
	}
	return m, nil
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

// callsForge is a forge with one merge request, 7, approved by bob, that
// counts every call, keeps the statuses posted in order, the comments by
// marker and the replies.
type callsForge struct {
	forge.Forge
	mu       sync.Mutex
	mr       forge.MergeRequest
	calls    map[string]int
	statuses []string // "SHA NAME STATE DESCRIPTION", in the order posted
	comments map[string]string
	replies  []string
	// written are the people's comments by id (wrote).
	written map[int64]forge.Comment
}

// wrote records the comment a command request names, as its actor wrote
// it: Sluice reads it back before acting.
func (c *callsForge) wrote(req Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written[req.CommentID] = commentOf(req)
}

func (c *callsForge) GetComment(_ context.Context, _ string, _, id int64) (*forge.Comment, error) {
	c.count("GetComment")
	c.mu.Lock()
	defer c.mu.Unlock()
	cm, ok := c.written[id]
	if !ok {
		return nil, fmt.Errorf("comment %d: %w", id, forge.ErrNotFound)
	}
	return &cm, nil
}

func (c *callsForge) DefaultBranch(context.Context, string) (string, error) {
	c.count("DefaultBranch")
	return "main", nil
}

func newCallsForge() *callsForge {
	return &callsForge{
		mr: forge.MergeRequest{Repo: "org/infra", Number: 7, State: forge.MROpen, HeadSHA: headH2, BaseSHA: baseB, BaseRef: "main",
			Author: forge.User{Login: "alice"}, MergedBy: &forge.User{Login: "carol"}},
		calls: map[string]int{}, comments: map[string]string{}, written: map[int64]forge.Comment{},
	}
}

func (c *callsForge) count(call string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[call]++
}

// total is the number of calls the forge answered.
func (c *callsForge) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

func (c *callsForge) setMR(update func(*forge.MergeRequest)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	update(&c.mr)
}

func (c *callsForge) Name() string { return "gitea" }

func (c *callsForge) GetMR(context.Context, string, int64) (*forge.MergeRequest, error) {
	c.count("GetMR")
	c.mu.Lock()
	defer c.mu.Unlock()
	mr := c.mr
	return &mr, nil
}

func (c *callsForge) Reviews(context.Context, string, int64) ([]forge.Review, error) {
	c.count("Reviews")
	return []forge.Review{{User: forge.User{Login: "bob"}, State: forge.ReviewApproved, At: time.Now().Add(time.Hour)}}, nil
}

func (c *callsForge) Committers(context.Context, string, int64) ([]string, error) {
	c.count("Committers")
	return nil, nil
}

func (c *callsForge) UnresolvedThreads(context.Context, string, int64) (int, error) {
	c.count("UnresolvedThreads")
	return 0, nil
}

func (c *callsForge) Checks(context.Context, string, string) ([]forge.Check, error) {
	c.count("Checks")
	return nil, nil
}

func (c *callsForge) Permission(context.Context, string, string) (forge.Permission, error) {
	c.count("Permission")
	return forge.PermWrite, nil
}

func (c *callsForge) UpsertComment(_ context.Context, _ string, _ int64, marker string, bodies []string) error {
	c.count("UpsertComment")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.comments[marker] = strings.Join(bodies, "\n")
	return nil
}

func (c *callsForge) Reply(_ context.Context, _ string, _ int64, body string) error {
	c.count("Reply")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replies = append(c.replies, body)
	return nil
}

func (c *callsForge) SetStatus(_ context.Context, _, sha string, ch forge.Check) error {
	c.count("SetStatus")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statuses = append(c.statuses, fmt.Sprintf("%s %s %s %s", gitx.Short(sha), ch.Name, ch.State, ch.Description))
	return nil
}

func (c *callsForge) CommentLimit() int { return 65536 }

func (c *callsForge) CommentIssue(context.Context, string, int64, string) error {
	c.count("CommentIssue")
	return nil
}

func (c *callsForge) Self(context.Context) (string, error) { return "sluice-bot", nil }

func (c *callsForge) posted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.statuses)
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

// flakyForge is stickyForge whose GetMR fails the next failures times
// (as a forge answering 502 would), or answers "not found" once gone is
// set; it keeps the comments on linked issues.
type flakyForge struct {
	*stickyForge
	fmu      sync.Mutex
	failures int
	gone     bool
	issues   []string
}

func (f *flakyForge) GetMR(ctx context.Context, repo string, n int64) (*forge.MergeRequest, error) {
	f.fmu.Lock()
	fail, gone := f.failures > 0, f.gone
	if fail {
		f.failures--
	}
	f.fmu.Unlock()
	switch {
	case gone:
		return nil, fmt.Errorf("merge request %d: %w", n, forge.ErrNotFound)
	case fail:
		return nil, errors.New("gitea: getting the pull request: HTTP 502")
	}
	return f.stickyForge.GetMR(ctx, repo, n)
}

func (f *flakyForge) CommentIssue(_ context.Context, _ string, n int64, body string) error {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.issues = append(f.issues, fmt.Sprintf("#%d: %s", n, body))
	return nil
}

func (f *flakyForge) failNext(n int) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.failures = n
}

func (f *flakyForge) issueComments() []string {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	return slices.Clone(f.issues)
}

// newSettleEnv is a depEnv whose merge request closes issue 12, on a
// flakyForge.
func newSettleEnv(t *testing.T) (*depEnv, *flakyForge) {
	e := newDepEnv(t, depsYAML)
	ff := &flakyForge{stickyForge: e.sticky}
	e.f.Forges = func(repo string) (forge.Forge, string, bool) {
		path, ok := strings.CutPrefix(repo, "gitea:")
		return ff, path, ok
	}
	e.fg.setMR(func(mr *forge.MergeRequest) { mr.Body = "Closes #12" })
	return e, ff
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

// revokedForge is stickyForge answering 403 to every read of the merge
// request, for good, as GitHub does once the App is uninstalled.
type revokedForge struct{ *flakyForge }

const revokedErr = "github: getting pull request org/infra#7: 403 Forbidden: Resource not accessible by integration"

func (revokedForge) GetMR(context.Context, string, int64) (*forge.MergeRequest, error) {
	return nil, errors.New(revokedErr)
}

// stoppingForge is stickyForge during a shutdown: reading the merge
// request cancels the job's context (the server stops) and fails.
type stoppingForge struct {
	*flakyForge
	stop context.CancelFunc
}

func (s stoppingForge) GetMR(context.Context, string, int64) (*forge.MergeRequest, error) {
	s.stop()
	return nil, fmt.Errorf("getting the pull request: %w", context.Canceled)
}

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

// committersDown is stickyForge whose Committers fails the next failures
// times, as a forge answering 502 (or a revoked token, 401) does.
type committersDown struct {
	*stickyForge
	failures atomic.Int64
}

func (c *committersDown) Committers(ctx context.Context, repo string, n int64) ([]string, error) {
	if c.failures.Add(-1) >= 0 {
		return nil, errors.New("gitea: reading the commits of pull request org/infra!7: HTTP 502 Bad Gateway")
	}
	return c.stickyForge.Committers(ctx, repo, n)
}

// tooManyCommits is a forge that cannot list who committed to the merge
// request, as GitHub cannot past 250 commits (forge.ErrCommitsTruncated).
type tooManyCommits struct{ *stickyForge }

const tooManyCommitsErr = "github: listing commits of org/infra#7: not every commit can be listed: GitHub lists only the first 250 commits of a pull request, so who wrote the others cannot be told; squash or split the pull request"

func (tooManyCommits) Committers(ctx context.Context, _ string, _ int64) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing commits: %w", err)
	}
	return nil, fmt.Errorf("github: listing commits of org/infra#7: %w: GitHub lists only the first 250 commits of a pull request, so who wrote the others cannot be told; squash or split the pull request", forge.ErrCommitsTruncated)
}

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

// committedForge is callsForge where bob, who approved, pushed a commit
// to the merge request: the forge's own rules count his approval, Sluice's
// do not.
type committedForge struct{ *callsForge }

func (committedForge) Committers(context.Context, string, int64) ([]string, error) {
	return []string{"alice", "bob"}, nil
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

// replyingForge is a forge whose account is self and whose merge request 1
// is open; it keeps the replies Sluice posts.
type replyingForge struct {
	forge.Forge
	self     string
	replies  []string
	comments map[int64]forge.Comment
}

func (r *replyingForge) GetComment(_ context.Context, _ string, _, id int64) (*forge.Comment, error) {
	c, ok := r.comments[id]
	if !ok {
		return nil, forge.ErrNotFound
	}
	return &c, nil
}

func (r *replyingForge) Self(context.Context) (string, error) { return r.self, nil }

func (r *replyingForge) GetMR(_ context.Context, repo string, n int64) (*forge.MergeRequest, error) {
	return &forge.MergeRequest{Repo: repo, Number: n, State: forge.MROpen, Author: forge.User{Login: "alice"}}, nil
}

func (r *replyingForge) Reply(_ context.Context, _ string, _ int64, body string) error {
	r.replies = append(r.replies, body)
	return nil
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

// gateForge is a forge as the gate reads it: reviews, permissions, green
// checks, no threads, no groups.
type gateForge struct {
	forge.Forge
	name    string
	reviews []forge.Review
	perms   map[string]forge.Permission
	// self is the account Sluice acts as.
	self string
}

func (g *gateForge) Self(context.Context) (string, error) { return g.self, nil }

func (g *gateForge) DefaultBranch(context.Context, string) (string, error) { return "main", nil }

// GetMR is the open merge request 7 into main at rulesBase, as the plan
// run asks it for the branch its rules come from.
func (g *gateForge) GetMR(_ context.Context, repo string, n int64) (*forge.MergeRequest, error) {
	return &forge.MergeRequest{Repo: repo, Number: n, State: forge.MROpen, HeadSHA: rulesHead, BaseSHA: rulesBase, BaseRef: "main"}, nil
}

func (g *gateForge) Committers(context.Context, string, int64) ([]string, error) { return nil, nil }

func (g *gateForge) Name() string { return g.name }

func (g *gateForge) Reviews(context.Context, string, int64) ([]forge.Review, error) {
	return g.reviews, nil
}

func (g *gateForge) UnresolvedThreads(context.Context, string, int64) (int, error) { return 0, nil }

func (g *gateForge) Checks(context.Context, string, string) ([]forge.Check, error) { return nil, nil }

func (g *gateForge) Permission(_ context.Context, _, login string) (forge.Permission, error) {
	return g.perms[login], nil
}

func (g *gateForge) GroupMembers(context.Context, string, string) ([]string, error) {
	return nil, forge.ErrNotFound
}

func rulesFlow(repo *commitFiles, fg *gateForge) *Flow {
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
