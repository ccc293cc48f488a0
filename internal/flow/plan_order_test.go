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
	"testing"
	"testing/fstest"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlite"
	"github.com/sluicehq/sluice/internal/workspace"
)

// The fakes of these tests: a real SQLite store and audit log, and
// stand-ins for the job queue, the sealer, git and the engine.

// recordingJobs records the jobs the flow enqueues.
type recordingJobs struct {
	mu             sync.Mutex
	plans, applies []int64
	requeued       []requeuedApply
}

func (j *recordingJobs) EnqueueEvent(context.Context, int64) error           { return nil }
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

func (clearSealer) Seal(p, _ []byte) []byte          { return slices.Clone(p) }
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
func (m *mrForge) SetStatus(context.Context, string, string, forge.Check) error         { return nil }
func (m *mrForge) CommentLimit() int                                                    { return 65536 }
func (m *mrForge) CommentIssue(context.Context, string, int64, string) error            { return nil }
func (m *mrForge) Self(context.Context) (string, error)                                 { return "sluice-bot", nil }

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

// TestOlderPlanFinishingLastIsNotApplied: two replicas plan heads H1 and
// H2 of one merge request at once, and H2's plan finishes first. H1's
// plan, saved last, must not replace it: an apply through the API (a
// plain git repository) applies H2's plan.
func TestOlderPlanFinishingLastIsNotApplied(t *testing.T) {
	e := newFlowEnv(t, nil)
	ctx := t.Context()
	r1 := e.planRun("infra", 1, headH1)
	r2 := e.planRun("infra", 1, headH2)
	if err := e.f.HandlePlan(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.f.HandlePlan(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{r1.ID, r2.ID} {
		if r, err := e.st.GetRun(ctx, id); err != nil || r.State != store.StateSucceeded {
			t.Fatalf("run %d: %+v, %v; want it succeeded", id, r, err)
		}
	}
	latest, err := e.st.LatestPlan(ctx, "infra", 1, "net", "default")
	if err != nil {
		t.Fatal(err)
	}
	if latest.HeadSHA != headH2 || latest.RunID != r2.ID {
		t.Fatalf("the live plan is run %d's at %s, want run %d's at H2: the older plan replaced the newer one", latest.RunID, gitx.Short(latest.HeadSHA), r2.ID)
	}

	e.handle(APISource, Request{Action: ActionApply, Repo: "infra", MR: 1, Actor: "bob"})
	applies := e.applies("infra", 1)
	if len(applies) != 1 || applies[0].HeadSHA != headH2 || applies[0].PlanID != latest.ID {
		t.Fatalf("apply runs = %+v, want one of H2's plan %d", applies, latest.ID)
	}
}

// TestOlderPlanFinishingLastOnAForge: the same race on a forge; on merge
// the newer head's plan is applied, not a discarded one.
func TestOlderPlanFinishingLastOnAForge(t *testing.T) {
	fg := newMergeForge()
	e := newFlowEnv(t, fg)
	ctx := t.Context()
	r1 := e.planRun("gitea:org/infra", 7, headH1)
	r2 := e.planRun("gitea:org/infra", 7, headH2)
	for _, id := range []int64{r2.ID, r1.ID} {
		if err := e.f.HandlePlan(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	e.handle("gitea", Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})

	applies := e.applies("gitea:org/infra", 7)
	if len(applies) != 1 || applies[0].HeadSHA != headH2 {
		t.Fatalf("apply runs = %+v, want one of H2's plan", applies)
	}
	p, err := e.st.GetPlan(ctx, applies[0].PlanID)
	if err != nil || p.Discarded {
		t.Fatalf("the apply run's plan: %+v, %v; want it live (an apply of a discarded plan only fails)", p, err)
	}
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

// TestMergeSkipsADiscardedPlan: when the latest plan of a project is
// discarded, a merge creates no apply run for it (it could only fail) and
// says so. Nothing of the project can ever be applied from the merge
// request, so its lock goes (audited) rather than wait for an admin.
func TestMergeSkipsADiscardedPlan(t *testing.T) {
	fg := newMergeForge()
	e := newFlowEnv(t, fg)
	ctx := t.Context()
	_, p := e.plannedRun("gitea:org/infra", 7, headH2, true)
	fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	e.handle("gitea", Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 7, Actor: "carol", Merged: true, Trigger: "merged"})

	if applies := e.applies("gitea:org/infra", 7); len(applies) != 0 {
		t.Fatalf("apply runs of a discarded plan %d: %+v", p.ID, applies)
	}
	if len(fg.replies) != 1 || !strings.Contains(fg.replies[0], "`net`: never from this pull request, and its lock was released: its latest plan was discarded") {
		t.Errorf("replies = %q, want one naming net's discarded plan", fg.replies)
	}
	if l, err := e.st.GetLock(ctx, store.LockKey{Repo: "gitea:org/infra", Dir: "net", Workspace: "default"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lock = %+v, %v; want it released", l, err)
	}
	got := e.auditActions()
	if !slices.Contains(got, "carol apply.refused gitea:org/infra!7/net") || !slices.Contains(got, "sluice lock.released gitea:org/infra!7/net") {
		t.Errorf("audit = %q, want apply.refused of net, and its lock released", got)
	}
}

// TestRecoverDoesNotReplanASupersededHead: of the interrupted plan runs
// of a project of a merge request, only the newest is planned again; a
// run whose head a newer run superseded is not, since planning it again
// would make the older head's plan the newest.
func TestRecoverDoesNotReplanASupersededHead(t *testing.T) {
	ctx := t.Context()
	start := func(e *flowEnv, r store.Run) {
		t.Helper()
		if _, err := e.st.StartRun(ctx, r.ID, "dead"); err != nil {
			t.Fatal(err)
		}
	}
	newPlanRuns := func(e *flowEnv, after int64) []store.Run {
		t.Helper()
		runs, err := e.st.ListRuns(ctx, store.RunFilter{Kind: store.KindPlan})
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(runs, func(r store.Run) bool { return r.ID <= after })
	}

	t.Run("both interrupted", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		r1, r2 := e.planRun("infra", 1, headH1), e.planRun("infra", 1, headH2)
		other := e.planRun("infra", 2, headH1) // another merge request: not compared
		start(e, r1)
		start(e, r2)
		start(e, other)
		if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		var heads []string
		for _, r := range newPlanRuns(e, other.ID) {
			heads = append(heads, fmt.Sprintf("!%d@%s", r.MR, gitx.Short(r.HeadSHA)))
			if r.State != store.StateQueued || !slices.Contains(e.jobs.plans, r.ID) {
				t.Errorf("new run %d: %s, enqueued %v; want it queued and enqueued", r.ID, r.State, e.jobs.plans)
			}
		}
		slices.Sort(heads)
		if want := []string{"!1@" + gitx.Short(headH2), "!2@" + gitx.Short(headH1)}; !slices.Equal(heads, want) {
			t.Fatalf("planned again: %v, want %v (H1 of !1 is superseded by H2)", heads, want)
		}
		if got := e.auditActions(); len(got) != 3 {
			t.Errorf("audit = %q, want plan.interrupted for each of the 3 runs", got)
		}
	})

	t.Run("newer run waiting", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		r1 := e.planRun("infra", 1, headH1)
		r2 := e.planRun("infra", 1, headH2) // queued: a newer push, not started
		start(e, r1)
		if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if runs := newPlanRuns(e, r2.ID); len(runs) != 0 {
			t.Fatalf("the superseded head was planned again: %+v", runs)
		}
		if r, err := e.st.GetRun(ctx, r1.ID); err != nil || r.State != store.StateInterrupted {
			t.Fatalf("run %d: %+v, %v; want it interrupted", r1.ID, r, err)
		}
	})

	t.Run("newest interrupted", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		e.plannedRun("infra", 1, headH1, false) // an older head, planned
		r2 := e.planRun("infra", 1, headH2)
		start(e, r2)
		if err := e.f.Recover(ctx, []string{"me"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		runs := newPlanRuns(e, r2.ID)
		if len(runs) != 1 || runs[0].HeadSHA != headH2 || runs[0].BaseSHA != baseB {
			t.Fatalf("planned again: %+v, want one run of H2", runs)
		}
	})
}

// TestShutdownDoesNotReplanASupersededHead: a plan stopped by a shutdown
// is planned again, unless a newer push has a run of its own: a new run of
// the older head would count as the newer plan.
func TestShutdownDoesNotReplanASupersededHead(t *testing.T) {
	for _, superseded := range []bool{false, true} {
		t.Run(fmt.Sprintf("superseded %v", superseded), func(t *testing.T) {
			e := newFlowEnv(t, nil)
			r1 := e.planRun("infra", 1, headH1)
			last := r1.ID
			if superseded {
				last = e.planRun("infra", 1, headH2).ID
			}
			if _, err := e.st.StartRun(t.Context(), r1.ID, "me"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // the server is stopping
			if err := e.f.finishFailed(ctx, r1, e.f.newLogWriter(ctx, r1.ID), context.Canceled); err != nil {
				t.Fatal(err)
			}
			runs, err := e.st.ListRuns(t.Context(), store.RunFilter{Kind: store.KindPlan})
			if err != nil {
				t.Fatal(err)
			}
			var again []string
			for _, r := range runs {
				if r.ID > last {
					again = append(again, gitx.Short(r.HeadSHA))
				}
			}
			if superseded && len(again) != 0 || !superseded && !slices.Equal(again, []string{gitx.Short(headH1)}) {
				t.Errorf("planned again: %v (superseded %v)", again, superseded)
			}
		})
	}
}

// TestMergeWebhookBeforeTheForgeSaysMerged: a forge's API may still say
// open when its merge (or close) webhook arrives. The event is retried (an
// error that is not permanent) for a while, then ignored: the merge
// request was reopened since.
func TestMergeWebhookBeforeTheForgeSaysMerged(t *testing.T) {
	fg := &mrForge{countingForge: &countingForge{calls: map[string]int{}}}
	fg.setMR(func(mr *forge.MergeRequest) {
		*mr = forge.MergeRequest{Repo: "org/infra", Number: 1, State: forge.MROpen, HeadSHA: headH1, BaseSHA: baseB}
	})
	e := newFlowEnv(t, fg)
	now := time.Now()
	e.f.Now = func() time.Time { return now }
	tests := []struct {
		name    string
		merged  bool
		age     time.Duration
		wantErr bool
	}{
		{"merge webhook, fresh", true, time.Minute, true},
		{"merge webhook, long ago", true, time.Hour, false},
		{"close webhook, fresh", false, time.Minute, true},
		{"close webhook, long ago (reopened since)", false, time.Hour, false},
	}
	for _, tt := range tests {
		ev := store.Event{ID: 1, Forge: "gitea", ReceivedAt: now.Add(-tt.age)}
		err := e.f.closeMR(t.Context(), ev, Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 1, Actor: "alice", Merged: tt.merged})
		if (err != nil) != tt.wantErr || permanent.Is(err) {
			t.Errorf("%s: err = %v, want an error to retry: %v", tt.name, err, tt.wantErr)
		}
	}
}
