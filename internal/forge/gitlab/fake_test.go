package gitlab

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The project the recordings describe (from the "Get single MR" example of
// GitLab's merge requests API documentation).
const (
	testProject     = "marcel.amirault/test-project"
	testProjectID   = "15513260"
	testMR          = 133
	testHead        = "e82eb4a098e32c796079ca3915e07487fc4db24c"
	testBaseTip     = "7b5c3cc8be40ee161ae89a06bba6229da1032a0c" // branch_main.json
	testMergeBase   = "1162f719d711319a2efb2a35566f3bfdadee8bab" // diff_refs.base_sha
	testToken       = "glpat-recorded-test"
	testGroupID     = 1234            // protected_branches_premium.json's merge group
	testGroupPath   = "acme/platform" // the group of group_members_all.json
	testNamespaceID = 3               // project.json's group, diaspora
)

// Merge requests the fake derives from mr_133.json.
const (
	mrSourceDeleted = 134 // open, source branch deleted: sha null
	mrTargetDeleted = 135 // open, target branch "old-main" no longer exists
	mrMergedFF      = 136 // merged fast-forward, target branch deleted since
)

// fakeGitLab is a GitLab REST API v4 that answers reads with the example
// responses of GitLab's API documentation (testdata/*.json, see
// testdata/README.md), applies the filters the real API applies (sha,
// username, state, search, pagination), and keeps notes, commit statuses
// and issues in memory so writes can be read back. Faults can be injected
// per route.
type fakeGitLab struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	notes      map[int64][]*fakeNote // by merge request iid
	issues     []*fakeIssue
	issueNotes map[int64][]string
	statuses   map[string][]*fakeStatus // by sha
	// pipelines are those of the commits the tests add (beside the
	// documented ones), holding the statuses posted on their commit, as
	// GitLab keeps them: a status joins the latest pipeline of its commit,
	// or an external pipeline made for it.
	pipelines []*fakePipeline
	nextID    int64
	faults    []*fault
	requests  []string // "GET projects/<project>/merge_requests/133?..."

	// Knobs.
	maxPerPage   int                    // cap on per_page (0: GitLab's 100)
	keyset       bool                   // paginate with Link rel="next" instead of X-Next-Page
	premium      bool                   // protected branches with a group entry
	memberPatch  func(m map[string]any) // changes member_1.json
	projectPatch func(m map[string]any) // changes project.json
	groupPatch   func(m map[string]any) // changes group.json, served as the project's group
	// shared gives jack_smith (user 2, no member of the project in
	// members/all, as older GitLab answers for a member of a private
	// invited group) a role in groups by id.
	shared        map[int64]int
	branchPatch   func(bs []map[string]any) // changes the protected branches
	freeTier      bool                      // no approval_state endpoint (GitLab Free: 404)
	untimed       bool                      // approvals without approved_at (GitLab before 18)
	brokenSearch  bool                      // the issue search finds nothing
	jira          bool                      // closes_issues answers for an external tracker
	reviewers     []byte                    // GET .../reviewers
	approvalState []byte                    // GET .../approval_state
	discussions   []byte                    // GET .../discussions
	mrPatch       func(m map[string]any)    // changes merge request 133
	mrRecording   string                    // served for merge request 133 instead of mr_133.json
}

type fakeUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name,omitempty"`
	State    string `json:"state,omitempty"`
}

type fakeNote struct {
	ID           int64    `json:"id"`
	Body         string   `json:"body"`
	Author       fakeUser `json:"author"`
	System       bool     `json:"system"`
	CreatedAt    string   `json:"created_at"`
	NoteableType string   `json:"noteable_type"`
	NoteableIID  int64    `json:"noteable_iid"`
}

