package flow

// The requests the flow takes: comments parsed as commands and read back
// from the forge, machines' comments ignored, webhooks mapped to requests
// and keyed once, API requests acting as the API, and the errors that fail
// an event for good.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/workspace"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		body    string
		want    Command
		wantErr string
	}{
		{"sluice plan", Command{Verb: "plan"}, ""},
		{"Looks good.\n\nsluice apply -p prod", Command{Verb: "apply", Projects: []string{"prod"}}, ""},
		{"sluice apply --project prod --project=staging -pnet", Command{Verb: "apply", Projects: []string{"prod", "staging", "net"}}, ""},
		{"sluice apply -p prod,staging", Command{Verb: "apply", Projects: []string{"prod", "staging"}}, ""},
		{"SLUICE Unlock", Command{Verb: "unlock"}, ""},
		{"sluice refresh", Command{Verb: "refresh"}, ""},
		{"sluice", Command{Verb: "help"}, ""},
		{"sluice help", Command{Verb: "help"}, ""},
		{"sluice destroy", Command{Verb: "help"}, `unknown command "destroy"`},
		{"sluice apply -p ../etc", Command{Verb: "apply"}, `"../etc" is not a project name`},
		{"sluice apply -p 'prod;rm'", Command{Verb: "apply"}, `is not a project name`},
		{"sluice apply --auto-approve", Command{Verb: "apply"}, `unexpected argument "--auto-approve"`},
		{"sluice apply -p", Command{Verb: "apply"}, "-p needs a project name"},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.body)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCommand(%q) err = %v, want %q", tt.body, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v", tt.body, got, err, tt.want)
		}
	}
	for _, body := range []string{
		"LGTM, ship it",
		"To apply, run:\n```\nsluice apply\n```",
		"  ~~~\n  sluice apply -p prod\n  ~~~",
		"> sluice apply",
		"<!-- sluice:plan -->\nsluice apply",
	} {
		if _, err := ParseCommand(body); !errors.Is(err, ErrNoCommand) {
			t.Errorf("ParseCommand(%q): err = %v, want ErrNoCommand", body, err)
		}
	}
	// After a code block, a command line counts again.
	if c, err := ParseCommand("```\nsluice plan\n```\nsluice apply"); err != nil || c.Verb != "apply" {
		t.Errorf("command after a code block = %+v, %v", c, err)
	}
}

// TestSemanticKeys: a comment is one request however often it is
// delivered, a merge request is merged once; a close, or an API request,
// is keyed by its delivery.
func TestSemanticKeys(t *testing.T) {
	comment := Request{Action: ActionApply, Repo: "gitea:org/infra", MR: 4, Actor: "bob", ByComment: true, CommentID: 9, Trigger: "comment:9"}
	other := comment
	other.CommentID, other.Trigger = 10, "comment:10"
	merged := Request{Action: ActionClose, Repo: "gitea:org/infra", MR: 4, Actor: "bob", Merged: true}
	closed := merged
	closed.Merged = false
	api := Request{Action: ActionApply, Repo: "gitea:org/infra", MR: 4, Actor: "bob"}
	if k := comment.SemanticKey("gitea"); k == "" || k == other.SemanticKey("gitea") {
		t.Errorf("comment keys %q and %q: want set and distinct", k, other.SemanticKey("gitea"))
	}
	if merged.SemanticKey("gitea") == "" {
		t.Error("a merge has no semantic key: a replayed delivery would apply again")
	}
	if k := closed.SemanticKey("gitea") + api.SemanticKey("gitea"); k != "" {
		t.Errorf("close and API requests keyed %q, want by delivery only", k)
	}

	// Every webhook has a key: what the forge signed, when nothing
	// narrower says what it means. The same body is the same request;
	// the same transition made again carries another body.
	hooked := func(r Request, digest string) Request { r.Digest = digest; return r }
	review := Request{Action: ActionRefresh, Repo: "gitea:org/infra", MR: 4, Actor: "carol", HeadSHA: strings.Repeat("a", 40), Trigger: "submitted"}
	reopen := Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 4, Actor: "bob", HeadSHA: strings.Repeat("a", 40), Trigger: "reopened"}
	push := Request{Action: ActionPlan, Repo: "gitea:org/infra", MR: 4, Actor: "bob", HeadSHA: strings.Repeat("a", 40), Trigger: "synchronize"}
	for _, r := range []Request{closed, review, reopen} {
		k := hooked(r, "d1").SemanticKey("gitea")
		if k == "" || k != hooked(r, "d1").SemanticKey("gitea") || k == hooked(r, "d2").SemanticKey("gitea") {
			t.Errorf("%s (%s): keys %q / %q; want set, the same for the same body, another for another",
				r.Action, r.Trigger, k, hooked(r, "d2").SemanticKey("gitea"))
		}
	}
	if hooked(closed, "d1").SemanticKey("gitea") == hooked(review, "d1").SemanticKey("gitea") {
		t.Error("a close and a review share a key")
	}
	// A push is planned once per head, whatever else its body holds; a
	// comment is its id, a merge once.
	if hooked(push, "d1").SemanticKey("gitea") != hooked(push, "d2").SemanticKey("gitea") {
		t.Error("two deliveries of one push are keyed apart")
	}
	if hooked(comment, "d1").SemanticKey("gitea") != comment.SemanticKey("gitea") || hooked(merged, "d1").SemanticKey("gitea") != merged.SemanticKey("gitea") {
		t.Error("a comment's or a merge's key depends on its body")
	}
}

