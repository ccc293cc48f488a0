package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestGiteaSluiceDoesNotAnswerItself: each `sluice help` (or unknown
// command) of a person is answered once. Gitea delivers Sluice's own
// replies back to it as comment webhooks; they are not commands, so
// Sluice does not answer itself without end.
func TestGiteaSluiceDoesNotAnswerItself(t *testing.T) {
	sc := newScenario(t)
	pr, _ := sc.openPR("alice", "help", "prod", "2")
	sc.waitPlanned(pr.Number)
	sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice help")
	sc.waitReply(pr.Number, "Commands you can give Sluice")
	sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice destroy")
	sc.waitReply(pr.Number, `unknown command "destroy"`)
	// Answers to answers would have come by now: the reviewer who found
	// the loop saw 189 replies in 20 s.
	time.Sleep(3 * time.Second)
	var replies []string
	for _, c := range sc.comments(pr.Number) {
		if strings.Contains(c.Body, "Commands you can give Sluice") {
			replies = append(replies, c.Body)
		}
	}
	if len(replies) != 2 {
		t.Fatalf("%d help replies to 2 questions, want 2:\n%s", len(replies), strings.Join(replies, "\n-----\n"))
	}
}
