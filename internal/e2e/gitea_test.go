package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

const webhookSecret = "e2e-webhook-secret-0123456789"

// scenario is a Gitea repository with Sluice's webhook, the people of the
// story and a running Sluice server.
type scenario struct {
	t        *testing.T
	g        *giteatest.Server
	repo     string // owner/name on Gitea
	org      string // the organisation that owns repo, if one does
	state    string // where terraform keeps the state
	tokens   map[string]string
	logins   map[string]string // role → login
	s        *server
	sluiceID string // "gitea:owner/name"
	proxy    *httptest.Server

	mu         sync.Mutex
	deliveries []delivery
}

// newScenario sets up Gitea users (owner, sluice bot, alice the author,
// bob the reviewer, carol who merges, mallory who may only read), the
// infrastructure repository with staging and prod at 3 nodes, applied,
// and a Sluice server on SQLite whose webhook Gitea calls.
func newScenario(t *testing.T) *scenario { return newScenarioOf(t, false) }

// newScenarioOf is newScenario; with inOrg the repository belongs to an
// organisation (sc.org) whose owners are owner and the bot.
func newScenarioOf(t *testing.T, inOrg bool) *scenario { return newScenarioEnv(t, inOrg, nil) }

// newScenarioEnv is newScenarioOf with the server's environment passed
// through edit, when set, before the server starts.
func newScenarioEnv(t *testing.T, inOrg bool, edit func(env []string) []string) *scenario {
	t.Helper()
	g := giteatest.Start(t)
	sc := &scenario{t: t, g: g, state: t.TempDir(), tokens: map[string]string{}, logins: map[string]string{}}
	for _, role := range []string{"owner", "bot", "alice", "bob", "carol", "mallory"} {
		login := g.Name(role)
		sc.logins[role] = login
		sc.tokens[role] = g.CreateUser(t, login)
	}
	owner := sc.logins["owner"]
	if inOrg {
		sc.org = g.Name("org")
		g.CreateOrg(t, sc.org)
		g.AddOrgOwner(t, sc.org, sc.logins["owner"])
		g.AddOrgOwner(t, sc.org, sc.logins["bot"]) // to read the organisation's teams
		owner = sc.org
	}
	sc.repo = g.CreateRepo(t, owner, "infra")
	sc.sluiceID = "gitea:" + sc.repo
	g.AddCollaborator(t, sc.repo, sc.logins["bot"], "admin") // Gitea shows others' permissions to admins only
	for _, role := range []string{"alice", "bob", "carol"} {
		g.AddCollaborator(t, sc.repo, sc.logins[role], "write")
	}
	g.AddCollaborator(t, sc.repo, sc.logins["mallory"], "read")

	fixture := t.TempDir()
	testkit.CopyDir(t, filepath.Join("testdata", "gitea-infra"), fixture)
	for _, env := range []string{"staging", "prod"} {
		testkit.Replace(t, filepath.Join(fixture, env, "main.tf"), "STATE_DIR", sc.state)
	}
	g.PushFixture(t, sc.tokens["owner"], sc.repo, "main", "main", fixture)

	// The infrastructure runs today with 3 nodes in both environments.
	checkout := g.Clone(t, sc.tokens["owner"], sc.repo)
	sc.sluiceCLI(checkout, "plan", "--base", "main", "-p", "staging,prod")
	sc.sluiceCLI(checkout, "apply", "--quiet")
	if got := sc.desiredSize("prod"); got != "3" {
		t.Fatalf("bootstrap: prod has %s nodes", got)
	}

	env := serverEnv(t, &repo{dir: t.TempDir(), state: sc.state}, t.TempDir(), "")
	env = append(env, "SLUICE_GITEA_URL="+g.URL(), "SLUICE_GITEA_TOKEN="+sc.tokens["bot"],
		"SLUICE_WEBHOOK_SECRET="+webhookSecret, "SLUICE_REPOS="+sc.sluiceID)
	if edit != nil {
		env = edit(env)
	}
	sc.s = startServer(t, env)
	// Gitea calls a recording proxy in front of Sluice, so a test can
	// deliver the very same request again.
	sc.proxy = httptest.NewServer(http.HandlerFunc(sc.forward))
	t.Cleanup(sc.proxy.Close)
	g.CreateWebhook(t, sc.repo, sc.proxy.URL+"/webhooks/gitea", webhookSecret,
		"pull_request_only", "pull_request_comment", "pull_request_review", "pull_request_sync")
	return sc
}

