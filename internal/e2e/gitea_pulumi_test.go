package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
	"github.com/sluicehq/sluice/internal/testkit/pulumitest"
)

// TestGiteaPulumiScenario is the mission's story once more with a Pulumi
// project (the real pulumi CLI, its YAML language host and the sluicetest
// provider): a pull request scales the node group from 3 to 2, Sluice
// previews it in one comment, the review approves, the merge applies the
// reviewed update plan.
func TestGiteaPulumiScenario(t *testing.T) {
	pe := pulumitest.New(t)
	for _, kv := range pe.Vars {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // the in-process CLI below runs pulumi with them
	}
	g := giteatest.Start(t)
	sc := &scenario{t: t, g: g, tokens: map[string]string{}, logins: map[string]string{}}
	for _, role := range []string{"owner", "bot", "alice", "bob", "carol"} {
		sc.logins[role] = g.Name(role)
		sc.tokens[role] = g.CreateUser(t, sc.logins[role])
	}
	sc.repo = g.CreateRepo(t, sc.logins["owner"], "infra")
	sc.sluiceID = "gitea:" + sc.repo
	g.AddCollaborator(t, sc.repo, sc.logins["bot"], "admin")
	for _, role := range []string{"alice", "bob", "carol"} {
		g.AddCollaborator(t, sc.repo, sc.logins[role], "write")
	}
	fixture := t.TempDir()
	testkit.CopyDir(t, filepath.Join("..", "..", "examples", "pulumi-local"), fixture)
	g.PushFixture(t, sc.tokens["owner"], sc.repo, "main", "main", fixture)

	// Today: 3 nodes, applied with the local CLI.
	checkout := g.Clone(t, sc.tokens["owner"], sc.repo)
	sc.sluiceCLI(checkout, "--pulumi-bin", pe.Bin, "plan", "--base", "main", "-p", "cluster")
	sc.sluiceCLI(checkout, "--pulumi-bin", pe.Bin, "apply", "--quiet")
	if got := workers(t, pe)["desiredSize"]; fmt.Sprint(got) != "3" {
		t.Fatalf("bootstrap: desiredSize %v", got)
	}

	env := serverEnv(t, &repo{dir: t.TempDir(), state: filepath.Dir(pe.StateFile)}, t.TempDir(), "")
	env = append(env, pe.Vars...)
	env = append(env, "SLUICE_PULUMI_BIN="+pe.Bin, "SLUICE_GITEA_URL="+g.URL(), "SLUICE_GITEA_TOKEN="+sc.tokens["bot"],
		"SLUICE_WEBHOOK_SECRET="+webhookSecret, "SLUICE_REPOS="+sc.sluiceID)
	sc.s = startServer(t, env)
	g.CreateWebhook(t, sc.repo, sc.s.url+"/webhooks/gitea", webhookSecret,
		"pull_request_only", "pull_request_comment", "pull_request_review", "pull_request_sync")

	program := strings.Replace(sc.fileOnMain("cluster/Pulumi.yaml"), "desiredSize: 3", "desiredSize: 2", 1)
	head := g.PushFiles(t, sc.tokens["alice"], sc.repo, "main", "reduce", map[string]string{"cluster/Pulumi.yaml": program})
	pr := g.CreatePR(t, sc.tokens["alice"], sc.repo, "reduce", "main", "Reduce the node group to two nodes", "")
	c := sc.waitComment("the preview", pr.Number, func(b string) bool { return strings.Contains(b, "1 to change") })
	for _, want := range []string{"0 to add, 1 to change, 0 to destroy", "desiredSize: 3 -> 2", "`cluster`"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("preview comment lacks %q:\n%s", want, c.Body)
		}
	}
	sc.waitStatus(head, "sluice/plan: cluster", "success")
	sc.approve("bob", pr.Number, "two is enough")
	sc.waitComment("a passing checklist", pr.Number, func(b string) bool { return strings.Contains(b, "[x] approvals") })
	g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	sc.waitComment("the apply", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	if got := workers(t, pe)["desiredSize"]; fmt.Sprint(got) != "2" {
		t.Errorf("desiredSize after the apply: %v, want 2", got)
	}
	if n := countKind(sc.runs(pr.Number), store.KindPlan); n != 1 {
		t.Errorf("%d plan runs: the merge must apply the reviewed plan, not a new one", n)
	}
	_ = time.Second
}

// workers returns the node group's properties in the provider's "cloud".
func workers(t *testing.T, pe *pulumitest.Env) map[string]any {
	t.Helper()
	for _, r := range pe.Resources(t) {
		if strings.HasSuffix(r.Type, "NodeGroup") {
			return r.Properties
		}
	}
	return nil
}
