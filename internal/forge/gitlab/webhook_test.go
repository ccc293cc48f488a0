package gitlab

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/forgetest"
)

// hookPatch changes a documented payload: attrs go into
// object_attributes, changes replaces "changes" (when not nil).
func hookPatch(t *testing.T, body []byte, attrs map[string]any, changes map[string]any) []byte {
	t.Helper()
	return patchJSON(t, body, func(m map[string]any) {
		oa := m["object_attributes"].(map[string]any)
		for k, v := range attrs {
			oa[k] = v
		}
		if changes != nil {
			m["changes"] = changes
		}
	})
}

func flip(prev, cur any) map[string]any { return map[string]any{"previous": prev, "current": cur} }

func TestParse(t *testing.T) {
	mr := recording(t, "hook_merge_request.json")
	note := recording(t, "hook_note_merge_request.json")
	const head = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
	root := forge.User{ID: 1, Login: "root"}
	mrEvent := func(kind forge.EventKind, action string) *forge.Event {
		return &forge.Event{Kind: kind, Action: action, Repo: "gitlabhq/gitlab-test", MR: 1, Actor: root, HeadSHA: head,
			DeliveryID: "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"}
	}
	labelsOnly := map[string]any{"labels": flip([]any{}, []any{map[string]any{"title": "API"}})}
	fork := mrEvent(forge.EventMR, forge.ActionOpened)
	fork.FromFork = true
	for _, tc := range []struct {
		name    string
		event   string
		body    []byte
		want    *forge.Event
		wantErr error
	}{
		{"open (documented)", eventMergeRequest, mr, mrEvent(forge.EventMR, forge.ActionOpened), nil},
		{"reopen", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "reopen"}, nil), mrEvent(forge.EventMR, forge.ActionReopened), nil},
		{"close", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "close"}, nil), mrEvent(forge.EventMR, forge.ActionClosed), nil},
		{"merge", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "merge"}, nil), mrEvent(forge.EventMR, forge.ActionMerged), nil},
		{"update with oldrev: new commits", eventMergeRequest,
			hookPatch(t, mr, map[string]any{"action": "update", "oldrev": "95790bf891e76fee5e1747ab589903a6a1f80f22"}, labelsOnly),
			mrEvent(forge.EventMR, forge.ActionSynchronize), nil},
		{"update with oldrev and a draft change: new commits first", eventMergeRequest,
			hookPatch(t, mr, map[string]any{"action": "update", "oldrev": "95790bf891e76fee5e1747ab589903a6a1f80f22"}, nil),
			mrEvent(forge.EventMR, forge.ActionSynchronize), nil},
		{"update, draft → ready (documented changes)", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "update"}, nil),
			mrEvent(forge.EventMR, forge.ActionReady), nil},
		{"update, ready → draft", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "update"}, map[string]any{"draft": flip(false, true)}),
			mrEvent(forge.EventMR, forge.ActionDraft), nil},
		{"update, title", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "update"}, map[string]any{"title": flip("a", "b")}),
			mrEvent(forge.EventMR, forge.ActionEdited), nil},
		{"update, target branch: planned again", eventMergeRequest,
			hookPatch(t, mr, map[string]any{"action": "update"}, map[string]any{"target_branch": flip("master", "main")}),
			mrEvent(forge.EventMR, forge.ActionRetargeted), nil},
		// 16.3 and later report a draft change in changes.draft: "WIP:",
		// no draft prefix since 14.0, taken off is an edit.
		{"update, title loses WIP: (16.3+, no changes.draft)", eventMergeRequest,
			hookPatch(t, mr, map[string]any{"action": "update", "draft": false, "work_in_progress": false}, map[string]any{"title": flip("WIP: a", "a")}),
			mrEvent(forge.EventMR, forge.ActionEdited), nil},
		{"update, labels only", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "update"}, labelsOnly), nil, forge.ErrIgnored},
		{"update, nothing changed", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "update"}, map[string]any{}), nil, forge.ErrIgnored},
		{"approval", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "approval"}, nil), mrEvent(forge.EventReview, "submitted"), nil},
		{"approved", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "approved"}, nil), mrEvent(forge.EventReview, "submitted"), nil},
		{"unapproval", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "unapproval"}, nil), mrEvent(forge.EventReview, "dismissed"), nil},
		{"unapproved", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "unapproved"}, nil), mrEvent(forge.EventReview, "dismissed"), nil},
		{"unknown action", eventMergeRequest, hookPatch(t, mr, map[string]any{"action": "teleport"}, nil), nil, forge.ErrIgnored},
		{"from a fork", eventMergeRequest, hookPatch(t, mr, map[string]any{"source_project_id": 99}, nil), fork, nil},
		{"comment on a merge request (documented)", eventNote, note, &forge.Event{Kind: forge.EventComment, Action: "created",
			Repo: "gitlab-org/gitlab-test", MR: 1, Actor: root, HeadSHA: "562e173be03b8ff2efb05345d12df18815438a4b",
			DeliveryID: "f5e5f430-f57b-4e6e-9fac-d9128cd7232f", Comment: &forge.Comment{ID: 1244, Author: root, Body: "This MR needs work."}}, nil},
		{"comment before GitLab 16.11 (no action)", eventNote, hookPatch(t, note, map[string]any{"action": nil}, nil), &forge.Event{Kind: forge.EventComment, Action: "created",
			Repo: "gitlab-org/gitlab-test", MR: 1, Actor: root, HeadSHA: "562e173be03b8ff2efb05345d12df18815438a4b",
			DeliveryID: "f5e5f430-f57b-4e6e-9fac-d9128cd7232f", Comment: &forge.Comment{ID: 1244, Author: root, Body: "This MR needs work."}}, nil},
		{"edited comment", eventNote, hookPatch(t, note, map[string]any{"action": "update"}, nil), nil, forge.ErrIgnored},
		{"system note", eventNote, hookPatch(t, note, map[string]any{"system": true}, nil), nil, forge.ErrIgnored},
		{"comment on an issue (documented)", eventNote, recording(t, "hook_note_issue.json"), nil, forge.ErrIgnored},
		{"push (documented)", "Push Hook", recording(t, "hook_push.json"), nil, forge.ErrIgnored},
		{"pipeline", "Pipeline Hook", []byte(`{"object_kind":"pipeline"}`), nil, forge.ErrIgnored},
		{"no event header", "", mr, nil, forge.ErrIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseWebhook(tokenHeader(tc.event, string(testSecret)), tc.body, testSecret, testNow)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tc.want.Kind || ev.Action != tc.want.Action || ev.Repo != tc.want.Repo || ev.MR != tc.want.MR ||
				ev.Actor != tc.want.Actor || ev.HeadSHA != tc.want.HeadSHA || ev.DeliveryID != tc.want.DeliveryID || ev.FromFork != tc.want.FromFork {
				t.Errorf("event =\n %+v, want\n %+v", ev, tc.want)
			}
			if (ev.Comment == nil) != (tc.want.Comment == nil) || (ev.Comment != nil && *ev.Comment != *tc.want.Comment) {
				t.Errorf("comment = %+v, want %+v", ev.Comment, tc.want.Comment)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct{ event, body string }{
		{eventMergeRequest, `{"object_kind":`},
		{eventMergeRequest, `{"object_kind":"merge_request","project":{},"object_attributes":{"action":"open"}}`},
		{eventNote, `{"object_kind":"note","project":{"path_with_namespace":"a/b"},"object_attributes":{"noteable_type":"MergeRequest"}}`},
	} {
		_, err := ParseWebhook(tokenHeader(tc.event, string(testSecret)), []byte(tc.body), testSecret, testNow)
		if err == nil || errors.Is(err, forge.ErrIgnored) || errors.Is(err, forge.ErrBadSignature) {
			t.Errorf("%s %s: err = %v, want a payload error", tc.event, tc.body, err)
		}
	}
}

func TestVerify(t *testing.T) {
	body := recording(t, "hook_merge_request.json")
	other := []byte(`{"object_kind":"merge_request","forged":true}`)
	const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
	sw := func(at time.Time, key []byte) http.Header { return signedHeader(eventMergeRequest, id, at, body, key) }
	withToken := func(h http.Header, token string) http.Header { h.Set("X-Gitlab-Token", token); return h }
	without := func(h http.Header, k string) http.Header { h.Del(k); return h }
	for _, tc := range []struct {
		name   string
		h      http.Header
		body   []byte
		secret []byte
		ok     bool
	}{
		{"token", tokenHeader(eventMergeRequest, string(testSecret)), body, testSecret, true},
		{"wrong token", tokenHeader(eventMergeRequest, "s3cr3t-webhook-tokeN"), body, testSecret, false},
		{"token prefix", tokenHeader(eventMergeRequest, "s3cr3t"), body, testSecret, false},
		{"empty token", withToken(tokenHeader(eventMergeRequest, ""), ""), body, testSecret, false},
		{"two tokens", func() http.Header {
			h := tokenHeader(eventMergeRequest, string(testSecret))
			h.Add("X-Gitlab-Token", "guess")
			return h
		}(), body, testSecret, false},
		{"nothing", tokenHeader(eventMergeRequest, ""), body, testSecret, false},
		{"no secret configured", withToken(tokenHeader(eventMergeRequest, ""), ""), body, nil, false},
		{"signed, whsec_ key", sw(testNow, testSigningKey), body, testWhsec, true},
		{"signed, plain secret as key", sw(testNow, testSecret), body, testSecret, true},
		{"signed, 4 minutes late", sw(testNow.Add(-4*time.Minute), testSigningKey), body, testWhsec, true},
		{"signed, 4 minutes early", sw(testNow.Add(4*time.Minute), testSigningKey), body, testWhsec, true},
		{"signed, stale", sw(testNow.Add(-5*time.Minute-time.Second), testSigningKey), body, testWhsec, false},
		{"signed, from the future", sw(testNow.Add(6*time.Minute), testSigningKey), body, testWhsec, false},
		{"signed, other body", sw(testNow, testSigningKey), other, testWhsec, false},
		{"signed, wrong key", sw(testNow, []byte("0123456789abcdef0123456789abcdeF")), body, testWhsec, false},
		{"signed, rotated keys: one matches", func() http.Header {
			h := sw(testNow, testSigningKey)
			h.Set("Webhook-Signature", "v1,bm90IHRoZSBvbmU= "+h.Get("Webhook-Signature"))
			return h
		}(), body, testWhsec, true},
		{"signed, only another version", func() http.Header {
			h := sw(testNow, testSigningKey)
			h.Set("Webhook-Signature", strings.Replace(h.Get("Webhook-Signature"), "v1,", "v1a,", 1))
			return h
		}(), body, testWhsec, false},
		{"signed, no timestamp", without(sw(testNow, testSigningKey), "Webhook-Timestamp"), body, testWhsec, false},
		{"signed, no id", without(sw(testNow, testSigningKey), "Webhook-Id"), body, testWhsec, false},
		{"signed, timestamp not a number", func() http.Header {
			h := sw(testNow, testSigningKey)
			h.Set("Webhook-Timestamp", testNow.Format(time.RFC3339))
			return h
		}(), body, testWhsec, false},
		{"both, both right", withToken(sw(testNow, testSigningKey), string(testWhsec)), body, testWhsec, true},
		{"both, token wrong", withToken(sw(testNow, testSigningKey), "guess"), body, testWhsec, false},
		{"both, signature wrong", withToken(sw(testNow, []byte("nope")), string(testWhsec)), body, testWhsec, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWebhook(tc.h, tc.body, tc.secret, testNow)
			forgetest.CheckPrecheck(t, precheckAt{testNow}, forgetest.Webhook{Header: tc.h, Body: tc.body, Secret: tc.secret}, err)
			if tc.ok {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, forge.ErrBadSignature) {
				t.Fatalf("err = %v, want ErrBadSignature", err)
			}
			for _, v := range [][]byte{testSecret, testWhsec, []byte(tc.h.Get("X-Gitlab-Token")), []byte(tc.h.Get("Webhook-Signature"))} {
				if len(v) > 0 && strings.Contains(err.Error(), string(v)) {
					t.Errorf("the error %q echoes a secret or header", err)
				}
			}
		})
	}
}

