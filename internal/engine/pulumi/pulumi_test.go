package pulumi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testkit/pulumitest"
)

const (
	canary = "canary-5ec12e7-token"
	stack  = "prod"
)

// modes are the two ways to apply what was reviewed: Pulumi's update
// plans, and the fallback that previews again and compares.
var modes = []struct {
	name     string
	fallback bool
}{
	{"update-plans", false},
	{"fallback", true},
}

type project struct {
	t     *testing.T
	env   *pulumitest.Env
	d     *Driver
	dir   string
	state string
}

func newProject(t *testing.T, fixture string, fallback bool) *project {
	t.Helper()
	env := pulumitest.New(t)
	dir := t.TempDir()
	testkit.CopyDir(t, filepath.Join("testdata", fixture), dir)
	d := New(env.Bin)
	d.Env = env.Vars
	d.noUpdatePlans = fallback
	return &project{t: t, env: env, d: d, dir: dir, state: filepath.Join(t.TempDir(), "state")}
}

// initStack creates the stack, as a person would before handing it to
// Sluice, with secret as its adminToken.
func (p *project) initStack(secret string) {
	p.t.Helper()
	p.env.Run(p.t, p.dir, "stack", "init", stack)
	p.env.Run(p.t, p.dir, "config", "set", "--secret", "adminToken", secret, "--stack", stack)
}

func (p *project) planFile(name string) string { return filepath.Join(p.state, name+".plan") }

// lines collects live output lines.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(_, line string) { l.mu.Lock(); l.l = append(l.l, line); l.mu.Unlock() }

func (l *lines) String() string { l.mu.Lock(); defer l.mu.Unlock(); return strings.Join(l.l, "\n") }

func (p *project) plan(name string, env ...string) (*engine.Plan, string, error) {
	p.t.Helper()
	var ls lines
	pl, err := p.d.Plan(context.Background(), engine.PlanRequest{
		Project:   "ng",
		Dir:       p.dir,
		Workspace: stack,
		StateDir:  p.state,
		PlanFile:  p.planFile(name),
		Env:       env,
		Log:       ls.add,
	})
	return pl, ls.String(), err
}

func (p *project) mustPlan(name string, env ...string) *engine.Plan {
	p.t.Helper()
	pl, _, err := p.plan(name, env...)
	if err != nil {
		p.t.Fatalf("plan %s: %v\n%s", name, err, errText(err))
	}
	return pl
}

func (p *project) apply(name string, pl *engine.Plan, env ...string) (*engine.ApplyResult, string, error) {
	p.t.Helper()
	var ls lines
	res, err := p.d.Apply(context.Background(), engine.ApplyRequest{
		Project:    "ng",
		Dir:        p.dir,
		Workspace:  stack,
		StateDir:   p.state,
		PlanFile:   p.planFile(name),
		PlanSHA256: pl.Artifact.SHA256,
		Env:        env,
		Log:        ls.add,
	})
	return res, ls.String(), err
}

func (p *project) mustApply(name string, pl *engine.Plan, env ...string) *engine.ApplyResult {
	p.t.Helper()
	res, _, err := p.apply(name, pl, env...)
	if err != nil {
		p.t.Fatalf("apply %s: %v\n%s", name, err, errText(err))
	}
	return res
}

// edit changes the program as a merge request would.
func (p *project) edit(old, new string) {
	p.t.Helper()
	testkit.Replace(p.t, filepath.Join(p.dir, "Pulumi.yaml"), old, new)
}

// nodeGroup is the node group the provider keeps, failing when there is
// not exactly one.
func (p *project) nodeGroup() map[string]any {
	p.t.Helper()
	var found []map[string]any
	for _, r := range p.env.Resources(p.t) {
		if r.Type == "sluicetest:index:NodeGroup" {
			found = append(found, r.Properties)
		}
	}
	if len(found) != 1 {
		p.t.Fatalf("%d node groups in the provider's state, want 1", len(found))
	}
	return found[0]
}

func errText(err error) string {
	var re *engine.RunError
	if errors.As(err, &re) {
		return strings.Join(re.Lines, "\n")
	}
	return ""
}

