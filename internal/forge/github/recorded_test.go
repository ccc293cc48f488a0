package github

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The recorded GitHub: an httptest server answering the API calls the
// adapter makes with GitHub's documented example responses (testdata/,
// see its README), under /api/v3/ as GitHub Enterprise Server does, with
// small in-memory state for what the adapter writes (comments, statuses,
// issues) and queues of injected faults for the retry tests.
//
// It also plays the GitHub App "octoapp" (App ID 1, installed on octocat
// as installation 1): the App's endpoints take only a JWT signed with the
// test App's key (testAppKey), and the rest of the API takes either
// testToken (octocat's) or an installation token it minted and that has
// not expired by its clock (the App's bot, octoapp[bot], then writes).

const (
	testToken = "ghs_test-token"
	testAppID = "1"
	appBot    = "octoapp[bot]"
	testRepo  = "octocat/Hello-World"
	headSHA   = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
	branchSHA = "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d"
)

// fault is an answer served instead of the real one.
type fault struct {
	status int
	header map[string]string
	body   string
}

type recorded struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	// pageSize, when > 0, overrides per_page so every listing pages.
	pageSize int
	// pullEdits change the recorded pull request (top-level fields).
	pullEdits map[string]any
	branches  map[string]bool
	comments  map[int][]map[string]any // by issue or pull request number
	statuses  map[string][]map[string]any
	issues    []map[string]any
	nextID    int
	hits      map[string]int // "METHOD /path" below /api/v3
	faults    map[string][]fault

	// pullCommits adds that many commits to the recorded pull request.
	pullCommits int
	// noRoleName answers permissions as older GitHub Enterprise Server
	// documents them: permission and user, without role_name (maintain
	// then reads as write and triage as read).
	noRoleName bool

	// The App's side. appKey verifies JWTs; now is the server's clock
	// (the tests share their fake one); tokens are the installation
	// tokens minted, with their expiry; mintGate, when set, holds every
	// token request until it is closed, and minting is told of each
	// request as it arrives.
	appKey   *rsa.PublicKey
	now      func() time.Time
	tokens   map[string]time.Time
	mintGate chan struct{}
	minting  chan struct{}
}

// who is the account a request authenticates as.
type who int

const (
	asUser who = iota // octocat, with testToken
	asBot             // the App's bot, with an installation token
)

type whoKey struct{}

func newRecorded(t *testing.T) *recorded {
	t.Helper()
	s := &recorded{
		t:        t,
		branches: map[string]bool{"master": true},
		comments: map[int][]map[string]any{},
		statuses: map[string][]map[string]any{},
		nextID:   1000,
		hits:     map[string]int{},
		faults:   map[string][]fault{},
		appKey:   &testAppKey(t).PublicKey,
		now:      time.Now,
		tokens:   map[string]time.Time{},
	}
	var seed []map[string]any
	readJSON(t, "issue-comments.json", &seed)
	s.comments[1347] = seed
	readJSON(t, "issues.json", &s.issues)

	mux := http.NewServeMux()
	const r = "/api/v3/repos/{owner}/{repo}"
	mux.HandleFunc("GET /api/v3/user", s.file("user.json"))
	mux.HandleFunc("GET "+r, s.getRepo)
	mux.HandleFunc("GET "+r+"/pulls/{number}", s.getPull)
	mux.HandleFunc("GET "+r+"/pulls/{number}/reviews", s.listReviews)
	mux.HandleFunc("GET "+r+"/pulls/{number}/commits", s.listPullCommits)
	mux.HandleFunc("GET "+r+"/branches/{branch}", s.getBranch)
	mux.HandleFunc("GET "+r+"/commits/{ref}/status", s.combinedStatus)
	mux.HandleFunc("GET "+r+"/commits/{ref}/check-runs", s.checkRuns)
	mux.HandleFunc("POST "+r+"/statuses/{sha}", s.createStatus)
	mux.HandleFunc("GET "+r+"/collaborators/{user}/permission", s.permission)
	// GET .../issues/comments/{id} and .../issues/{number}/comments: one
	// pattern, as the two would overlap (.../issues/comments/comments).
	mux.HandleFunc("GET "+r+"/issues/{a}/{b}", s.issueGet)
	mux.HandleFunc("POST "+r+"/issues/{number}/comments", s.createComment)
	mux.HandleFunc("PATCH "+r+"/issues/comments/{id}", s.editComment)
	mux.HandleFunc("DELETE "+r+"/issues/comments/{id}", s.deleteComment)
	mux.HandleFunc("GET "+r+"/issues", s.listIssues)
	mux.HandleFunc("POST "+r+"/issues", s.createIssue)
	mux.HandleFunc("PATCH "+r+"/issues/{number}", s.editIssue)
	mux.HandleFunc("GET /api/v3/orgs/{org}/teams/{slug}/members", s.teamMembers)
	mux.HandleFunc("POST /api/graphql", s.graphql)
	mux.HandleFunc("GET /api/v3/app", s.file("app.json"))
	mux.HandleFunc("POST /api/v3/app/installations/{id}/access_tokens", s.accessToken)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/installation", s.installation)
	mux.HandleFunc("GET /api/v3/orgs/{org}/installation", s.installation)
	s.srv = httptest.NewServer(s.guard(mux))
	t.Cleanup(s.srv.Close)
	return s
}

