package gitea

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/forgetest"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		url, token string
		wantBase   string
		wantErr    string
	}{
		{"https://gitea.example.com/", "tok", "https://gitea.example.com", ""},
		{"https://example.com/gitea", "tok", "https://example.com/gitea", ""},
		{" http://127.0.0.1:3000 ", "tok", "http://127.0.0.1:3000", ""},
		{"gitea.example.com", "tok", "", "want an http(s) URL"},
		{"ftp://gitea.example.com", "tok", "", "want an http(s) URL"},
		{"https://gitea.example.com?x=1", "tok", "", "no query"},
		{"https://gitea.example.com", "", "", "token is empty"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := New(tc.url, tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.base != tc.wantBase || c.CloneURL("o/r") != tc.wantBase+"/o/r.git" {
				t.Errorf("base %q, clone URL %q", c.base, c.CloneURL("o/r"))
			}
			if u, tok := c.CloneAuth(); u != "sluice" || tok != tc.token {
				t.Errorf("CloneAuth = %q, %q", u, tok)
			}
			if c.Name() != "gitea" || c.CommentLimit() != 65536 {
				t.Errorf("Name %q, CommentLimit %d", c.Name(), c.CommentLimit())
			}
		})
	}
}

func TestSplitRepo(t *testing.T) {
	for _, tc := range []struct {
		repo, owner, name string
		ok                bool
	}{
		{"org/infra", "org", "infra", true},
		{"org/infra/sub", "", "", false},
		{"infra", "", "", false},
		{"/infra", "", "", false},
		{"org/", "", "", false},
	} {
		owner, name, err := splitRepo(tc.repo)
		if (err == nil) != tc.ok || owner != tc.owner || name != tc.name {
			t.Errorf("splitRepo(%q) = %q, %q, %v", tc.repo, owner, name, err)
		}
	}
}

