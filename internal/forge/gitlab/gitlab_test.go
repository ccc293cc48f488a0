package gitlab

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/forgetest"
	"github.com/sluicehq/sluice/internal/gitx"
)

// testNow is the fake clock's start.
var testNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// fakeClock is the client's clock and sleep: sleeping advances it and
// records the wait, at once.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.slept)
}

// newTestClient is a client of f on a fake clock.
func newTestClient(t *testing.T, f *fakeGitLab, opts ...Option) (*Client, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: testNow}
	opts = append([]Option{WithClock(clock.Now), WithSleep(clock.Sleep)}, opts...)
	c, err := New(f.srv.URL, testToken, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, clock
}

// Webhook secrets of the fixtures: a plain secret token, and a Standard
// Webhooks signing token as GitLab shows it.
var (
	testSecret     = []byte("s3cr3t-webhook-token")
	testSigningKey = []byte("0123456789abcdef0123456789abcdef")
	testWhsec      = []byte(signingKeyPrefix + base64.StdEncoding.EncodeToString(testSigningKey))
)

// tokenHeader is a delivery with X-Gitlab-Token.
func tokenHeader(event, token string) http.Header {
	h := http.Header{}
	h.Set("X-Gitlab-Event", event)
	h.Set("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e")
	h.Set("Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f")
	if token != "" {
		h.Set("X-Gitlab-Token", token)
	}
	return h
}

// signedHeader is a delivery signed the Standard Webhooks way with key.
func signedHeader(event, id string, at time.Time, body, key []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Gitlab-Event", event)
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", ts)
	h.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}

// fixture describes the recordings for forgetest.
func fixture(t *testing.T) forgetest.Fixture {
	mrHook := recording(t, "hook_merge_request.json")
	noteHook := recording(t, "hook_note_merge_request.json")
	openedMR := &forge.Event{Kind: forge.EventMR, Action: forge.ActionOpened, Repo: "gitlabhq/gitlab-test", MR: 1,
		Actor: forge.User{Login: "root"}, HeadSHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", DeliveryID: "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"}
	comment := &forge.Event{Kind: forge.EventComment, Action: "created", Repo: "gitlab-org/gitlab-test", MR: 1,
		Actor: forge.User{Login: "root"}, HeadSHA: "562e173be03b8ff2efb05345d12df18815438a4b", DeliveryID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
		Comment: &forge.Comment{Body: "This MR needs work."}}
	badSig := signedHeader(eventNote, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", testNow, noteHook, []byte("another key"))
	return forgetest.Fixture{
		Repo:          testProject,
		DefaultBranch: "master",
		MR:            testMR,
		Author:        "marcel.amirault",
		HeadSHA:       testHead,
		BaseRef:       "main",
		Draft:         false,
		Approvers:     []string{"root"},
		// The documented reviewers are "unreviewed" and "reviewed".
		ChangesRequestedBy: nil,
		// The adapter cannot tell who committed (only emails): GitLab's
		// own approval setting does it (docs/forges/gitlab.md).
		Committers:        nil,
		UnresolvedThreads: 2,
		Checks: []forge.Check{
			{Name: "bundler:audit", State: forge.CheckPending},
			{Name: "test", State: forge.CheckPending},
		},
		WriteUser: "john_smith",
		ReadUser:  "jack_smith",
		MissingMR: 999,
		Self:      "john_smith",
		Webhooks: []forgetest.Webhook{
			{Name: "merge request opened, X-Gitlab-Token", Header: tokenHeader(eventMergeRequest, string(testSecret)), Body: mrHook, Secret: testSecret, Want: openedMR},
			{Name: "wrong X-Gitlab-Token", Header: tokenHeader(eventMergeRequest, "guess"), Body: mrHook, Secret: testSecret, WantErr: forge.ErrBadSignature},
			{Name: "no X-Gitlab-Token", Header: tokenHeader(eventMergeRequest, ""), Body: mrHook, Secret: testSecret, WantErr: forge.ErrBadSignature},
			{Name: "comment, Standard Webhooks signature", Header: signedHeader(eventNote, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", testNow.Add(-time.Minute), noteHook, testSigningKey),
				Body: noteHook, Secret: testWhsec, Want: comment},
			{Name: "Standard Webhooks, wrong signature", Header: badSig, Body: noteHook, Secret: testWhsec, WantErr: forge.ErrBadSignature},
			{Name: "Standard Webhooks, stale timestamp", Header: signedHeader(eventNote, "msg_old", testNow.Add(-6*time.Minute), noteHook, testSigningKey),
				Body: noteHook, Secret: testWhsec, WantErr: forge.ErrBadSignature},
			{Name: "push hook", Header: tokenHeader("Push Hook", string(testSecret)), Body: recording(t, "hook_push.json"), Secret: testSecret, WantErr: forge.ErrIgnored},
		},
		// Developers and above who are active: not the Reporter, not the
		// blocked Maintainer.
		Groups: map[string][]string{
			testGroupPath: {"raymond_smith", "john_doe", "foo_bar", "mia_maintainer"},
		},
		MissingGroups: []string{"acme", "acme/nobody"},
	}
}

func TestContract(t *testing.T) {
	// GitLab's largest page, and pages of 2, so every listing pages.
	for _, perPage := range []int{0, 2} {
		t.Run(fmt.Sprintf("max per page %d", perPage), func(t *testing.T) {
			f := newFakeGitLab(t)
			f.maxPerPage = perPage
			c, _ := newTestClient(t, f)
			forgetest.Run(t, c, fixture(t))
		})
	}
}

// TestGroupMembers reads a group over pages (offset and keyset), and
// reports a group GitLab does not show as not found.
func TestGroupMembers(t *testing.T) {
	ctx := context.Background()
	for _, keyset := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyset %v", keyset), func(t *testing.T) {
			f := newFakeGitLab(t)
			f.maxPerPage, f.keyset = 4, keyset
			c, _ := newTestClient(t, f)
			got, err := c.GroupMembers(ctx, testProject, testGroupPath)
			if err != nil || strings.Join(got, ",") != "raymond_smith,john_doe,foo_bar,Mia_Maintainer" {
				t.Errorf("GroupMembers = %v, %v", got, err)
			}
			if n := f.count(http.MethodGet, "groups/"+testGroupPath+"/members/all"); n != 2 {
				t.Errorf("%d requests for the members, want 2 pages", n)
			}
		})
	}
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	if _, err := c.GroupMembers(ctx, testProject, "acme/nobody"); !errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), "acme/nobody") {
		t.Errorf("missing group: err = %v, want ErrNotFound naming the group", err)
	}
	f.inject(fault{method: http.MethodGet, path: "groups/" + testGroupPath + "/members/all", times: -1, status: http.StatusForbidden})
	if _, err := c.GroupMembers(ctx, testProject, testGroupPath); err == nil || errors.Is(err, forge.ErrNotFound) {
		t.Errorf("refused: err = %v, want an error that is not ErrNotFound", err)
	}
}

