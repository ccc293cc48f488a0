package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

// dependsFiles is a repository with two Terraform projects: net, and app,
// which depends on net. Each has one terraform_data resource, replaced
// when rev changes, whose provisioner appends to order.log in the state
// directory when it is applied: net's runs netCmd (by default it notes
// its start, takes two seconds, and notes its end), app's notes "app".
func dependsFiles(stateDir string, rev int, netCmd string) map[string]string {
	log := filepath.Join(stateDir, "order.log")
	if netCmd == "" {
		netCmd = fmt.Sprintf("echo net-start >> %s && sleep 2 && echo net-end >> %s", log, log)
	}
	project := func(name, cmd string) string {
		return fmt.Sprintf(`terraform {
  backend "local" {
    path = "%s/%s.tfstate"
  }
}

resource "terraform_data" "%s" {
  triggers_replace = %d
  input            = { name = "%s" }

  provisioner "local-exec" {
    command = "%s"
  }
}
`, stateDir, name, name, rev, name, cmd)
	}
	return map[string]string{
		"sluice.yaml": `version: 1
projects:
  - name: app
    dir: app
    engine: terraform
    depends_on: [net]
  - name: net
    dir: net
    engine: terraform
`,
		"net/main.tf": project("net", netCmd),
		"app/main.tf": project("app", fmt.Sprintf("echo app >> %s", log)),
	}
}

