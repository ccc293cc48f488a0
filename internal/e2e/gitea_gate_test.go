package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/client"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

// The recommended protection (docs/forges/gitea.md): main merges only
// pull requests whose head has a successful sluice/gate.
const gateStatus = "sluice/gate"

// refusedMerge asserts that Gitea refuses role's merge of pr.
func (sc *scenario) refusedMerge(role string, pr int64, why string) {
	sc.t.Helper()
	var refused *giteatest.APIError
	if err := sc.g.TryMerge(sc.t, sc.tokens[role], sc.repo, pr); !errors.As(err, &refused) || refused.Status != http.StatusMethodNotAllowed {
		sc.t.Fatalf("merging #%d while %s: %v, want Gitea's refusal", pr, why, err)
	}
}

// headOf is a pull request's head as Gitea has it now.
func (sc *scenario) headOf(pr int64) string {
	sc.t.Helper()
	var p giteatest.PR
	sc.g.API(sc.t, sc.tokens["owner"], http.MethodGet, fmt.Sprintf("/repos/%s/pulls/%d", sc.repo, pr), nil, &p)
	return p.Head.SHA
}

// TestGiteaGateHoldsTheMerge: with main protected as the docs say, Gitea
// itself refuses the merges Sluice would refuse to apply, which its own
// rules cannot express. bob pushes a commit onto alice's pull request and
// approves it: Gitea would count his approval, Sluice does not, so
// sluice/gate stays pending and Gitea refuses carol's merge. Once carol
// approves, the gate passes, Gitea merges and Sluice applies. A pull
// request that changes no project gets a passing gate at once.
func TestGiteaGateHoldsTheMerge(t *testing.T) {
	sc := newScenario(t)
	sc.g.Protect(t, sc.repo, "main", gateStatus)
	pr, head := sc.openPR("alice", "shrink", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.waitStatus(head, gateStatus, "pending")
	sc.refusedMerge("carol", pr.Number, "nobody approved")

	// bob edits the change in Gitea's editor, then approves it.
	content := strings.Replace(sc.fileOn("shrink", "prod/main.tf"),
		"# The prod cluster's node group.", "# The prod cluster's node group: two nodes.", 1)
	head = sc.g.EditFile(t, sc.tokens["bob"], sc.repo, "shrink", "prod/main.tf", content)
	sc.waitComment("the plan of bob's commit", pr.Number, func(b string) bool {
		return strings.Contains(b, "Commit `"+head[:7]+"`") && strings.Contains(b, "1 to change") && !strings.Contains(b, "Pending")
	})
	sc.approve("bob", pr.Number, "looks good")
	sc.waitComment("bob's approval not counted", pr.Number, func(b string) bool {
		return strings.Contains(b, sc.logins["bob"]+" (pushed commits to this pull request)")
	})
	sc.waitStatus(head, gateStatus, "pending")
	sc.refusedMerge("carol", pr.Number, "the only approval is a committer's")
	if got := sc.desiredSize("prod"); got != "3" {
		t.Fatalf("prod has %s nodes before any merge", got)
	}

	sc.approve("carol", pr.Number, "fine")
	sc.waitStatus(head, gateStatus, "success")
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	sc.waitComment("the apply", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	if got := sc.desiredSize("prod"); got != "2" {
		t.Errorf("prod has %s nodes after the merge, want 2", got)
	}

	// A change to no project: nothing to wait for.
	docs := sc.g.PushFiles(t, sc.tokens["alice"], sc.repo, "main", "docs", map[string]string{"NOTES.md": "How we run prod.\n"})
	other := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "docs", "main", "Notes", "")
	sc.waitStatus(docs, gateStatus, "success")
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, other.Number)
}