// client is an adapter talking to the server, retrying without sleeping.
func (s *recorded) client(t *testing.T, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() })}, opts...)
	c, err := New(s.srv.URL+"/api/v3/", testToken, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// appClient is an adapter acting as the App, retrying without sleeping.
func (s *recorded) appClient(t *testing.T, installation int64, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() })}, opts...)
	c, err := NewApp(s.srv.URL+"/api/v3/", App{ID: testAppID, PrivateKey: testAppPEM(t), InstallationID: installation}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fail queues answers for the next calls of key ("GET /repos/…").
func (s *recorded) fail(key string, fs ...fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[key] = append(s.faults[key], fs...)
}

func (s *recorded) hitCount(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[key]
}

// guard checks the credentials, counts the call and serves injected
// faults.
func (s *recorded) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if appEndpoint(r.URL.Path) {
			if err := verifyJWT(auth, s.appKey, testAppID, s.now()); err != nil {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "A JSON web token could not be decoded", "documentation_url": "https://docs.github.com/rest"})
				return
			}
		} else {
			s.mu.Lock()
			expires, minted := s.tokens[auth]
			s.mu.Unlock()
			switch {
			case auth == testToken:
			case minted && s.now().Before(expires):
				r = r.WithContext(context.WithValue(r.Context(), whoKey{}, asBot))
			default:
				writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
				return
			}
		}
		key := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/api/v3")
		s.mu.Lock()
		s.hits[key]++
		var f *fault
		if q := s.faults[key]; len(q) > 0 {
			f, s.faults[key] = &q[0], q[1:]
		}
		s.mu.Unlock()
		if f != nil {
			for k, v := range f.header {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(f.status)
			_, _ = io.WriteString(w, f.body)
			return
		}
		if p := r.URL.Path; strings.HasPrefix(p, "/api/v3/repos/") && p != "/api/v3/repos/"+testRepo && !strings.HasPrefix(p, "/api/v3/repos/"+testRepo+"/") {
			s.notFound(w)
			return
		}
		if r.URL.Path == "/api/v3/user" && isBot(r) {
			writeJSON(w, http.StatusForbidden, json.RawMessage(readFile(s.t, "not-accessible.json")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// appEndpoint: does path take the App's JWT rather than a token?
func appEndpoint(path string) bool {
	p := strings.TrimPrefix(path, "/api/v3")
	if p == "/app" || strings.HasPrefix(p, "/app/") {
		return true
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	return (len(parts) == 4 && parts[0] == "repos" && parts[3] == "installation") ||
		(len(parts) == 3 && parts[0] == "orgs" && parts[2] == "installation")
}

func isBot(r *http.Request) bool {
	w, _ := r.Context().Value(whoKey{}).(who)
	return w == asBot
}

// accessToken mints a token of installation 1, valid for an hour by the
// server's clock: the documented token first, then others.
func (s *recorded) accessToken(w http.ResponseWriter, r *http.Request) {
	if s.minting != nil {
		s.minting <- struct{}{}
	}
	if s.mintGate != nil {
		<-s.mintGate
	}
	if r.PathValue("id") != "1" {
		s.notFound(w)
		return
	}
	var doc map[string]any
	readJSON(s.t, "installation-token.json", &doc)
	expires := s.now().Add(time.Hour).UTC().Truncate(time.Second)
	s.mu.Lock()
	if len(s.tokens) > 0 {
		doc["token"] = fmt.Sprintf("ghs_minted-token-%d", len(s.tokens)+1)
	}
	s.tokens[doc["token"].(string)] = expires
	s.mu.Unlock()
	doc["expires_at"] = expires.Format(time.RFC3339)
	writeJSON(w, http.StatusCreated, doc)
}

// installation serves the App's installation on octocat, the recorded
// repository's owner (playing an organisation too).
func (s *recorded) installation(w http.ResponseWriter, r *http.Request) {
	owner := r.PathValue("owner")
	if owner == "" {
		owner = r.PathValue("org")
	}
	if !strings.EqualFold(owner, "octocat") {
		s.notFound(w)
		return
	}
	s.file("installation.json")(w, r)
}

func (s *recorded) notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write(readFile(s.t, "not-found.json"))
}

func (s *recorded) file(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(readFile(s.t, name))
	}
}

// getRepo serves the recorded repository (guard answers 404 for others).
func (s *recorded) getRepo(w http.ResponseWriter, r *http.Request) {
	s.file("repo.json")(w, r)
}

func (s *recorded) getPull(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("number") != "1347" {
		s.notFound(w)
		return
	}
	var pr map[string]any
	readJSON(s.t, "pull.json", &pr)
	s.mu.Lock()
	for k, v := range s.pullEdits {
		pr[k] = v
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, pr)
}

func (s *recorded) listReviews(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("number") != "1347" {
		s.notFound(w)
		return
	}
	var rs []any
	readJSON(s.t, "reviews.json", &rs)
	s.writePage(w, r, rs, nil)
}

// listPullCommits serves the commits of the recorded pull request, and
// pullCommits more (by octocat) when set, as GitHub lists them: never more
// than 250 in all, however many pages are asked for.
func (s *recorded) listPullCommits(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("number") != "1347" {
		s.notFound(w)
		return
	}
	var cs []any
	readJSON(s.t, "pull-commits.json", &cs)
	s.mu.Lock()
	for range s.pullCommits {
		cs = append(cs, cs[len(cs)-1])
	}
	s.mu.Unlock()
	s.writePage(w, r, cs[:min(len(cs), 250)], nil)
}

func (s *recorded) getBranch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ok := s.branches[r.PathValue("branch")]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{
			"message":           "Branch not found",
			"documentation_url": "https://docs.github.com/rest/branches/branches#get-a-branch",
			"status":            "404",
		})
		return
	}
	s.file("branch.json")(w, r)
}