// delivery is a webhook request as Gitea sent it, and Sluice's answer.
type delivery struct {
	header http.Header
	body   []byte
	code   int
}

func (sc *scenario) forward(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	code, answer := sc.deliver(r.Header, body)
	sc.mu.Lock()
	sc.deliveries = append(sc.deliveries, delivery{header: r.Header.Clone(), body: body, code: code})
	sc.mu.Unlock()
	w.WriteHeader(code)
	_, _ = w.Write(answer)
}

// deliver posts a webhook request to Sluice and returns its answer.
func (sc *scenario) deliver(h http.Header, body []byte) (int, []byte) {
	req, _ := http.NewRequest(http.MethodPost, sc.s.url+"/webhooks/gitea", bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return http.StatusBadGateway, []byte(err.Error())
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

func (sc *scenario) sluiceCLI(dir string, args ...string) {
	sc.t.Helper()
	tf, _ := exec.LookPath("terraform")
	env := map[string]string{"SLUICE_TERRAFORM_BIN": tf, "TF_CLI_CONFIG_FILE": emptyFile(sc.t)}
	var out, errOut bytes.Buffer
	if err := cli.Run(context.Background(), append([]string{"-C", dir}, args...), func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}, &out, &errOut); err != nil {
		sc.t.Fatalf("sluice %v: %v\n%s%s", args, err, out.String(), errOut.String())
	}
}

// desiredSize reads the node group's size from the state.
func (sc *scenario) desiredSize(env string) string {
	s := readStateFile(sc.t, filepath.Join(sc.state, env+".tfstate"))
	const key = `"desired_size":`
	for i := strings.Index(s, key); i >= 0; {
		rest := s[i+len(key):]
		if rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return rest[:strings.IndexAny(rest, ",}")]
		}
		j := strings.Index(rest, key)
		if j < 0 {
			break
		}
		i += len(key) + j
	}
	return ""
}

// readStateFile returns a state file with all white space removed, so
// indented and compact JSON compare alike; "" when there is none.
func readStateFile(t *testing.T, path string) string {
	b, _ := os.ReadFile(path)
	return strings.Join(strings.Fields(string(b)), "")
}

// branch pushes a change of env's desired_size on a new branch.
func (sc *scenario) branch(role, name, env, size string) string {
	sc.t.Helper()
	path := env + "/main.tf"
	content := sc.fileOnMain(path)
	content = strings.Replace(content, "desired_size = 3", "desired_size = "+size, 1)
	return sc.g.PushFiles(sc.t, sc.tokens[role], sc.repo, "main", name, map[string]string{path: content})
}

func (sc *scenario) fileOnMain(path string) string {
	sc.t.Helper()
	return sc.fileOn("main", path)
}

// fileOn is a file as a branch has it.
func (sc *scenario) fileOn(branch, path string) string {
	sc.t.Helper()
	var f struct {
		Content string `json:"content"`
	}
	sc.g.API(sc.t, sc.tokens["owner"], http.MethodGet, "/repos/"+sc.repo+"/contents/"+path+"?ref="+branch, nil, &f)
	b, err := decodeBase64(f.Content)
	if err != nil {
		sc.t.Fatal(err)
	}
	return string(b)
}

