// Package giteatest runs a real Gitea server for tests: one per test
// binary, started on first use, with helpers to create users, repositories,
// pull requests, reviews and webhooks through its API and to push with git.
//
// A package using it stops the server through TestMain:
//
//	func TestMain(m *testing.M) { giteatest.Main(m) }
//
// The server runs from the binary in SLUICE_TEST_GITEA (scripts/tools.sh
// --env gitea prints it), else from the tools cache
// ($SLUICE_TOOLS_CACHE or ~/.cache/sluice-tools)/gitea-v1.26.0/gitea. Its
// STATIC_ROOT_PATH (the module source, which holds the locale files) comes
// from SLUICE_TEST_GITEA_SOURCE or the file source-dir next to the binary.
// When either is missing, tests skip, or fail when
// SLUICE_TEST_REQUIRE_TOOLS=1.
//
// The server is configured for tests: SQLite, in-memory queues, webhooks
// delivered as soon as they are prepared (those of API calls before the
// call returns; those of pushes shortly after, from a queue), webhooks
// allowed to loopback only, no mail, cron, actions or indexers, a cheap
// password hash, and API pages of at most 10 items so that clients' paging
// is exercised. Tests share the server: name users, organisations and
// repositories with [Server.Name] so that reruns (-count=2) do not collide.
//
// (Gitea's "immediate" queue for everything would deliver push webhooks
// synchronously too, but outside Gitea's own test mode it deadlocks
// reading a pull request whose mergeability is being checked.)
//
// The server dies with the test binary, even when that crashes: it gets
// SIGKILL when the thread that started it ends (Pdeathsig, on a thread kept
// for that purpose). Directories a killed binary left in
// $TMPDIR/sluice-giteatest are removed by the next start.
// SLUICE_TEST_GITEA_KEEP=1 keeps the directory (app.ini, log/gitea.log,
// the database and repositories) after the tests, for a post-mortem.
package giteatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit/procs"
)

// Version is the Gitea version the tools cache holds by default.
const Version = "v1.26.0"

// AdminLogin is the site administrator every server starts with.
const AdminLogin = "sluice-admin"

// The one server of the test binary.
var shared = procs.Shared[*Server]{Name: "giteatest", Start: start, Missing: errMissing, Stop: (*Server).stop}

// Main runs the tests and then stops the server, if one was started, and
// exits with the tests' status.
func Main(m *testing.M) { os.Exit(Wrap(m.Run)) }

// Wrap runs the tests (m.Run, or another package's Wrap of it) and then
// stops the server, if one was started; it returns run's status. It lets
// one TestMain use several such servers.
func Wrap(run func() int) int { return shared.Wrap(run) }

// Start returns the shared server, starting it on first use.
func Start(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t)
}

var errMissing = errors.New("Gitea binary missing")

// Server is a running Gitea.
type Server struct {
	dir      string
	url      string
	cmd      *exec.Cmd
	done     <-chan struct{} // closed when gitea web has exited
	password string          // every user's password, admin included
	admin    string          // the admin's API token (all scopes)
	seq      atomic.Int64
	http     *http.Client

	// StartupTime is how long the first Start took (migrate, admin user,
	// web server up, admin token).
	StartupTime time.Duration
}

// URL is the server's root URL, without the trailing slash.
func (s *Server) URL() string { return s.url }

// LogPath is the server's log file, for a failing test to read.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "log", "gitea.log") }

// Name returns prefix with a suffix unique to this server, for users,
// organisations and repositories.
func (s *Server) Name(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, s.seq.Add(1))
}

// AdminToken is a token of the site administrator with every scope.
func (s *Server) AdminToken(t testing.TB) string {
	t.Helper()
	return s.admin
}

