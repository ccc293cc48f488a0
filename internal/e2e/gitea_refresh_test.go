package e2e

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

// TestGiteaRefreshAfterAResolvedThread: Gitea sends no webhook when a
// conversation is resolved, so the checklist keeps "1 unresolved" until
// `sluice refresh` (listed in `sluice help`) reads the merge request
// again.
func TestGiteaRefreshAfterAResolvedThread(t *testing.T) {
	sc := newScenario(t)
	pr, _ := sc.openPR("alice", "thread", "prod", "2")
	sc.waitPlanned(pr.Number)
	review := sc.g.Review(t, sc.tokens["bob"], sc.repo, pr.Number, "COMMENT", "",
		giteatest.ReviewComment{Path: "prod/main.tf", NewLine: 1, Body: "why two?"})
	sc.waitComment("the open thread", pr.Number, func(b string) bool { return strings.Contains(b, "[ ] threads resolved — 1 unresolved") })
	id := sc.g.ReviewComments(t, sc.tokens["bob"], sc.repo, pr.Number, review)["why two?"]
	sc.g.ResolveComment(t, sc.tokens["alice"], sc.repo, id)
	sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice refresh")
	sc.waitComment("the resolved thread", pr.Number, func(b string) bool { return strings.Contains(b, "[x] threads resolved") })
}

// TestGiteaRetargetIsPlannedAgain: a pull request whose target branch is
// changed is planned again against the new branch (its plans, and the
// rules they took from the old branch, no longer hold).
func TestGiteaRetargetIsPlannedAgain(t *testing.T) {
	sc := newScenario(t)
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "release", map[string]string{"README.md": "release branch\n"})
	pr, _ := sc.openPR("alice", "retarget", "prod", "2")
	sc.waitPlanned(pr.Number)
	before := countKind(sc.runs(pr.Number), store.KindPlan)
	sc.g.EditPR(t, sc.tokens["alice"], sc.repo, pr.Number, map[string]any{"base": "release"})
	sc.waitFor("a plan against the new target branch", func() bool {
		return countKind(sc.runs(pr.Number), store.KindPlan) > before
	})
	sc.waitComment("the checklist of a merge request into release", pr.Number, func(b string) bool {
		return strings.Contains(b, "merges into release")
	})
}