type fakeIssue struct {
	ID          int64  `json:"id"`
	IID         int64  `json:"iid"`
	ProjectID   int64  `json:"project_id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	State       string `json:"state"`
	WebURL      string `json:"web_url"`
	CreatedAt   string `json:"created_at"`
}

// fakePipeline is a pipeline whose status GitLab derives from its jobs
// (its statuses): failed when one that may not fail failed, running while
// one is pending or running, success otherwise.
type fakePipeline struct {
	ID     int64
	SHA    string
	Source string
}

func (f *fakeGitLab) pipelineJSON(p *fakePipeline) map[string]any {
	status := "success"
	for _, s := range f.statuses[p.SHA] {
		switch {
		case s.PipelineID != p.ID:
		case (s.Status == "failed" || s.Status == "canceled") && !s.AllowFailure:
			status = "failed"
		case (s.Status == "pending" || s.Status == "running") && status != "failed":
			status = "running"
		}
	}
	return map[string]any{"id": p.ID, "iid": p.ID, "project_id": 1, "status": status, "source": p.Source, "ref": "main", "sha": p.SHA,
		"web_url": fmt.Sprintf("https://gitlab.example.com/pipelines/%d", p.ID)}
}

// addPipeline adds a pipeline of source (push, merge_request_event...)
// on sha, and returns its id.
func (f *fakeGitLab) addPipeline(sha, source string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.pipelines = append(f.pipelines, &fakePipeline{ID: f.nextID, SHA: sha, Source: source})
	return f.nextID
}

type fakeStatus struct {
	ID           int64   `json:"id"`
	PipelineID   int64   `json:"pipeline_id,omitempty"`
	SHA          string  `json:"sha"`
	Ref          string  `json:"ref"`
	Status       string  `json:"status"`
	Name         string  `json:"name"`
	AllowFailure bool    `json:"allow_failure"`
	Description  *string `json:"description"`
	TargetURL    *string `json:"target_url"`
	CreatedAt    string  `json:"created_at"`
}

// fault answers matching requests with status (and header) instead of the
// recording, times times (-1: always); hangup closes the connection
// without an answer.
type fault struct {
	method, path string // path: a substring of "<unescaped path>?<query>"
	times        int
	status       int
	header       http.Header
	hangup       bool
}

func newFakeGitLab(t *testing.T) *fakeGitLab {
	t.Helper()
	f := &fakeGitLab{
		t:          t,
		notes:      map[int64][]*fakeNote{},
		issueNotes: map[int64][]string{},
		statuses:   map[string][]*fakeStatus{},
		nextID:     5000,
		reviewers:  recording(t, "reviewers.json"),
	}
	f.discussions = recording(t, "discussions.json")
	f.approvalState = recording(t, "approval_state.json")
	var seedNotes []*fakeNote
	decode(t, recording(t, "notes_seed.json"), &seedNotes)
	f.notes[testMR] = seedNotes
	decode(t, recording(t, "closes_issues.json"), &f.issues)
	var statuses []*fakeStatus
	decode(t, recording(t, "statuses.json"), &statuses)
	f.statuses[testHead] = statuses // the documented statuses, on our head
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func recording(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// patchJSON decodes b, lets fn change it, and encodes it again.
func patchJSON(t *testing.T, b []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	decode(t, b, &m)
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inject adds a fault.
func (f *fakeGitLab) inject(fl fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fl)
}

// count is how many requests matched method and the path substring.
func (f *fakeGitLab) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		m, p, _ := strings.Cut(r, " ")
		if m == method && strings.Contains(p, path) {
			n++
		}
	}
	return n
}

// resolveAll resolves every note of the recorded discussions.
func (f *fakeGitLab) resolveAll() {
	var ds []map[string]any
	decode(f.t, f.discussions, &ds)
	for _, d := range ds {
		for _, n := range d["notes"].([]any) {
			n.(map[string]any)["resolved"] = true
		}
	}
	f.discussions = mustJSON(f.t, ds)
}

// addNote posts a note as someone else (not through the adapter).
func (f *fakeGitLab) addNote(iid int64, author fakeUser, body string) *fakeNote {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	n := &fakeNote{ID: f.nextID, Body: body, Author: author, CreatedAt: "2026-01-01T00:00:00Z", NoteableType: "MergeRequest", NoteableIID: iid}
	f.notes[iid] = append(f.notes[iid], n)
	return n
}

func (f *fakeGitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var segs []string
	for _, s := range strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/api/v4/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		segs = append(segs, u)
	}
	path := strings.Join(segs, "/")
	f.requests = append(f.requests, r.Method+" "+path+"?"+r.URL.RawQuery)
	for _, fl := range f.faults {
		if fl.times == 0 || fl.method != r.Method || !strings.Contains(path+"?"+r.URL.RawQuery, fl.path) {
			continue
		}
		if fl.times > 0 {
			fl.times--
		}
		if fl.hangup {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		for k, vs := range fl.header {
			w.Header()[k] = vs
		}
		writeJSON(w, fl.status, map[string]string{"message": fmt.Sprintf("%d %s", fl.status, http.StatusText(fl.status))})
		return
	}
	if r.Header.Get("Private-Token") != testToken {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "user":
		f.raw(w, recording(f.t, "user_current.json"))
	case r.Method == http.MethodGet && path == "users":
		var users []map[string]any
		decode(f.t, recording(f.t, "users.json"), &users)
		if name := r.URL.Query().Get("username"); name != "" {
			users = slices.DeleteFunc(users, func(u map[string]any) bool { return !strings.EqualFold(u["username"].(string), name) })
		}
		f.page(w, r, users)
	case r.Method == http.MethodGet && len(segs) == 5 && segs[0] == "groups" && segs[2] == "members" && segs[3] == "all":
		if segs[1] == strconv.Itoa(testGroupID) && segs[4] == "1" {
			f.raw(w, recording(f.t, "member_1.json"))
			return
		}
		if gid, err := strconv.ParseInt(segs[1], 10, 64); err == nil && segs[4] == "2" {
			if level, ok := f.shared[gid]; ok {
				f.raw(w, patchJSON(f.t, recording(f.t, "member_1.json"), func(m map[string]any) {
					m["id"], m["username"], m["name"], m["access_level"] = 2, "jack_smith", "Jack Smith", level
				}))
				return
			}
		}
		notFound(w, "404 Not found")
	case r.Method == http.MethodGet && len(segs) == 2 && segs[0] == "groups" && segs[1] == strconv.Itoa(testNamespaceID):
		// The documented group, as project.json's group (diaspora, 3).
		f.raw(w, patchJSON(f.t, recording(f.t, "group.json"), func(m map[string]any) {
			m["id"], m["name"], m["path"], m["full_name"], m["full_path"] = testNamespaceID, "Diaspora", "diaspora", "Diaspora", "diaspora"
			if f.groupPatch != nil {
				f.groupPatch(m)
			}
		}))
	case r.Method == http.MethodGet && len(segs) == 4 && segs[0] == "groups" && segs[2] == "members" && segs[3] == "all":
		if segs[1] == testGroupPath {
			var ms []map[string]any
			decode(f.t, recording(f.t, "group_members_all.json"), &ms)
			f.page(w, r, ms)
			return
		}
		notFound(w, "404 Group Not Found")
	case r.Method == http.MethodGet && len(segs) == 2 && segs[0] == "projects":
		if segs[1] != testProject && segs[1] != testProjectID {
			notFound(w, "404 Project Not Found")
			return
		}
		p := recording(f.t, "project.json")
		if f.projectPatch != nil {
			p = patchJSON(f.t, p, f.projectPatch)
		}
		f.raw(w, p)
	case len(segs) >= 3 && segs[0] == "projects":
		if segs[1] != testProject && segs[1] != testProjectID {
			notFound(w, "404 Project Not Found")
			return
		}
		f.project(w, r, segs[2:])
	default:
		notFound(w, "404 Not Found")
	}
}

func (f *fakeGitLab) project(w http.ResponseWriter, r *http.Request, p []string) {
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case p[0] == "merge_requests" && len(p) >= 2:
		iid, err := strconv.ParseInt(p[1], 10, 64)
		mr := f.mergeRequest(iid)
		if err != nil || mr == nil {
			notFound(w, "404 Not found")
			return
		}
		f.mergeRequestRoute(w, r, iid, mr, p[2:])
	case get && len(p) == 3 && p[0] == "repository" && p[1] == "branches":
		if p[2] == "main" {
			f.raw(w, recording(f.t, "branch_main.json"))
			return
		}
		notFound(w, "404 Branch Not Found")
	case get && len(p) == 4 && p[0] == "repository" && p[1] == "commits" && p[3] == "statuses":
		if r.URL.Query().Get("all") == "true" {
			f.page(w, r, f.statuses[p[2]])
			return
		}
		latest := map[string]*fakeStatus{}
		var names []string
		for _, s := range f.statuses[p[2]] {
			if _, ok := latest[s.Name]; !ok {
				names = append(names, s.Name)
			}
			latest[s.Name] = s // GitLab answers the latest status per name
		}
		var out []*fakeStatus
		for _, n := range names {
			out = append(out, latest[n])
		}
		f.page(w, r, out)
	case post && len(p) == 2 && p[0] == "statuses":
		f.setStatus(w, r, p[1])
	case get && len(p) == 1 && p[0] == "pipelines":
		var ps []map[string]any
		decode(f.t, recording(f.t, "pipelines.json"), &ps)
		for i := len(f.pipelines) - 1; i >= 0; i-- { // newest first, as asked
			ps = append([]map[string]any{f.pipelineJSON(f.pipelines[i])}, ps...)
		}
		if sha := r.URL.Query().Get("sha"); sha != "" {
			ps = slices.DeleteFunc(ps, func(p map[string]any) bool { return p["sha"] != sha })
		}
		f.page(w, r, ps)
	case get && len(p) == 3 && p[0] == "members" && p[1] == "all":
		if p[2] == "1" {
			m := recording(f.t, "member_1.json")
			if f.memberPatch != nil {
				m = patchJSON(f.t, m, f.memberPatch)
			}
			f.raw(w, m)
			return
		}
		notFound(w, "404 Not found")
	case get && len(p) == 1 && p[0] == "protected_branches":
		name := "protected_branches.json"
		if f.premium {
			name = "protected_branches_premium.json"
		}
		var bs []map[string]any
		decode(f.t, recording(f.t, name), &bs)
		if f.branchPatch != nil {
			f.branchPatch(bs)
		}
		f.page(w, r, bs)
	case p[0] == "issues":
		f.issuesRoute(w, r, p[1:])
	default:
		notFound(w, "404 Not Found")
	}
}

// mergeRequest is the recorded merge request, or one derived from it.
func (f *fakeGitLab) mergeRequest(iid int64) []byte {
	mr := recording(f.t, "mr_133.json")
	switch iid {
	case testMR:
		if f.mrRecording != "" {
			mr = recording(f.t, f.mrRecording)
		}
		if f.mrPatch != nil {
			return patchJSON(f.t, mr, f.mrPatch)
		}
		return mr
	case mrSourceDeleted:
		return patchJSON(f.t, mr, func(m map[string]any) {
			m["iid"], m["sha"], m["detailed_merge_status"] = iid, nil, "commits_status"
		})
	case mrTargetDeleted:
		return patchJSON(f.t, mr, func(m map[string]any) { m["iid"], m["target_branch"] = iid, "old-main" })
	case mrMergedFF:
		return patchJSON(f.t, mr, func(m map[string]any) {
			m["iid"], m["state"], m["target_branch"] = iid, "merged", "old-main"
			m["merge_user"] = m["author"]
		})
	}
	return nil
}

func (f *fakeGitLab) mergeRequestRoute(w http.ResponseWriter, r *http.Request, iid int64, mr []byte, p []string) {
	get, post, put, del := r.Method == http.MethodGet, r.Method == http.MethodPost, r.Method == http.MethodPut, r.Method == http.MethodDelete
	sub := ""
	if len(p) > 0 {
		sub = p[0]
	}
	if sub != "" && sub != "notes" && iid != testMR {
		notFound(w, "404 Not found")
		return
	}
	switch {
	case get && len(p) == 0:
		f.raw(w, mr)
	case get && sub == "approvals":
		body := recording(f.t, "approvals.json")
		if f.untimed {
			body = regexp.MustCompile(`,\s*"approved_at": "[^"]*"`).ReplaceAll(body, nil)
		}
		f.raw(w, body)
	case get && sub == "approval_state":
		if f.freeTier {
			notFound(w, "404 Not Found")
			return
		}
		f.raw(w, f.approvalState)
	case get && sub == "reviewers":
		f.raw(w, f.reviewers)
	case get && sub == "discussions":
		var ds []map[string]any
		decode(f.t, f.discussions, &ds)
		f.page(w, r, ds)
	case get && sub == "closes_issues":
		name := "closes_issues.json"
		if f.jira {
			name = "closes_issues_jira.json"
		}
		var is []map[string]any
		decode(f.t, recording(f.t, name), &is)
		f.page(w, r, is)
	case get && sub == "notes" && len(p) == 1:
		ns := slices.Clone(f.notes[iid])
		if r.URL.Query().Get("sort") != "asc" {
			slices.Reverse(ns) // GitLab's default: newest first
		}
		f.page(w, r, ns)
	case post && sub == "notes" && len(p) == 1:
		var in struct{ Body string }
		if !readJSON(w, r, &in) {
			return
		}
		f.nextID++
		n := &fakeNote{ID: f.nextID, Body: in.Body, Author: fakeUser{ID: 1, Username: "john_smith", Name: "John Smith", State: "active"},
			CreatedAt: "2026-01-01T00:00:00Z", NoteableType: "MergeRequest", NoteableIID: iid}
		f.notes[iid] = append(f.notes[iid], n)
		writeJSON(w, http.StatusCreated, n)
	case (get || put || del) && sub == "notes" && len(p) == 2:
		id, _ := strconv.ParseInt(p[1], 10, 64)
		i := slices.IndexFunc(f.notes[iid], func(n *fakeNote) bool { return n.ID == id })
		if i < 0 {
			notFound(w, "404 Note Not Found")
			return
		}
		if get {
			writeJSON(w, http.StatusOK, f.notes[iid][i])
			return
		}
		if f.notes[iid][i].Author.ID != 1 {
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
			return
		}
		if del {
			f.notes[iid] = slices.Delete(f.notes[iid], i, i+1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var in struct{ Body string }
		if !readJSON(w, r, &in) {
			return
		}
		f.notes[iid][i].Body = in.Body
		writeJSON(w, http.StatusOK, f.notes[iid][i])
	default:
		notFound(w, "404 Not Found")
	}
}