func start(t testing.TB) (*Server, error) {
	began := time.Now()
	bin, static, err := locate()
	if err != nil {
		return nil, err
	}
	dir, err := procs.Dir("sluice-giteatest", stopLeftover)
	if err != nil {
		return nil, err
	}
	s, err := startIn(bin, static, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.StartupTime = time.Since(began)
	t.Logf("giteatest: Gitea %s started at %s in %v", Version, s.url, s.StartupTime.Round(time.Millisecond))
	return s, nil
}

// locate finds the gitea binary and its source directory.
func locate() (bin, static string, err error) {
	bin = os.Getenv("SLUICE_TEST_GITEA")
	if bin == "" {
		cache := os.Getenv("SLUICE_TOOLS_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", "", fmt.Errorf("%w: SLUICE_TEST_GITEA unset and no home directory", errMissing)
			}
			cache = filepath.Join(home, ".cache", "sluice-tools")
		}
		bin = filepath.Join(cache, "gitea-"+Version, "gitea")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", "", fmt.Errorf("%w: %s not found (run scripts/tools.sh --env gitea and set SLUICE_TEST_GITEA)", errMissing, bin)
	}
	static = os.Getenv("SLUICE_TEST_GITEA_SOURCE")
	if static == "" {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "source-dir"))
		if err != nil {
			return "", "", fmt.Errorf("%w: no source-dir next to %s and SLUICE_TEST_GITEA_SOURCE unset", errMissing, bin)
		}
		static = strings.TrimSpace(string(b))
	}
	if _, err := os.Stat(filepath.Join(static, "options", "locale")); err != nil {
		return "", "", fmt.Errorf("%w: %s holds no options/locale (set SLUICE_TEST_GITEA_SOURCE to the Gitea module directory)", errMissing, static)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return "", "", fmt.Errorf("%w: git is not on PATH", errMissing)
	}
	return bin, static, nil
}

func startIn(bin, static, dir string) (*Server, error) {
	s := &Server{
		dir:      dir,
		password: "pw-" + randomHex(12),
		http:     &http.Client{Timeout: 60 * time.Second},
	}
	var lastErr error
	for range 3 { // the free port may be taken before gitea binds it
		port, err := procs.FreePort()
		if err != nil {
			return nil, err
		}
		s.url = fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := writeConfig(dir, static, port); err != nil {
			return nil, err
		}
		if err := s.prepare(bin); err != nil {
			return nil, err
		}
		if err = s.run(bin); err == nil {
			break
		}
		lastErr = err
	}
	if s.cmd == nil {
		return nil, lastErr
	}
	tok, err := s.createToken(AdminLogin, "giteatest-admin", "all")
	if err != nil {
		s.kill()
		return nil, err
	}
	s.admin = tok
	return s, nil
}

func (s *Server) configPath() string { return filepath.Join(s.dir, "app.ini") }

// prepare creates the database and the admin user, once.
func (s *Server) prepare(bin string) error {
	if _, err := os.Stat(filepath.Join(s.dir, "data", "gitea.db")); err == nil {
		return nil
	}
	if out, err := s.gitea(bin, "migrate"); err != nil {
		return fmt.Errorf("running gitea migrate: %w\n%s", err, out)
	}
	if out, err := s.gitea(bin, "admin", "user", "create", "--admin", "--username", AdminLogin,
		"--password", s.password, "--email", AdminLogin+"@example.com", "--must-change-password=false"); err != nil {
		return fmt.Errorf("creating the Gitea admin user: %w\n%s", err, out)
	}
	return nil
}

func (s *Server) gitea(bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, append(args, "--config", s.configPath())...)
	cmd.Dir = s.dir
	cmd.Env = s.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd.CombinedOutput()
}

func (s *Server) env() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(s.dir, "home"),
		"GITEA_WORK_DIR=" + s.dir,
		"TZ=UTC",
	}
	if u := os.Getenv("USER"); u != "" {
		env = append(env, "USER="+u)
	}
	return env
}

