package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// TestGiteaSluiceDoesNotApproveItself: the token Sluice acts with is an
// admin's (it must read others' permissions), and Gitea lets an admin
// approve a pull request it did not author. Whoever holds that token
// (plan code that read it, say) approves alice's change with it: the
// approval does not count, the checklist says why, and carol's merge
// applies nothing.
func TestGiteaSluiceDoesNotApproveItself(t *testing.T) {
	sc := newScenario(t)
	bot := sc.logins["bot"]
	pr, _ := sc.openPR("alice", "self-approved", "prod", "2")
	sc.waitPlanned(pr.Number)

	sc.approve("bot", pr.Number, "approved with Sluice's own token")
	sc.waitComment("the bot's approval not counted", pr.Number, func(b string) bool {
		return strings.Contains(b, "- [ ] approvals — 0 of 1 needed (not counted: "+bot+" (the account Sluice acts as))")
	})

	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	reply := sc.waitReply(pr.Number, "Merged, but Sluice did not apply")
	if !strings.Contains(reply.Body, bot+" (the account Sluice acts as)") {
		t.Errorf("the refusal does not say why:\n%s", reply.Body)
	}
	if got := sc.desiredSize("prod"); got != "3" {
		t.Errorf("prod has %s nodes: applied on the approval of Sluice's own account", got)
	}
}

// TestGiteaOwnBaseBranchIsNeverApplied: rules come from the branch a
// merge request merges into, and anyone who may push can make a branch.
// On main, prod may be approved by bob only. alice pushes my-base, a copy
// of main whose sluice.yaml lets anyone approve prod and applies it on a
// comment, and opens a pull request that shrinks prod into my-base; carol
// approves it. Sluice plans it, but its checklist says it is never
// applied; alice's `sluice apply` is refused, and so is her merge into
// my-base, which releases the pull request's locks. prod keeps 3 nodes.
func TestGiteaOwnBaseBranchIsNeverApplied(t *testing.T) {
	sc := newScenario(t)
	bob := sc.logins["bob"]
	cfg := sc.fileOnMain("sluice.yaml")
	strict := strings.Replace(cfg, "    approval:\n      min: 1", "    approval:\n      min: 1\n      from: ["+bob+"]", 1)
	loose := strings.Replace(cfg, "    approval:\n      min: 1", "    approval:\n      min: 1\n    apply:\n      mode: before_merge", 1)
	if strict == cfg || loose == cfg {
		t.Fatalf("could not change the rules in:\n%s", cfg)
	}
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "main", map[string]string{"sluice.yaml": strict})
	sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "main", "my-base", map[string]string{"sluice.yaml": loose})
	prod := strings.Replace(sc.fileOnMain("prod/main.tf"), "desired_size = 3", "desired_size = 2", 1)
	sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "my-base", "shrink", map[string]string{"prod/main.tf": prod})
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "shrink", "my-base", "Shrink prod", "")
	sc.waitPlanned(pr.Number)
	// Planned, it holds no project lock: a merge request into main plans
	// prod meanwhile, instead of waiting for one that is never applied.
	other, _ := sc.openPR("bob", "grow", "prod", "4")
	sc.waitComment("a plan of prod into main beside it", other.Number, func(b string) bool {
		return strings.Contains(b, "1 to change") && !strings.Contains(b, "Pending")
	})
	heldBy := func(mr int64) []store.Lock {
		locks, err := sc.s.client.ListLocks(context.Background(), sc.sluiceID)
		if err != nil {
			t.Fatal(err)
		}
		var held []store.Lock
		for _, l := range locks {
			if l.MR == mr {
				held = append(held, l)
			}
		}
		return held
	}
	if held := heldBy(pr.Number); len(held) != 0 {
		t.Errorf("the merge request into my-base holds %+v", held)
	}

	sc.approve("carol", pr.Number, "fine by me")
	sc.waitComment("the checklist saying my-base is never applied", pr.Number, func(b string) bool {
		return strings.Contains(b, "- [ ] merges into a branch Sluice applies from — this pull request merges into my-base, and Sluice applies only pull requests into main: it is planned, never applied") &&
			strings.Contains(b, "[x] approvals")
	})

	sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice apply")
	reply := sc.waitReply(pr.Number, "Sluice did not apply")
	if !strings.Contains(reply.Body, "Sluice applies only pull requests into main") {
		t.Errorf("the refusal does not say why:\n%s", reply.Body)
	}

	sc.g.MergePR(t, sc.tokens["alice"], sc.repo, pr.Number)
	sc.waitReply(pr.Number, "**Merged into `my-base`**, which is not a branch Sluice applies from (`main`): nothing was applied")
	if got := sc.desiredSize("prod"); got != "3" {
		t.Errorf("prod has %s nodes: applied under the rules of a branch the author made", got)
	}
	for _, r := range sc.runs(pr.Number) {
		if r.Kind == store.KindApply {
			t.Errorf("an apply run: %+v", r)
		}
	}
	if held := heldBy(pr.Number); len(held) != 0 {
		t.Errorf("locks after the merge into my-base: %+v", held)
	}
}