// setStatus behaves as GitLab's commit status API: a pending or running
// status of the same name is moved to the new state (the same state is a
// 400 "Cannot transition status"); a finished one is followed by a new one.
func (f *fakeGitLab) setStatus(w http.ResponseWriter, r *http.Request, sha string) {
	var in struct {
		State       string  `json:"state"`
		Name        string  `json:"name"`
		Description *string `json:"description"`
		TargetURL   *string `json:"target_url"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	switch in.State {
	case "pending", "running", "success", "failed", "canceled", "skipped":
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "state does not have a valid value"})
		return
	}
	name := in.Name
	if name == "" {
		name = "default"
	}
	if len([]rune(name)) > 255 || (in.Description != nil && len([]rune(*in.Description)) > 255) || (in.TargetURL != nil && len([]rune(*in.TargetURL)) > 255) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "field too long"})
		return
	}
	list := f.statuses[sha]
	for i := len(list) - 1; i >= 0; i-- {
		s := list[i]
		if s.Name != name {
			continue
		}
		if s.Status == "pending" || s.Status == "running" {
			if s.Status == in.State {
				verb := map[string]string{"pending": "enqueue", "running": "run"}[in.State]
				writeJSON(w, http.StatusBadRequest, map[string]string{"message": fmt.Sprintf("Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via \"%s\")", verb, s.Status, verb)})
				return
			}
			s.Status, s.Description, s.TargetURL = in.State, in.Description, in.TargetURL
			writeJSON(w, http.StatusCreated, s)
			return
		}
		break
	}
	f.nextID++
	s := &fakeStatus{ID: f.nextID, SHA: sha, Status: in.State, Name: name, Description: in.Description, TargetURL: in.TargetURL, CreatedAt: "2026-01-01T00:00:00Z"}
	// The latest pipeline of the commit holds it; without one, an external
	// pipeline made for it.
	for i := len(f.pipelines) - 1; i >= 0 && s.PipelineID == 0; i-- {
		if f.pipelines[i].SHA == sha {
			s.PipelineID = f.pipelines[i].ID
		}
	}
	if s.PipelineID == 0 {
		f.nextID++
		f.pipelines = append(f.pipelines, &fakePipeline{ID: f.nextID, SHA: sha, Source: "external"})
		s.PipelineID = f.nextID
	}
	f.statuses[sha] = append(list, s)
	writeJSON(w, http.StatusCreated, s)
}

func (f *fakeGitLab) issuesRoute(w http.ResponseWriter, r *http.Request, p []string) {
	switch {
	case r.Method == http.MethodGet && len(p) == 0:
		q := r.URL.Query()
		var out []*fakeIssue
		for _, is := range f.issues {
			if st := q.Get("state"); st != "" && st != "all" && is.State != st {
				continue
			}
			if s := q.Get("search"); s != "" && !f.searchMatches(is, s, q.Get("in")) {
				continue
			}
			out = append(out, is)
		}
		if q.Get("sort") != "asc" {
			slices.Reverse(out)
		}
		f.page(w, r, out)
	case r.Method == http.MethodPost && len(p) == 0:
		var in struct{ Title, Description string }
		if !readJSON(w, r, &in) {
			return
		}
		if in.Title == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "title is missing"})
			return
		}
		iid := int64(1)
		for _, is := range f.issues {
			iid = max(iid, is.IID+1)
		}
		f.nextID++
		is := &fakeIssue{ID: f.nextID, IID: iid, ProjectID: 15513260, Title: in.Title, Description: in.Description, State: "opened",
			WebURL: fmt.Sprintf("https://gitlab.com/%s/-/issues/%d", testProject, iid), CreatedAt: "2026-01-01T00:00:00Z"}
		f.issues = append(f.issues, is)
		writeJSON(w, http.StatusCreated, is)
	case len(p) >= 1:
		iid, _ := strconv.ParseInt(p[0], 10, 64)
		i := slices.IndexFunc(f.issues, func(is *fakeIssue) bool { return is.IID == iid })
		if i < 0 {
			notFound(w, "404 Not found")
			return
		}
		is := f.issues[i]
		switch {
		case r.Method == http.MethodPut && len(p) == 1:
			var in struct {
				Title       *string `json:"title"`
				Description *string `json:"description"`
				StateEvent  *string `json:"state_event"`
			}
			if !readJSON(w, r, &in) {
				return
			}
			if in.Title != nil {
				is.Title = *in.Title
			}
			if in.Description != nil {
				is.Description = *in.Description
			}
			if in.StateEvent != nil {
				is.State = map[string]string{"close": "closed", "reopen": "opened"}[*in.StateEvent]
			}
			writeJSON(w, http.StatusOK, is)
		case r.Method == http.MethodPost && len(p) == 2 && p[1] == "notes":
			var in struct{ Body string }
			if !readJSON(w, r, &in) {
				return
			}
			f.issueNotes[iid] = append(f.issueNotes[iid], in.Body)
			f.nextID++
			writeJSON(w, http.StatusCreated, fakeNote{ID: f.nextID, Body: in.Body, Author: fakeUser{ID: 1, Username: "john_smith"}, CreatedAt: "2026-01-01T00:00:00Z", NoteableType: "Issue", NoteableIID: iid})
		default:
			notFound(w, "404 Not Found")
		}
	default:
		notFound(w, "404 Not Found")
	}
}

// searchMatches is GitLab's issue search: every word of three characters
// or more must occur, case-insensitively, in the title or description (as
// in selects).
func (f *fakeGitLab) searchMatches(is *fakeIssue, search, in string) bool {
	if f.brokenSearch {
		return false
	}
	var fields []string
	for _, fld := range strings.Split(cmpOr(in, "title,description"), ",") {
		switch fld {
		case "title":
			fields = append(fields, strings.ToLower(is.Title))
		case "description":
			fields = append(fields, strings.ToLower(is.Description))
		}
	}
	for _, word := range strings.Fields(strings.ToLower(search)) {
		if len(word) < 3 {
			continue
		}
		if !slices.ContainsFunc(fields, func(s string) bool { return strings.Contains(s, word) }) {
			return false
		}
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// page writes one page of items, with GitLab's pagination headers:
// X-Next-Page (offset), or Link rel="next" (keyset).
func (f *fakeGitLab) page(w http.ResponseWriter, r *http.Request, items any) {
	b, err := json.Marshal(items)
	if err != nil {
		f.t.Error(err)
		return
	}
	var all []json.RawMessage
	decode(f.t, b, &all)
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 20
	}
	per = min(per, 100)
	if f.maxPerPage > 0 {
		per = min(per, f.maxPerPage)
	}
	start := 0
	if f.keyset {
		start, _ = strconv.Atoi(q.Get("cursor"))
	} else if p, _ := strconv.Atoi(q.Get("page")); p > 1 {
		start = (p - 1) * per
	}
	start = min(start, len(all))
	end := min(start+per, len(all))
	w.Header().Set("X-Per-Page", strconv.Itoa(per))
	w.Header().Set("X-Total", strconv.Itoa(len(all)))
	if end < len(all) {
		if f.keyset {
			next := *r.URL
			next.Scheme, next.Host = "http", r.Host
			nq := next.Query()
			nq.Set("cursor", strconv.Itoa(end))
			next.RawQuery = nq.Encode()
			w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", next.String()))
		} else {
			w.Header().Set("X-Page", strconv.Itoa(start/per+1))
			w.Header().Set("X-Next-Page", strconv.Itoa(start/per+2))
		}
	}
	page := all[start:end]
	if page == nil {
		page = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (f *fakeGitLab) raw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return false
	}
	return true
}

func notFound(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": msg})
}
