package gitea_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/forgetest"
	"github.com/sluicehq/sluice/internal/forge/gitea"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

var update = flag.Bool("update", false, "rewrite testdata/webhooks from the deliveries of the real Gitea")

func TestMain(m *testing.M) { giteatest.Main(m) }

// The scopes docs/forges/gitea.md tells users to give the bot's token.
var botScopes = []string{"write:repository", "write:issue", "read:user", "read:organization"}

const webhookSecret = "sluice-test-webhook-secret"

// world is a repository on the real Gitea with users in every role.
type world struct {
	s                                       *giteatest.Server
	repo, org                               string
	author, reviewer1, reviewer2, reviewer3 string
	reader, stranger, bot                   string
	tok                                     map[string]string // login → token with all scopes
	botToken                                string            // the bot's least-privilege token
}

func newWorld(t *testing.T) *world {
	t.Helper()
	s := giteatest.Start(t)
	w := &world{s: s, tok: map[string]string{}}
	w.org = s.Name("org")
	s.CreateOrg(t, w.org)
	w.repo = s.CreateRepo(t, w.org, "infra")
	for _, u := range []struct {
		login *string
		role  string
	}{
		{&w.author, "write"}, {&w.reviewer1, "write"}, {&w.reviewer2, "write"}, {&w.reviewer3, "write"},
		{&w.reader, "read"}, {&w.stranger, ""}, {&w.bot, "admin"},
	} {
		prefix := map[string]string{"write": "dev", "read": "reader", "": "stranger", "admin": "sluice-bot"}[u.role]
		*u.login = s.Name(prefix)
		w.tok[*u.login] = s.CreateUser(t, *u.login)
		if u.role != "" {
			s.AddCollaborator(t, w.repo, *u.login, u.role)
		}
	}
	w.botToken = s.Token(t, w.bot, botScopes...)
	return w
}

// unknownEmail is an address no Gitea user has (the test commits' usual
// identity).
const unknownEmail = "test@example.com"

// email is the address giteatest gives a user.
func (w *world) email(login string) string { return login + "@example.com" }

// commit is a commit pushCommits makes: its author's and committer's
// emails, and the files it writes.
type commit struct {
	author, committer string
	files             map[string]string
}

