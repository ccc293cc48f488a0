package e2e

import (
	"encoding/json"
	"strings"
	"testing"
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
	help := sc.waitReply(pr.Number, "Commands you can give Sluice")
	sc.g.Comment(t, sc.tokens["alice"], sc.repo, pr.Number, "sluice destroy")
	unknown := sc.waitReply(pr.Number, `unknown command "destroy"`)
	// An answer to an answer would be posted while Sluice processes the
	// delivery of its own reply: once both are delivered and Sluice has
	// no work left, it would be there.
	sc.commentDelivered(help.ID)
	sc.commentDelivered(unknown.ID)
	sc.s.waitIdle("after its replies were delivered to it")
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

// commentDelivered waits until Gitea has delivered comment id to Sluice,
// and Sluice has answered the delivery.
func (sc *scenario) commentDelivered(id int64) {
	sc.t.Helper()
	sc.delivery(func(body []byte) bool {
		var p struct {
			Comment struct {
				ID int64 `json:"id"`
			} `json:"comment"`
		}
		return json.Unmarshal(body, &p) == nil && p.Comment.ID == id
	})
}