func urn(typ, name string) string {
	return "urn:pulumi:" + stack + "::nodegroup::" + typ + "::" + name
}

var (
	workersURN = urn("sluicetest:index:NodeGroup", "workers")
	clusterURN = urn("sluicetest:index:Cluster", "cluster")
	stackURN   = urn("pulumi:pulumi:Stack", "nodegroup-"+stack)
)

func change(t *testing.T, pl *engine.Plan, addr string) engine.ResourceChange {
	t.Helper()
	for _, r := range pl.Resources {
		if r.Address == addr {
			return r
		}
	}
	t.Fatalf("no change for %s in %+v", addr, pl.Resources)
	return engine.ResourceChange{}
}

func output(t *testing.T, pl *engine.Plan, name string) engine.OutputChange {
	t.Helper()
	for _, o := range pl.Outputs {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no change of output %s in %+v", name, pl.Outputs)
	return engine.OutputChange{}
}

func field(v any, key string) any {
	m, _ := v.(map[string]any)
	return m[key]
}

func noCanary(t *testing.T, what string, v any) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		s = string(b)
	}
	if strings.Contains(s, canary) {
		t.Errorf("the secret canary appears in %s:\n%s", what, s)
	}
}

// TestLifecycle walks the node group through create, scale 3 -> 2,
// replace and delete with the real CLI, both with update plans and with
// the fallback, checking the normalised plan, the secrets and what the
// provider ends up with.
func TestLifecycle(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "nodegroup", m.fallback)
			p.initStack(canary)

			// create
			pl, live, err := p.plan("create")
			if err != nil {
				t.Fatalf("plan: %v\n%s", err, errText(err))
			}
			if want := (engine.Summary{Add: 3}); pl.Summary != want {
				t.Errorf("create summary = %+v, want %+v (the stack, the cluster and the node group)", pl.Summary, want)
			}
			if !strings.Contains(pl.Text, "+ 3 to create") {
				t.Errorf("the summary does not agree with pulumi's text:\n%s", pl.Text)
			}
			change(t, pl, stackURN)
			ng := change(t, pl, workersURN)
			if ng.Action != engine.ActionCreate || ng.Type != "sluicetest:index:NodeGroup" || ng.Name != "workers" ||
				field(ng.After, "desiredSize") != json.Number("3") || field(ng.After, "arn") != engine.UnknownValue {
				t.Errorf("node group create = %+v", ng)
			}
			if !strings.HasPrefix(ng.Provider, "urn:pulumi:prod::nodegroup::pulumi:providers:sluicetest::default") {
				t.Errorf("provider = %q", ng.Provider)
			}
			cl := change(t, pl, clusterURN)
			if field(cl.After, "adminToken") != engine.SensitiveValue {
				t.Errorf("secret input not masked: %v", cl.After)
			}
			if o := output(t, pl, "adminToken"); !o.Sensitive || o.After != engine.SensitiveValue || o.Action != engine.ActionCreate {
				t.Errorf("secret output = %+v", o)
			}
			if o := output(t, pl, "endpoint"); o.After != engine.UnknownValue {
				t.Errorf("unknown output = %+v", o)
			}
			if !pl.OutputChanges || !slices.Contains(pl.Secrets, canary) {
				t.Errorf("output changes %v, secrets %q: want the canary among the secrets", pl.OutputChanges, pl.Secrets)
			}
			if pl.Artifact.SHA256 == "" || pl.Artifact.Size == 0 || pl.CreatedWorkspace != "" {
				t.Errorf("artifact %+v, created %q", pl.Artifact, pl.CreatedWorkspace)
			}
			art, err := readArtifact(p.planFile("create"))
			if err != nil {
				t.Fatal(err)
			}
			if hasPlan := art.UpdatePlan != nil; hasPlan == m.fallback || (hasPlan && !strings.HasPrefix(pl.EngineVersion, "v3.")) {
				t.Errorf("update plan in the artifact: %v, engine version %q", hasPlan, pl.EngineVersion)
			}
			if live == "" {
				t.Error("no output was streamed")
			}
			noCanary(t, "the plan JSON", pl)
			noCanary(t, "the plan text", pl.Text)
			noCanary(t, "the streamed lines", live)
			noCanary(t, "the saved plan", mustRead(t, p.planFile("create")))

			var secrets []string
			res, err := p.d.Apply(context.Background(), engine.ApplyRequest{
				Project: "ng", Dir: p.dir, Workspace: stack, StateDir: p.state,
				PlanFile: p.planFile("create"), PlanSHA256: pl.Artifact.SHA256,
				Secrets: func(s []string) { secrets = s },
			})
			if err != nil {
				t.Fatalf("apply: %v\n%s", err, errText(err))
			}
			if res.Summary != (engine.Summary{Add: 3}) || !slices.Contains(secrets, canary) {
				t.Errorf("apply summary %+v, secrets %q", res.Summary, secrets)
			}
			noCanary(t, "the apply output", res.Text)
			if got := p.nodeGroup()["desiredSize"]; got != 3.0 {
				t.Errorf("node group created with %v nodes", got)
			}

			// update: 3 -> 2
			p.edit("desiredSize: 3", "desiredSize: 2")
			pl = p.mustPlan("update")
			if pl.Summary != (engine.Summary{Change: 1}) {
				t.Errorf("update summary = %+v", pl.Summary)
			}
			ng = change(t, pl, workersURN)
			if ng.Action != engine.ActionUpdate || field(ng.Before, "desiredSize") != json.Number("3") || field(ng.After, "desiredSize") != json.Number("2") {
				t.Errorf("update = %+v", ng)
			}
			if o := output(t, pl, "desiredSize"); o.Action != engine.ActionUpdate || o.Before != json.Number("3") || o.After != json.Number("2") {
				t.Errorf("output desiredSize = %+v", o)
			}
			if len(pl.Outputs) != 1 {
				t.Errorf("unchanged outputs reported: %+v", pl.Outputs)
			}
			if !strings.Contains(pl.Text, "desiredSize: 3 => 2") {
				t.Errorf("plan text:\n%s", pl.Text)
			}
			if res := p.mustApply("update", pl); res.Summary != (engine.Summary{Change: 1}) {
				t.Errorf("apply summary = %+v", res.Summary)
			}
			if got := p.nodeGroup()["desiredSize"]; got != 2.0 {
				t.Errorf("node group has %v nodes after the apply, want 2", got)
			}

			// replace
			oldARN := p.nodeGroup()["arn"]
			p.edit("instanceType: t3.medium", "instanceType: m5.large")
			pl = p.mustPlan("replace")
			ng = change(t, pl, workersURN)
			if ng.Action != engine.ActionReplace || !slices.Contains(ng.ReplacePaths, "instanceType") || pl.Summary != (engine.Summary{Replace: 1}) {
				t.Errorf("replace = %+v, summary %+v", ng, pl.Summary)
			}
			p.mustApply("replace", pl)
			if ngs := p.nodeGroup(); ngs["arn"] == oldARN || ngs["instanceType"] != "m5.large" {
				t.Errorf("node group after the replacement: %v (was %v)", ngs, oldARN)
			}

			// delete
			p.edit("  desiredSize: ${workers.desiredSize}\n", "")
			testkit.WriteFile(t, filepath.Join(p.dir, "Pulumi.yaml"), strings.SplitAfter(mustRead(t, filepath.Join(p.dir, "Pulumi.yaml")), "  # node group\n")[0])
			pl = p.mustPlan("delete")
			if ng = change(t, pl, workersURN); ng.Action != engine.ActionDelete || ng.After != nil || pl.Summary != (engine.Summary{Destroy: 1}) {
				t.Errorf("delete = %+v, summary %+v", ng, pl.Summary)
			}
			if o := output(t, pl, "desiredSize"); o.Action != engine.ActionDelete {
				t.Errorf("output of the deleted node group = %+v", o)
			}
			p.mustApply("delete", pl)
			if n := len(p.env.Resources(t)); n != 1 {
				t.Errorf("%d resources left, want the cluster", n)
			}

			// nothing left to do
			if pl = p.mustPlan("noop"); pl.Changes() || len(pl.Resources) != 0 {
				t.Errorf("plan after delete has changes: %+v", pl.Resources)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStalePlanIsRefused: a plan made before another apply changed the
// state is not applied, although Pulumi's update plan alone would let it
// through (it holds the update to its goal, 2, not to its start, 3).
func TestStalePlanIsRefused(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "nodegroup", m.fallback)
			p.initStack("not-the-canary")
			p.mustApply("create", p.mustPlan("create"))
			p.edit("desiredSize: 3", "desiredSize: 2")
			a := p.mustPlan("a")
			p.edit("desiredSize: 2", "desiredSize: 4")
			p.mustApply("b", p.mustPlan("b"))
			p.edit("desiredSize: 4", "desiredSize: 2")
			_, _, err := p.apply("a", a)
			if !errors.Is(err, engine.ErrStalePlan) || !strings.Contains(errText(err), "changed after this plan was made") {
				t.Fatalf("applying a plan made before another apply: err = %v\n%s\nwant ErrStalePlan", err, errText(err))
			}
			if got := p.nodeGroup()["desiredSize"]; got != 4.0 {
				t.Errorf("the stale plan changed the node group to %v nodes", got)
			}
		})
	}
}