// run starts gitea web and waits until its API answers.
func (s *Server) run(bin string) error {
	out, err := os.OpenFile(filepath.Join(s.dir, "web.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(bin, "web", "--config", s.configPath(), "--pid", filepath.Join(s.dir, "gitea.pid"))
	cmd.Dir = s.dir
	cmd.Env = s.env()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	done, err := procs.Start(cmd)
	if err != nil {
		return fmt.Errorf("starting gitea web: %w", err)
	}
	s.cmd, s.done = cmd, done
	if err := s.waitReady(); err != nil {
		s.kill()
		s.cmd = nil
		return err
	}
	return nil
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(s.url + "/api/v1/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-s.done:
			return fmt.Errorf("gitea web exited at start:\n%s", s.logs())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gitea not ready after 60 s: %v\n%s", err, s.logs())
		}
	}
}

func (s *Server) logs() string {
	var b strings.Builder
	for _, f := range []string{filepath.Join(s.dir, "web.out"), s.LogPath()} {
		out, _ := os.ReadFile(f)
		if len(out) > 8000 {
			out = out[len(out)-8000:]
		}
		b.Write(out)
	}
	return b.String()
}

// stop shuts gitea down (SIGTERM, then kill) and removes its directory,
// unless SLUICE_TEST_GITEA_KEEP=1 asks to keep it for a post-mortem.
func (s *Server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
	}
	if os.Getenv("SLUICE_TEST_GITEA_KEEP") == "1" {
		fmt.Fprintf(os.Stderr, "giteatest: kept %s (logs in log/gitea.log)\n", s.dir)
		return nil
	}
	return os.RemoveAll(s.dir)
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// writeConfig writes app.ini for a server in dir listening on port.
func writeConfig(dir, static string, port int) error {
	for _, d := range []string{"data", "repos", "log", "home", "custom"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n")
	}
	jwt := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	fmt.Fprintf(&b, `APP_NAME = Sluice test Gitea
RUN_MODE = prod
WORK_PATH = %[1]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[2]d
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:%[2]d/
LOCAL_ROOT_URL = http://127.0.0.1:%[2]d/
APP_DATA_PATH = %[1]s/data
STATIC_ROOT_PATH = %[3]s
OFFLINE_MODE = true
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
GRACEFUL_HAMMER_TIME = 2s

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[security]
INSTALL_LOCK = true
SECRET_KEY = %[4]s
INTERNAL_TOKEN = %[5]s
PASSWORD_HASH_ALGO = pbkdf2$1000$50
DISABLE_QUERY_AUTH_TOKEN = true

[oauth2]
JWT_SECRET = %[6]s

[queue]
TYPE = channel

[queue.webhook_sender]
TYPE = immediate

[webhook]
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 5
SKIP_TLS_VERIFY = false

[service]
DISABLE_REGISTRATION = false
REQUIRE_SIGNIN_VIEW = false
REGISTER_EMAIL_CONFIRM = false
ENABLE_NOTIFY_MAIL = false
DEFAULT_KEEP_EMAIL_PRIVATE = false
DEFAULT_ALLOW_CREATE_ORGANIZATION = true
NO_REPLY_ADDRESS = noreply.example.com

[mailer]
ENABLED = false

[repository]
ROOT = %[1]s/repos
DEFAULT_BRANCH = main

[repository.signing]
SIGNING_KEY = none

[log]
MODE = file
LEVEL = Info
ROOT_PATH = %[1]s/log

[actions]
ENABLED = false

[packages]
ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[api]
MAX_RESPONSE_ITEMS = 10
DEFAULT_PAGING_NUM = 10

[migrations]
ALLOW_LOCALNETWORKS = false
`, dir, port, static, randomHex(24), randomHex(32), jwt)
	return os.WriteFile(filepath.Join(dir, "app.ini"), []byte(b.String()), 0o600)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func isGitea(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "gitea"
}

// APIError is a non-2xx answer of the Gitea API.
type APIError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("gitea %s %s: %d %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// do calls the API under /api/v1 with a token ("" for none) or, when
// basicUser is set, basic auth with the shared password.
func (s *Server) do(token, basicUser, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case basicUser != "":
		req.SetBasicAuth(basicUser, s.password)
	case token != "":
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("gitea %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("gitea %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("gitea %s %s: decoding %q: %w", method, path, b, err)
		}
	}
	return nil
}

// API calls the Gitea API (path below /api/v1) as the holder of token
// ("" for anonymous), sending in as JSON (nil for no body) and decoding the
// answer into out (nil to discard it). Anything but a 2xx answer fails the
// test.
func (s *Server) API(t testing.TB, token, method, path string, in, out any) {
	t.Helper()
	if err := s.do(token, "", method, path, in, out); err != nil {
		t.Fatal(err)
	}
}

// APIStatus is API for calls expected to fail: it returns the HTTP status
// (200 for any 2xx) instead of failing the test on an error answer.
func (s *Server) APIStatus(t testing.TB, token, method, path string, in, out any) int {
	t.Helper()
	err := s.do(token, "", method, path, in, out)
	var apiErr *APIError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &apiErr):
		return apiErr.Status
	default:
		t.Fatal(err)
		return 0
	}
}

