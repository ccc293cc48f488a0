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
	if _, err := ParseCommand("LGTM, ship it"); !errors.Is(err, ErrNoCommand) {
		t.Errorf("a plain comment: err = %v, want ErrNoCommand", err)
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