// TestApplyRefusesOtherChanges: when the same state would now be changed
// differently than reviewed (here the program changed under the plan),
// Pulumi's update plan or the fallback's new preview refuses it.
func TestApplyRefusesOtherChanges(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "nodegroup", m.fallback)
			p.initStack("not-the-canary")
			p.mustApply("create", p.mustPlan("create"))
			p.edit("desiredSize: 3", "desiredSize: 2")
			pl := p.mustPlan("two")
			p.edit("desiredSize: 2", "desiredSize: 1")
			_, _, err := p.apply("two", pl)
			want := "violates plan"
			if m.fallback {
				want = "not the reviewed ones"
			}
			if !errors.Is(err, engine.ErrStalePlan) || !strings.Contains(errText(err), want) {
				t.Fatalf("err = %v\n%s\nwant ErrStalePlan saying %q", err, errText(err), want)
			}
			if got := p.nodeGroup()["desiredSize"]; got != 3.0 {
				t.Errorf("the refused apply changed the node group to %v nodes", got)
			}
		})
	}
}

func TestApplyRefusesAnotherArtifact(t *testing.T) {
	t.Parallel()
	p := newProject(t, "nodegroup", false)
	p.initStack("not-the-canary")
	pl := p.mustPlan("a")
	if err := os.WriteFile(p.planFile("a"), []byte("not the reviewed plan"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.apply("a", pl); !errors.Is(err, engine.ErrArtifactChanged) {
		t.Fatalf("err = %v, want ErrArtifactChanged", err)
	}
	if n := len(p.env.Resources(t)); n != 0 {
		t.Errorf("a refused apply created %d resources", n)
	}
}

// TestPlanFailures: a failing preview is a RunError with pulumi's own
// words, hides the secrets it echoes everywhere and leaves no plan.
func TestPlanFailures(t *testing.T) {
	tests := []struct {
		fixture string
		secret  string
		want    string // in the error lines
	}{
		{"broken", canary, `"cluster" not found`},
		{"echo-secret", "invalid-" + canary, "is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, tt.fixture, false)
			p.initStack(tt.secret)
			_, live, err := p.plan("x")
			var re *engine.RunError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RunError", err)
			}
			text := strings.Join(re.Lines, "\n")
			if re.Project != "ng" || re.Command != "pulumi preview" || !strings.Contains(text, tt.want) {
				t.Errorf("error %q for project %q does not show %q:\n%s", re.Command, re.Project, tt.want, text)
			}
			if strings.Contains(text, "\x1b[") {
				t.Errorf("colour codes in the error lines:\n%q", text)
			}
			noCanary(t, "the error lines", text)
			noCanary(t, "the error", err.Error())
			noCanary(t, "the streamed lines", live)
			if tt.fixture == "echo-secret" && !strings.Contains(live+text, "is not valid") {
				t.Errorf("the provider did not echo the secret, so the test proves nothing")
			}
			if _, err := os.Stat(p.planFile("x")); err == nil {
				t.Error("a failed plan left a plan file behind")
			}
		})
	}
}