func TestNewAndClone(t *testing.T) {
	for _, tc := range []struct{ base, clone string }{
		{"", "https://gitlab.com/org/infra.git"},
		{"https://gitlab.example.com", "https://gitlab.example.com/org/infra.git"},
		{"https://gitlab.example.com/", "https://gitlab.example.com/org/infra.git"},
		{"https://example.com/gitlab/api/v4/", "https://example.com/gitlab/org/infra.git"},
	} {
		c, err := New(tc.base, "tok")
		if err != nil {
			t.Fatalf("New(%q): %v", tc.base, err)
		}
		if got := c.CloneURL("org/infra"); got != tc.clone {
			t.Errorf("New(%q).CloneURL = %q, want %q", tc.base, got, tc.clone)
		}
	}
	c, _ := New("", "tok", WithCloneUser("sluice-bot"))
	if u, tok := c.CloneAuth(); u != "sluice-bot" || tok != "tok" {
		t.Errorf("CloneAuth = %q, %q", u, tok)
	}
	if c.Name() != "gitlab" || c.CommentLimit() != 1000000 {
		t.Errorf("Name, CommentLimit = %q, %d", c.Name(), c.CommentLimit())
	}
	for _, bad := range []string{"gitlab.example.com", "ftp://x", "https://"} {
		if _, err := New(bad, "tok"); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestGetMR(t *testing.T) {
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	ctx := context.Background()

	mr, err := c.GetMR(ctx, testProject, testMR)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.MergeRequest{
		Repo: testProject, Number: testMR, Title: "Manual job rules", Author: forge.User{ID: 4155490, Login: "marcel.amirault"},
		State: forge.MROpen, HeadSHA: testHead, BaseSHA: testBaseTip, HeadRef: "manual-job-rules", BaseRef: "main",
		WebURL: "https://gitlab.com/marcel.amirault/test-project/-/merge_requests/133",
	}
	if *mr != want {
		t.Errorf("GetMR =\n %+v, want\n %+v", *mr, want)
	}
	if mr.BaseSHA == testMergeBase {
		t.Error("BaseSHA is diff_refs.base_sha (the merge base), not the target's tip")
	}

	// The project can be named by its numeric id too.
	if _, err := c.GetMR(ctx, testProjectID, testMR); err != nil {
		t.Errorf("GetMR by project id: %v", err)
	}

	// A merged fast-forward merge request whose target branch is gone.
	mr, err = c.GetMR(ctx, testProject, mrMergedFF)
	if err != nil {
		t.Fatal(err)
	}
	if mr.State != forge.MRMerged || mr.MergeSHA != testHead || mr.MergedBy == nil || mr.MergedBy.Login != "marcel.amirault" || mr.BaseSHA != testMergeBase {
		t.Errorf("merged merge request = %+v", mr)
	}
}

func TestNotFound(t *testing.T) {
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		call    func() error
		mention string
	}{
		{"missing merge request", func() error { _, err := c.GetMR(ctx, testProject, 999); return err }, "getting merge request marcel.amirault/test-project!999"},
		{"missing project", func() error { _, err := c.GetMR(ctx, "nobody/nothing", 1); return err }, "nobody/nothing!1"},
		{"deleted source branch", func() error { _, err := c.GetMR(ctx, testProject, mrSourceDeleted); return err }, `source branch "manual-job-rules" was deleted`},
		{"deleted target branch", func() error { _, err := c.GetMR(ctx, testProject, mrTargetDeleted); return err }, `branch "old-main"`},
		{"reviews of a missing merge request", func() error { _, err := c.Reviews(ctx, testProject, 999); return err }, "!999"},
		{"threads of a missing merge request", func() error { _, err := c.UnresolvedThreads(ctx, testProject, 999); return err }, "!999"},
		{"comments on a missing merge request", func() error { _, err := c.Comments(ctx, testProject, 999); return err }, "!999"},
		{"unknown user", func() error { _, err := c.Permission(ctx, testProject, "nobody"); return err }, `"nobody"`},
		{"missing issue", func() error { return c.UpdateIssue(ctx, testProject, 999, "t", "b") }, "#999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, forge.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err = %q, want it to mention %q", err, tc.mention)
			}
		})
	}
}