// waitIssueComment waits for the latest comment on issue n to contain
// want, and returns it.
func (sc *scenario) waitIssueComment(n int64, want string) string {
	sc.t.Helper()
	var last string
	sc.waitFor(fmt.Sprintf("issue #%d to be told %q", n, want), func() bool {
		var cs []comment
		sc.g.API(sc.t, sc.tokens["owner"], http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments", sc.repo, n), nil, &cs)
		if len(cs) > 0 {
			last = cs[len(cs)-1].Body
		}
		return strings.Contains(last, want)
	})
	return last
}

type comment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

func (sc *scenario) comments(pr int64) []comment {
	sc.t.Helper()
	var cs []comment
	sc.g.API(sc.t, sc.tokens["owner"], http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments?limit=50", sc.repo, pr), nil, &cs)
	return cs
}

// sluiceComments are the comments of the sticky plan comment.
func (sc *scenario) sluiceComments(pr int64) []comment {
	var out []comment
	for _, c := range sc.comments(pr) {
		if strings.Contains(c.Body, "<!-- sluice:plan") {
			out = append(out, c)
		}
	}
	return out
}

// waitComment polls until the sticky comment satisfies ok.
func (sc *scenario) waitComment(what string, pr int64, ok func(body string) bool) comment {
	sc.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last []comment
	for time.Now().Before(deadline) {
		last = sc.sluiceComments(pr)
		if len(last) == 1 && ok(last[0].Body) {
			return last[0]
		}
		time.Sleep(200 * time.Millisecond)
	}
	var bodies []string
	for _, c := range last {
		bodies = append(bodies, c.Body)
	}
	sc.t.Fatalf("timed out waiting for %s; %d sluice comments:\n%s", what, len(last), strings.Join(bodies, "\n-----\n"))
	return comment{}
}

// waitReply polls until a comment (not the sticky one) contains text.
func (sc *scenario) waitReply(pr int64, text string) comment {
	sc.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range sc.comments(pr) {
			if !strings.Contains(c.Body, "<!-- sluice:plan") && strings.Contains(c.Body, text) {
				return c
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	sc.t.Fatalf("no reply containing %q on #%d: %+v", text, pr, sc.comments(pr))
	return comment{}
}

type status struct {
	Context     string `json:"context"`
	Status      string `json:"status"`
	Description string `json:"description"`
}

// commitStatus is status name on commit sha as Gitea has it (zero: none).
func (sc *scenario) commitStatus(sha, name string) status {
	var st struct {
		Statuses []status `json:"statuses"`
	}
	sc.g.API(sc.t, sc.tokens["owner"], http.MethodGet, fmt.Sprintf("/repos/%s/commits/%s/status", sc.repo, sha), nil, &st)
	for _, s := range st.Statuses {
		if s.Context == name {
			return s
		}
	}
	return status{}
}

func (sc *scenario) status(sha, name string) string { return sc.commitStatus(sha, name).Status }

func (sc *scenario) waitStatus(sha, name, want string) {
	sc.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if sc.status(sha, name) == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	sc.t.Fatalf("status %s on %s is %q, want %q", name, sha[:7], sc.status(sha, name), want)
}

func (sc *scenario) runs(pr int64) []store.Run {
	runs, err := sc.s.client.ListRuns(context.Background(), store.RunFilter{Repo: sc.sluiceID, MR: pr, Limit: 100})
	if err != nil {
		sc.t.Fatal(err)
	}
	return runs
}

// TestGiteaScenario is the story of the mission, on a real Gitea: an issue,
// a draft pull request that changes prod from 3 nodes to 2, one comment
// kept up to date, a review, an approval, the merge, and the apply of
// exactly the reviewed plan. main is protected as docs/forges/gitea.md
// recommends: Gitea refuses the merge until Sluice's gate passes.
func TestGiteaScenario(t *testing.T) {
	sc := newScenario(t)
	sc.g.ProtectWith(t, sc.repo, giteatest.RecommendedProtection("main"))
	issue := sc.g.CreateIssue(t, sc.tokens["alice"], sc.repo, "Reduce the node group to two nodes", "Our prod node group is too big: 3 nodes, 2 are enough.")
	head := sc.branch("alice", "reduce-prod", "prod", "2")
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "reduce-prod", "main", "WIP: Reduce the prod node group to two nodes", fmt.Sprintf("Closes #%d", issue))
	if !pr.Draft {
		t.Fatalf("the pull request is not a draft: %+v", pr)
	}

	// One comment: prod only, 0/1/0, the diff, the checklist.
	c := sc.waitComment("the plan comment", pr.Number, func(b string) bool { return strings.Contains(b, "1 to change") })
	for _, want := range []string{"0 to add, 1 to change, 0 to destroy", "desired_size: 3 -> 2", "`prod`", "[ ] not a draft", "[ ] approvals"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("plan comment lacks %q:\n%s", want, c.Body)
		}
	}
	if strings.Contains(c.Body, "`staging`") {
		t.Errorf("staging was planned though the change does not touch it:\n%s", c.Body)
	}
	sc.waitStatus(head, "sluice/plan: prod", "success")

	// Another push updates the same comment.
	content := strings.Replace(sc.fileOnMain("prod/main.tf"), "desired_size = 3", "desired_size = 2", 1)
	content = strings.Replace(content, "max_size     = 4", "max_size     = 3", 1)
	head = sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "reduce-prod", "reduce-prod", map[string]string{"prod/main.tf": content})
	c2 := sc.waitComment("the comment of the second push", pr.Number, func(b string) bool { return strings.Contains(b, "max_size: 4 -> 3") })
	if c2.ID != c.ID {
		t.Errorf("a new comment %d was posted instead of updating %d", c2.ID, c.ID)
	}
	sc.waitStatus(head, "sluice/plan: prod", "success")
	sc.waitStatus(head, gateStatus, "pending")
	sc.refusedMerge("carol", pr.Number, "it is a draft nobody approved")

	// Review: bob asks for changes; the checklist shows it.
	sc.g.Comment(t, sc.tokens["bob"], sc.repo, pr.Number, "Are two nodes enough for the peak?")
	sc.g.Review(t, sc.tokens["bob"], sc.repo, pr.Number, "REQUEST_CHANGES", "Please check the peak load first.")
	sc.waitComment("changes requested in the checklist", pr.Number, func(b string) bool { return strings.Contains(b, "changes requested by "+sc.logins["bob"]) })

	// alice marks the PR ready; bob approves.
	sc.g.EditPR(t, sc.tokens["alice"], sc.repo, pr.Number, map[string]any{"title": "Reduce the prod node group to two nodes"})
	sc.approve("bob", pr.Number, "Peak is fine.")
	sc.waitComment("a passing checklist", pr.Number, func(b string) bool {
		return strings.Contains(b, "[x] approvals") && strings.Contains(b, "[x] not a draft") && strings.Contains(b, "[x] no changes requested")
	})
	sc.waitStatus(head, gateStatus, "success")

	// carol merges: the stored plan is applied.
	plans := countKind(sc.runs(pr.Number), store.KindPlan)
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	c = sc.waitComment("the apply result", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	t.Logf("the comment after the merge:\n%s", c.Body)
	if got := sc.desiredSize("prod"); got != "2" {
		t.Errorf("prod has %s nodes after the apply, want 2", got)
	}
	sc.waitStatus(head, "sluice/apply: prod", "success")
	runs := sc.runs(pr.Number)
	if n := countKind(runs, store.KindPlan); n != plans {
		t.Errorf("the merge made a new plan (%d plan runs, was %d): it must apply the stored one", n, plans)
	}
	var apply store.Run
	for _, r := range runs {
		if r.Kind == store.KindApply {
			apply = r
		}
	}
	if apply.State != store.StateSucceeded || apply.HeadSHA != head || apply.Actor != sc.logins["carol"] {
		t.Errorf("apply run = %+v", apply)
	}
	locks, err := sc.s.client.ListLocks(context.Background(), sc.sluiceID)
	if err != nil || len(locks) != 0 {
		t.Errorf("locks after the apply: %+v %v", locks, err)
	}
	sc.waitIssueComment(issue, "Sluice applied prod") // the linked issue is told
	if staging := sc.desiredSize("staging"); staging != "3" {
		t.Errorf("staging changed: %s", staging)
	}
}

// approve approves as a person does: after the plan was posted. Forges
// time reviews to the second and Sluice counts an approval from the
// second after the plan's, so the test waits for the next second.
func (sc *scenario) approve(role string, pr int64, body string) {
	sc.t.Helper()
	nextSecond()
	sc.g.Review(sc.t, sc.tokens[role], sc.repo, pr, "APPROVED", body)
}

// nextSecond waits until the next second has begun: an approval (or a
// request for the apply of a merged merge request, which counts as one)
// counts from the second after the plan's.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
}

func countKind(runs []store.Run, k store.RunKind) int {
	n := 0
	for _, r := range runs {
		if r.Kind == k {
			n++
		}
	}
	return n
}