func TestMissingBinaryDirAndStack(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, bin, dir, stack, want string
		is                          error
	}{
		{"binary", filepath.Join(dir, "no-such-pulumi"), dir, stack, "Pulumi CLI", engine.ErrBinaryNotFound},
		{"dir", "pulumi", filepath.Join(dir, "gone"), stack, "does not exist", nil},
		{"stack", "pulumi", dir, "", "needs a stack", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.bin).Plan(context.Background(), engine.PlanRequest{
				Project: "p", Dir: tt.dir, Workspace: tt.stack, StateDir: t.TempDir(), PlanFile: filepath.Join(t.TempDir(), "p"),
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "project p") || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestInterruptedUpdate kills a slow `up` with SIGKILL in the middle of a
// resource operation, as when the machine dies: the lock and the pending
// operation it leaves are reported by ProbeLock, the next plan refuses
// with the commands that clear them, and once a person has run them,
// plans work again.
func TestInterruptedUpdate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(p *project)
		pending string
		clear   string
	}{
		{"update", func(p *project) { p.edit("desiredSize: 3", "desiredSize: 2") }, "updating", "pulumi refresh --stack prod --yes"},
		{"create", func(p *project) {
			// A second node group, whose creation is interrupted.
			path := filepath.Join(p.dir, "Pulumi.yaml")
			b := mustRead(p.t, path)
			testkit.WriteFile(p.t, path, b+strings.ReplaceAll(strings.SplitAfter(b, "  # node group\n")[1], "workers", "spot"))
		}, "creating", "pulumi refresh --stack prod --clear-pending-creates --yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t, "nodegroup", false)
			p.initStack("not-the-canary")
			p.mustApply("create", p.mustPlan("create"))
			if id, err := p.d.ProbeLock(context.Background(), engine.ProbeRequest{Dir: p.dir, Workspace: stack, StateDir: p.state}); err != nil || id != "" {
				t.Fatalf("probe of a clean stack: %q, %v", id, err)
			}
			tt.change(p)
			pl := p.mustPlan("slow")

			marker := fmt.Sprintf("SLUICETEST_RUN=%s-%d", t.Name(), time.Now().UnixNano())
			done := make(chan error, 1)
			go func() {
				_, _, err := p.apply("slow", pl, "SLUICETEST_DELAY=10m", marker)
				done <- err
			}()
			waitForPending(t, p.env.Backend, done)
			killGroup(t, marker)
			if err := <-done; err == nil {
				t.Fatal("the killed apply succeeded")
			}

			id, err := p.d.ProbeLock(context.Background(), engine.ProbeRequest{Dir: p.dir, Workspace: stack, StateDir: p.state})
			if err != nil || !strings.Contains(id, "lock ") || !strings.Contains(id, "1 pending operation: "+tt.pending) {
				t.Errorf("probe after the kill: %q, %v; want the lock and the pending operation", id, err)
			}
			_, _, err = p.plan("after")
			text := errText(err)
			if !errors.Is(err, ErrPendingOperations) || !strings.Contains(text, "pulumi cancel --stack prod --yes") ||
				!strings.Contains(text, tt.clear) || !strings.Contains(text, tt.pending+" urn:pulumi:prod::nodegroup::sluicetest:index:NodeGroup::") {
				t.Fatalf("plan after the kill: %v\n%s\nwant ErrPendingOperations naming %q", err, text, tt.clear)
			}
			if id2, _ := p.d.ProbeLock(context.Background(), engine.ProbeRequest{Dir: p.dir, Workspace: stack, StateDir: p.state}); id2 != id {
				t.Errorf("the refused plan changed what the probe sees: %q, was %q", id2, id)
			}

			// A person follows the advice.
			p.env.Run(t, p.dir, "cancel", "--stack", stack, "--yes")
			p.env.Run(t, p.dir, strings.Fields(strings.TrimPrefix(tt.clear, "pulumi "))...)
			if id, err := p.d.ProbeLock(context.Background(), engine.ProbeRequest{Dir: p.dir, Workspace: stack, StateDir: p.state}); err != nil || id != "" {
				t.Errorf("probe after clearing: %q, %v", id, err)
			}
			if pl := p.mustPlan("again"); !pl.Changes() {
				t.Error("the interrupted change is not planned again")
			}
		})
	}
}

