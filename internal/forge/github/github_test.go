package github

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/forgetest"
)

// fixture is what the recorded server holds.
func fixture(t *testing.T) forgetest.Fixture {
	var hooks []forgetest.Webhook
	for _, tc := range parseCases(t) {
		if tc.anyErr {
			continue
		}
		h := delivery(tc.event, "72d3162e-cc78-11e3-81ab-4c9367dc0958", tc.body)
		if tc.header != nil {
			tc.header(h)
		}
		hooks = append(hooks, forgetest.Webhook{
			Name: tc.name, Header: h, Body: tc.body, Secret: testSecret, Want: tc.want, WantErr: tc.wantErr,
		})
	}
	return forgetest.Fixture{
		Repo:               testRepo,
		DefaultBranch:      "master",
		MR:                 1347,
		Author:             "octocat",
		HeadSHA:            headSHA,
		BaseRef:            "master",
		Approvers:          []string{"octocat"},
		ChangesRequestedBy: []string{"hubot"},
		// hubot's commit was made in the web interface: web-flow committed it.
		Committers:        []string{"octocat", "hubot"},
		UnresolvedThreads: 2,
		Checks: []forge.Check{
			{Name: "continuous-integration/jenkins", State: forge.CheckSuccess},
			{Name: "security/brakeman", State: forge.CheckSuccess},
			{Name: "mighty_readme", State: forge.CheckSuccess},
			{Name: "lint", State: forge.CheckPending},
		},
		WriteUser: "octocat",
		ReadUser:  "monalisa",
		MissingMR: 9,
		Self:      "octocat",
		Webhooks:  hooks,
		Groups: map[string][]string{
			"justice-league":         {"octocat", "hubot", "monalisa"},
			"octocat/justice-league": {"octocat", "hubot", "monalisa"},
			"Justice-League":         {"octocat", "hubot", "monalisa"}, // slugs are lower case
		},
		MissingGroups: []string{"avengers", "octocat/avengers", "github/justice-league"},
	}
}

func TestContract(t *testing.T) {
	for _, pageSize := range []int{0, 1} {
		t.Run(fmt.Sprintf("page size %d", pageSize), func(t *testing.T) {
			s := newRecorded(t)
			s.pageSize = pageSize
			forgetest.Run(t, s.client(t), fixture(t))
		})
	}
}

func TestGetMR(t *testing.T) {
	s := newRecorded(t)
	c := s.client(t)
	mr, err := c.GetMR(context.Background(), testRepo, 1347)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.MergeRequest{
		Repo: testRepo, Number: 1347, Title: "Amazing new feature", Body: "Please pull these awesome changes in!",
		Author: forge.User{ID: 1, Login: "octocat"}, State: forge.MROpen,
		HeadSHA: headSHA, BaseSHA: branchSHA, HeadRef: "new-topic", BaseRef: "master",
		WebURL: "https://github.com/octocat/Hello-World/pull/1347",
	}
	// The documented pull request is open yet carries merged_at and
	// merge_commit_sha (GitHub's test merge): neither may leak through.
	if *mr != want {
		t.Errorf("GetMR =\n %+v\nwant\n %+v", *mr, want)
	}
}

func TestGetMRStates(t *testing.T) {
	octocat := &forge.User{ID: 1, Login: "octocat"}
	for _, tc := range []struct {
		name        string
		edits       map[string]any
		deletedBase bool
		state       forge.MRState
		draft       bool
		mergeSHA    string
		mergedBy    *forge.User
		baseSHA     string
	}{
		{name: "draft", edits: map[string]any{"draft": true}, state: forge.MROpen, draft: true, baseSHA: branchSHA},
		{name: "merged", edits: map[string]any{"state": "closed", "merged": true}, state: forge.MRMerged,
			mergeSHA: "e5bd3914e2e596debea16f433f57875b5b90bcd6", mergedBy: octocat, baseSHA: branchSHA},
		{name: "merged, base branch deleted since", edits: map[string]any{"state": "closed", "merged": true}, deletedBase: true,
			state: forge.MRMerged, mergeSHA: "e5bd3914e2e596debea16f433f57875b5b90bcd6", mergedBy: octocat, baseSHA: headSHA},
		{name: "closed", edits: map[string]any{"state": "closed", "merged_at": nil, "merged_by": nil}, state: forge.MRClosed, baseSHA: branchSHA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRecorded(t)
			s.pullEdits = tc.edits
			if tc.deletedBase {
				s.branches = map[string]bool{}
			}
			mr, err := s.client(t).GetMR(context.Background(), testRepo, 1347)
			if err != nil {
				t.Fatal(err)
			}
			if mr.State != tc.state || mr.Draft != tc.draft || mr.MergeSHA != tc.mergeSHA || mr.BaseSHA != tc.baseSHA ||
				fmt.Sprint(mr.MergedBy) != fmt.Sprint(tc.mergedBy) {
				t.Errorf("GetMR = %+v (merged by %v)", mr, mr.MergedBy)
			}
		})
	}
}