func TestRequestFromEvent(t *testing.T) {
	base := forge.Event{Repo: "org/infra", MR: 4, Actor: forge.User{Login: "bob"}, DeliveryID: "d"}
	ev := func(kind forge.EventKind, action string, body string) *forge.Event {
		e := base
		e.Kind, e.Action = kind, action
		if body != "" {
			e.Comment = &forge.Comment{ID: 9, Body: body}
		}
		return &e
	}
	tests := []struct {
		ev      *forge.Event
		action  string
		merged  bool
		ignored bool
	}{
		{ev(forge.EventMR, forge.ActionOpened, ""), ActionPlan, false, false},
		{ev(forge.EventMR, forge.ActionSynchronize, ""), ActionPlan, false, false},
		{ev(forge.EventMR, forge.ActionReady, ""), ActionPlan, false, false},
		{ev(forge.EventMR, forge.ActionDraft, ""), ActionRefresh, false, false},
		{ev(forge.EventMR, forge.ActionMerged, ""), ActionClose, true, false},
		{ev(forge.EventMR, forge.ActionClosed, ""), ActionClose, false, false},
		{ev(forge.EventMR, "labeled", ""), "", false, true},
		{ev(forge.EventReview, "submitted", ""), ActionRefresh, false, false},
		{ev(forge.EventComment, "created", "sluice apply -p prod"), ActionApply, false, false},
		{ev(forge.EventComment, "created", "sluice frobnicate"), ActionHelp, false, false},
		{ev(forge.EventComment, "created", "nice work"), "", false, true},
	}
	for _, tt := range tests {
		req, err := RequestFromEvent("gitea", tt.ev)
		if tt.ignored {
			if !errors.Is(err, forge.ErrIgnored) {
				t.Errorf("%s/%s: err = %v, want ErrIgnored", tt.ev.Kind, tt.ev.Action, err)
			}
			continue
		}
		if err != nil || req.Action != tt.action || req.Merged != tt.merged || req.Repo != "gitea:org/infra" || req.MR != 4 || req.Actor != "bob" {
			t.Errorf("%s/%s: %+v, %v; want action %s", tt.ev.Kind, tt.ev.Action, req, err, tt.action)
		}
		if err := req.Validate(); err != nil {
			t.Errorf("%s/%s: the request does not validate: %v", tt.ev.Kind, tt.ev.Action, err)
		}
	}
}

func TestLinkedIssues(t *testing.T) {
	got := LinkedIssues("Closes #12. Also fixes #3, resolves: #12 and mentions #40.\nFIXED #7")
	if !reflect.DeepEqual(got, []int64{12, 3, 7}) {
		t.Errorf("LinkedIssues = %v", got)
	}
}

// TestLinkedIssuesAreBounded: a description that names a thousand issues
// has Sluice comment on the first few, not on a thousand.
func TestLinkedIssuesAreBounded(t *testing.T) {
	var body strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&body, "fixes #%d ", i)
	}
	got := LinkedIssues(body.String())
	if len(got) != maxLinkedIssues || got[0] != 1 || got[len(got)-1] != maxLinkedIssues {
		t.Errorf("LinkedIssues of 1000 issues = %v, want the first %d", got, maxLinkedIssues)
	}
}

// TestRefreshCommand: `sluice refresh` re-reads the merge request as a
// review event does, for the forges that send no event when a
// conversation is resolved (Gitea).
func TestRefreshCommand(t *testing.T) {
	req, err := RequestFromEvent("gitea", &forge.Event{Kind: forge.EventComment, Action: "created", Repo: "org/infra", MR: 3,
		Actor: forge.User{Login: "bob"}, Comment: &forge.Comment{ID: 9, Body: "sluice refresh"}})
	if err != nil || req.Action != ActionRefresh || !req.ByComment || req.CommentID != 9 {
		t.Errorf("sluice refresh: %+v, %v", req, err)
	}
	if !strings.Contains(HelpText, "`sluice refresh`") {
		t.Errorf("the help does not list sluice refresh:\n%s", HelpText)
	}
}

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

