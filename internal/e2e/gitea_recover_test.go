package e2e

import (
	"strings"
	"testing"
)

// TestGiteaInterruptedApplyComment: the server dies while it applies a
// change asked for with `sluice apply` (apply.mode before_merge). Once it is
// back, the comment and the statuses say that the apply was interrupted,
// without waiting for the merge request's next event.
func TestGiteaInterruptedApplyComment(t *testing.T) {
	markers := t.TempDir()
	sc := newScenarioEnv(t, false, func(env []string) []string {
		return append(env, "SLOW_APPLY=30", "MARKER_DIR="+markers)
	})
	cfg := sc.fileOnMain("sluice.yaml")
	before := strings.Replace(cfg, "    approval:\n      min: 1", "    approval:\n      min: 1\n    apply:\n      mode: before_merge", 1)
	if before == cfg {
		t.Fatalf("could not set apply.mode in:\n%s", cfg)
	}
	sc.g.PushFiles(t, sc.tokens["owner"], sc.repo, "main", "main", map[string]string{"sluice.yaml": before})
	pr, head := sc.openPR("alice", "shrink", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.approve("bob", pr.Number, "ok")
	sc.waitComment("approved", pr.Number, func(b string) bool { return strings.Contains(b, "[x] approvals") })
	sc.g.Comment(t, sc.tokens["carol"], sc.repo, pr.Number, "sluice apply")
	waitFile(t, markers+"/apply.started")
	sc.waitComment("the apply under way", pr.Number, func(b string) bool { return strings.Contains(b, "applying") })
	sc.s.kill()

	sc.s = startServer(t, sc.s.env)
	c := sc.waitComment("the interrupted apply", pr.Number, func(b string) bool { return strings.Contains(b, "interrupted") })
	if strings.Contains(c.Body, "**Pending:**") {
		t.Errorf("the comment still says the apply is under way:\n%s", c.Body)
	}
	sc.waitStatus(head, "sluice/apply: prod", "failure")
}