func (s *recorded) combinedStatus(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	var doc map[string]any
	readJSON(s.t, "combined-status.json", &doc)
	var statuses []any
	if ref == headSHA {
		statuses = doc["statuses"].([]any)
	}
	s.mu.Lock()
	for _, st := range s.statuses[ref] {
		i := slices.IndexFunc(statuses, func(x any) bool { return x.(map[string]any)["context"] == st["context"] })
		if i >= 0 {
			statuses[i] = st // the latest status of a context replaces the older
		} else {
			statuses = append(statuses, st)
		}
	}
	s.mu.Unlock()
	doc["sha"] = ref
	doc["total_count"] = len(statuses)
	s.writePage(w, r, statuses, func(page []any) any { doc["statuses"] = page; return doc })
}

func (s *recorded) checkRuns(w http.ResponseWriter, r *http.Request) {
	var doc map[string]any
	readJSON(s.t, "check-runs.json", &doc)
	runs := doc["check_runs"].([]any)
	if r.PathValue("ref") != headSHA {
		runs = nil
	}
	if r.URL.Query().Get("filter") != "latest" {
		s.t.Errorf("check runs listed without filter=latest: %s", r.URL.RawQuery)
	}
	doc["total_count"] = len(runs)
	s.writePage(w, r, runs, func(page []any) any { doc["check_runs"] = page; return doc })
}

func (s *recorded) createStatus(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if !decode(w, r, &in) {
		return
	}
	switch in["state"] {
	case "error", "failure", "pending", "success":
	default:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed"})
		return
	}
	if d, _ := in["description"].(string); len([]rune(d)) > 140 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed: description is too long (maximum is 140 characters)"})
		return
	}
	s.mu.Lock()
	s.nextID++
	st := map[string]any{
		"id": s.nextID, "state": in["state"], "context": in["context"], "description": in["description"],
		"target_url": in["target_url"], "created_at": time.Now().UTC().Format(time.RFC3339),
	}
	sha := r.PathValue("sha")
	s.statuses[sha] = append(s.statuses[sha], st)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, st)
}