// TestAPIApplyOnAForgeActsAsTheAPI: an apply asked through the JSON API on
// a forge's merge request acts as APIActor, whatever actor the request
// names: it is no approval (not even on a merged merge request, where a
// person's `sluice apply` is one), the forge is never asked about an
// account of that name, and "may apply" fails, saying why.
func TestAPIApplyOnAForgeActsAsTheAPI(t *testing.T) {
	tests := []struct {
		name    string
		state   forge.MRState
		mode    string
		reviews bool // bob approved the plan
		// wantFailing are the checklist items the refusal names.
		wantFailing []string
	}{
		{"merged, nobody approved", forge.MRMerged, repoconfig.ApplyAfterMerge, false, []string{"approvals: 0 of 1 needed", "may apply: " + apiMayNotApply}},
		{"open, before_merge, approved", forge.MROpen, repoconfig.ApplyBeforeMerge, true, []string{"may apply: " + apiMayNotApply}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fg := newMergeForge()
			if !tt.reviews {
				fg.reviews = nil
			}
			e := newEnv(t, onForge(fg))
			e.plannedRunMode(infraRepo, 7, headH2, false, tt.mode)
			fg.setMR(func(mr *forge.MergeRequest) {
				if mr.State = tt.state; tt.state == forge.MRMerged {
					mr.MergeSHA = mergeM
				}
			})
			// bob has write access: as a person, his request would pass
			// (and, on a merged merge request, approve).
			e.handle(APISource, Request{Action: ActionApply, Repo: infraRepo, MR: 7, Actor: "bob", ByComment: true, CommentID: 99})

			if applies := e.applies(infraRepo, 7); len(applies) != 0 {
				t.Fatalf("an API request applied: %+v", applies)
			}
			if n := fg.calls["Permission api"]; n != 0 {
				t.Errorf("the forge was asked %d times for the permission of an account named api", n)
			}
			if len(fg.replies) != 1 {
				t.Fatalf("replies = %q, want one refusal", fg.replies)
			}
			reply := fg.replies[0]
			if !strings.HasPrefix(reply, "Asked through Sluice's API: Sluice did not apply:") || strings.Contains(reply, "@") {
				t.Errorf("reply = %q, want a refusal that mentions nobody", reply)
			}
			for _, item := range tt.wantFailing {
				if !strings.Contains(reply, item) {
					t.Errorf("reply = %q, want it to name %q", reply, item)
				}
			}
			if tt.reviews && strings.Contains(reply, "approvals") {
				t.Errorf("reply = %q: bob's real approval should count", reply)
			}
			if got := e.auditActions(); !slices.Contains(got, "api apply.refused "+infraRepo+"!7") {
				t.Errorf("audit = %q, want apply.refused by api", got)
			}
		})
	}
}

// TestSourceErrors: a repository the server does not know, or that the
// forge does not have, fails the event for good; credentials the forge
// cannot hand out right now (a GitHub App's token while GitHub is down)
// are retried.
func TestSourceErrors(t *testing.T) {
	tests := []struct {
		err       error
		permanent bool
	}{
		{fmt.Errorf("%w: %q is not configured on this server", ErrUnknownRepo, "x"), true},
		{fmt.Errorf("credentials to clone x: %w", forge.ErrNotFound), true},
		{errors.New("credentials to clone x: 502 Bad Gateway"), false},
	}
	for _, tt := range tests {
		f := &Flow{Sources: func(context.Context, string) (workspace.Source, error) { return workspace.Source{}, tt.err }}
		_, err := f.source(context.Background(), "x")
		if !errors.Is(err, tt.err) || permanent.Is(err) != tt.permanent {
			t.Errorf("source error %v: got %v (permanent %v), want permanent %v", tt.err, err, permanent.Is(err), tt.permanent)
		}
	}
}

// TestInvalidRequestsArePermanent: a request that can never be carried
// out (ErrInvalid) is permanent by the rule the job queue reads too
// (permanent.Is), not by one of the flow's own: the queue used to retry
// what the flow gave up on.
func TestInvalidRequestsArePermanent(t *testing.T) {
	err := fmt.Errorf("event 7: %w: no project %q", ErrInvalid, "x")
	if !permanent.Is(err) || !errors.Is(err, ErrInvalid) {
		t.Errorf("%v: permanent %v, ErrInvalid %v; want both", err, permanent.Is(err), errors.Is(err, ErrInvalid))
	}
	if want := `event 7: invalid request: no project "x"`; err.Error() != want {
		t.Errorf("text %q, want %q", err, want)
	}
}