// behindMain opens alice's pull request that shrinks prod from a branch
// that left main before the owner changed prod/main.tf on main (a new
// output, apart from alice's change: they merge without conflict): the
// plan (of the head) never saw main's change, and the merge would bring
// it.
func (sc *scenario) behindMain(body string) (giteatest.PR, string) {
	sc.t.Helper()
	head := sc.branch("alice", "behind", "prod", "2")
	sc.g.PushFiles(sc.t, sc.tokens["owner"], sc.repo, "main", "main", map[string]string{"prod/main.tf": sc.fileOnMain("prod/main.tf") + mainsChange})
	pr := sc.g.CreatePR(sc.t, sc.tokens["alice"], sc.repo, "behind", "main", "Shrink prod", body)
	sc.waitPlanned(pr.Number)
	return pr, head
}

// mainsChange is what the owner adds to prod/main.tf on main.
const mainsChange = `
output "max_size" {
  value = terraform_data.node_group.output.max_size
}
`

// behindDetail is what the checklist says of a branch behind main in
// prod/main.tf.
const behindDetail = "- [ ] merges as planned — main changed prod/main.tf, which this branch does not have: update the branch from main"

// TestGiteaBranchBehindMain: a branch that lacks main's change to the
// project's file was planned against main's tip, so main did not move
// since the plan. The checklist says so before the merge, with what to do,
// and sluice/gate fails: Gitea refuses the merge. Once alice updates the
// branch from main, the new plan needs its approval, the gate passes and
// the merge applies what main now has.
func TestGiteaBranchBehindMain(t *testing.T) {
	sc := newScenario(t)
	sc.g.Protect(t, sc.repo, "main", gateStatus)
	pr, head := sc.behindMain("")
	sc.approve("bob", pr.Number, "ok")
	sc.waitComment("the checklist saying the branch is behind main", pr.Number, func(b string) bool {
		return strings.Contains(b, behindDetail) && strings.Contains(b, "[x] approvals")
	})
	sc.waitStatus(head, gateStatus, "failure")
	sc.refusedMerge("carol", pr.Number, "the branch lacks main's change to prod")

	sc.g.UpdatePR(t, sc.tokens["alice"], sc.repo, pr.Number)
	var updated string
	sc.waitFor("the update's plan", func() bool {
		updated = sc.headOf(pr.Number)
		return updated != head && countKind(sc.runs(pr.Number), store.KindPlan) >= 2
	})
	sc.waitComment("the plan of the updated branch", pr.Number, func(b string) bool {
		return strings.Contains(b, "Commit `"+updated[:7]+"`") && strings.Contains(b, "Outputs change.") && !strings.Contains(b, "Pending") &&
			strings.Contains(b, "[x] merges as planned")
	})
	sc.approve("bob", pr.Number, "ok again")
	sc.waitStatus(updated, gateStatus, "success")
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	sc.waitComment("the apply", pr.Number, func(b string) bool { return strings.Contains(b, "Apply complete") })
	if got := sc.desiredSize("prod"); got != "2" {
		t.Errorf("prod has %s nodes, want 2", got)
	}
}