func TestLatestVerdicts(t *testing.T) {
	at := func(i int) time.Time { return time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC) }
	u := func(id int64) *sdk.User { return &sdk.User{ID: id, UserName: "u" + strconv.FormatInt(id, 10)} }
	r := func(id int64, user *sdk.User, st sdk.ReviewStateType, dismissed bool) *sdk.PullReview {
		return &sdk.PullReview{ID: id, Reviewer: user, State: st, Dismissed: dismissed, CommitID: "c" + strconv.FormatInt(id, 10), Submitted: at(int(id))}
	}
	for _, tc := range []struct {
		name string
		in   []*sdk.PullReview
		want []string // login=state@commit
	}{
		{"none", nil, nil},
		{"latest wins", []*sdk.PullReview{
			r(1, u(1), sdk.ReviewStateRequestChanges, false), r(2, u(1), sdk.ReviewStateApproved, false),
			r(3, u(2), sdk.ReviewStateApproved, false), r(4, u(2), sdk.ReviewStateRequestChanges, false),
		}, []string{"u1=approved@c2", "u2=changes_requested@c4"}},
		{"comments are no verdicts", []*sdk.PullReview{
			r(1, u(1), sdk.ReviewStateApproved, false), r(2, u(1), sdk.ReviewStateComment, false),
			r(3, u(2), sdk.ReviewStateComment, false), r(4, u(3), sdk.ReviewStateRequestReview, false),
			r(5, u(4), sdk.ReviewStatePending, false),
		}, []string{"u1=approved@c1"}},
		{"dismissed latest leaves nothing", []*sdk.PullReview{
			r(1, u(1), sdk.ReviewStateRequestChanges, false), r(2, u(1), sdk.ReviewStateApproved, true),
		}, nil},
		{"a verdict after a dismissal counts", []*sdk.PullReview{
			r(1, u(1), sdk.ReviewStateApproved, true), r(2, u(1), sdk.ReviewStateApproved, false),
		}, []string{"u1=approved@c2"}},
		{"team requests have no reviewer", []*sdk.PullReview{{ID: 1, State: sdk.ReviewStateRequestReview}, nil}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range latestVerdicts(tc.in) {
				got = append(got, fmt.Sprintf("%s=%s@%s", v.User.Login, v.State, v.CommitSHA))
				if v.At.IsZero() {
					t.Errorf("%s has no time", v.User.Login)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnresolved(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	resolver := &sdk.User{ID: 9, UserName: "r"}
	c := func(id int64, path string, newLine, oldLine uint64, resolved bool) *sdk.PullReviewComment {
		pc := &sdk.PullReviewComment{ID: id, Path: path, LineNum: newLine, OldLineNum: oldLine, Created: at.Add(time.Duration(id) * time.Second)}
		if resolved {
			pc.Resolver = resolver
		}
		return pc
	}
	for _, tc := range []struct {
		name string
		in   []*sdk.PullReviewComment
		want int
	}{
		{"none", nil, 0},
		{"one open", []*sdk.PullReviewComment{c(1, "a.tf", 1, 0, false)}, 1},
		{"replies share the thread", []*sdk.PullReviewComment{c(1, "a.tf", 1, 0, false), c(2, "a.tf", 1, 0, false), c(3, "a.tf", 1, 0, false)}, 1},
		{"resolved on the first comment", []*sdk.PullReviewComment{c(2, "a.tf", 1, 0, false), c(1, "a.tf", 1, 0, true)}, 0},
		{"a resolved reply does not resolve", []*sdk.PullReviewComment{c(1, "a.tf", 1, 0, false), c(2, "a.tf", 1, 0, true)}, 1},
		{"old and new sides differ", []*sdk.PullReviewComment{c(1, "a.tf", 3, 0, false), c(2, "a.tf", 0, 3, false)}, 2},
		{"files differ", []*sdk.PullReviewComment{c(1, "a.tf", 1, 0, false), c(2, "b.tf", 1, 0, true), c(3, "c.tf", 1, 0, false)}, 2},
		{"ghost resolver", []*sdk.PullReviewComment{{ID: 1, Path: "a", LineNum: 1, Resolver: &sdk.User{}}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unresolved(tc.in); got != tc.want {
				t.Errorf("unresolved = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestLatestStatuses(t *testing.T) {
	s := func(id int64, ctx string, st sdk.StatusState) *sdk.Status {
		return &sdk.Status{ID: id, Context: ctx, State: st, Description: ctx + " " + string(st), TargetURL: "https://ci/" + ctx}
	}
	got := latestStatuses([]*sdk.Status{
		s(5, "b", sdk.StatusSuccess), s(2, "b", sdk.StatusFailure), // newest first, as Gitea lists
		s(3, "a", sdk.StatusPending), s(4, "a", sdk.StatusError),
		s(6, "c", sdk.StatusWarning), s(7, "d", "skipped"), s(8, "e", "bogus"), nil,
	})
	want := []forge.Check{
		{Name: "a", State: forge.CheckFailure, Description: "a error", URL: "https://ci/a"},
		{Name: "b", State: forge.CheckSuccess, Description: "b success", URL: "https://ci/b"},
		{Name: "c", State: forge.CheckFailure, Description: "c warning", URL: "https://ci/c"},
		{Name: "d", State: forge.CheckSuccess, Description: "d skipped", URL: "https://ci/d"},
		{Name: "e", State: forge.CheckPending, Description: "e bogus", URL: "https://ci/e"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]mode{
		"owner": modeOwner, "admin": modeAdmin, "write": modeWrite, "Write": modeWrite,
		"read": modeRead, "none": modeNone, "": modeNone, "bogus": modeNone,
	} {
		if got := parseMode(in); got != want {
			t.Errorf("parseMode(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestUnitsPermission: write needs the code writable and the pull
// requests readable, as Gitea's merge and official approval do.
func TestUnitsPermission(t *testing.T) {
	for _, tc := range []struct {
		u    units
		want forge.Permission
	}{
		{units{modeWrite, modeWrite}, forge.PermWrite},
		{units{modeWrite, modeRead}, forge.PermWrite},
		{units{modeAdmin, modeRead}, forge.PermWrite},
		{units{modeWrite, modeNone}, forge.PermRead}, // pushes, but cannot see the pull request to merge it
		{units{modeRead, modeWrite}, forge.PermRead}, // manages pull requests, merges none
		{units{modeNone, modeWrite}, forge.PermRead},
		{units{modeRead, modeNone}, forge.PermRead},
		{units{modeNone, modeNone}, forge.PermNone},
	} {
		if got := tc.u.permission(); got != tc.want {
			t.Errorf("%+v.permission() = %v, want %v", tc.u, got, tc.want)
		}
	}
}

func TestTeamOfAPI(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   sdk.Team
		want repoTeam
	}{
		{"units_map", sdk.Team{ID: 1, Name: "devs", Permission: sdk.AccessModeNone,
			UnitsMap: map[string]string{"repo.code": "write", "repo.pulls": "read", "repo.issues": "write"}},
			repoTeam{id: 1, name: "devs", units: units{modeWrite, modeRead}}},
		{"units_map without pulls", sdk.Team{ID: 2, Permission: sdk.AccessModeNone, UnitsMap: map[string]string{"repo.code": "write"}},
			repoTeam{id: 2, units: units{modeWrite, modeNone}}},
		{"owners", sdk.Team{ID: 3, Permission: sdk.AccessModeOwner, UnitsMap: map[string]string{"repo.code": "owner", "repo.pulls": "owner"}},
			repoTeam{id: 3, admin: true, units: units{modeOwner, modeOwner}}},
		{"units only (older servers)", sdk.Team{ID: 4, Permission: sdk.AccessModeWrite, Units: []sdk.RepoUnitType{sdk.RepoUnitCode, sdk.RepoUnitIssues}},
			repoTeam{id: 4, units: units{modeWrite, modeNone}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := teamOfAPI(&tc.in); got != tc.want {
				t.Errorf("teamOfAPI = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestDecide checks the permission of an organisation's repository from
// the permission API's answer, the collaboration and the teams, and that
// only what can change the answer is asked.
func TestDecide(t *testing.T) {
	writers := repoTeam{id: 1, name: "writers", units: units{modeWrite, modeWrite}}
	pushers := repoTeam{id: 2, name: "pushers", units: units{modeWrite, modeNone}}
	reviewers := repoTeam{id: 3, name: "reviewers", units: units{modeRead, modeRead}}
	issues := repoTeam{id: 4, name: "issues", units: units{modeNone, modeNone}}
	owners := repoTeam{id: 5, name: "Owners", admin: true, units: units{modeOwner, modeOwner}}
	all := []repoTeam{issues, reviewers, owners, pushers, writers}
	for _, tc := range []struct {
		name         string
		overall      mode
		collaborator bool
		in           []int64 // the teams the user is in
		want         forge.Permission
		wantAsked    []string // what decide asked, in order
	}{
		{name: "admin", overall: modeAdmin, want: forge.PermAdmin},
		{name: "write through a team", in: []int64{1}, want: forge.PermWrite,
			wantAsked: []string{"team writers"}},
		{name: "write through a team, public", overall: modeRead, in: []int64{1}, want: forge.PermWrite,
			wantAsked: []string{"team writers"}},
		{name: "code from one team, pull requests from another", in: []int64{2, 3}, want: forge.PermWrite,
			wantAsked: []string{"team writers", "team pushers", "team reviewers"}},
		{name: "code without the pull requests", in: []int64{2}, want: forge.PermRead,
			wantAsked: []string{"team writers", "team pushers", "team reviewers"}},
		{name: "code from a team, pull requests as a reading collaborator", overall: modeRead, collaborator: true, in: []int64{2}, want: forge.PermWrite,
			wantAsked: []string{"team writers", "team pushers", "team reviewers", "collaborator"}},
		{name: "read through a team", in: []int64{3}, want: forge.PermRead,
			wantAsked: []string{"team writers", "team pushers", "team reviewers"}},
		{name: "a team without code or pull requests", in: []int64{4}, want: forge.PermNone,
			wantAsked: []string{"team writers", "team pushers", "team reviewers"}},
		{name: "nothing", want: forge.PermNone,
			wantAsked: []string{"team writers", "team pushers", "team reviewers"}},
		{name: "nothing, public", overall: modeRead, want: forge.PermRead,
			wantAsked: []string{"team writers", "team pushers", "team reviewers"}},
		{name: "writing collaborator", overall: modeWrite, collaborator: true, want: forge.PermWrite,
			wantAsked: []string{"collaborator"}},
		{name: "reading collaborator", overall: modeRead, collaborator: true, want: forge.PermRead,
			wantAsked: []string{"team writers", "team pushers", "team reviewers"}},
		// A team whose overall mode says more than its units (Gitea before
		// 1.26 set it to the least of the units above none): the units decide.
		{name: "overall write from a team of issues", overall: modeWrite, in: []int64{4}, want: forge.PermRead,
			wantAsked: []string{"collaborator", "team writers", "team pushers", "team reviewers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			got, err := decide(tc.overall, all,
				func() (bool, error) { asked = append(asked, "collaborator"); return tc.collaborator, nil },
				func(rt repoTeam) (bool, error) {
					asked = append(asked, "team "+rt.name)
					return slices.Contains(tc.in, rt.id), nil
				})
			if err != nil || got != tc.want {
				t.Errorf("decide = %v, %v; want %v", got, err, tc.want)
			}
			if !slices.Equal(asked, tc.wantAsked) {
				t.Errorf("asked %q, want %q", asked, tc.wantAsked)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := decide(modeNone, all, nil, func(repoTeam) (bool, error) { return false, boom }); !errors.Is(err, boom) {
			t.Errorf("a failed member read: err = %v, want boom", err)
		}
		if _, err := decide(modeWrite, all, func() (bool, error) { return false, boom }, nil); !errors.Is(err, boom) {
			t.Errorf("a failed collaborator read: err = %v, want boom", err)
		}
	})
}

func TestFromFork(t *testing.T) {
	for _, tc := range []struct {
		head, base int64
		label      string
		want       bool
	}{
		{1, 1, "feature", false},
		{2, 1, "feature", true},
		{-1, 1, "feature", true}, // the fork was deleted
		{1, 1, "", true},         // AGit
	} {
		if got := fromFork(tc.head, tc.base, tc.label); got != tc.want {
			t.Errorf("fromFork(%d, %d, %q) = %v", tc.head, tc.base, tc.label, got)
		}
	}
}

func TestDraftTitle(t *testing.T) {
	c, _ := New("https://g.example.com", "t")
	custom, _ := New("https://g.example.com", "t", WithWorkInProgressPrefixes("Draft:"))
	for _, tc := range []struct {
		c     *Client
		title string
		want  bool
	}{
		{c, "WIP: x", true}, {c, "wip: x", true}, {c, "[WIP] x", true}, {c, "[wip]x", true},
		{c, "x WIP:", false}, {c, "WIP", false}, {c, "Draft: x", false}, {custom, "draft: x", true}, {custom, "WIP: x", false},
	} {
		if got := tc.c.draftTitle(tc.title); got != tc.want {
			t.Errorf("draftTitle(%q) = %v", tc.title, got)
		}
	}
}

// TestParse covers what the recorded deliveries do not: other servers'
// headers, payloads Gitea sends in rarer cases, and broken ones.
func TestParse(t *testing.T) {
	secret := []byte("s3cret")
	sign := func(body string) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(body))
		return hex.EncodeToString(m.Sum(nil))
	}
	hdr := func(body string, kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		if h.Get("X-Forgejo-Signature") == "" && h.Get("X-Hub-Signature-256") == "" {
			h.Set("X-Gitea-Signature", sign(body))
		}
		return h
	}
	pr := func(action, extra string) string {
		return `{"action":"` + action + `","number":7,` + extra + `"pull_request":{"number":7,"title":"T","draft":false,"merged":false,` +
			`"head":{"label":"f","ref":"f","sha":"h1","repo_id":1},"base":{"label":"main","ref":"main","sha":"b1","repo_id":1}},` +
			`"repository":{"id":1,"full_name":"org/infra"},"sender":{"id":3,"login":"alice"}}`
	}
	comment := func(action string, isPull bool) string {
		return `{"action":"` + action + `","issue":{"number":7},"comment":{"id":11,"body":"sluice apply","user":{"id":4,"login":"bob"}},` +
			`"repository":{"id":1,"full_name":"org/infra"},"sender":{"id":4,"login":"bob"},"is_pull":` + strconv.FormatBool(isPull) + `}`
	}
	ev := func(kind forge.EventKind, action string) *forge.Event {
		return &forge.Event{Kind: kind, Action: action, Repo: "org/infra", MR: 7, Actor: forge.User{ID: 3, Login: "alice"}, HeadSHA: "h1", BaseSHA: "b1"}
	}
	c, _ := New("https://g.example.com", "t")
	for _, tc := range []struct {
		name    string
		header  http.Header
		body    string
		secret  []byte
		want    *forge.Event
		wantErr error
		errText string
	}{
		{name: "Forgejo headers only", body: pr("opened", ""),
			header: hdr(pr("opened", ""), "X-Forgejo-Event-Type", "pull_request", "X-Forgejo-Delivery", "d1", "X-Forgejo-Signature", sign(pr("opened", ""))),
			want:   &forge.Event{Kind: forge.EventMR, Action: forge.ActionOpened, DeliveryID: "d1", Repo: "org/infra", MR: 7, Actor: forge.User{ID: 3, Login: "alice"}, HeadSHA: "h1", BaseSHA: "b1"}},
		{name: "deleted pull request closes", body: pr("deleted", ""), header: hdr(pr("deleted", ""), "X-Gitea-Event-Type", "pull_request"),
			want: ev(forge.EventMR, forge.ActionClosed)},
		{name: "base branch change is a retarget", body: pr("edited", `"changes":{"ref":{"from":"dev"}},`),
			header: hdr(pr("edited", `"changes":{"ref":{"from":"dev"}},`), "X-Gitea-Event-Type", "pull_request"),
			want:   ev(forge.EventMR, forge.ActionRetargeted)},
		{name: "title edit that keeps the draft state", body: pr("edited", `"changes":{"title":{"from":"S"}},`),
			header: hdr(pr("edited", `"changes":{"title":{"from":"S"}},`), "X-Gitea-Event-Type", "pull_request"),
			want:   ev(forge.EventMR, forge.ActionEdited)},
		{name: "label change", body: pr("label_updated", ""), header: hdr(pr("label_updated", ""), "X-Gitea-Event-Type", "pull_request_label"),
			wantErr: forge.ErrIgnored},
		{name: "review request", body: pr("review_requested", ""), header: hdr(pr("review_requested", ""), "X-Gitea-Event-Type", "pull_request_review_request"),
			wantErr: forge.ErrIgnored},
		{name: "legacy approval header", body: pr("reviewed", ""), header: hdr(pr("reviewed", ""), "X-Gitea-Event", "pull_request_approved"),
			want: ev(forge.EventReview, "submitted")},
		{name: "legacy review comment header", body: pr("reviewed", ""), header: hdr(pr("reviewed", ""), "X-Gitea-Event", "pull_request_comment"),
			want: ev(forge.EventReview, "submitted")},
		{name: "legacy comment header", body: comment("created", true), header: hdr(comment("created", true), "X-Gitea-Event", "issue_comment"),
			want: &forge.Event{Kind: forge.EventComment, Action: "created", Repo: "org/infra", MR: 7, Actor: forge.User{ID: 4, Login: "bob"},
				Comment: &forge.Comment{ID: 11, Author: forge.User{ID: 4, Login: "bob"}, Body: "sluice apply"}}},
		{name: "legacy comment header on an issue", body: comment("created", false), header: hdr(comment("created", false), "X-Gitea-Event", "issue_comment"),
			wantErr: forge.ErrIgnored},
		{name: "edited comment", body: comment("edited", true), header: hdr(comment("edited", true), "X-Gitea-Event-Type", "pull_request_comment"),
			wantErr: forge.ErrIgnored},
		{name: "no event header", body: pr("opened", ""), header: hdr(pr("opened", "")), wantErr: forge.ErrIgnored},
		{name: "malformed JSON", body: `{"action":`, header: hdr(`{"action":`, "X-Gitea-Event-Type", "pull_request"), errText: "parsing gitea pull_request webhook"},
		{name: "no repository", body: `{"action":"opened","pull_request":{"number":1}}`,
			header: hdr(`{"action":"opened","pull_request":{"number":1}}`, "X-Gitea-Event-Type", "pull_request"), errText: "no pull request or repository"},
		{name: "signature not hex", body: pr("opened", ""), header: http.Header{"X-Gitea-Signature": {"zz"}, "X-Gitea-Event-Type": {"pull_request"}},
			wantErr: forge.ErrBadSignature},
		{name: "sent as a form", body: "payload=x",
			header:  http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Gitea-Signature": {sign("{}")}, "X-Gitea-Event-Type": {"pull_request"}},
			wantErr: forge.ErrBadSignature, errText: "application/json"},
		{name: "hub signature without prefix", body: pr("opened", ""),
			header:  http.Header{"X-Hub-Signature-256": {sign(pr("opened", ""))}, "X-Gitea-Event-Type": {"pull_request"}},
			wantErr: forge.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := tc.secret
			if sec == nil {
				sec = secret
			}
			got, err := c.Parse(tc.header, []byte(tc.body), sec)
			forgetest.CheckPrecheck(t, c, forgetest.Webhook{Header: tc.header, Body: []byte(tc.body), Secret: sec}, err)
			if tc.wantErr != nil || tc.errText != "" {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want %v %q", err, tc.wantErr, tc.errText)
				}
				if strings.Contains(err.Error(), string(secret)) {
					t.Errorf("error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v %+v\nwant %+v %+v", *got, got.Comment, *tc.want, tc.want.Comment)
			}
		})
	}
}

// TestAll pages through fake lists the ways Gitea answers them.
func TestAll(t *testing.T) {
	items := make([]int, 23)
	for i := range items {
		items[i] = i
	}
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter, page, limit int)
		want  int
		calls int
	}{
		{"Link header", func(w http.ResponseWriter, page, limit int) {
			lo, hi := min((page-1)*limit, len(items)), min(page*limit, len(items))
			if hi < len(items) {
				w.Header().Set("Link", fmt.Sprintf(`<http://x/?page=%d&limit=%d>; rel="next"`, page+1, limit))
			} else {
				w.Header().Set("Link", fmt.Sprintf(`<http://x/?page=%d&limit=%d>; rel="prev"`, page-1, limit))
			}
			writeInts(w, items[lo:hi])
		}, 23, 3},
		{"X-Total-Count only", func(w http.ResponseWriter, page, limit int) {
			lo, hi := min((page-1)*limit, len(items)), min(page*limit, len(items))
			w.Header().Set("X-Total-Count", strconv.Itoa(len(items)))
			writeInts(w, items[lo:hi])
		}, 23, 3},
		{"total counts hidden items", func(w http.ResponseWriter, page, limit int) {
			lo, hi := min((page-1)*limit, 15), min(page*limit, 15)
			w.Header().Set("X-Total-Count", "23")
			writeInts(w, items[lo:hi])
		}, 15, 3},
		{"no paging", func(w http.ResponseWriter, page, limit int) {
			w.Header().Set("X-Total-Count", strconv.Itoa(len(items)))
			writeInts(w, items)
		}, 23, 1},
		{"nothing about paging", func(w http.ResponseWriter, page, limit int) { writeInts(w, items[:4]) }, 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				page, _ := strconv.Atoi(r.URL.Query().Get("page"))
				tc.serve(w, page, 10) // the server caps the page at 10
			}))
			defer srv.Close()
			c, _ := New(srv.URL, "t")
			got, _, err := all(func(lo sdk.ListOptions) ([]*sdk.Status, *sdk.Response, error) {
				return c.api(context.Background()).ListStatuses("o", "r", "sha", sdk.ListStatusesOption{ListOptions: lo})
			})
			if err != nil || len(got) != tc.want || calls != tc.calls {
				t.Errorf("got %d items in %d calls (%v), want %d in %d", len(got), calls, err, tc.want, tc.calls)
			}
		})
	}
}

func writeInts(w http.ResponseWriter, ids []int) {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf(`{"id":%d}`, id+1)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, "["+strings.Join(parts, ",")+"]")
}
