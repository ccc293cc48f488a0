package flow

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
)

// TestCommandsFromMachinesAreIgnored: a `sluice ...` comment written by
// the account Sluice acts as, or by a bot, is not a command; Sluice's own
// replies never read as one. Otherwise one `sluice help` makes Sluice
// answer itself without end.
func TestCommandsFromMachinesAreIgnored(t *testing.T) {
	ctx := context.Background()
	// Sluice acts as Sluice-Bot; merge request 1 is alice's, open.
	fg := &fakeForge{self: "Sluice-Bot", written: map[int64]forge.Comment{},
		mr: forge.MergeRequest{Repo: "org/infra", Number: 1, State: forge.MROpen, Author: forge.User{Login: "alice"}}}
	e := newEnv(t, onForge(fg))
	f, st := e.f, e.st
	comment := func(id int64, author, body string) int64 {
		t.Helper()
		fg.written[id] = forge.Comment{ID: id, Author: forge.User{Login: author}, Body: body}
		req, err := RequestFromEvent("gitea", &forge.Event{Kind: forge.EventComment, Action: "created", Repo: "org/infra", MR: 1,
			Actor: forge.User{Login: author}, Comment: &forge.Comment{ID: id, Body: body}})
		if err != nil {
			t.Fatalf("comment %q: %v", body, err)
		}
		ev, _, err := f.Accept(ctx, "gitea", "delivery-"+author+body, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.HandleEvent(ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	comment(1, "alice", "sluice help")
	if len(fg.replies) != 1 {
		t.Fatalf("a person's `sluice help` got %d replies, want 1", len(fg.replies))
	}
	// The reply, and Sluice's other texts, are not commands.
	for _, body := range []string{fg.replies[0], HelpText, "This merge request's apply could not be carried out: x"} {
		if _, err := ParseCommand(body); !errors.Is(err, ErrNoCommand) {
			t.Errorf("Sluice's own text reads as a command (%v):\n%s", err, body)
		}
	}
	comment(2, "sluice-bot", "sluice help")       // Sluice's account, another case
	comment(3, "dependabot[bot]", "sluice apply") // a bot
	comment(4, "sluice-bot", "sluice destroy")    // an unknown command from itself
	if len(fg.replies) != 1 {
		t.Errorf("commands written by machines were answered: %q", fg.replies[1:])
	}
	for _, id := range []int64{2, 3, 4} {
		ev, err := st.GetEvent(ctx, id)
		if err != nil || ev.ProcessedAt == nil {
			t.Errorf("event %d: %+v, %v; want it processed (ignored), not left to retry", id, ev, err)
		}
	}
}