// TestGiteaMergedBehindMainReleasesTheLock: without the protection, the
// merge of a branch behind main gets through. What was merged is not what
// was planned, and that stays so: Sluice applies nothing, the comment says
// at its top what happened, what was not applied and what to do, and the
// project's lock goes at once (audited) to bob's pull request that waited
// for it, instead of staying with the merged one until an admin releases
// it. The issue the pull request fixes, which Gitea closed at the merge,
// is told that the change is not applied.
func TestGiteaMergedBehindMainReleasesTheLock(t *testing.T) {
	sc := newScenario(t)
	issue := sc.g.CreateIssue(t, sc.tokens["alice"], sc.repo, "Shrink prod", "2 nodes are enough.")
	pr, _ := sc.behindMain(fmt.Sprintf("Fixes #%d", issue))
	sc.approve("bob", pr.Number, "ok")
	waiting, _ := sc.openPR("bob", "grow", "prod", "4")
	sc.waitComment("bob's pull request waiting for the lock", waiting.Number, func(b string) bool {
		return strings.Contains(b, "waiting for the project lock")
	})

	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	sc.waitReply(pr.Number, "Merged, but Sluice did not apply")
	const top = "<!-- sluice:plan -->\n## Sluice plan\n\n**Merged, but Sluice did not apply** `prod` — `main` now has changes the infrastructure does not.\n\n" +
		"- `prod`: never from this pull request, and its lock was released: merges as planned: the merge commit differs from the planned commit"
	c := sc.waitComment("the top of the comment saying what was not applied", pr.Number, func(b string) bool { return strings.HasPrefix(b, top) })
	if !strings.Contains(c.Body, "comment `sluice plan -p prod` on it") {
		t.Errorf("the comment does not say what to do:\n%s", c.Body)
	}
	if got := sc.desiredSize("prod"); got != "3" {
		t.Errorf("prod has %s nodes: a plan was applied that is not what was merged", got)
	}
	// Gitea closed the issue at the merge; Sluice tells it the change is
	// not applied.
	sc.waitIssueComment(issue, fmt.Sprintf("Pull request #%d (", pr.Number))
	sc.waitIssueComment(issue, "was merged, but Sluice did not apply prod")
	for _, r := range sc.runs(pr.Number) {
		if r.Kind == store.KindApply {
			t.Errorf("an apply run: %+v", r)
		}
	}

	sc.waitPlanned(waiting.Number) // the lock passed to bob's pull request
	locks, err := sc.s.client.ListLocks(context.Background(), sc.sluiceID)
	if err != nil || len(locks) != 1 || locks[0].MR != waiting.Number {
		t.Errorf("locks = %+v, %v; want prod's held by #%d", locks, err, waiting.Number)
	}
	entries, err := sc.s.client.Audit(context.Background(), 0, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var released bool
	for _, e := range entries {
		if e.Action == "lock.released" && e.Actor == "sluice" && strings.HasSuffix(e.Subject, fmt.Sprintf("!%d/prod", pr.Number)) {
			released = strings.Contains(string(e.Details), "never to be applied from this merge request")
		}
	}
	if !released {
		t.Errorf("no audit entry of the lock's release: %+v", entries)
	}
}

// TestGiteaReleasedLockHoldsTheGate: a person releases the lock of alice's
// pull request to let bob's, which waited for it, be planned. alice's plan
// must not be applied any more: sluice/gate fails and Gitea refuses her
// merge, although bob approved it; bob's pull request holds the lock.
func TestGiteaReleasedLockHoldsTheGate(t *testing.T) {
	sc := newScenario(t)
	sc.g.Protect(t, sc.repo, "main", gateStatus)
	first, head := sc.openPR("alice", "first", "prod", "2")
	sc.waitPlanned(first.Number)
	second, secondHead := sc.openPR("carol", "second", "prod", "4")
	sc.waitComment("the second waiting", second.Number, func(b string) bool {
		return strings.Contains(b, fmt.Sprintf("waiting for the project lock, held by #%d", first.Number))
	})
	// Its statuses say what it waits for, not "planning".
	sc.waitFor("the waiting pull request's statuses", func() bool {
		return sc.commitStatus(secondHead, "sluice/plan: prod").Description == "waiting for the project lock" &&
			sc.commitStatus(secondHead, gateStatus).Description == "not ready: prod: waiting for the project lock"
	})
	if _, err := sc.s.client.ReleaseLock(context.Background(), client.LockRef{Repo: sc.sluiceID, Project: "prod", Workspace: "default"}, "owner", "alice's change waits"); err != nil {
		t.Fatal(err)
	}
	sc.waitPlanned(second.Number)
	// The release alone says so on alice's pull request, without another
	// event of hers.
	sc.waitStatus(head, gateStatus, "failure")
	sc.approve("bob", first.Number, "ok")
	sc.waitComment("the lost lock in the checklist", first.Number, func(b string) bool {
		return strings.Contains(b, fmt.Sprintf("[ ] holds the project lock — the project lock was released from this pull request, and pull request %d holds it now", second.Number))
	})
	sc.waitStatus(head, gateStatus, "failure")
	sc.refusedMerge("carol", first.Number, "its lock is another's")
}