// TestGiteaForgedCommentChangesNothing: whoever holds the webhook secret,
// or replays a delivery the forge's delivery page shows, can sign any
// author and any body. On a merged pull request nobody approved, a
// `sluice apply` of bob's, who may approve, would count as his approval.
// Two correctly signed deliveries say bob wrote `sluice apply`: one names
// alice's real comment "thanks!", the other a comment that does not
// exist. Nothing is applied and nobody is answered; bob's real comment
// then applies, and the audit log names bob.
func TestGiteaForgedCommentChangesNothing(t *testing.T) {
	sc := newScenario(t)
	bob := sc.logins["bob"]
	pr, _ := sc.openPR("alice", "forged", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	sc.waitReply(pr.Number, "Merged, but Sluice did not apply")

	thanks := sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "thanks!")
	real := sc.delivery(func(body []byte) bool {
		return strings.Contains(string(body), `"body": "thanks!"`) || strings.Contains(string(body), `"body":"thanks!"`)
	})
	for _, id := range []int64{thanks, thanks + 1000} {
		body := forgeComment(t, real.body, id, bob, "sluice apply")
		h := real.header.Clone()
		h.Set("X-Gitea-Delivery", fmt.Sprintf("forged-%d", id))
		sign(h, body)
		if code, answer := sc.deliver(h, body); code != http.StatusAccepted {
			t.Fatalf("forged delivery for comment %d: %d %s", id, code, answer)
		}
		// Until Sluice says it ignored the delivery, or it did not.
		ignored := fmt.Sprintf("ignoring a command the forge does not confirm: comment %d", id)
		sc.waitFor("the forged delivery for comment "+fmt.Sprint(id)+" handled", func() bool {
			return strings.Contains(sc.s.logs.String(), ignored) || countKind(sc.runs(pr.Number), store.KindApply) > 0
		})
	}
	if got := sc.desiredSize("prod"); got != "3" {
		t.Fatalf("prod has %s nodes: a forged comment applied", got)
	}
	for _, r := range sc.runs(pr.Number) {
		if r.Kind == store.KindApply {
			t.Fatalf("a forged comment made an apply run: %+v", r)
		}
	}
	for _, c := range sc.comments(pr.Number) {
		if strings.Contains(c.Body, "@"+bob) {
			t.Errorf("Sluice answered a comment bob did not write:\n%s", c.Body)
		}
	}

	nextSecond() // bob's request counts as his approval, from the second after the plan's
	sc.g.Comment(t, sc.tokens["bob"], sc.repo, pr.Number, "sluice apply")
	sc.waitComment("the apply of bob's real comment", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	if got := sc.desiredSize("prod"); got != "2" {
		t.Errorf("prod has %s nodes after bob's apply, want 2", got)
	}
	entries, err := sc.s.client.Audit(context.Background(), 0, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var applied bool
	for _, e := range entries {
		if e.Action == "apply" {
			applied = true
			if e.Actor != bob {
				t.Errorf("the apply is audited as %s's, want %s's: %+v", e.Actor, bob, e)
			}
		}
	}
	if !applied {
		t.Errorf("no apply in the audit log: %+v", entries)
	}
}

// delivery returns the first delivery Gitea made whose body matches.
func (sc *scenario) delivery(match func(body []byte) bool) delivery {
	sc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		sc.mu.Lock()
		for _, d := range sc.deliveries {
			if match(d.body) {
				sc.mu.Unlock()
				return d
			}
		}
		sc.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	sc.t.Fatal("no such delivery")
	return delivery{}
}

// forgeComment rewrites a comment delivery: its comment is id, written by
// login, saying body.
func forgeComment(t *testing.T, payload []byte, id int64, login, body string) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	c := p["comment"].(map[string]any)
	c["id"], c["body"] = id, body
	c["user"].(map[string]any)["login"] = login
	p["sender"].(map[string]any)["login"] = login
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sign signs a delivery with the webhook secret, as Gitea does.
func sign(h http.Header, body []byte) {
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	sig := hex.EncodeToString(mac.Sum(nil))
	h.Set("X-Gitea-Signature", sig)
	h.Set("X-Hub-Signature-256", "sha256="+sig)
	h.Del("X-Hub-Signature")
}

// waitFor polls until ok.
func (sc *scenario) waitFor(what string, ok func() bool) {
	sc.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			sc.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