// pushCommits makes commits, in order, on top of branch base and pushes
// them to branch as pusher. It returns the last one's id.
func (w *world) pushCommits(t *testing.T, pusher, base, branch string, commits ...commit) string {
	t.Helper()
	s, token := w.s, w.tok[pusher]
	dir := s.Clone(t, token, w.repo)
	s.Git(t, dir, token, "checkout", "-q", "-B", branch, "origin/"+base)
	for i, c := range commits {
		for p, content := range c.files {
			testkit.WriteFile(t, filepath.Join(dir, p), content)
		}
		s.Git(t, dir, token, "add", "-A")
		testkit.GitEnv(t, dir, []string{
			"GIT_AUTHOR_NAME=Author", "GIT_AUTHOR_EMAIL=" + c.author,
			"GIT_COMMITTER_NAME=Committer", "GIT_COMMITTER_EMAIL=" + c.committer,
		}, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("change %d of %s", i+1, branch))
	}
	s.Git(t, dir, token, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return s.Git(t, dir, token, "rev-parse", "HEAD")
}

func (w *world) client(t *testing.T) *gitea.Client {
	t.Helper()
	c, err := gitea.New(w.s.URL(), w.botToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestContract runs the forge contract against the real Gitea: a draft pull
// request with an approval, a request for changes, a dismissed approval,
// one unresolved and one resolved conversation, a CI status, and webhooks
// Gitea really delivered.
func TestContract(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.s
	// Two commits: the author's (committed by an address no user has), then
	// one reviewer1 committed onto the author's branch (authored by that
	// address).
	w.pushCommits(t, w.author, "main", "network", commit{w.email(w.author), unknownEmail, map[string]string{
		"main.tf": "resource \"terraform_data\" \"a\" {}\n",
	}})
	head := w.pushCommits(t, w.reviewer1, "network", "network", commit{unknownEmail, w.email(w.reviewer1), map[string]string{
		"main.tf": "resource \"terraform_data\" \"a\" {}\nresource \"terraform_data\" \"b\" {}\n",
	}})
	pr := s.CreatePR(t, w.tok[w.author], w.repo, "network", "main", "WIP: add the network", "Adds it.")
	if !pr.Draft {
		t.Fatalf("a WIP: title does not make a draft on this Gitea: %+v", pr)
	}
	// Latest verdicts win; dismissed ones do not count; comments are no
	// verdicts.
	s.Review(t, w.tok[w.reviewer1], w.repo, pr.Number, "REQUEST_CHANGES", "first look")
	s.Review(t, w.tok[w.reviewer1], w.repo, pr.Number, "APPROVED", "fine now")
	s.Review(t, w.tok[w.reviewer2], w.repo, pr.Number, "APPROVED", "looks good")
	s.Review(t, w.tok[w.reviewer2], w.repo, pr.Number, "REQUEST_CHANGES", "on second thought",
		giteatest.ReviewComment{Path: "main.tf", NewLine: 1, Body: "use a variable"})
	dismissed := s.Review(t, w.tok[w.reviewer3], w.repo, pr.Number, "APPROVED", "ship it")
	s.DismissReview(t, s.AdminToken(t), w.repo, pr.Number, dismissed, "too quick")
	// Conversations: one on line 1 (with a reply, still open), one on line
	// 2, resolved.
	s.Review(t, w.tok[w.author], w.repo, pr.Number, "COMMENT", "",
		giteatest.ReviewComment{Path: "main.tf", NewLine: 1, Body: "why?"})
	nit := s.Review(t, w.tok[w.reviewer1], w.repo, pr.Number, "COMMENT", "",
		giteatest.ReviewComment{Path: "main.tf", NewLine: 2, Body: "nit"})
	s.ResolveComment(t, w.tok[w.author], w.repo, s.ReviewComments(t, w.tok[w.reviewer1], w.repo, pr.Number, nit)["nit"])
	s.SetStatus(t, s.AdminToken(t), w.repo, head, "ci/build", "success")

	fx := forgetest.Fixture{
		Repo:               w.repo,
		DefaultBranch:      "main",
		MR:                 pr.Number,
		Author:             w.author,
		HeadSHA:            head,
		BaseRef:            "main",
		Draft:              true,
		Approvers:          []string{w.reviewer1},
		ChangesRequestedBy: []string{w.reviewer2},
		Committers:         []string{w.author, w.reviewer1},
		UnresolvedThreads:  1,
		Checks:             []forge.Check{{Name: "ci/build", State: forge.CheckSuccess}},
		WriteUser:          w.author,
		ReadUser:           w.reader,
		MissingMR:          9999,
		Self:               w.bot,
		Webhooks:           captureWebhooks(t, w),
	}
	fx.Groups, fx.MissingGroups = groups(t, w)
	forgetest.Run(t, w.client(t), fx)
}

// recorded is a delivery Gitea made and what Parse must make of it; the
// testdata/webhooks files hold them.
type recorded struct {
	Name    string       `json:"name"`
	Secret  string       `json:"secret"`
	Header  http.Header  `json:"header"`
	Body    string       `json:"body"`
	Want    *forge.Event `json:"want,omitempty"`
	Ignored bool         `json:"ignored,omitempty"`
}

func (r recorded) webhook() forgetest.Webhook {
	wh := forgetest.Webhook{Name: r.Name, Header: r.Header.Clone(), Body: []byte(r.Body), Secret: []byte(r.Secret), Want: r.Want}
	if r.Ignored {
		wh.WantErr = forge.ErrIgnored
	}
	return wh
}

// captureWebhooks drives a second pull request through its life on the
// real Gitea, records every delivery, and returns them with their expected
// outcome, plus forged variants that must fail verification.
func captureWebhooks(t *testing.T, w *world) []forgetest.Webhook {
	t.Helper()
	s := w.s
	// The webhook docs/forges/gitea.md describes (the UI's Pull Request,
	// Pull Request Comment, Pull Request Reviewed and Pull Request
	// Synchronized events), and another for events Sluice ignores.
	rec := s.RecordWebhooks(t, w.repo, webhookSecret, "pull_request_only", "pull_request_comment", "pull_request_review", "pull_request_sync")
	other := s.RecordWebhooks(t, w.repo, webhookSecret, "push", "create", "issues", "issue_comment")
	var got []recorded
	// take records the next delivery of event; the deliveries of API calls
	// arrive before the call returns, those of pushes soon after.
	takeFrom := func(r *giteatest.Recorder, name, event string, want *forge.Event) {
		t.Helper()
		d := r.Take(t, event)
		if want != nil {
			want.DeliveryID = d.Header.Get("X-Gitea-Delivery")
		}
		got = append(got, recorded{Name: name, Secret: webhookSecret, Header: d.Header, Body: string(d.Body), Want: want, Ignored: want == nil})
	}
	take := func(name, event string, want *forge.Event) { t.Helper(); takeFrom(rec, name, event, want) }
	ignored := func(name, event string) { t.Helper(); takeFrom(other, name, event, nil) }
	mr := func(action string, number int64, actor, head string) *forge.Event {
		return &forge.Event{Kind: forge.EventMR, Action: action, Repo: w.repo, MR: number, Actor: forge.User{Login: actor}, HeadSHA: head}
	}
	author, r1, r2 := w.tok[w.author], w.tok[w.reviewer1], w.tok[w.reviewer2]

	head := s.PushFiles(t, author, w.repo, "main", "hooks", map[string]string{"hooks.tf": "# one\n"})
	ignored("push", "push")
	ignored("create", "create")

	pr := s.CreatePR(t, author, w.repo, "hooks", "main", "WIP: hooks", "first body")
	take("pull_request_opened", "pull_request", mr(forge.ActionOpened, pr.Number, w.author, head))
	s.EditPR(t, author, w.repo, pr.Number, map[string]any{"title": "Hooks"})
	take("pull_request_ready", "pull_request", mr(forge.ActionReady, pr.Number, w.author, head))
	s.EditPR(t, author, w.repo, pr.Number, map[string]any{"title": "[wip] Hooks"})
	take("pull_request_draft", "pull_request", mr(forge.ActionDraft, pr.Number, w.author, head))
	s.EditPR(t, author, w.repo, pr.Number, map[string]any{"body": "second body"})
	take("pull_request_edited", "pull_request", mr(forge.ActionEdited, pr.Number, w.author, head))
	s.EditPR(t, author, w.repo, pr.Number, map[string]any{"title": "Hooks again"})
	take("pull_request_ready_again", "pull_request", mr(forge.ActionReady, pr.Number, w.author, head))

	head = s.PushFiles(t, author, w.repo, "hooks", "hooks", map[string]string{"hooks.tf": "# two\n"})
	take("pull_request_synchronized", "pull_request_sync", mr(forge.ActionSynchronize, pr.Number, w.author, head))

	s.Comment(t, r1, w.repo, pr.Number, "sluice plan")
	take("pull_request_comment", "pull_request_comment", &forge.Event{Kind: forge.EventComment, Action: "created", Repo: w.repo, MR: pr.Number,
		Actor: forge.User{Login: w.reviewer1}, HeadSHA: head, Comment: &forge.Comment{Body: "sluice plan"}})
	review := func(actor string) *forge.Event {
		return &forge.Event{Kind: forge.EventReview, Action: "submitted", Repo: w.repo, MR: pr.Number, Actor: forge.User{Login: actor}, HeadSHA: head}
	}
	s.Review(t, r1, w.repo, pr.Number, "APPROVED", "fine")
	take("review_approved", "pull_request_review_approved", review(w.reviewer1))
	s.Review(t, r2, w.repo, pr.Number, "REQUEST_CHANGES", "not yet")
	take("review_rejected", "pull_request_review_rejected", review(w.reviewer2))
	s.Review(t, r2, w.repo, pr.Number, "COMMENT", "", giteatest.ReviewComment{Path: "hooks.tf", NewLine: 1, Body: "hmm"})
	take("review_comment", "pull_request_review_comment", review(w.reviewer2))

	issue := s.CreateIssue(t, author, w.repo, "Question", "what is this?")
	ignored("issue_opened", "issues")
	s.Comment(t, r1, w.repo, issue, "sluice plan")
	ignored("issue_comment", "issue_comment")

	s.EditPR(t, author, w.repo, pr.Number, map[string]any{"state": "closed"})
	take("pull_request_closed", "pull_request", mr(forge.ActionClosed, pr.Number, w.author, head))
	s.EditPR(t, author, w.repo, pr.Number, map[string]any{"state": "open"})
	take("pull_request_reopened", "pull_request", mr(forge.ActionReopened, pr.Number, w.author, head))
	s.MergePR(t, r1, w.repo, pr.Number)
	take("pull_request_merged", "pull_request", mr(forge.ActionMerged, pr.Number, w.reviewer1, head))

	// A pull request from a fork, by someone who may only read.
	fork := s.Fork(t, w.tok[w.reader], w.repo)
	forkHead := s.PushFiles(t, w.tok[w.reader], fork, "main", "from-fork", map[string]string{"fork.tf": "# fork\n"})
	forked := s.CreatePR(t, w.tok[w.reader], w.repo, w.reader+":from-fork", "main", "From a fork", "")
	want := mr(forge.ActionOpened, forked.Number, w.reader, forkHead)
	want.FromFork = true
	take("fork_pull_request_opened", "pull_request", want)

	if left := rec.All(); len(left) > 0 {
		for _, d := range left {
			t.Errorf("unexpected %s delivery: %.300s", d.Event(), d.Body)
		}
	}
	if *update {
		saveRecorded(t, got)
	}
	var hooks []forgetest.Webhook
	for _, r := range got {
		hooks = append(hooks, r.webhook())
	}
	for _, r := range got {
		if r.Name == "pull_request_opened" {
			hooks = append(hooks, forged(r)...)
		}
	}
	return hooks
}

// forged derives deliveries from a good one that must fail or pass
// verification.
func forged(r recorded) []forgetest.Webhook {
	good := r.webhook()
	without := func(names ...string) http.Header {
		h := good.Header.Clone()
		for _, n := range names {
			h.Del(n)
		}
		return h
	}
	allSigs := []string{"X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature", "X-Hub-Signature", "X-Hub-Signature-256"}
	tamperedSig := good.Header.Clone()
	tamperedSig.Set("X-Gitea-Signature", strings.Repeat("0", 64))
	return []forgetest.Webhook{
		{Name: "tampered body", Header: good.Header, Body: []byte(r.Body + " "), Secret: good.Secret, WantErr: forge.ErrBadSignature},
		{Name: "wrong secret", Header: good.Header, Body: good.Body, Secret: []byte("not-the-secret"), WantErr: forge.ErrBadSignature},
		{Name: "no signature", Header: without(allSigs...), Body: good.Body, Secret: good.Secret, WantErr: forge.ErrBadSignature},
		{Name: "no secret configured", Header: good.Header, Body: good.Body, Secret: nil, WantErr: forge.ErrBadSignature},
		{Name: "wrong X-Gitea-Signature beside a good X-Hub-Signature-256", Header: tamperedSig, Body: good.Body, Secret: good.Secret, WantErr: forge.ErrBadSignature},
		{Name: "X-Hub-Signature-256 only", Header: without("X-Gitea-Signature", "X-Gogs-Signature"), Body: good.Body, Secret: good.Secret, Want: good.Want},
		{Name: "no X-Gitea-Event-Type", Header: without("X-Gitea-Event-Type"), Body: good.Body, Secret: good.Secret, Want: good.Want},
	}
}

func saveRecorded(t *testing.T, rs []recorded) {
	t.Helper()
	dir := filepath.Join("testdata", "webhooks")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		for _, h := range []string{"Accept-Encoding", "Content-Length", "User-Agent"} {
			r.Header.Del(h)
		}
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, r.Name+".json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d deliveries to %s", len(rs), dir)
}

// TestGetMRBaseIsBranchTip checks that BaseSHA follows the base branch
// after the pull request was opened (it is not the merge base), and the
// fields the contract does not look at.
func TestGetMRBaseIsBranchTip(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.s
	head := s.PushFiles(t, w.tok[w.author], w.repo, "main", "feature", map[string]string{"a.tf": "# a\n"})
	pr := s.CreatePR(t, w.tok[w.author], w.repo, "feature", "main", "Add a", "body text")
	tip := s.PushFiles(t, w.tok[w.reviewer1], w.repo, "main", "main", map[string]string{"b.tf": "# b\n"})

	c := w.client(t)
	ctx := context.Background()
	mr, err := c.GetMR(ctx, w.repo, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.MergeRequest{Repo: w.repo, Number: pr.Number, Title: "Add a", Body: "body text", Author: mr.Author, State: forge.MROpen,
		HeadSHA: head, BaseSHA: tip, HeadRef: "feature", BaseRef: "main", WebURL: s.URL() + "/" + w.repo + "/pulls/1"}
	if *mr != want || mr.Author.Login != w.author || mr.Author.ID == 0 {
		t.Errorf("GetMR = %+v\nwant %+v by %s", mr, want, w.author)
	}

	s.MergePR(t, w.tok[w.reviewer1], w.repo, pr.Number)
	mr, err = c.GetMR(ctx, w.repo, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	merge := s.BranchSHA(t, w.repo, "main")
	if mr.State != forge.MRMerged || mr.MergeSHA != merge || mr.MergedBy == nil || mr.MergedBy.Login != w.reviewer1 || mr.BaseSHA != merge {
		t.Errorf("after merging: %+v (merged by %+v), want merged as %s by %s", mr, mr.MergedBy, merge, w.reviewer1)
	}

	s.PushFiles(t, w.tok[w.author], w.repo, "main", "dropped", map[string]string{"c.tf": "# c\n"})
	dropped := s.CreatePR(t, w.tok[w.author], w.repo, "dropped", "main", "Add c", "")
	s.EditPR(t, w.tok[w.author], w.repo, dropped.Number, map[string]any{"state": "closed"})
	mr, err = c.GetMR(ctx, w.repo, dropped.Number)
	if err != nil || mr.State != forge.MRClosed || mr.MergeSHA != "" {
		t.Errorf("closed pull request: %+v, %v", mr, err)
	}
}

// TestParseRecorded parses the deliveries recorded from the real Gitea
// (testdata/webhooks; go test -run TestContract -update rewrites them),
// and forged variants of each, without a server.
func TestParseRecorded(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "webhooks", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded deliveries in testdata/webhooks (%v)", err)
	}
	c, err := gitea.New("https://gitea.example.com", "token")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r recorded
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases := []forgetest.Webhook{r.webhook()}
		for _, v := range forged(r) {
			if v.WantErr == nil && r.Ignored {
				v.WantErr = forge.ErrIgnored
			}
			cases = append(cases, v)
		}
		for _, w := range cases {
			t.Run(r.Name+"/"+w.Name, func(t *testing.T) {
				ev, err := c.Parse(w.Header, w.Body, w.Secret)
				forgetest.CheckPrecheck(t, c, w, err)
				if w.WantErr != nil {
					if !errors.Is(err, w.WantErr) {
						t.Fatalf("err = %v, want %v", err, w.WantErr)
					}
					if strings.Contains(err.Error(), string(w.Secret)) && len(w.Secret) > 0 {
						t.Errorf("error %q shows the secret", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if diff := eventDiff(ev, w.Want); diff != "" {
					t.Error(diff)
				}
			})
		}
	}
}

// eventDiff compares the fields a recording sets, all of them (forgetest
// skips the empty ones). Ids other than the delivery's vary per server.
func eventDiff(got, want *forge.Event) string {
	norm := func(e *forge.Event) forge.Event {
		n := forge.Event{Kind: e.Kind, Action: e.Action, DeliveryID: e.DeliveryID, Repo: e.Repo, MR: e.MR,
			Actor: forge.User{Login: e.Actor.Login}, HeadSHA: e.HeadSHA, FromFork: e.FromFork}
		if e.Comment != nil {
			n.Comment = &forge.Comment{Body: e.Comment.Body}
		}
		return n
	}
	g, w := norm(got), norm(want)
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) != string(wj) {
		return "event\n got  " + string(gj) + "\n want " + string(wj)
	}
	return ""
}

// TestPermission checks every role against the real permission API, and
// that a bot which is not a repository administrator gets an error that
// says so.
func TestPermission(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.s
	orgOwner := s.Name("owner")
	s.CreateUser(t, orgOwner)
	s.AddOrgOwner(t, w.org, orgOwner)
	c := w.client(t)
	ctx := context.Background()
	for _, tc := range []struct {
		login   string
		want    forge.Permission
		wantErr error
	}{
		{login: w.author, want: forge.PermWrite},
		{login: w.reader, want: forge.PermRead},
		{login: w.stranger, want: forge.PermNone},
		{login: w.bot, want: forge.PermAdmin},
		{login: orgOwner, want: forge.PermAdmin},
		{login: giteatest.AdminLogin, want: forge.PermAdmin},
		{login: "nobody-" + w.org, wantErr: forge.ErrNotFound},
	} {
		t.Run(tc.login, func(t *testing.T) {
			p, err := c.Permission(ctx, w.repo, tc.login)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Errorf("Permission = %v, %v; want %v", p, err, tc.want)
			}
		})
	}
	t.Run("bot with write access only", func(t *testing.T) {
		writer, err := gitea.New(s.URL(), s.Token(t, w.author, botScopes...))
		if err != nil {
			t.Fatal(err)
		}
		_, err = writer.Permission(ctx, w.repo, w.reader)
		if err == nil || !strings.Contains(err.Error(), "administrator") {
			t.Errorf("err = %v, want one asking to make the bot an administrator", err)
		}
		if p, err := writer.Permission(ctx, w.repo, w.author); err != nil || p != forge.PermWrite {
			t.Errorf("own permission = %v, %v; want write", p, err)
		}
	})
}

// TestErrors checks the error kinds and messages of failed calls.
func TestErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.s
	c := w.client(t)
	ctx := context.Background()
	missing := w.org + "/missing"
	for _, tc := range []struct {
		name    string
		call    func() error
		wantErr error
		want    string
	}{
		{"GetMR in a missing repository", func() error { _, err := c.GetMR(ctx, missing, 1); return err }, forge.ErrNotFound, "reading pull request " + missing + "!1 on gitea"},
		{"Reviews of a missing MR", func() error { _, err := c.Reviews(ctx, w.repo, 404); return err }, forge.ErrNotFound, "reviews of pull request"},
		{"Comments of a missing MR", func() error { _, err := c.Comments(ctx, w.repo, 404); return err }, forge.ErrNotFound, "comments of pull request"},
		{"Committers of a missing MR", func() error { _, err := c.Committers(ctx, w.repo, 404); return err }, forge.ErrNotFound, "commits of pull request"},
		{"FindIssue in a missing repository", func() error { _, err := c.FindIssue(ctx, missing, "x"); return err }, forge.ErrNotFound, missing},
		{"UpdateIssue of a missing issue", func() error { return c.UpdateIssue(ctx, w.repo, 404, "t", "b") }, forge.ErrNotFound, "updating issue"},
		{"malformed repository", func() error { _, err := c.GetMR(ctx, "no-slash", 1); return err }, nil, "want owner/name"},
		{"unknown check state", func() error {
			return c.SetStatus(ctx, w.repo, s.BranchSHA(t, w.repo, "main"), forge.Check{Name: "x", State: "bogus"})
		}, nil, "unknown check state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v mentioning %q", err, tc.wantErr, tc.want)
			}
		})
	}
	t.Run("refused token", func(t *testing.T) {
		bad, err := gitea.New(s.URL(), "0000000000000000000000000000000000000000")
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.GetMR(ctx, w.repo, 1)
		if err == nil || !strings.Contains(err.Error(), "token was refused") || strings.Contains(err.Error(), "0000000000") {
			t.Errorf("err = %v, want a refused token, not shown", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.Reviews(cctx, w.repo, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

// TestPaging makes every list longer than the test server's page (10
// items) and checks nothing is lost or repeated.
func TestPaging(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.s
	c := w.client(t)
	ctx := context.Background()
	const n = 23

	head := s.PushFiles(t, w.tok[w.author], w.repo, "main", "many", map[string]string{"many.tf": "# many\n"})
	pr := s.CreatePR(t, w.tok[w.author], w.repo, "many", "main", "Many", "")

	t.Run("Checks", func(t *testing.T) {
		for i := range n {
			s.SetStatus(t, s.AdminToken(t), w.repo, head, "ctx-"+strconv.Itoa(i), "pending")
		}
		s.SetStatus(t, s.AdminToken(t), w.repo, head, "ctx-0", "success")
		s.SetStatus(t, s.AdminToken(t), w.repo, head, "ctx-1", "warning")
		s.SetStatus(t, s.AdminToken(t), w.repo, head, "ctx-2", "skipped")
		cs, err := c.Checks(ctx, w.repo, head)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != n {
			t.Fatalf("%d checks, want %d: %+v", len(cs), n, cs)
		}
		want := map[string]forge.CheckState{"ctx-0": forge.CheckSuccess, "ctx-1": forge.CheckFailure, "ctx-2": forge.CheckSuccess, "ctx-3": forge.CheckPending}
		for _, ch := range cs {
			if st, ok := want[ch.Name]; ok && ch.State != st {
				t.Errorf("%s = %s, want %s", ch.Name, ch.State, st)
			}
		}
	})
	t.Run("Reviews and threads", func(t *testing.T) {
		for i := range n {
			s.Review(t, w.tok[w.reviewer1], w.repo, pr.Number, "COMMENT", "",
				giteatest.ReviewComment{Path: "many.tf", NewLine: 1, Body: "remark " + strconv.Itoa(i)})
		}
		s.Review(t, w.tok[w.reviewer2], w.repo, pr.Number, "APPROVED", "last")
		rs, err := c.Reviews(ctx, w.repo, pr.Number)
		if err != nil || len(rs) != 1 || rs[0].User.Login != w.reviewer2 || rs[0].State != forge.ReviewApproved || rs[0].CommitSHA != head || rs[0].At.IsZero() {
			t.Errorf("Reviews = %+v, %v; want %s's approval at %s", rs, err, w.reviewer2, head)
		}
		// n comments on one line are one conversation.
		if got, err := c.UnresolvedThreads(ctx, w.repo, pr.Number); err != nil || got != 1 {
			t.Errorf("UnresolvedThreads = %d, %v; want 1", got, err)
		}
	})
	t.Run("Comments", func(t *testing.T) {
		for i := range n {
			if err := c.Reply(ctx, w.repo, pr.Number, "reply "+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := c.Comments(ctx, w.repo, pr.Number)
		if err != nil || len(cs) != n {
			t.Fatalf("%d comments, %v; want %d", len(cs), err, n)
		}
		for i, cm := range cs {
			if cm.Body != "reply "+strconv.Itoa(i) || cm.Author.Login != w.bot {
				t.Errorf("comment %d = %+v", i, cm)
			}
		}
	})
	t.Run("FindIssue", func(t *testing.T) {
		const marker = "<!-- sluice:drift prod -->"
		marked := s.CreateIssue(t, w.tok[w.author], w.repo, "Drift", marker)
		for i := range n {
			s.CreateIssue(t, w.tok[w.author], w.repo, "Other "+strconv.Itoa(i), "no marker")
		}
		is, err := c.FindIssue(ctx, w.repo, marker)
		if err != nil || is.Number != marked || !is.Open || is.Title != "Drift" || is.WebURL == "" {
			t.Errorf("FindIssue = %+v, %v; want #%d (the oldest open issue, on the last page)", is, err, marked)
		}
	})
}

// TestUpsertCommentKeepsToItsOwn checks that the sticky comment ignores
// other users' comments that quote its marker, keeps its parts in order,
// and starts over when someone deleted it.
func TestUpsertCommentKeepsToItsOwn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.s
	c := w.client(t)
	ctx := context.Background()
	s.PushFiles(t, w.tok[w.author], w.repo, "main", "sticky", map[string]string{"s.tf": "# s\n"})
	pr := s.CreatePR(t, w.tok[w.author], w.repo, "sticky", "main", "Sticky", "")
	const marker = "<!-- sluice:plan -->"
	bodies := func() []string {
		cs, err := c.Comments(ctx, w.repo, pr.Number)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, cm := range cs {
			out = append(out, cm.Author.Login+": "+strings.SplitN(cm.Body, "\n", 2)[0]+"|"+strings.SplitN(cm.Body+"\n", "\n", 3)[1])
		}
		return out
	}
	quote := "> " + marker + "\n> plan v1"
	steps := []struct {
		name  string
		do    func()
		parts []string
		want  []string
	}{
		{"three parts", nil, []string{marker + "\nplan v1", "part 2", "part 3"}, []string{
			w.bot + ": " + marker + "|plan v1", w.bot + ": part 2|", w.bot + ": part 3|"}},
		{"a human quotes it, then it shrinks", func() { s.Comment(t, w.tok[w.reviewer1], w.repo, pr.Number, quote) },
			[]string{marker + "\nplan v2", "part 2"}, []string{
				w.bot + ": " + marker + "|plan v2", w.bot + ": part 2|", w.reviewer1 + ": > " + marker + "|> plan v1"}},
		{"unchanged", nil, []string{marker + "\nplan v2", "part 2"}, []string{
			w.bot + ": " + marker + "|plan v2", w.bot + ": part 2|", w.reviewer1 + ": > " + marker + "|> plan v1"}},
		{"the head was deleted", func() {
			cs, _ := c.Comments(ctx, w.repo, pr.Number)
			s.API(t, s.AdminToken(t), http.MethodDelete, "/repos/"+w.repo+"/issues/comments/"+strconv.FormatInt(cs[0].ID, 10), nil, nil)
		}, []string{marker + "\nplan v3", "part 2 again"}, []string{
			w.reviewer1 + ": > " + marker + "|> plan v1", w.bot + ": " + marker + "|plan v3", w.bot + ": part 2 again|"}},
		{"render's part markers, and a duplicate from a race", func() {
			if err := c.Reply(ctx, w.repo, pr.Number, marker+"\nduplicate"); err != nil {
				t.Fatal(err)
			}
		}, []string{marker + "\nplan v4", "<!-- sluice:plan part 2 -->\nmore", "<!-- sluice:plan part 3 -->\nyet more"}, []string{
			w.reviewer1 + ": > " + marker + "|> plan v1", w.bot + ": " + marker + "|plan v4",
			w.bot + ": <!-- sluice:plan part 2 -->|more", w.bot + ": <!-- sluice:plan part 3 -->|yet more"}},
		{"back to one", nil, []string{marker + "\nplan v5"}, []string{
			w.reviewer1 + ": > " + marker + "|> plan v1", w.bot + ": " + marker + "|plan v5"}},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		if err := c.UpsertComment(ctx, w.repo, pr.Number, marker, st.parts); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := bodies(); strings.Join(got, "\n") != strings.Join(st.want, "\n") {
			t.Errorf("%s: comments\n%s\nwant\n%s", st.name, strings.Join(got, "\n"), strings.Join(st.want, "\n"))
		}
		if st.name == "render's part markers, and a duplicate from a race" {
			cs, _ := c.Comments(ctx, w.repo, pr.Number)
			for _, cm := range cs {
				if strings.Contains(cm.Body, "sluice-part:") {
					t.Errorf("a part with render's marker got a tag too: %q", cm.Body)
				}
			}
		}
	}
}

// TestCloneAuth clones the repository the way Sluice's workspaces do: the
// clone URL, and the CloneAuth pair in an Authorization header.
func TestCloneAuth(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.client(t)
	if got, want := c.CloneURL(w.repo), w.s.URL()+"/"+w.repo+".git"; got != want {
		t.Errorf("CloneURL = %s, want %s", got, want)
	}
	user, token := c.CloneAuth()
	dir := t.TempDir()
	giteatest.GitWithAuth(t, dir, user, token, "clone", "-q", c.CloneURL(w.repo), ".")
	if got, want := giteatest.GitWithAuth(t, dir, "", "", "rev-parse", "HEAD"), w.s.BranchSHA(t, w.repo, "main"); got != want {
		t.Errorf("cloned HEAD %s, want %s", got, want)
	}
}