// waitForPending waits until the stack's state in the file backend
// records a pending operation: the provider is then in the middle of it.
func waitForPending(t *testing.T, backend string, done <-chan error) {
	t.Helper()
	path := filepath.Join(strings.TrimPrefix(backend, "file://"), ".pulumi", "stacks", "nodegroup", stack+".json")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var st struct {
			Checkpoint struct {
				Latest struct {
					Pending []any `json:"pending_operations"`
				} `json:"latest"`
			} `json:"checkpoint"`
		}
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &st) == nil && len(st.Checkpoint.Latest.Pending) > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the apply ended before its operation started: %v\n%s", err, errText(err))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("no pending operation recorded in time")
}

// killGroup sends SIGKILL to the process group of the pulumi process
// whose environment holds marker: pulumi, its language host and the
// provider die at once, without a chance to clean up.
func killGroup(t *testing.T, marker string) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to find the pulumi process: %v", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if strings.TrimSpace(string(comm)) != "pulumi" || !slices.Contains(strings.Split(string(env), "\x00"), marker) {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("the pulumi process of the apply was not found")
}

// TestExample plans and applies examples/pulumi-local, then its 3 -> 2
// change, as its README walks through.
func TestExample(t *testing.T) {
	t.Parallel()
	env := pulumitest.New(t)
	repo := t.TempDir()
	testkit.CopyDir(t, filepath.Join("..", "..", "..", "examples", "pulumi-local"), repo)
	dir := filepath.Join(repo, "cluster")
	d := New(env.Bin)
	d.Env = env.Vars
	state := t.TempDir()
	plan := func(name string) *engine.Plan {
		t.Helper()
		pl, err := d.Plan(context.Background(), engine.PlanRequest{Project: "cluster", Dir: dir, Workspace: stack, StateDir: state, PlanFile: filepath.Join(state, name)})
		if err != nil {
			t.Fatalf("plan: %v\n%s", err, errText(err))
		}
		return pl
	}
	apply := func(name string, pl *engine.Plan) {
		t.Helper()
		_, err := d.Apply(context.Background(), engine.ApplyRequest{Project: "cluster", Dir: dir, Workspace: stack, StateDir: state, PlanFile: filepath.Join(state, name), PlanSHA256: pl.Artifact.SHA256})
		if err != nil {
			t.Fatalf("apply: %v\n%s", err, errText(err))
		}
	}
	before := dirNames(t, dir)
	pl := plan("today")
	if pl.CreatedWorkspace != stack || pl.Summary.Add != 3 || !strings.Contains(pl.Warnings[len(pl.Warnings)-1], `Stack "prod" did not exist`) {
		t.Errorf("first plan: created %q, summary %+v, warnings %q; want the stack created and 3 to add", pl.CreatedWorkspace, pl.Summary, pl.Warnings)
	}
	checkOwnFiles(t, d, dir, before, "Pulumi.prod.yaml")
	apply("today", pl)
	testkit.Replace(t, filepath.Join(dir, "Pulumi.yaml"), "desiredSize: 3", "desiredSize: 2")
	pl = plan("two")
	if pl.CreatedWorkspace != "" {
		t.Error("an existing stack reported as created")
	}
	if pl.Summary != (engine.Summary{Change: 1}) || len(pl.Resources) != 1 ||
		field(pl.Resources[0].Before, "desiredSize") != json.Number("3") || field(pl.Resources[0].After, "desiredSize") != json.Number("2") {
		t.Fatalf("the example's change planned %+v: %+v", pl.Summary, pl.Resources)
	}
	apply("two", pl)
}