// permission derives the other users' answers from the documented admin
// one.
func (s *recorded) permission(w http.ResponseWriter, r *http.Request) {
	roles := map[string][2]string{ // login: permission, role_name
		"octocat":    {"admin", "admin"},
		"maintainer": {"write", "maintain"},
		"hubot":      {"write", "write"},
		"custom":     {"write", "deployer"},
		"triager":    {"read", "triage"},
		"monalisa":   {"read", "read"},
		"outsider":   {"none", ""},
	}
	login := r.PathValue("user")
	role, ok := roles[login]
	if !ok {
		s.notFound(w)
		return
	}
	var doc map[string]any
	readJSON(s.t, "permission.json", &doc)
	doc["permission"], doc["role_name"] = role[0], role[1]
	doc["user"].(map[string]any)["login"] = login
	s.mu.Lock()
	if s.noRoleName {
		delete(doc, "role_name")
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, doc)
}

// teamMembers serves the members of team justice-league of octocat, the
// recorded repository's owner, playing an organisation here.
func (s *recorded) teamMembers(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("org") != "octocat" || r.PathValue("slug") != "justice-league" {
		s.notFound(w)
		return
	}
	var members []any
	readJSON(s.t, "team-members.json", &members)
	s.writePage(w, r, members, nil)
}

func (s *recorded) listComments(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("number"))
	q := r.URL.Query()
	if q.Get("sort") != "created" || q.Get("direction") != "asc" {
		s.t.Errorf("comments listed without sort=created&direction=asc: %s", r.URL.RawQuery)
	}
	s.mu.Lock()
	items := make([]any, 0, len(s.comments[n]))
	for _, c := range s.comments[n] {
		items = append(items, c)
	}
	s.mu.Unlock()
	s.writePage(w, r, items, nil)
}

func (s *recorded) createComment(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("number"))
	var in map[string]any
	if !decode(w, r, &in) {
		return
	}
	if body, _ := in["body"].(string); body == "" || len([]rune(body)) > commentLimit {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed"})
		return
	}
	author := s.user()
	if isBot(r) {
		author = s.bot()
	}
	c := s.addCommentBy(n, in["body"].(string), author)
	writeJSON(w, http.StatusCreated, c)
}

// user is testToken's user, octocat.
func (s *recorded) user() map[string]any {
	var u map[string]any
	readJSON(s.t, "user.json", &u)
	return map[string]any{"login": u["login"], "id": u["id"], "type": "User"}
}

// bot is the App's bot account, as GitHub shows it on its comments.
func (s *recorded) bot() map[string]any {
	return map[string]any{"login": appBot, "id": 2, "type": "Bot"}
}

// addComment stores a comment by the token's user, octocat.
func (s *recorded) addComment(number int, body string) map[string]any {
	return s.addCommentBy(number, body, s.user())
}

func (s *recorded) addCommentBy(number int, body string, author map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	c := map[string]any{
		"id":         s.nextID,
		"body":       body,
		"user":       author,
		"html_url":   fmt.Sprintf("https://github.com/%s/issues/%d#issuecomment-%d", testRepo, number, s.nextID),
		"issue_url":  fmt.Sprintf("https://api.github.com/repos/%s/issues/%d", testRepo, number),
		"created_at": time.Now().UTC().Format(time.RFC3339),
	}
	s.comments[number] = append(s.comments[number], c)
	return c
}

func (s *recorded) findComment(id string) (number, index int) {
	for n, cs := range s.comments {
		for i, c := range cs {
			if fmt.Sprint(c["id"]) == id {
				return n, i
			}
		}
	}
	return 0, -1
}

func (s *recorded) issueGet(w http.ResponseWriter, r *http.Request) {
	switch a, b := r.PathValue("a"), r.PathValue("b"); {
	case a == "comments":
		s.getComment(w, b)
	case b == "comments":
		r.SetPathValue("number", a)
		s.listComments(w, r)
	default:
		s.notFound(w)
	}
}