func (s *Server) createToken(login, name string, scopes ...string) (string, error) {
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	in := map[string]any{"name": name, "scopes": scopes}
	if err := s.do("", login, http.MethodPost, "/users/"+login+"/tokens", in, &tok); err != nil {
		return "", fmt.Errorf("creating a token for %s: %w", login, err)
	}
	return tok.SHA1, nil
}

// CreateUser creates a user (not an administrator) and returns a token of
// it with every scope.
func (s *Server) CreateUser(t testing.TB, login string) (token string) {
	t.Helper()
	mustChange := false
	s.API(t, s.admin, http.MethodPost, "/admin/users", map[string]any{
		"username":             login,
		"email":                login + "@example.com",
		"password":             s.password,
		"must_change_password": &mustChange,
	}, nil)
	return s.Token(t, login, "all")
}

// Token creates another token of a user with the given scopes (Gitea scope
// names: "all", "write:repository", "read:user", ...).
func (s *Server) Token(t testing.TB, login string, scopes ...string) string {
	t.Helper()
	tok, err := s.createToken(login, s.Name("token"), scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// CreateOrg creates an organisation owned by the administrator.
func (s *Server) CreateOrg(t testing.TB, name string) {
	t.Helper()
	s.API(t, s.admin, http.MethodPost, "/admin/users/"+AdminLogin+"/orgs", map[string]any{
		"username":   name,
		"visibility": "public",
	}, nil)
}

// AddOrgOwner adds a user to an organisation's Owners team.
func (s *Server) AddOrgOwner(t testing.TB, org, login string) {
	t.Helper()
	var teams []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	s.API(t, s.admin, http.MethodGet, "/orgs/"+org+"/teams", nil, &teams)
	for _, team := range teams {
		if team.Name == "Owners" {
			s.API(t, s.admin, http.MethodPut, fmt.Sprintf("/teams/%d/members/%s", team.ID, login), nil, nil)
			return
		}
	}
	t.Fatalf("organisation %s has no Owners team", org)
}

// CreateTeam creates a team of an organisation with the access per unit
// that units gives ("repo.code": "write", "repo.pulls": "read", ...; a
// unit left out is "none"), as Gitea's team page makes one: its overall
// access is "none", so people get what they may do from the units only.
// The team has no repository and no member yet; it returns its id.
func (s *Server) CreateTeam(t testing.TB, org, name string, units map[string]string) int64 {
	t.Helper()
	var team struct {
		ID int64 `json:"id"`
	}
	s.API(t, s.admin, http.MethodPost, "/orgs/"+org+"/teams", map[string]any{
		"name": name, "units_map": units,
	}, &team)
	return team.ID
}

// AddTeamMember adds a user to a team.
func (s *Server) AddTeamMember(t testing.TB, team int64, login string) {
	t.Helper()
	s.API(t, s.admin, http.MethodPut, fmt.Sprintf("/teams/%d/members/%s", team, login), nil, nil)
}

// RemoveTeamMember removes a user from a team.
func (s *Server) RemoveTeamMember(t testing.TB, team int64, login string) {
	t.Helper()
	s.API(t, s.admin, http.MethodDelete, fmt.Sprintf("/teams/%d/members/%s", team, login), nil, nil)
}

// AddTeamRepo gives a team access to a repository ("owner/name") of its
// organisation.
func (s *Server) AddTeamRepo(t testing.TB, team int64, repo string) {
	t.Helper()
	s.API(t, s.admin, http.MethodPut, fmt.Sprintf("/teams/%d/repos/%s", team, repo), nil, nil)
}

// SetPrivate makes a repository private or public.
func (s *Server) SetPrivate(t testing.TB, repo string, private bool) {
	t.Helper()
	s.API(t, s.admin, http.MethodPatch, "/repos/"+repo, map[string]any{"private": private}, nil)
}

// CreateRepo creates a private repository owned by a user or an
// organisation, with an initial commit on main, and returns its full name
// "owner/name".
func (s *Server) CreateRepo(t testing.TB, owner, name string) string {
	t.Helper()
	s.API(t, s.admin, http.MethodPost, "/admin/users/"+owner+"/repos", map[string]any{
		"name":           name,
		"private":        true,
		"auto_init":      true,
		"default_branch": "main",
		"readme":         "Default",
	}, nil)
	return owner + "/" + name
}

// AddCollaborator gives a user "read", "write" or "admin" access to a
// repository.
func (s *Server) AddCollaborator(t testing.TB, repo, login, permission string) {
	t.Helper()
	s.API(t, s.admin, http.MethodPut, "/repos/"+repo+"/collaborators/"+login,
		map[string]any{"permission": permission}, nil)
}

// RemoveCollaborator takes a user's collaboration on a repository away.
func (s *Server) RemoveCollaborator(t testing.TB, repo, login string) {
	t.Helper()
	s.API(t, s.admin, http.MethodDelete, "/repos/"+repo+"/collaborators/"+login, nil, nil)
}

// PR is a pull request as the API returns it (the fields tests need).
type PR struct {
	Number int64  `json:"number"`
	Title  string `json:"title"`
	Draft  bool   `json:"draft"`
	State  string `json:"state"`
	Merged bool   `json:"merged"`
	Head   struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"base"`
}

// CreatePR opens a pull request of head into base as the holder of token.
// head is a branch of repo or "owner:branch" of a fork.
func (s *Server) CreatePR(t testing.TB, token, repo, head, base, title, body string) PR {
	t.Helper()
	var pr PR
	s.API(t, token, http.MethodPost, "/repos/"+repo+"/pulls", map[string]any{
		"head": head, "base": base, "title": title, "body": body,
	}, &pr)
	return pr
}

// EditPR changes a pull request's fields ("title", "body", "state": "closed"
// or "open") as the holder of token.
func (s *Server) EditPR(t testing.TB, token, repo string, number int64, fields map[string]any) PR {
	t.Helper()
	var pr PR
	s.API(t, token, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repo, number), fields, &pr)
	return pr
}

// MergePR merges a pull request with a merge commit as the holder of token.
// While Gitea is still checking whether the pull request merges (after a
// push to either branch) it asks to try again later: MergePR does, for up
// to 10 s.
func (s *Server) MergePR(t testing.TB, token, repo string, number int64) {
	t.Helper()
	if err := s.TryMerge(t, token, repo, number); err != nil {
		t.Fatal(err)
	}
}

// TryMerge is MergePR that returns Gitea's refusal (an *APIError: 405 for
// a merge that branch protection or the pull request's state does not
// allow) instead of failing the test.
func (s *Server) TryMerge(t testing.TB, token, repo string, number int64) error {
	t.Helper()
	path := fmt.Sprintf("/repos/%s/pulls/%d/merge", repo, number)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.do(token, "", http.MethodPost, path, map[string]any{"Do": "merge"}, nil)
		var apiErr *APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.Status != http.StatusMethodNotAllowed ||
			!strings.Contains(apiErr.Body, "try again later") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// UpdatePR merges the base branch into a pull request's branch, as Gitea's
// "Update branch by merge" button does, as the holder of token.
func (s *Server) UpdatePR(t testing.TB, token, repo string, number int64) {
	t.Helper()
	s.API(t, token, http.MethodPost, fmt.Sprintf("/repos/%s/pulls/%d/update?style=merge", repo, number), nil, nil)
}

// Protect protects branch of repo (a rule named after it), as the
// administrator: a pull request merges only once, on its head, a commit
// status matching each of checks succeeded (Gitea's status check
// patterns: globs). Pushing stays open to those with write access, for
// tests that move the branch themselves.
func (s *Server) Protect(t testing.TB, repo, branch string, checks ...string) {
	t.Helper()
	s.API(t, s.admin, http.MethodPost, "/repos/"+repo+"/branch_protections", map[string]any{
		"rule_name":             branch,
		"enable_push":           true,
		"enable_status_check":   true,
		"status_check_contexts": checks,
	}, nil)
}

// RecommendedProtection is the branch protection rule docs/forges/gitea.md
// recommends for a branch Sluice applies from, as the docs give it.
func RecommendedProtection(branch string) map[string]any {
	return map[string]any{
		"rule_name":                  branch,
		"enable_status_check":        true,
		"status_check_contexts":      []string{"sluice/gate"},
		"enable_push":                false,
		"required_approvals":         1,
		"dismiss_stale_approvals":    true,
		"block_on_rejected_reviews":  true,
		"block_admin_merge_override": true,
	}
}

// ProtectWith sets a branch protection rule of repo (the API's fields),
// as the administrator.
func (s *Server) ProtectWith(t testing.TB, repo string, rule map[string]any) {
	t.Helper()
	s.API(t, s.admin, http.MethodPost, "/repos/"+repo+"/branch_protections", rule, nil)
}

// Unprotect removes the protection rule of branch (see Protect).
func (s *Server) Unprotect(t testing.TB, repo, branch string) {
	t.Helper()
	s.API(t, s.admin, http.MethodDelete, "/repos/"+repo+"/branch_protections/"+branch, nil, nil)
}

// EditFile changes a file on branch through Gitea's API, as its web
// editor does: the holder of token makes the commit, under their own name
// and email. It returns the new commit's id.
func (s *Server) EditFile(t testing.TB, token, repo, branch, path, content string) string {
	t.Helper()
	var f struct {
		SHA string `json:"sha"`
	}
	s.API(t, token, http.MethodGet, "/repos/"+repo+"/contents/"+path+"?ref="+branch, nil, &f)
	var out struct {
		Commit struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	}
	s.API(t, token, http.MethodPut, "/repos/"+repo+"/contents/"+path, map[string]any{
		"content": base64.StdEncoding.EncodeToString([]byte(content)),
		"sha":     f.SHA, "branch": branch, "message": "edit " + path,
	}, &out)
	return out.Commit.SHA
}

// ReviewComment is a comment on a line of a file in a review.
type ReviewComment struct {
	Path string `json:"path"`
	Body string `json:"body"`
	// NewLine is the line in the head version of the file.
	NewLine int64 `json:"new_position"`
}

// Review submits a review as the holder of token: state is "APPROVED",
// "REQUEST_CHANGES" or "COMMENT". It returns the review's id.
func (s *Server) Review(t testing.TB, token, repo string, pr int64, state, body string, comments ...ReviewComment) int64 {
	t.Helper()
	var r struct {
		ID int64 `json:"id"`
	}
	if comments == nil {
		comments = []ReviewComment{}
	}
	s.API(t, token, http.MethodPost, fmt.Sprintf("/repos/%s/pulls/%d/reviews", repo, pr), map[string]any{
		"event": state, "body": body, "comments": comments,
	}, &r)
	return r.ID
}

// ReviewComments lists a review's code comments: their ids and bodies.
func (s *Server) ReviewComments(t testing.TB, token, repo string, pr, review int64) map[string]int64 {
	t.Helper()
	var cs []struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
	}
	s.API(t, token, http.MethodGet, fmt.Sprintf("/repos/%s/pulls/%d/reviews/%d/comments", repo, pr, review), nil, &cs)
	ids := make(map[string]int64, len(cs))
	for _, c := range cs {
		ids[c.Body] = c.ID
	}
	return ids
}

// ResolveComment marks the conversation a review comment starts as
// resolved.
func (s *Server) ResolveComment(t testing.TB, token, repo string, commentID int64) {
	t.Helper()
	s.API(t, token, http.MethodPost, fmt.Sprintf("/repos/%s/pulls/comments/%d/resolve", repo, commentID), nil, nil)
}

// DismissReview dismisses an approval or a request for changes.
func (s *Server) DismissReview(t testing.TB, token, repo string, pr, review int64, message string) {
	t.Helper()
	s.API(t, token, http.MethodPost, fmt.Sprintf("/repos/%s/pulls/%d/reviews/%d/dismissals", repo, pr, review),
		map[string]any{"message": message}, nil)
}

// Comment comments on an issue or pull request and returns the comment's
// id.
func (s *Server) Comment(t testing.TB, token, repo string, number int64, body string) int64 {
	t.Helper()
	var c struct {
		ID int64 `json:"id"`
	}
	s.API(t, token, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", repo, number),
		map[string]any{"body": body}, &c)
	return c.ID
}

// CreateIssue opens an issue and returns its number.
func (s *Server) CreateIssue(t testing.TB, token, repo, title, body string) int64 {
	t.Helper()
	var is struct {
		Number int64 `json:"number"`
	}
	s.API(t, token, http.MethodPost, "/repos/"+repo+"/issues", map[string]any{"title": title, "body": body}, &is)
	return is.Number
}

// SetStatus sets a commit status ("pending", "success", "error",
// "failure", "warning", "skipped") named context on sha.
func (s *Server) SetStatus(t testing.TB, token, repo, sha, context, state string) {
	t.Helper()
	s.API(t, token, http.MethodPost, "/repos/"+repo+"/statuses/"+sha, map[string]any{
		"context": context, "state": state, "description": context + " is " + state,
	}, nil)
}

// Fork forks a repository into the account of the token's holder and
// returns the fork's full name.
func (s *Server) Fork(t testing.TB, token, repo string) string {
	t.Helper()
	var r struct {
		FullName string `json:"full_name"`
	}
	s.API(t, token, http.MethodPost, "/repos/"+repo+"/forks", map[string]any{}, &r)
	return r.FullName
}

// BranchSHA is the commit a branch points at.
func (s *Server) BranchSHA(t testing.TB, repo, branch string) string {
	t.Helper()
	var b struct {
		Commit struct {
			ID string `json:"id"`
		} `json:"commit"`
	}
	s.API(t, s.admin, http.MethodGet, "/repos/"+repo+"/branches/"+branch, nil, &b)
	return b.Commit.ID
}

// CreateWebhook adds a JSON webhook of type gitea to a repository, signed
// with secret, for the given events (API names: "pull_request" for all
// pull request events, "pull_request_only", "pull_request_sync",
// "pull_request_comment", "pull_request_review", "issue_comment", "push",
// "create", ...). It returns the hook's id.
func (s *Server) CreateWebhook(t testing.TB, repo, url, secret string, events ...string) int64 {
	t.Helper()
	var h struct {
		ID int64 `json:"id"`
	}
	s.API(t, s.admin, http.MethodPost, "/repos/"+repo+"/hooks", map[string]any{
		"type": "gitea",
		"config": map[string]string{
			"url": url, "content_type": "json", "secret": secret,
		},
		"events": events,
		"active": true,
	}, &h)
	return h.ID
}

// stopLeftover ends the Gitea server a dead test binary left in dir.
func stopLeftover(dir string) {
	if g := procs.PIDFile(filepath.Join(dir, "gitea.pid")); g > 0 && isGitea(g) {
		_ = syscall.Kill(g, syscall.SIGKILL)
	}
}