func TestUpsertCommentCleansUp(t *testing.T) {
	ctx := context.Background()
	s := newRecorded(t)
	c := s.client(t)
	const marker = "<!-- sluice:plan -->"
	s.addComment(1347, "<!-- sluice:plan part 2 -->\nleft over from a deleted first part")
	s.addComment(1347, marker+"\nfirst")
	s.addComment(1347, marker+"\na duplicate from a race")
	if err := c.UpsertComment(ctx, testRepo, 1347, marker, []string{marker + "\nnew"}); err != nil {
		t.Fatal(err)
	}
	cs, err := c.Comments(ctx, testRepo, 1347)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cm := range cs {
		got = append(got, fmt.Sprintf("%d:%s", cm.ID, strings.ReplaceAll(cm.Body, "\n", " ")))
	}
	if want := "1:Me too|1002:" + marker + " new"; strings.Join(got, "|") != want {
		t.Errorf("comments = %q, want %s", got, want)
	}
}

func TestGetMRNotFound(t *testing.T) {
	ctx := context.Background()
	t.Run("missing pull request", func(t *testing.T) {
		c := newRecorded(t).client(t)
		_, err := c.GetMR(ctx, testRepo, 9)
		if !errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), "octocat/Hello-World#9") {
			t.Errorf("err = %v, want ErrNotFound naming the pull request", err)
		}
	})
	t.Run("deleted base branch", func(t *testing.T) {
		s := newRecorded(t)
		s.branches = map[string]bool{}
		_, err := s.client(t).GetMR(ctx, testRepo, 1347)
		if !errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), "base branch master") {
			t.Errorf("err = %v, want ErrNotFound naming the branch", err)
		}
	})
	t.Run("missing repository", func(t *testing.T) {
		c := newRecorded(t).client(t)
		for name, call := range map[string]func() error{
			"GetMR":     func() error { _, err := c.GetMR(ctx, "octocat/Gone", 1); return err },
			"Reviews":   func() error { _, err := c.Reviews(ctx, "octocat/Gone", 1); return err },
			"Comments":  func() error { _, err := c.Comments(ctx, "octocat/Gone", 1); return err },
			"Checks":    func() error { _, err := c.Checks(ctx, "octocat/Gone", headSHA); return err },
			"FindIssue": func() error { _, err := c.FindIssue(ctx, "octocat/Gone", "x"); return err },
			"Threads":   func() error { _, err := c.UnresolvedThreads(ctx, testRepo, 9); return err },
		} {
			if err := call(); !errors.Is(err, forge.ErrNotFound) {
				t.Errorf("%s: err = %v, want ErrNotFound", name, err)
			}
		}
	})
}

func TestReviewsKeepTheLatestWord(t *testing.T) {
	c := newRecorded(t).client(t)
	rs, err := c.Reviews(context.Background(), testRepo, 1347)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s=%s@%s", r.User.Login, r.State, r.CommitSHA[:7]))
	}
	// octocat's approval stands (a later comment does not withdraw it);
	// hubot's approval gave way to a request for changes; monalisa's was
	// dismissed.
	want := "octocat=approved@ecdd80b hubot=changes_requested@6dcb09b"
	if strings.Join(got, " ") != want {
		t.Errorf("reviews = %v, want %s", got, want)
	}
}