func TestReviewsChangesRequested(t *testing.T) {
	f := newFakeGitLab(t)
	// The documented reviewers, user2 having requested changes (GitLab
	// 17.1+), and root, who approved, too: requesting changes wins.
	var rs []map[string]any
	decode(t, f.reviewers, &rs)
	rs[1]["state"] = "requested_changes"
	rs = append(rs, map[string]any{"user": map[string]any{"id": 1, "username": "root"}, "state": "approved", "created_at": "2022-07-27T17:03:27.684Z"})
	f.reviewers = mustJSON(t, rs)
	c, _ := newTestClient(t, f)
	got, err := c.Reviews(context.Background(), testProject, testMR)
	if err != nil {
		t.Fatal(err)
	}
	want := []forge.Review{
		{User: forge.User{ID: 1, Login: "root"}, State: forge.ReviewApproved, At: time.Date(2016, 6, 9, 1, 45, 21, 720000000, time.UTC)},
		{User: forge.User{ID: 2, Login: "user2"}, State: forge.ReviewChangesRequested, At: time.Date(2022, 7, 27, 17, 3, 27, 684000000, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("Reviews = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].User != want[i].User || got[i].State != want[i].State || !got[i].At.Equal(want[i].At) {
			t.Errorf("review %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// A GitLab without the reviewers endpoint: approvals only.
	f.inject(fault{method: http.MethodGet, path: "/reviewers", times: -1, status: http.StatusNotFound})
	got, err = c.Reviews(context.Background(), testProject, testMR)
	if err != nil || len(got) != 1 || got[0].User.Login != "root" {
		t.Errorf("Reviews without the reviewers endpoint = %+v, %v", got, err)
	}
}

func TestUnresolvedThreads(t *testing.T) {
	for _, tc := range []struct {
		name         string
		resolveAll   bool
		blockingOpen bool
		want         int
	}{
		{"documented discussions", false, false, 2},
		{"all resolved", true, false, 0},
		// Every visible thread resolved, but GitLab says blocking threads
		// are not: threads the token cannot see still hold the gate.
		{"all resolved, GitLab disagrees", true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGitLab(t)
			if tc.resolveAll {
				f.resolveAll()
			}
			if tc.blockingOpen {
				f.mrPatch = func(m map[string]any) { m["blocking_discussions_resolved"] = false }
			}
			c, _ := newTestClient(t, f)
			n, err := c.UnresolvedThreads(context.Background(), testProject, testMR)
			if err != nil || n != tc.want {
				t.Errorf("UnresolvedThreads = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
}

func TestChecks(t *testing.T) {
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	ctx := context.Background()

	// The documented pipelines: one for each of two commits.
	got, err := c.Checks(ctx, testProject, "a91957a858320c0e17f3a0eca7cfacbff50ea29a")
	if err != nil {
		t.Fatal(err)
	}
	want := []forge.Check{{Name: "pipeline: Build pipeline (push)", State: forge.CheckPending, Description: "pending", URL: "https://example.com/foo/bar/pipelines/47"}}
	if !slices.Equal(got, want) {
		t.Errorf("Checks = %+v, want %+v", got, want)
	}
	if n := f.count(http.MethodGet, "pipelines"); n != 1 {
		t.Errorf("%d pipeline listings", n)
	}

	// The merge request's own checks add its head pipeline: a merged
	// results pipeline, on another commit, that failed.
	got, err = c.MRChecks(ctx, testProject, testMR)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(got, func(ch forge.Check) bool { return ch.Name == "head pipeline" })
	if i < 0 || got[i].State != forge.CheckFailure || !strings.HasSuffix(got[i].URL, "/pipelines/538317940") {
		t.Errorf("MRChecks = %+v, want the failed head pipeline", got)
	}
	if !slices.ContainsFunc(got, func(ch forge.Check) bool { return ch.Name == "test" }) {
		t.Errorf("MRChecks = %+v, want the head's statuses too", got)
	}
}

// TestOwnStatusesDoNotHoldTheGate: GitLab adds Sluice's commit statuses
// to the latest pipeline of the head (or makes an external pipeline for
// them), and that pipeline fails or waits while sluice/gate does. Judged by
// that pipeline, the gate's "other checks" would never pass, and neither
// would sluice/gate: the pipeline is left out, its other jobs count.
func TestOwnStatusesDoNotHoldTheGate(t *testing.T) {
	ctx := context.Background()
	const sha = "c0ffee0000000000000000000000000000000000"
	gateFails := forge.Check{Name: "sluice/gate", State: forge.CheckFailure, Description: "not ready: prod: approvals"}

	t.Run("in the CI pipeline", func(t *testing.T) {
		f := newFakeGitLab(t)
		c, _ := newTestClient(t, f)
		f.addPipeline(sha, "push")
		if err := c.SetStatus(ctx, testProject, sha, forge.Check{Name: "build", State: forge.CheckSuccess}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetStatus(ctx, testProject, sha, gateFails); err != nil {
			t.Fatal(err)
		}
		got, err := c.Checks(ctx, testProject, sha)
		if err != nil {
			t.Fatal(err)
		}
		want := []forge.Check{{Name: "build", State: forge.CheckSuccess, Description: "success"}, gateFails}
		if !slices.Equal(got, want) {
			t.Errorf("Checks = %+v, want %+v: no pipeline that holds sluice/gate", got, want)
		}
	})
	t.Run("in a pipeline of its own, then in the CI pipeline", func(t *testing.T) {
		f := newFakeGitLab(t)
		c, _ := newTestClient(t, f)
		if err := c.SetStatus(ctx, testProject, sha, gateFails); err != nil { // an external pipeline
			t.Fatal(err)
		}
		f.addPipeline(sha, "push")
		if err := c.SetStatus(ctx, testProject, sha, forge.Check{Name: "build", State: forge.CheckFailure}); err != nil {
			t.Fatal(err)
		}
		ok := gateFails
		ok.State, ok.Description = forge.CheckSuccess, "ready"
		if err := c.SetStatus(ctx, testProject, sha, ok); err != nil {
			t.Fatal(err)
		}
		got, err := c.Checks(ctx, testProject, sha)
		if err != nil {
			t.Fatal(err)
		}
		// The external pipeline still holds the failed sluice/gate, and the
		// CI pipeline the new one: neither counts; build's failure does.
		want := []forge.Check{{Name: "sluice/gate", State: forge.CheckSuccess, Description: "ready"}, {Name: "build", State: forge.CheckFailure, Description: "failed"}}
		if !slices.Equal(got, want) {
			t.Errorf("Checks = %+v, want %+v", got, want)
		}
	})
	t.Run("the merge request's head pipeline", func(t *testing.T) {
		f := newFakeGitLab(t)
		c, _ := newTestClient(t, f)
		id := f.addPipeline(testHead, "merge_request_event")
		f.mrPatch = func(m map[string]any) {
			m["head_pipeline"] = map[string]any{"id": id, "sha": testHead, "status": "failed", "source": "merge_request_event"}
		}
		if err := c.SetStatus(ctx, testProject, testHead, gateFails); err != nil {
			t.Fatal(err)
		}
		got, err := c.MRChecks(ctx, testProject, testMR)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range got {
			if strings.Contains(ch.Name, "pipeline") {
				t.Errorf("MRChecks has %+v: the pipeline fails only for sluice/gate", ch)
			}
		}
	})
}

func TestCheckStates(t *testing.T) {
	for _, tc := range []struct {
		status string
		allow  bool
		want   forge.CheckState
	}{
		{"success", false, forge.CheckSuccess},
		{"failed", false, forge.CheckFailure},
		{"failed", true, forge.CheckSuccess},
		{"canceled", false, forge.CheckFailure},
		{"skipped", false, forge.CheckSuccess},
		{"manual", false, forge.CheckPending},
		{"manual", true, forge.CheckSuccess},
		{"running", false, forge.CheckPending},
		{"created", false, forge.CheckPending},
	} {
		if got := statusCheck(&gl.CommitStatus{Status: tc.status, AllowFailure: tc.allow}).State; got != tc.want {
			t.Errorf("status %s (allow_failure %v) = %s, want %s", tc.status, tc.allow, got, tc.want)
		}
	}
	for status, want := range map[string]forge.CheckState{
		"success": forge.CheckSuccess, "failed": forge.CheckFailure, "canceled": forge.CheckFailure, "skipped": forge.CheckFailure,
		"manual": forge.CheckPending, "running": forge.CheckPending, "waiting_for_resource": forge.CheckPending,
	} {
		if got := pipelineState(status); got != want {
			t.Errorf("pipeline %s = %s, want %s", status, got, want)
		}
	}
}

func TestSetStatus(t *testing.T) {
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	ctx := context.Background()
	ch := forge.Check{Name: "sluice/plan: prod", State: forge.CheckPending, Description: strings.Repeat("é", 300), URL: "https://sluice.example/" + strings.Repeat("x", 300)}
	// Pending twice: GitLab answers "Cannot transition status" the second
	// time, which is no failure.
	for range 2 {
		if err := c.SetStatus(ctx, testProject, testHead, ch); err != nil {
			t.Fatal(err)
		}
	}
	ch.State, ch.URL = forge.CheckFailure, "https://sluice.example/runs/1"
	if err := c.SetStatus(ctx, testProject, testHead, ch); err != nil {
		t.Fatal(err)
	}
	got, err := c.Checks(ctx, testProject, testHead)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(got, func(x forge.Check) bool { return x.Name == ch.Name })
	if i < 0 || got[i].State != forge.CheckFailure || got[i].URL != ch.URL || len([]rune(got[i].Description)) != 255 {
		t.Errorf("Checks = %+v", got)
	}
	if err := c.SetStatus(ctx, testProject, testHead, forge.Check{Name: "x", State: "weird"}); err == nil {
		t.Error("an unknown state was accepted")
	}
}

func TestUpsertCommentOnlyOwnNotes(t *testing.T) {
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	ctx := context.Background()
	const marker = "<!-- sluice:plan -->"
	// Someone else quotes the marker (and a part marker): not Sluice's.
	other := f.addNote(testMR, fakeUser{ID: 2, Username: "jack_smith"}, "> "+marker+"\n> <!-- sluice:plan part 2 -->\nwhy?")
	if err := c.UpsertComment(ctx, testProject, testMR, marker, []string{marker + "\nv1", "<!-- sluice:plan part 2 -->\nv1b"}); err != nil {
		t.Fatal(err)
	}
	cs, err := c.Comments(ctx, testProject, testMR)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, cm := range cs {
		bodies = append(bodies, cm.Body)
	}
	want := []string{"Comment for MR", other.Body, marker + "\nv1", "<!-- sluice:plan part 2 -->\nv1b"}
	if !slices.Equal(bodies, want) {
		t.Errorf("comments = %q, want %q", bodies, want)
	}
	// The same bodies again: nothing is written.
	before := f.count(http.MethodPut, "notes") + f.count(http.MethodPost, "notes")
	if err := c.UpsertComment(ctx, testProject, testMR, marker, []string{marker + "\nv1", "<!-- sluice:plan part 2 -->\nv1b"}); err != nil {
		t.Fatal(err)
	}
	if after := f.count(http.MethodPut, "notes") + f.count(http.MethodPost, "notes"); after != before {
		t.Errorf("an unchanged comment was written %d times", after-before)
	}
}

func TestFindIssueWhenSearchMisses(t *testing.T) {
	f := newFakeGitLab(t)
	f.brokenSearch = true
	c, _ := newTestClient(t, f)
	ctx := context.Background()
	const marker = "<!-- sluice:drift prod -->"
	is, err := c.CreateIssue(ctx, testProject, "Drift in prod", marker+"\nchanges")
	if err != nil {
		t.Fatal(err)
	}
	found, err := c.FindIssue(ctx, testProject, marker)
	if err != nil || found.Number != is.Number || found.Number != 7 || !found.Open {
		t.Fatalf("FindIssue = %+v, %v; want #7 (after the documented #6)", found, err)
	}
	if err := c.CloseIssue(ctx, testProject, is.Number, "clean again"); err != nil {
		t.Fatal(err)
	}
	if got := f.issueNotes[is.Number]; !slices.Equal(got, []string{"clean again"}) {
		t.Errorf("issue notes = %q", got)
	}
	// The documented open issue is never taken for a drift issue.
	if _, err := c.FindIssue(ctx, testProject, marker); !errors.Is(err, forge.ErrNotFound) {
		t.Errorf("FindIssue after closing: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestApprovalTimeFromSystemNote: GitLab before 18 gives no approved_at;
// the approval's time comes from the "approved this merge request" system
// note of its user (the latest), and without one it stays unknown.
func TestApprovalTimeFromSystemNote(t *testing.T) {
	ctx := context.Background()
	f := newFakeGitLab(t)
	f.untimed = true
	c, _ := newTestClient(t, f)
	rootReview := func() forge.Review {
		t.Helper()
		rs, err := c.Reviews(ctx, testProject, testMR)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.User.Login == "root" && r.State == forge.ReviewApproved {
				return r
			}
		}
		t.Fatalf("no approval by root in %+v", rs)
		return forge.Review{}
	}
	if r := rootReview(); !r.At.IsZero() {
		t.Errorf("without a system note the approval has a time: %v", r.At)
	}
	note := func(id int64, by fakeUser, body, at string) {
		f.notes[testMR] = append(f.notes[testMR], &fakeNote{ID: id, Body: body, Author: by, System: true, CreatedAt: at,
			NoteableType: "MergeRequest", NoteableIID: testMR})
	}
	root := fakeUser{ID: 1, Username: "root"}
	note(9001, root, "approved this merge request", "2016-06-09T01:00:00Z")
	note(9002, fakeUser{ID: 7, Username: "jack_smith"}, "approved this merge request", "2016-06-10T00:00:00Z")
	note(9003, root, "unapproved this merge request", "2016-06-09T02:00:00Z")
	note(9004, root, "approved this merge request", "2016-06-09T03:00:00Z")
	want := time.Date(2016, 6, 9, 3, 0, 0, 0, time.UTC)
	if r := rootReview(); !r.At.Equal(want) {
		t.Errorf("approval time %v, want %v (root's latest approval note)", r.At, want)
	}
}

// TestMessagesNameTheCommitAsEverywhere: an error names the commit by
// gitx.Short, as the comment, the statuses and the logs do, not by a
// length of its own (this adapter used 8 characters, Gitea's 12).
func TestMessagesNameTheCommitAsEverywhere(t *testing.T) {
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	sha := strings.Repeat("0123456789", 4)
	f.inject(fault{method: http.MethodPost, path: "/statuses/", times: -1, status: http.StatusForbidden})
	err := c.SetStatus(t.Context(), testProject, sha, forge.Check{Name: "sluice/plan: net", State: forge.CheckSuccess})
	if err == nil || !strings.Contains(err.Error(), " at "+gitx.Short(sha)+":") {
		t.Errorf("SetStatus refused: err = %v, want it to name the commit %s", err, gitx.Short(sha))
	}
}
