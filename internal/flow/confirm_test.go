package flow

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

// TestCommandsAreReadBackFromTheForge: a webhook's author and body are
// claims that anyone holding the webhook secret can sign. On a merged
// merge request nobody approved, bob (who may approve) asking for the
// apply would count as his approval: a forged delivery that says bob
// wrote `sluice apply` changes nothing when the forge's comment of that id
// is mallory's "thanks", or there is none on that merge request.
// A real comment whose delivery names another author acts as the forge's
// author (alice, the author, whose approval does not count); bob's real
// comment applies, and the audit names bob.
func TestCommandsAreReadBackFromTheForge(t *testing.T) {
	fg := newMergeForge()
	fg.reviews = nil
	e := newEnv(t, onForge(fg))
	e.plannedRun(infraRepo, 7, headH2, false)
	// A request of bob's, as an approval, comes after the plan.
	e.f.Now = func() time.Time { return time.Now().Add(time.Hour) }
	fg.setMR(func(mr *forge.MergeRequest) { mr.State, mr.MergeSHA = forge.MRMerged, mergeM })
	fg.written = map[int64]forge.Comment{
		50: {ID: 50, Author: forge.User{Login: "mallory"}, Body: "thanks!"},
		52: {ID: 52, Author: forge.User{Login: "alice"}, Body: "sluice apply"},
		53: {ID: 53, Author: forge.User{Login: "bob"}, Body: "sluice apply"},
	}
	deliver := func(id int64, claimed string) {
		t.Helper()
		req, err := RequestFromEvent("gitea", &forge.Event{Kind: forge.EventComment, Action: "created", Repo: "org/infra", MR: 7,
			Actor: forge.User{Login: claimed}, Comment: &forge.Comment{ID: id, Author: forge.User{Login: claimed}, Body: "sluice apply"}})
		if err != nil {
			t.Fatal(err)
		}
		ev, _, err := e.f.Accept(t.Context(), "gitea", fmt.Sprintf("delivery-%d-%s", id, claimed), req)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.f.HandleEvent(t.Context(), ev.ID); err != nil {
			t.Fatal(err)
		}
		if ev, err := e.st.GetEvent(t.Context(), ev.ID); err != nil || ev.ProcessedAt == nil {
			t.Fatalf("comment %d: event %+v, %v; want it processed", id, ev, err)
		}
	}

	deliver(50, "bob") // mallory's "thanks!"
	deliver(51, "bob") // no such comment on !7 (the adapters tell one of another merge request so)
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("forged commands applied: %+v", runs)
	}
	if len(fg.replies) != 0 {
		t.Errorf("forged commands were answered: %q", fg.replies)
	}

	deliver(52, "bob") // alice's real comment, signed as bob's
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("alice's own request applied as bob's approval: %+v", runs)
	}
	if len(fg.replies) != 1 || !strings.HasPrefix(fg.replies[0], "@alice, ") || !strings.Contains(fg.replies[0], "alice (the author)") {
		t.Errorf("replies = %q, want alice answered, her approval not counted", fg.replies)
	}

	deliver(53, "bob")
	runs := e.applies(infraRepo, 7)
	if len(runs) != 1 || runs[0].Actor != "bob" {
		t.Fatalf("apply runs after bob's comment: %+v, want one asked by bob; replies %q", runs, fg.replies)
	}
	if got := e.auditActions(); !slices.Contains(got, "alice apply.refused "+infraRepo+"!7") {
		t.Errorf("audit = %q, want alice's refusal in her name", got)
	}
}