// TestPermission reads every role from GitHub's documented answer, whose
// role is the highest of the user's grants (the repository, teams, the
// organisation's base permission, the enterprise), and the same answer as
// older GitHub Enterprise Server versions document it, without role_name.
func TestPermission(t *testing.T) {
	for _, tc := range []struct {
		version    string
		noRoleName bool
		want       map[string]forge.Permission
	}{
		{"with role_name", false, map[string]forge.Permission{
			"octocat":    forge.PermAdmin,
			"maintainer": forge.PermAdmin,
			"hubot":      forge.PermWrite,
			"custom":     forge.PermWrite, // a custom role based on write
			"triager":    forge.PermRead,
			"monalisa":   forge.PermRead,
			"outsider":   forge.PermNone,
			"nobody":     forge.PermNone, // 404
			"":           forge.PermNone,
		}},
		{"without role_name", true, map[string]forge.Permission{
			"octocat":    forge.PermAdmin,
			"maintainer": forge.PermWrite, // maintain answers as write
			"hubot":      forge.PermWrite,
			"custom":     forge.PermWrite,
			"triager":    forge.PermRead, // triage answers as read
			"monalisa":   forge.PermRead,
			"outsider":   forge.PermNone,
			"nobody":     forge.PermNone,
		}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			s := newRecorded(t)
			s.noRoleName = tc.noRoleName
			c := s.client(t)
			for login, want := range tc.want {
				got, err := c.Permission(context.Background(), testRepo, login)
				if err != nil || got != want {
					t.Errorf("Permission(%q) = %v, %v; want %v", login, got, err, want)
				}
			}
		})
	}
}

func TestCommentsPaginate(t *testing.T) {
	s := newRecorded(t)
	for i := 2; i <= 5; i++ {
		s.addComment(1347, fmt.Sprintf("comment %d", i))
	}
	s.pageSize = 2
	cs, err := s.client(t).Comments(context.Background(), testRepo, 1347)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, c := range cs {
		bodies = append(bodies, c.Body)
	}
	if want := "Me too,comment 2,comment 3,comment 4,comment 5"; strings.Join(bodies, ",") != want {
		t.Errorf("comments = %q, want %s", bodies, want)
	}
	if n := s.hitCount("GET /repos/octocat/Hello-World/issues/1347/comments"); n != 3 {
		t.Errorf("%d pages fetched, want 3", n)
	}
}

func TestUpsertCommentLeavesOthersAlone(t *testing.T) {
	ctx := context.Background()
	s := newRecorded(t)
	c := s.client(t)
	const marker = "<!-- sluice:plan -->"
	// Someone else quotes the marker: not Sluice's comment (the token is
	// octocat's), so never edited nor deleted.
	s.mu.Lock()
	s.comments[1347] = append(s.comments[1347], map[string]any{
		"id": 5, "body": marker + " spoofed\n<!-- sluice:plan part 2 -->", "user": map[string]any{"login": "mallory", "id": 66},
	})
	s.mu.Unlock()
	if err := c.UpsertComment(ctx, testRepo, 1347, marker, []string{marker + "\nplan", "<!-- sluice:plan part 2 -->\nmore"}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertComment(ctx, testRepo, 1347, marker, []string{marker + "\nplan"}); err != nil {
		t.Fatal(err)
	}
	// Unchanged: no write at all.
	before := s.hitCount("PATCH /repos/octocat/Hello-World/issues/comments/1001")
	if err := c.UpsertComment(ctx, testRepo, 1347, marker, []string{marker + "\nplan"}); err != nil {
		t.Fatal(err)
	}
	if after := s.hitCount("PATCH /repos/octocat/Hello-World/issues/comments/1001"); after != before {
		t.Errorf("an unchanged comment was written again")
	}
	cs, err := c.Comments(ctx, testRepo, 1347)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cm := range cs {
		got = append(got, cm.Author.Login+": "+strings.ReplaceAll(cm.Body, "\n", " "))
	}
	want := []string{"octocat: Me too", "mallory: " + marker + " spoofed <!-- sluice:plan part 2 -->", "octocat: " + marker + " plan"}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("comments\n got %q\nwant %q", got, want)
	}
}