func TestDeliveryID(t *testing.T) {
	h := http.Header{}
	h.Set("X-Gitlab-Event-UUID", "uuid")
	if got := deliveryID(h); got != "uuid" {
		t.Errorf("deliveryID = %q", got)
	}
	h.Set("Webhook-Id", "msg_1")
	if got := deliveryID(h); got != "msg_1" {
		t.Errorf("deliveryID = %q", got)
	}
	h.Set("Idempotency-Key", "key")
	if got := deliveryID(h); got != "key" {
		t.Errorf("deliveryID = %q", got)
	}
}

// precheckAt is a forge.Webhooks whose clock is fixed, for
// forgetest.CheckPrecheck.
type precheckAt struct{ now time.Time }

func (p precheckAt) Precheck(h http.Header, secret []byte) error {
	return PrecheckWebhook(h, secret, p.now)
}
func (p precheckAt) MaxBody() int64 { return forge.MaxWebhookBody }
func (p precheckAt) Parse(h http.Header, body, secret []byte) (*forge.Event, error) {
	return ParseWebhook(h, body, secret, p.now)
}

// What the headers alone refuse is refused before the body is read: a
// wrong or doubled X-Gitlab-Token, no mechanism at all, Standard Webhooks
// headers that are incomplete or stale. An event Sluice does not act on
// is ignored unread.
func TestPrecheckWithoutTheBody(t *testing.T) {
	sw := func(at time.Time) http.Header {
		return signedHeader(eventMergeRequest, "msg_1", at, []byte("{}"), testSigningKey)
	}
	two := tokenHeader(eventMergeRequest, string(testSecret))
	two.Add("X-Gitlab-Token", "guess")
	noID := sw(testNow)
	noID.Del("Webhook-Id")
	for name, h := range map[string]http.Header{
		"wrong token":     tokenHeader(eventMergeRequest, "s3cr3t-webhook-tokeN"),
		"two tokens":      two,
		"nothing":         tokenHeader(eventMergeRequest, ""),
		"stale signature": sw(testNow.Add(-6 * time.Minute)),
		"no id":           noID,
	} {
		if err := PrecheckWebhook(h, testWhsec, testNow); !errors.Is(err, forge.ErrBadSignature) {
			t.Errorf("%s: Precheck = %v, want ErrBadSignature", name, err)
		}
	}
	if err := PrecheckWebhook(tokenHeader("Push Hook", string(testSecret)), testSecret, testNow); !errors.Is(err, forge.ErrIgnored) {
		t.Errorf("a push: Precheck = %v, want ErrIgnored", err)
	}
	for _, event := range []string{eventMergeRequest, eventNote} {
		if err := PrecheckWebhook(tokenHeader(event, string(testSecret)), testSecret, testNow); err != nil {
			t.Errorf("%s with the right token: Precheck = %v", event, err)
		}
	}
}
