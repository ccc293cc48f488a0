package flow

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
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