func (s *recorded) getComment(w http.ResponseWriter, id string) {
	s.mu.Lock()
	n, i := s.findComment(id)
	var c map[string]any
	if i >= 0 {
		c = s.comments[n][i]
	}
	s.mu.Unlock()
	if c == nil {
		s.notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *recorded) editComment(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if !decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	n, i := s.findComment(r.PathValue("id"))
	if i < 0 {
		s.mu.Unlock()
		s.notFound(w)
		return
	}
	s.comments[n][i]["body"] = in["body"]
	c := s.comments[n][i]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, c)
}

func (s *recorded) deleteComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n, i := s.findComment(r.PathValue("id"))
	if i >= 0 {
		s.comments[n] = slices.Delete(s.comments[n], i, i+1)
	}
	s.mu.Unlock()
	if i < 0 {
		s.notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *recorded) listIssues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if q.Get("sort") != "created" || q.Get("direction") != "asc" {
		s.t.Errorf("issues listed without sort=created&direction=asc: %s", r.URL.RawQuery)
	}
	s.mu.Lock()
	var items []any
	for _, is := range s.issues {
		if state == "all" || is["state"] == state {
			items = append(items, is)
		}
	}
	s.mu.Unlock()
	s.writePage(w, r, items, nil)
}

func (s *recorded) createIssue(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if !decode(w, r, &in) {
		return
	}
	if t, _ := in["title"].(string); t == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	number := 0
	for _, is := range s.issues {
		number = max(number, int(is["number"].(float64)))
	}
	number++
	s.nextID++
	author := map[string]any{"login": "octocat", "id": 1}
	if isBot(r) {
		author = s.bot()
	}
	is := map[string]any{
		"id": s.nextID, "number": float64(number), "state": "open", "title": in["title"], "body": in["body"],
		"user":     author,
		"html_url": fmt.Sprintf("https://github.com/%s/issues/%d", testRepo, number),
	}
	s.issues = append(s.issues, is)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, is)
}

func (s *recorded) editIssue(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if !decode(w, r, &in) {
		return
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	s.mu.Lock()
	i := slices.IndexFunc(s.issues, func(is map[string]any) bool { return int(is["number"].(float64)) == n })
	if i < 0 {
		s.mu.Unlock()
		s.notFound(w)
		return
	}
	for _, k := range []string{"title", "body", "state", "state_reason"} {
		if v, ok := in[k]; ok {
			s.issues[i][k] = v
		}
	}
	is := s.issues[i]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, is)
}

func (s *recorded) graphql(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if !decode(w, r, &in) {
		return
	}
	if !strings.Contains(in.Query, "reviewThreads") || in.Variables["owner"] != "octocat" || in.Variables["name"] != "Hello-World" {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []any{map[string]any{"message": "unexpected query"}}})
		return
	}
	var page1 map[string]any
	readJSON(s.t, "graphql-review-threads-1.json", &page1)
	switch {
	case in.Variables["number"] != float64(1347):
		s.file("graphql-not-found.json")(w, r)
	case in.Variables["cursor"] == nil:
		writeJSON(w, http.StatusOK, page1)
	case in.Variables["cursor"] == "Y3Vyc29yOnYyOpK0MjAxOS0xMS0xN1QxNzo0Mzo0M1o=":
		s.file("graphql-review-threads-2.json")(w, r)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"errors": []any{map[string]any{"message": "bad cursor"}}})
	}
}

// writePage serves one page of items as GitHub does: per_page and page
// from the query, and a Link header to the next and last pages. wrap puts
// the page into its envelope (nil: a bare array).
func (s *recorded) writePage(w http.ResponseWriter, r *http.Request, items []any, wrap func([]any) any) {
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("per_page"))
	if size <= 0 {
		size = 30
	}
	s.mu.Lock()
	if s.pageSize > 0 {
		size = s.pageSize
	}
	s.mu.Unlock()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	last := max((len(items)+size-1)/size, 1)
	lo, hi := min((page-1)*size, len(items)), min(page*size, len(items))
	link := func(p int, rel string) string {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		v := u.Query()
		v.Set("page", strconv.Itoa(p))
		u.RawQuery = v.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	if page < last {
		w.Header().Set("Link", link(page+1, "next")+", "+link(last, "last"))
	}
	out := any(items[lo:hi])
	if wrap != nil {
		out = wrap(items[lo:hi])
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Problems parsing JSON"})
		return false
	}
	return true
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(readFile(t, name), v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