func TestSetStatusTruncatesTheDescription(t *testing.T) {
	s := newRecorded(t)
	c := s.client(t)
	long := strings.Repeat("é", 200)
	err := c.SetStatus(context.Background(), testRepo, headSHA, forge.Check{
		Name: "sluice/plan: prod", State: forge.CheckFailure, Description: long, URL: "https://sluice.example.com/runs/1",
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.Checks(context.Background(), testRepo, headSHA)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range cs {
		if ck.Name == "sluice/plan: prod" {
			if ck.State != forge.CheckFailure || len([]rune(ck.Description)) != 140 || ck.URL != "https://sluice.example.com/runs/1" {
				t.Errorf("status = %+v", ck)
			}
			return
		}
	}
	t.Errorf("status not found in %+v", cs)
}

func TestURLs(t *testing.T) {
	for _, tc := range []struct {
		base, clone, graphql string
	}{
		{"", "https://github.com/org/infra.git", "https://api.github.com/graphql"},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/org/infra.git", "https://ghe.example.com/api/graphql"},
		{"https://ghe.example.com", "https://ghe.example.com/org/infra.git", "https://ghe.example.com/api/graphql"},
		{"https://api.acme.ghe.com/", "https://acme.ghe.com/org/infra.git", "https://api.acme.ghe.com/graphql"},
	} {
		c, err := New(tc.base, "tok")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.CloneURL("org/infra"); got != tc.clone {
			t.Errorf("CloneURL with %q = %s, want %s", tc.base, got, tc.clone)
		}
		if c.graphqlURL != tc.graphql {
			t.Errorf("GraphQL URL with %q = %s, want %s", tc.base, c.graphqlURL, tc.graphql)
		}
		if u, p := c.CloneAuth(); u != "x-access-token" || p != "tok" {
			t.Errorf("CloneAuth = %s, %s", u, p)
		}
		if c.Name() != "github" || c.CommentLimit() != 65536 {
			t.Errorf("Name, CommentLimit = %s, %d", c.Name(), c.CommentLimit())
		}
	}
	if _, err := New("ghe.example.com", "tok"); err == nil {
		t.Error("New accepted a base URL without scheme")
	}
	c, _ := New("", "tok")
	if _, err := c.GetMR(context.Background(), "no-slash", 1); err == nil || !strings.Contains(err.Error(), "owner/name") {
		t.Errorf("GetMR with a bad repository: %v", err)
	}
}

// TestGroupMembers reads a team over two pages, and says what the token
// lacks when GitHub refuses.
func TestGroupMembers(t *testing.T) {
	ctx := context.Background()
	s := newRecorded(t)
	s.pageSize = 2
	c := s.client(t)
	got, err := c.GroupMembers(ctx, testRepo, "justice-league")
	if err != nil || strings.Join(got, ",") != "octocat,hubot,Monalisa" {
		t.Errorf("GroupMembers = %v, %v; want octocat, hubot, Monalisa", got, err)
	}
	if n := s.hitCount("GET /orgs/octocat/teams/justice-league/members"); n != 2 {
		t.Errorf("%d requests for the members, want 2 pages", n)
	}

	_, err = c.GroupMembers(ctx, testRepo, "octocat/avengers")
	if !errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), "octocat/avengers") {
		t.Errorf("missing team: err = %v, want ErrNotFound naming the team", err)
	}

	s.fail("GET /orgs/octocat/teams/justice-league/members", fault{status: 403, body: string(readFile(t, "forbidden.json"))})
	_, err = c.GroupMembers(ctx, testRepo, "justice-league")
	if err == nil || errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), `"Members: read"`) {
		t.Errorf("refused: err = %v, want one naming the permission", err)
	}

	if _, err := c.GroupMembers(ctx, testRepo, "a/b/c"); err == nil || !strings.Contains(err.Error(), "ORG/TEAM") {
		t.Errorf("a/b/c: err = %v, want one saying how to name a team", err)
	}
}
