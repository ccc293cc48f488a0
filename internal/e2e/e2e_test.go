// Package e2e runs the sluice server as a real process — the test binary
// re-executes itself as `sluice serve` — against real git, real terraform
// and a real database, and kills it with SIGKILL to prove what survives.
package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/client"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
	"github.com/sluicehq/sluice/internal/testkit/pgtest"
	"github.com/sluicehq/sluice/internal/testkit/procs"
)

func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_E2E_AS_CLI") == "1" {
		ctx, stop := signalContext()
		err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "sluice: error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(giteatest.Wrap(func() int { return pgtest.Wrap(m.Run) }))
}

func decodeBase64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// repo is an infrastructure repository with a merge request branch.
type repo struct {
	dir   string // the "forge" side, cloned by the server
	state string // where terraform keeps the state (outside any checkout)
	base  string
	head  string
}

// newRepo makes the origin repository: main with node group 3, and a
// branch mr-1 that changes it to 2.
func newRepo(t *testing.T, extraTF string) *repo {
	t.Helper()
	r := &repo{dir: t.TempDir(), state: t.TempDir()}
	testkit.CopyDir(t, filepath.Join("testdata", "infra"), r.dir)
	testkit.Replace(t, filepath.Join(r.dir, "app", "main.tf"), "STATE_DIR", r.state)
	testkit.Git(t, r.dir, "init", "-q", "-b", "main")
	testkit.Git(t, r.dir, "add", "-A")
	testkit.Git(t, r.dir, "commit", "-q", "-m", "today")
	r.base = testkit.Git(t, r.dir, "rev-parse", "HEAD")
	testkit.Git(t, r.dir, "switch", "-q", "-c", "mr-1")
	testkit.Replace(t, filepath.Join(r.dir, "app", "main.tf"), "desired_size = 3", "desired_size = 2")
	if extraTF != "" {
		testkit.WriteFile(t, filepath.Join(r.dir, "app", "extra.tf"), extraTF)
		testkit.Git(t, r.dir, "add", "-A")
	}
	testkit.Git(t, r.dir, "commit", "-q", "-am", "Reduce the node group to two nodes")
	r.head = testkit.Git(t, r.dir, "rev-parse", "HEAD")
	testkit.Git(t, r.dir, "switch", "-q", "main")
	return r
}

// server is a running `sluice serve` process.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	url     string
	logs    *testkit.SyncBuffer
	done    chan struct{}
	client  *client.Client
	env     []string
	dataDir string
}

// freePort returns a loopback address with a port that was free a moment
// ago.
func freePort(t *testing.T) string {
	t.Helper()
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// serverEnv is the environment of a server on dataDir working on r, with
// the slow engine wrapper in front of terraform.
func serverEnv(t *testing.T, r *repo, dataDir, databaseURL string) []string {
	t.Helper()
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not on PATH")
	}
	wrapper, _ := filepath.Abs(filepath.Join("testdata", "slow-engine.sh"))
	env := []string{
		"SLUICE_E2E_AS_CLI=1",
		"SLUICE_DATA_DIR=" + dataDir,
		"SLUICE_REPOS=infra=" + r.dir,
		"SLUICE_TERRAFORM_BIN=" + wrapper,
		"REAL_ENGINE=" + tf,
		"SLUICE_LOG_FORMAT=text",
		"SLUICE_HEARTBEAT_INTERVAL=300ms",
		"SLUICE_SHUTDOWN_TIMEOUT=20s",
		"TF_CLI_CONFIG_FILE=" + emptyFile(t),
		// What the test's engines need beyond the defaults: the wrapper's
		// settings and the test providers' files.
		"SLUICE_ENGINE_ENV=defaults,REAL_ENGINE,SLOW_*,MARKER_DIR,SLUICETEST_*",
	}
	if r.state != "" {
		env = append(env, "SLUICE_ENGINE_WRITE="+r.state)
	}
	if databaseURL != "" {
		// Replicas share one plan key and one API token.
		env = append(env, "SLUICE_DATABASE_URL="+databaseURL,
			"SLUICE_PLAN_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			"SLUICE_API_TOKEN=test-token-shared-by-replicas")
	}
	return env
}

// engineWrite merges every SLUICE_ENGINE_WRITE of env into one, with the
// slow engine's MARKER_DIR: each test names the directories its engines
// write (a local backend's state), and the sandbox lets them write there
// only.
func engineWrite(env []string) []string {
	var dirs, out []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "SLUICE_ENGINE_WRITE":
			dirs = append(dirs, v)
			continue
		case "MARKER_DIR":
			dirs = append(dirs, v)
		}
		out = append(out, kv)
	}
	if len(dirs) > 0 {
		out = append(out, "SLUICE_ENGINE_WRITE="+strings.Join(dirs, ","))
	}
	return out
}

func emptyFile(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func startServer(t *testing.T, env []string, extra ...string) *server {
	t.Helper()
	addr := freePort(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, url: "http://" + addr, logs: &testkit.SyncBuffer{}, done: make(chan struct{}), env: env}
	s.cmd = exec.Command(self, "serve", "--listen", addr)
	s.cmd.Env = engineWrite(append(append(os.Environ(), env...), extra...))
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SLUICE_DATA_DIR="); ok {
			s.dataDir = v
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.done:
			t.Fatalf("server exited at start:\n%s", s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 30s:\n%s", s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	token := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SLUICE_API_TOKEN="); ok {
			token = v
		}
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(s.dataDir, "api.token"))
		if err != nil {
			t.Fatal(err)
		}
		token = strings.TrimSpace(string(b))
	}
	s.client = &client.Client{URL: s.url, Token: token}
	return s
}

// kill ends the server with SIGKILL: no cleanup of any kind.
func (s *server) kill() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

func (s *server) post(key string, req flow.Request) {
	s.t.Helper()
	if _, _, err := s.client.PostEvent(context.Background(), key, req); err != nil {
		s.t.Fatalf("posting %s: %v", req.Action, err)
	}
}

// waitRuns polls until ok accepts the runs.
func (s *server) waitRuns(what string, f store.RunFilter, ok func([]store.Run) bool) []store.Run {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs, err := s.client.ListRuns(context.Background(), f)
		if err == nil && ok(runs) {
			return runs
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; runs: %+v (err %v)", what, runs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitIdle waits until the server has no work left (GET /api/v1/queue):
// every event accepted so far processed, every job done. Whatever those
// events could make the server do is done then, so that a check after it
// that something did not happen cannot pass by coming too early.
func (s *server) waitIdle(what string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		q, err := s.client.Queue(context.Background())
		if err == nil && q.Idle {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the server still has work %s: %+v (err %v)", what, q, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func count(runs []store.Run, kind store.RunKind, state store.RunState) int {
	n := 0
	for _, r := range runs {
		if r.Kind == kind && (state == "" || r.State == state) {
			n++
		}
	}
	return n
}

func planReq(r *repo) flow.Request {
	return flow.Request{Action: flow.ActionPlan, Repo: "infra", MR: 1, HeadSHA: r.head, BaseSHA: r.base, BaseRef: "main", Actor: "alice"}
}

func applyReq() flow.Request {
	return flow.Request{Action: flow.ActionApply, Repo: "infra", MR: 1, Actor: "bob"}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readState reads the state of r's app project (see readStateFile).
func readState(t *testing.T, r *repo) string {
	return readStateFile(t, filepath.Join(r.state, "app.tfstate"))
}