// checkOwnFiles checks that creating the stack wrote exactly one file in
// the project's directory, want, and that OwnFiles declares it, so that it
// does not count as a change made while planning.
func checkOwnFiles(t *testing.T, d *Driver, dir string, before []string, want string) {
	t.Helper()
	var wrote, own []string
	for _, n := range dirNames(t, dir) {
		if !slices.Contains(before, n) {
			wrote = append(wrote, n)
		}
	}
	for _, f := range d.OwnFiles(stack) {
		own = append(own, f.Name)
	}
	if !slices.Equal(wrote, []string{want}) || !slices.Contains(own, want) {
		t.Errorf("the first plan wrote %q in the project's directory (want %q), OwnFiles declares %q", wrote, want, own)
	}
}

// TestStackFileBesidePulumiYml: a project file named Pulumi.yml gets a
// stack settings file named Pulumi.<stack>.yml, which OwnFiles declares too.
func TestStackFileBesidePulumiYml(t *testing.T) {
	t.Parallel()
	env := pulumitest.New(t)
	dir := filepath.Join(t.TempDir(), "cluster")
	testkit.CopyDir(t, filepath.Join("..", "..", "..", "examples", "pulumi-local", "cluster"), dir)
	// The YAML language host reads a program from Pulumi.yaml or Main.yaml
	// only: the project goes to Pulumi.yml, the program to Main.yaml.
	src, err := os.ReadFile(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	project, program, ok := strings.Cut(string(src), "outputs:")
	if !ok {
		t.Fatal("the example's Pulumi.yaml has no outputs")
	}
	testkit.WriteFile(t, filepath.Join(dir, "Pulumi.yml"), project)
	testkit.WriteFile(t, filepath.Join(dir, "Main.yaml"), "outputs:"+program)
	if err := os.Remove(filepath.Join(dir, "Pulumi.yaml")); err != nil {
		t.Fatal(err)
	}
	d := New(env.Bin)
	d.Env = env.Vars
	state := t.TempDir()
	before := dirNames(t, dir)
	pl, err := d.Plan(context.Background(), engine.PlanRequest{Project: "cluster", Dir: dir, Workspace: stack, StateDir: state, PlanFile: filepath.Join(state, "plan")})
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, errText(err))
	}
	if pl.CreatedWorkspace != stack || !strings.Contains(pl.Warnings[len(pl.Warnings)-1], "(Pulumi.prod.yml)") {
		t.Errorf("created %q, warnings %q; want the stack %q created and its settings file named", pl.CreatedWorkspace, pl.Warnings, stack)
	}
	checkOwnFiles(t, d, dir, before, "Pulumi.prod.yml")
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// fakePulumi writes a shell script that stands in for pulumi and prints
// the secret of its configuration ($CANARY) where the real one would not:
// on the preview's output and in its error (when PREVIEW_EXIT is not 0).
func fakePulumi(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pulumi")
	script := `#!/bin/sh
case "$1" in
stack) echo '{"version":3,"deployment":{"resources":[]}}' ;;
config) printf '{"p:token":{"value":"%s","secret":true},"p:size":{"value":"3","secret":false}}' "$CANARY" ;;
preview)
	prev=
	for a; do
		if [ "$a" = --save-plan ] && [ -n "$NO_UPDATE_PLANS" ]; then
			echo "error: unknown flag: --save-plan" >&2
			exit 255
		fi
		[ "$prev" = --save-plan ] && echo '{"manifest":{"version":"v0.0.0-fake"}}' > "$a"
		prev=$a
	done
	echo "Previewing update (prod):"
	echo "the token is $CANARY"
	echo "error: refused $CANARY" >&2
	exit "${PREVIEW_EXIT:-0}" ;;
esac
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestDriverHidesConfigSecrets: what Pulumi would let through, the driver
// hides with the stack's secret configuration: in the live lines, the
// plan's text and the error lines.
func TestDriverHidesConfigSecrets(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			d := New(fakePulumi(t))
			d.Env = []string{"CANARY=" + canary, fmt.Sprintf("PREVIEW_EXIT=%d", map[bool]int{false: 0, true: 1}[fail])}
			var ls lines
			pl, err := d.Plan(context.Background(), engine.PlanRequest{
				Project: "p", Dir: t.TempDir(), Workspace: stack, StateDir: t.TempDir(),
				PlanFile: filepath.Join(t.TempDir(), "p.plan"), Log: ls.add,
			})
			if fail != (err != nil) {
				t.Fatalf("err = %v", err)
			}
			live := ls.String()
			if !strings.Contains(live, "the token is ***") {
				t.Errorf("live lines:\n%s", live)
			}
			noCanary(t, "the live lines", live)
			if fail {
				text := errText(err)
				if !strings.Contains(text, "error: refused ***") {
					t.Errorf("error lines:\n%s", text)
				}
				noCanary(t, "the error lines", text)
				return
			}
			if !slices.Contains(pl.Secrets, canary) || slices.Contains(pl.Secrets, "3") || pl.EngineVersion != "v0.0.0-fake" {
				t.Errorf("secrets %q, version %q", pl.Secrets, pl.EngineVersion)
			}
			noCanary(t, "the plan text", pl.Text)
		})
	}
}

// TestPlanWithoutUpdatePlans: with a CLI that has no update plans, the
// plan is saved without one, for the apply to preview again and compare.
func TestPlanWithoutUpdatePlans(t *testing.T) {
	d := New(fakePulumi(t))
	d.Env = []string{"CANARY=" + canary, "NO_UPDATE_PLANS=1"}
	var ls lines
	planFile := filepath.Join(t.TempDir(), "p.plan")
	pl, err := d.Plan(context.Background(), engine.PlanRequest{
		Project: "p", Dir: t.TempDir(), Workspace: stack, StateDir: t.TempDir(), PlanFile: planFile, Log: ls.add,
	})
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, errText(err))
	}
	art, err := readArtifact(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if art.UpdatePlan != nil || pl.EngineVersion != "" || !strings.Contains(ls.String(), "has no update plans") {
		t.Errorf("update plan %s, version %q, lines:\n%s", art.UpdatePlan, pl.EngineVersion, ls.String())
	}
}

// TestBadStackIsRefused: a stack that is not [ORG/[PROJECT/]]STACK of
// plain parts is refused before anything runs or is created.
func TestBadStackIsRefused(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	state := filepath.Join(data, "engines", "p", "stack")
	for _, s := range []string{"../../escaped", "acme/../dev", "--yes", "a/b/c/d", "dev stack"} {
		_, err := New("pulumi").Plan(context.Background(), engine.PlanRequest{
			Project: "p", Dir: dir, Workspace: s, StateDir: state, PlanFile: filepath.Join(state, "p.plan"),
		})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("project p: invalid stack %q (", s)) {
			t.Errorf("stack %q: %v, want it refused", s, err)
		}
	}
	if got := testkit.Tree(t, data); !slices.Equal(got, []string{"./"}) {
		t.Errorf("created %q", got)
	}
	if got := testkit.Tree(t, dir); !slices.Equal(got, []string{"./"}) {
		t.Errorf("created in the project's directory: %q", got)
	}
}

// TestProjectFileStaysInside: the driver reads Pulumi's project and stack
// files only inside the repository: a Pulumi.yaml that links outside it
// (to another project's secrets, /proc/self/environ) is not read; one
// that links to a file inside is.
func TestProjectFileStaysInside(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	dir := filepath.Join(repo, "app")
	testkit.WriteFile(t, filepath.Join(top, "outside.yaml"), "name: leaked\nbackend:\n  url: file:///somewhere\n")
	testkit.WriteFile(t, filepath.Join(repo, "shared", "Pulumi.yaml"), "name: shared\n")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &session{dir: dir, root: repo, stack: "dev"}
	for target, want := range map[string]string{"../../outside.yaml": "", "../shared/Pulumi.yaml": "shared"} {
		_ = os.Remove(filepath.Join(dir, "Pulumi.yaml"))
		if err := os.Symlink(target, filepath.Join(dir, "Pulumi.yaml")); err != nil {
			t.Fatal(err)
		}
		if pf := s.projectFile(); pf.Name != want || pf.Backend.URL != "" {
			t.Errorf("Pulumi.yaml -> %s: read %+v, want the name %q", target, pf, want)
		}
	}
	if err := os.Symlink("../../outside.yaml", filepath.Join(dir, "Pulumi.dev.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.readFile("Pulumi.dev.yaml"); err == nil {
		t.Error("the stack's settings file was read through a link outside the repository")
	}
}
