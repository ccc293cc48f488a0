package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/forgetest"
)

// testSecret is the webhook secret of GitHub's "Validating webhook
// deliveries" example.
var testSecret = []byte("It's a Secret to Everybody")

func sign(body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// delivery is the headers GitHub sends with a signed delivery.
func delivery(event, id string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/044aadd")
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", id)
	h.Set("X-GitHub-Hook-ID", "292430182")
	h.Set("X-Hub-Signature-256", sign(body, testSecret))
	return h
}

// payload is a documented payload from testdata with edits applied: keys
// are dotted paths, a nil value deletes.
func payload(t *testing.T, name string, edits map[string]any) []byte {
	t.Helper()
	var doc map[string]any
	readJSON(t, name, &doc)
	for path, v := range edits {
		keys := strings.Split(path, ".")
		m := doc
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				t.Fatalf("%s: no object at %s", name, path)
			}
			m = next
		}
		if v == nil {
			delete(m, keys[len(keys)-1])
		} else {
			m[keys[len(keys)-1]] = v
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	prOpened  = "webhook-pull_request-opened.json"
	prComment = "webhook-issue_comment-created.json"
	prReview  = "webhook-pull_request_review-submitted.json"
	hookHead  = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	hookBase  = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	hookRepo  = "Codertocat/Hello-World"
)

// onPR turns the documented comment on issue #1 into one on a pull
// request: GitHub then adds issue.pull_request.
var onPR = map[string]any{"issue.pull_request": map[string]any{
	"url":      "https://api.github.com/repos/Codertocat/Hello-World/pulls/1",
	"html_url": "https://github.com/Codertocat/Hello-World/pull/1",
}}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

type parseCase struct {
	name    string
	event   string
	body    []byte
	header  func(http.Header) // changes to the signed headers
	want    *forge.Event
	wantErr error
	// anyErr: an error that is neither ErrIgnored nor ErrBadSignature.
	anyErr bool
}

func parseCases(t *testing.T) []parseCase {
	mr := func(action string) *forge.Event {
		return &forge.Event{
			Kind: forge.EventMR, Action: action, DeliveryID: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
			Repo: hookRepo, MR: 2, Actor: forge.User{ID: 21031067, Login: "Codertocat"},
			HeadSHA: hookHead, BaseSHA: hookBase,
		}
	}
	pr := func(edits ...any) []byte { return payload(t, prOpened, with(nil, edits...)) }
	forked := mr(forge.ActionOpened)
	forked.FromFork = true
	comment := &forge.Event{
		Kind: forge.EventComment, Action: "created", DeliveryID: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		Repo: hookRepo, MR: 1, Actor: forge.User{ID: 21031067, Login: "Codertocat"},
		Comment: &forge.Comment{ID: 492700400, Author: forge.User{ID: 21031067, Login: "Codertocat"},
			Body: "You are totally right! I'll get this fixed right away."},
	}
	review := func(action string) *forge.Event {
		return &forge.Event{
			Kind: forge.EventReview, Action: action, DeliveryID: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
			Repo: hookRepo, MR: 2, Actor: forge.User{ID: 21031067, Login: "Codertocat"},
			HeadSHA: hookHead, BaseSHA: hookBase,
		}
	}
	opened := payload(t, prOpened, nil)
	return []parseCase{
		{name: "pull request opened", event: "pull_request", body: opened, want: mr(forge.ActionOpened)},
		{name: "pull request synchronize", event: "pull_request", body: pr("action", "synchronize"), want: mr(forge.ActionSynchronize)},
		{name: "pull request reopened", event: "pull_request", body: pr("action", "reopened"), want: mr(forge.ActionReopened)},
		{name: "pull request ready for review", event: "pull_request", body: pr("action", "ready_for_review"), want: mr(forge.ActionReady)},
		{name: "pull request converted to draft", event: "pull_request", body: pr("action", "converted_to_draft", "pull_request.draft", true), want: mr(forge.ActionDraft)},
		{name: "pull request edited", event: "pull_request", body: pr("action", "edited"), want: mr(forge.ActionEdited)},
		{name: "pull request retargeted (edited, changes.base)", event: "pull_request",
			body: pr("action", "edited", "changes", map[string]any{"base": map[string]any{"ref": map[string]any{"from": "develop"}, "sha": map[string]any{"from": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"}}}),
			want: mr(forge.ActionRetargeted)},
		{name: "pull request title edited", event: "pull_request",
			body: pr("action", "edited", "changes", map[string]any{"title": map[string]any{"from": "Update the README"}}),
			want: mr(forge.ActionEdited)},
		{name: "pull request closed", event: "pull_request", body: pr("action", "closed", "pull_request.state", "closed"), want: mr(forge.ActionClosed)},
		{name: "pull request merged", event: "pull_request", body: pr("action", "closed", "pull_request.state", "closed",
			"pull_request.merged", true, "pull_request.merged_at", "2019-05-15T15:30:00Z"), want: mr(forge.ActionMerged)},
		{name: "pull request from a fork", event: "pull_request", body: pr("pull_request.head.repo.full_name", "mallory/Hello-World"), want: forked},
		{name: "pull request from a deleted fork", event: "pull_request", body: pr("pull_request.head.repo", nil), want: forked},
		{name: "pull request labeled", event: "pull_request", body: pr("action", "labeled"), wantErr: forge.ErrIgnored},
		{name: "comment on a pull request", event: "issue_comment", body: payload(t, prComment, onPR), want: comment},
		{name: "comment on an issue", event: "issue_comment", body: payload(t, prComment, nil), wantErr: forge.ErrIgnored},
		{name: "comment edited", event: "issue_comment", body: payload(t, prComment, with(onPR, "action", "edited")), wantErr: forge.ErrIgnored},
		{name: "comment deleted", event: "issue_comment", body: payload(t, prComment, with(onPR, "action", "deleted")), wantErr: forge.ErrIgnored},
		{name: "review submitted", event: "pull_request_review", body: payload(t, prReview, nil), want: review("submitted")},
		{name: "review dismissed", event: "pull_request_review", body: payload(t, prReview, map[string]any{"action": "dismissed", "review.state": "dismissed"}), want: review("dismissed")},
		{name: "review edited", event: "pull_request_review", body: payload(t, prReview, map[string]any{"action": "edited"}), wantErr: forge.ErrIgnored},
		{name: "ping", event: "ping", body: readFile(t, "webhook-ping.json"), wantErr: forge.ErrIgnored},
		{name: "push", event: "push", body: []byte(`{"ref":"refs/heads/master"}`), wantErr: forge.ErrIgnored},
		{name: "form-encoded", event: "pull_request", body: []byte("payload=" + url.QueryEscape(string(opened))),
			header: func(h http.Header) { h.Set("Content-Type", "application/x-www-form-urlencoded") }, want: mr(forge.ActionOpened)},
		{name: "tampered body", event: "pull_request", body: opened, header: func(h http.Header) {
			h.Set("X-Hub-Signature-256", sign(append([]byte(" "), opened...), testSecret))
		}, wantErr: forge.ErrBadSignature},
		{name: "wrong secret", event: "pull_request", body: opened, header: func(h http.Header) {
			h.Set("X-Hub-Signature-256", sign(opened, []byte("guess")))
		}, wantErr: forge.ErrBadSignature},
		{name: "missing signature", event: "pull_request", body: opened, header: func(h http.Header) {
			h.Del("X-Hub-Signature-256")
		}, wantErr: forge.ErrBadSignature},
		{name: "sha1 signature only", event: "pull_request", body: opened, header: func(h http.Header) {
			h.Del("X-Hub-Signature-256")
			h.Set("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000")
		}, wantErr: forge.ErrBadSignature},
		{name: "signature not hex", event: "pull_request", body: opened, header: func(h http.Header) {
			h.Set("X-Hub-Signature-256", "sha256=zz")
		}, wantErr: forge.ErrBadSignature},
		{name: "ping with a bad signature", event: "ping", body: readFile(t, "webhook-ping.json"), header: func(h http.Header) {
			h.Set("X-Hub-Signature-256", sign([]byte("{}"), testSecret))
		}, wantErr: forge.ErrBadSignature},
		{name: "signed but not JSON", event: "pull_request", body: []byte("{not json"), anyErr: true},
		{name: "signed but no event header", event: "", body: opened, anyErr: true},
		{name: "signed but no pull request", event: "pull_request", body: []byte(`{"action":"opened"}`), anyErr: true},
	}
}

func TestParse(t *testing.T) {
	c, err := New("", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range parseCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			h := delivery(tc.event, "72d3162e-cc78-11e3-81ab-4c9367dc0958", tc.body)
			if tc.event == "" {
				h.Del("X-GitHub-Event")
			}
			if tc.header != nil {
				tc.header(h)
			}
			ev, err := c.Parse(h, tc.body, testSecret)
			forgetest.CheckPrecheck(t, c, forgetest.Webhook{Header: h, Body: tc.body, Secret: testSecret}, err)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case tc.anyErr:
				if err == nil || errors.Is(err, forge.ErrIgnored) || errors.Is(err, forge.ErrBadSignature) {
					t.Fatalf("err = %v, want a plain error", err)
				}
			case err != nil:
				t.Fatalf("Parse: %v", err)
			default:
				got, _ := json.Marshal(ev)
				want, _ := json.Marshal(tc.want)
				if string(got) != string(want) {
					t.Errorf("event\n got %s\nwant %s", got, want)
				}
			}
			if err != nil && strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestParseRefusesAnEmptySecret(t *testing.T) {
	c, _ := New("", "")
	body := payload(t, prOpened, nil)
	h := delivery("pull_request", "1", body)
	h.Set("X-Hub-Signature-256", sign(body, nil))
	if _, err := c.Parse(h, body, nil); !errors.Is(err, forge.ErrBadSignature) {
		t.Errorf("err = %v, want ErrBadSignature", err)
	}
}
