package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

// openPR pushes a change of env's size on a branch and opens a ready pull
// request; it waits for Sluice's plan comment.
func (sc *scenario) openPR(role, branch, env, size string) (giteatest.PR, string) {
	sc.t.Helper()
	head := sc.branch(role, branch, env, size)
	pr := sc.g.CreatePR(sc.t, sc.tokens[role], sc.repo, branch, "main", "Change "+env+" to "+size, "")
	sc.waitComment("the plan of "+branch, pr.Number, func(b string) bool { return strings.Contains(b, "to change") || strings.Contains(b, "Pending") })
	return pr, head
}

func (sc *scenario) waitPlanned(pr int64) {
	sc.t.Helper()
	sc.waitComment("a finished plan", pr, func(b string) bool { return strings.Contains(b, "1 to change") && !strings.Contains(b, "Pending") })
}

// TestGiteaBadSignature: a delivery with a forged or missing signature is
// answered 401 and nothing is stored.
func TestGiteaBadSignature(t *testing.T) {
	sc := newScenario(t)
	pr, _ := sc.openPR("alice", "bad-sig", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.mu.Lock()
	d := sc.deliveries[0]
	sc.mu.Unlock()
	sc.s.waitIdle("after the plan")
	before := len(sc.runs(pr.Number))
	for name, edit := range map[string]func(h http.Header){
		"forged": func(h http.Header) {
			h.Set("X-Gitea-Signature", strings.Repeat("0", 64))
			h.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
		},
		"missing": func(h http.Header) {
			h.Del("X-Gitea-Signature")
			h.Del("X-Hub-Signature-256")
			h.Del("X-Hub-Signature")
		},
	} {
		h := d.header.Clone()
		edit(h)
		h.Set("X-Gitea-Delivery", "forged-"+name)
		if code, body := sc.deliver(h, d.body); code != http.StatusUnauthorized || strings.Contains(string(body), webhookSecret) {
			t.Errorf("%s signature: %d %s", name, code, body)
		}
	}
	sc.s.waitIdle("after the refused deliveries")
	if after := len(sc.runs(pr.Number)); after != before {
		t.Errorf("runs went from %d to %d after refused deliveries", before, after)
	}
}

// TestGiteaSameDeliveryTwice: Gitea's delivery, delivered again, is
// answered as a duplicate and makes no second run.
func TestGiteaSameDeliveryTwice(t *testing.T) {
	sc := newScenario(t)
	pr, _ := sc.openPR("alice", "twice", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.mu.Lock()
	d := sc.deliveries[0]
	sc.mu.Unlock()
	code, body := sc.deliver(d.header, d.body)
	if code != http.StatusAccepted || !strings.Contains(string(body), `"duplicate": true`) {
		t.Fatalf("redelivery: %d %s", code, body)
	}
	sc.s.waitIdle("after the redelivery")
	if n := countKind(sc.runs(pr.Number), store.KindPlan); n != 1 {
		t.Errorf("%d plan runs after a redelivery, want 1", n)
	}
}

// TestGiteaApplyByReader: `sluice apply` from someone who may only read is
// refused, answered and audited.
func TestGiteaApplyByReader(t *testing.T) {
	sc := newScenario(t)
	sc.setApplyMode(t, "prod", "before_merge")
	pr, _ := sc.openPR("alice", "reader", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.approve("bob", pr.Number, "ok")
	sc.g.Comment(t, sc.tokens["mallory"], sc.repo, pr.Number, "sluice apply")
	sc.waitReply(pr.Number, sc.logins["mallory"]+" has read access")
	sc.s.waitIdle("mallory's request carried out") // nothing more is coming
	if n := countKind(sc.runs(pr.Number), store.KindApply); n != 0 {
		t.Fatalf("%d apply runs after a reader asked", n)
	}
	assertAudit(t, sc.s, "apply.refused")
	// A writer may.
	sc.g.Comment(t, sc.tokens["carol"], sc.repo, pr.Number, "sluice apply")
	sc.waitComment("the apply", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	if sc.desiredSize("prod") != "2" {
		t.Errorf("prod after carol's apply: %s", sc.desiredSize("prod"))
	}
}

// TestGiteaMergeBeforeTheGate: a merge without approval applies nothing;
// the comment says why; a reviewer's `sluice apply` then applies (the
// author's does not).
func TestGiteaMergeBeforeTheGate(t *testing.T) {
	sc := newScenario(t)
	pr, _ := sc.openPR("alice", "early-merge", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	sc.waitReply(pr.Number, "Merged, but Sluice did not apply")
	sc.s.waitIdle("the merge carried out") // nothing more is coming
	if sc.desiredSize("prod") != "3" {
		t.Fatal("applied without approval")
	}
	sc.waitComment("the checklist on the merged PR", pr.Number, func(b string) bool { return strings.Contains(b, "Merged, not applied") })
	// The author cannot approve her own change by asking.
	sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice apply")
	sc.waitReply(pr.Number, sc.logins["alice"]+" (the author)")
	sc.s.waitIdle("alice's request carried out")
	if sc.desiredSize("prod") != "3" {
		t.Fatal("the author's own apply request was carried out")
	}
	// Gitea takes no review on a merged pull request: a reviewer's
	// `sluice apply` is their approval.
	sc.g.Comment(t, sc.tokens["bob"], sc.repo, pr.Number, "sluice apply")
	sc.waitComment("the apply", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	if sc.desiredSize("prod") != "2" {
		t.Errorf("prod after the late apply: %s", sc.desiredSize("prod"))
	}
}

// TestGiteaBaseMoved: main changes the project after the plan: the apply is
// refused and says to update the branch (the apply of the head's plan
// would undo main's change, and a new plan of the same head would still
// lack it, so Sluice does not plan again by itself); once alice updates
// the branch, Sluice plans again, and the new plan needs a new approval.
func TestGiteaBaseMoved(t *testing.T) {
	sc := newScenario(t)
	sc.setApplyMode(t, "prod", "before_merge")
	pr, head := sc.openPR("alice", "moved", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.approve("bob", pr.Number, "ok")
	// Someone changes prod on main meanwhile.
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "main", map[string]string{"prod/main.tf": sc.fileOnMain("prod/main.tf") + mainsChange})
	sc.g.Comment(t, sc.tokens["carol"], sc.repo, pr.Number, "sluice apply")
	sc.waitReply(pr.Number, "merges as planned: main changed prod/main.tf, which this branch does not have: update the branch from main")
	sc.waitComment("the checklist saying so", pr.Number, func(b string) bool { return strings.Contains(b, behindDetail) })
	if n := countKind(sc.runs(pr.Number), store.KindPlan); n != 1 {
		t.Errorf("%d plan runs: Sluice planned the same head again, which would still lack main's change", n)
	}
	sc.g.UpdatePR(t, sc.tokens["alice"], sc.repo, pr.Number)
	deadline := time.Now().Add(60 * time.Second)
	for countKind(sc.runs(pr.Number), store.KindPlan) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("Sluice did not plan the updated branch")
		}
		time.Sleep(200 * time.Millisecond)
	}
	sc.waitComment("the new plan's checklist", pr.Number, func(b string) bool {
		return strings.Contains(b, "given before the current plan: "+sc.logins["bob"])
	})
	if n := countKind(sc.runs(pr.Number), store.KindApply); n != 0 || sc.desiredSize("prod") != "3" {
		t.Errorf("applied a stale plan: %d apply runs, prod %s", n, sc.desiredSize("prod"))
	}
	_ = head
}

// TestGiteaFork: a pull request from a fork is not planned by itself.
func TestGiteaFork(t *testing.T) {
	sc := newScenario(t)
	fork := sc.g.Fork(t, sc.tokens["mallory"], sc.repo)
	content := strings.Replace(sc.fileOnMain("prod/main.tf"), "desired_size = 3", "desired_size = 1", 1)
	sc.g.PushFiles(t, sc.tokens["mallory"], fork, "main", "shrink", map[string]string{"prod/main.tf": content})
	owner := strings.Split(fork, "/")[0]
	pr := sc.g.CreatePR(t, sc.tokens["mallory"], sc.repo, owner+":shrink", "main", "Shrink prod", "")
	sc.waitReply(pr.Number, "comes from a fork")
	sc.s.waitIdle("after the fork's pull request was answered")
	if n := len(sc.runs(pr.Number)); n != 0 {
		t.Errorf("%d runs for a fork's pull request", n)
	}
}

// TestGiteaSecondPRQueues: two pull requests touch prod; the second waits
// for the first's lock and is planned when the first is merged and applied.
func TestGiteaSecondPRQueues(t *testing.T) {
	sc := newScenario(t)
	first, _ := sc.openPR("alice", "first", "prod", "2")
	sc.waitPlanned(first.Number)
	second, _ := sc.openPR("bob", "second", "prod", "4")
	sc.waitComment("the second waiting", second.Number, func(b string) bool {
		return strings.Contains(b, fmt.Sprintf("waiting for the project lock, held by #%d", first.Number))
	})
	sc.approve("bob", first.Number, "ok")
	sc.waitComment("approval seen", first.Number, func(b string) bool { return strings.Contains(b, "[x] approvals") })
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, first.Number)
	sc.waitComment("the first applied", first.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	sc.waitComment("the second planned", second.Number, func(b string) bool { return strings.Contains(b, "1 to change") && !strings.Contains(b, "Pending") })
	locks, _ := sc.s.client.ListLocks(context.Background(), sc.sluiceID)
	if len(locks) != 1 || locks[0].MR != second.Number {
		t.Errorf("locks = %+v, want the second PR holding prod", locks)
	}
}

// TestGiteaClosedWithoutMerge: closing releases the lock and discards the
// plans.
func TestGiteaClosedWithoutMerge(t *testing.T) {
	sc := newScenario(t)
	pr, _ := sc.openPR("alice", "abandon", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.g.EditPR(t, sc.tokens["alice"], sc.repo, pr.Number, map[string]any{"state": "closed"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		locks, _ := sc.s.client.ListLocks(context.Background(), sc.sluiceID)
		if len(locks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock still held after closing: %+v", locks)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// An apply of the closed PR's plan is impossible now.
	sc.g.Comment(t, sc.tokens["carol"], sc.repo, pr.Number, "sluice apply")
	sc.waitReply(pr.Number, "closed without merging")
	sc.waitComment("the closed note", pr.Number, func(b string) bool {
		return strings.Contains(b, "Closed without merging") && !strings.Contains(b, "Before apply")
	})
	if n := countKind(sc.runs(pr.Number), store.KindApply); n != 0 {
		t.Errorf("%d apply runs for a closed pull request", n)
	}
}

// TestGiteaFailingPlan: a plan that fails shows the engine's error lines
// and a failed status.
func TestGiteaFailingPlan(t *testing.T) {
	sc := newScenario(t)
	content := strings.Replace(sc.fileOnMain("prod/main.tf"), "desired_size = 3", "desired_size = ", 1)
	head := sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "main", "broken", map[string]string{"prod/main.tf": content})
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "broken", "main", "Broken change", "")
	c := sc.waitComment("the failure", pr.Number, func(b string) bool { return strings.Contains(b, "Plan failed") })
	if !strings.Contains(c.Body, "Error") || !strings.Contains(c.Body, "main.tf") {
		t.Errorf("the comment does not show the engine's error lines:\n%s", c.Body)
	}
	sc.waitStatus(head, "sluice/plan: prod", "failure")
}

// setApplyMode commits an apply mode for a project to main.
func (sc *scenario) setApplyMode(t *testing.T, project, mode string) {
	t.Helper()
	cfg := sc.fileOnMain("sluice.yaml")
	cfg = strings.Replace(cfg, "    approval:\n      min: 1", "    approval:\n      min: 1\n    apply:\n      mode: "+mode, 1)
	if !strings.Contains(cfg, "mode: "+mode) {
		t.Fatalf("could not set the apply mode in:\n%s", cfg)
	}
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "main", map[string]string{"sluice.yaml": cfg})
}