// newDependsScenario is newScenario on the two projects' repository,
// nothing applied yet.
func newDependsScenario(t *testing.T) *scenario {
	t.Helper()
	g := giteatest.Start(t)
	sc := &scenario{t: t, g: g, state: t.TempDir(), tokens: map[string]string{}, logins: map[string]string{}}
	for _, role := range []string{"owner", "bot", "alice", "bob", "carol"} {
		login := g.Name(role)
		sc.logins[role] = login
		sc.tokens[role] = g.CreateUser(t, login)
	}
	sc.repo = g.CreateRepo(t, sc.logins["owner"], "infra")
	sc.sluiceID = "gitea:" + sc.repo
	g.AddCollaborator(t, sc.repo, sc.logins["bot"], "admin")
	for _, role := range []string{"alice", "bob", "carol"} {
		g.AddCollaborator(t, sc.repo, sc.logins[role], "write")
	}
	fixture := t.TempDir()
	for name, body := range dependsFiles(sc.state, 1, "") {
		p := filepath.Join(fixture, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.PushFixture(t, sc.tokens["owner"], sc.repo, "main", "main", fixture)

	env := serverEnv(t, &repo{dir: t.TempDir(), state: sc.state}, t.TempDir(), "")
	env = append(env, "SLUICE_GITEA_URL="+g.URL(), "SLUICE_GITEA_TOKEN="+sc.tokens["bot"],
		"SLUICE_WEBHOOK_SECRET="+webhookSecret, "SLUICE_REPOS="+sc.sluiceID, "SLUICE_MAX_CONCURRENT_RUNS=2")
	sc.s = startServer(t, env)
	sc.proxy = httptest.NewServer(http.HandlerFunc(sc.forward))
	t.Cleanup(sc.proxy.Close)
	g.CreateWebhook(t, sc.repo, sc.proxy.URL+"/webhooks/gitea", webhookSecret,
		"pull_request_only", "pull_request_comment", "pull_request_review", "pull_request_sync")
	return sc
}

// dependsPR opens alice's pull request changing both projects to rev,
// waits for both plans, has bob approve, and has carol merge it.
func (sc *scenario) dependsPR(branch string, rev int, netCmd string) int64 {
	sc.t.Helper()
	head := sc.g.PushFiles(sc.t, sc.tokens["alice"], sc.repo, "main", branch, dependsFiles(sc.state, rev, netCmd))
	pr := sc.g.CreatePR(sc.t, sc.tokens["alice"], sc.repo, branch, "main", "Revision "+fmt.Sprint(rev)+" of net and app", "")
	sc.waitStatus(head, "sluice/plan: net", "success")
	sc.waitStatus(head, "sluice/plan: app", "success")
	sc.approve("bob", pr.Number, "ok")
	sc.waitComment("both approved", pr.Number, func(b string) bool {
		return strings.Count(b, "[x] approvals") == 2
	})
	sc.g.MergePR(sc.t, sc.tokens["carol"], sc.repo, pr.Number)
	return pr.Number
}

// applyRuns returns the apply runs of net and app of a pull request once
// done accepts them.
func (sc *scenario) applyRuns(pr int64, what string, done func(net, app store.Run) bool) (store.Run, store.Run) {
	sc.t.Helper()
	var net, app store.Run
	sc.s.waitRuns(what, store.RunFilter{Repo: sc.sluiceID, MR: pr, Kind: store.KindApply}, func(runs []store.Run) bool {
		net, app = store.Run{}, store.Run{}
		for _, r := range runs {
			switch r.Project {
			case "net":
				net = r
			case "app":
				app = r
			}
		}
		return done(net, app)
	})
	return net, app
}

func (sc *scenario) orderLog() string {
	b, _ := os.ReadFile(filepath.Join(sc.state, "order.log"))
	return string(b)
}

// TestGiteaDependsOn: app depends on net, and a pull request changes both.
// On merge, app's apply starts only once net's has succeeded (net's
// provisioner takes two seconds, and the server runs two jobs at once). A
// second pull request whose net apply fails leaves app unapplied, and
// says why.
func TestGiteaDependsOn(t *testing.T) {
	sc := newDependsScenario(t)

	first := sc.dependsPR("both", 2, "")
	net, app := sc.applyRuns(first, "both applies", func(net, app store.Run) bool {
		return net.State.Final() && app.State.Final()
	})
	if net.State != store.StateSucceeded || app.State != store.StateSucceeded {
		t.Fatalf("applies: net %s %q, app %s %q\nnet's log:\n%s", net.State, net.Error, app.State, app.Error, sc.runLog(net.ID))
	}
	if got, want := sc.orderLog(), "net-start\nnet-end\napp\n"; got != want {
		t.Errorf("order.log = %q, want %q: app was applied while net was", got, want)
	}
	if app.StartedAt == nil || net.FinishedAt == nil || app.StartedAt.Before(*net.FinishedAt) {
		t.Errorf("app's apply started at %v, before net's ended at %v", app.StartedAt, net.FinishedAt)
	}
	sc.waitComment("both applied", first, func(b string) bool { return strings.Count(b, "Apply complete") == 2 })

	// net's apply fails: app is not applied.
	second := sc.dependsPR("net-fails", 3, fmt.Sprintf("echo net-fails >> %s && exit 1", filepath.Join(sc.state, "order.log")))
	net, app = sc.applyRuns(second, "net failed, app cancelled", func(net, app store.Run) bool {
		return net.State.Final() && app.State.Final()
	})
	const why = "not applied: it depends on net, whose apply failed"
	if net.State != store.StateFailed || app.State != store.StateCancelled || app.Error != why {
		t.Fatalf("applies: net %s %q, app %s %q; want net failed and app cancelled: %q", net.State, net.Error, app.State, app.Error, why)
	}
	sc.waitReply(second, "`app`: it depends on net, whose apply failed")
	sc.waitComment("app not applied", second, func(b string) bool { return strings.Contains(b, "whose apply failed") })
	sc.s.waitIdle("after net's apply failed")
	if got, want := sc.orderLog(), "net-start\nnet-end\napp\nnet-fails\n"; got != want {
		t.Errorf("order.log = %q, want %q: app was applied after net's apply failed (net's apply: %q)\n%s", got, want, net.Error, sc.runLog(net.ID))
	}
	assertAudit(t, sc.s, "apply.cancelled")
}

// runLog is a run's stored output, for a failure's message.
func (sc *scenario) runLog(id int64) string {
	lines, err := sc.s.client.Logs(context.Background(), id, 0)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Stream + ": " + l.Text + "\n")
	}
	return b.String()
}
