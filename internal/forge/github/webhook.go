package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	gh "github.com/google/go-github/v84/github"

	"github.com/sluicehq/sluice/internal/forge"
)

// Parse verifies a webhook delivery's X-Hub-Signature-256 against secret
// and turns it into a forge.Event:
//
//   - pull_request: opened, synchronize, reopened, ready_for_review
//     (ready), converted_to_draft (draft), closed (merged or closed) and
//     edited → EventMR;
//   - issue_comment created on a pull request → EventComment;
//   - pull_request_review submitted or dismissed → EventReview.
//
// Everything else (ping included) is forge.ErrIgnored once the signature
// holds. A missing or wrong signature, or an empty secret, is
// forge.ErrBadSignature; the secret never appears in an error.
func (c *Client) Parse(h http.Header, body []byte, secret []byte) (*forge.Event, error) {
	if err := verify(h.Get("X-Hub-Signature-256"), body, secret); err != nil {
		return nil, err
	}
	kind, parse, err := parser(h)
	if err != nil {
		return nil, err
	}
	payload, err := jsonPayload(h.Get("Content-Type"), body)
	if err != nil {
		return nil, err
	}
	ev, err := parse(payload)
	if err != nil {
		return nil, fmt.Errorf("github webhook %q: %w", kind, err)
	}
	ev.DeliveryID = h.Get("X-GitHub-Delivery")
	return ev, nil
}

// Precheck refuses a delivery without a well-formed X-Hub-Signature-256,
// and ignores an event Parse would ignore whatever its body, from its
// headers alone (see forge.Webhooks).
func (c *Client) Precheck(h http.Header, secret []byte) error {
	if _, err := signature(h.Get("X-Hub-Signature-256"), secret); err != nil {
		return err
	}
	_, _, err := parser(h)
	return err
}

// MaxBody is GitHub's documented payload cap.
func (c *Client) MaxBody() int64 { return forge.MaxWebhookBody }

// parsers are the events Sluice acts on, by X-GitHub-Event.
var parsers = map[string]func(payload []byte) (*forge.Event, error){
	"pull_request":        parsePullRequest,
	"issue_comment":       parseIssueComment,
	"pull_request_review": parseReview,
}

// parser returns the delivery's event and its parser, or forge.ErrIgnored
// for an event Sluice does not act on.
func parser(h http.Header) (string, func([]byte) (*forge.Event, error), error) {
	kind := h.Get("X-GitHub-Event")
	if kind == "" {
		return "", nil, fmt.Errorf("github webhook: no X-GitHub-Event header")
	}
	parse, ok := parsers[kind]
	if !ok {
		return kind, nil, fmt.Errorf("github webhook %q: %w", kind, forge.ErrIgnored)
	}
	return kind, parse, nil
}

// signature returns the HMAC-SHA256 of an X-Hub-Signature-256 header,
// "sha256=" + hex: forge.ErrBadSignature when there is no secret or no
// such signature.
func signature(header string, secret []byte) ([]byte, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("github webhook: no secret configured: %w", forge.ErrBadSignature)
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		return nil, fmt.Errorf("github webhook: no X-Hub-Signature-256 sha256 signature: %w", forge.ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return nil, fmt.Errorf("github webhook: X-Hub-Signature-256 is not a hex HMAC-SHA256: %w", forge.ErrBadSignature)
	}
	return got, nil
}

// verify checks "sha256=" + hex(HMAC-SHA256(secret, body)) in constant
// time.
func verify(header string, body, secret []byte) error {
	got, err := signature(header, secret)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("github webhook: X-Hub-Signature-256 does not match the secret: %w", forge.ErrBadSignature)
	}
	return nil
}

// jsonPayload is the JSON of a delivery: the body, or its "payload"
// field when the webhook is set to application/x-www-form-urlencoded
// (the signature covers the raw body either way).
func jsonPayload(contentType string, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("github webhook: reading the form body: %w", err)
	}
	p := form.Get("payload")
	if p == "" {
		return nil, fmt.Errorf("github webhook: the form body has no payload field")
	}
	return []byte(p), nil
}

var mrActions = map[string]string{
	"opened":             forge.ActionOpened,
	"synchronize":        forge.ActionSynchronize,
	"reopened":           forge.ActionReopened,
	"ready_for_review":   forge.ActionReady,
	"converted_to_draft": forge.ActionDraft,
	"edited":             forge.ActionEdited,
	"closed":             forge.ActionClosed,
}

func parsePullRequest(payload []byte) (*forge.Event, error) {
	var e gh.PullRequestEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("reading the payload: %w", err)
	}
	action, ok := mrActions[e.GetAction()]
	if !ok {
		return nil, fmt.Errorf("action %q: %w", e.GetAction(), forge.ErrIgnored)
	}
	pr := e.GetPullRequest()
	if action == forge.ActionClosed && (pr.GetMerged() || pr.MergedAt != nil) {
		action = forge.ActionMerged
	}
	if action == forge.ActionEdited && e.GetChanges().GetBase() != nil {
		action = forge.ActionRetargeted
	}
	number := int64(e.GetNumber())
	if number == 0 {
		number = int64(pr.GetNumber())
	}
	ev := &forge.Event{
		Kind:     forge.EventMR,
		Action:   action,
		Repo:     e.GetRepo().GetFullName(),
		MR:       number,
		Actor:    user(e.GetSender()),
		HeadSHA:  pr.GetHead().GetSHA(),
		BaseSHA:  pr.GetBase().GetSHA(),
		FromFork: fromFork(pr),
	}
	return ev, complete(ev)
}

func parseIssueComment(payload []byte) (*forge.Event, error) {
	var e gh.IssueCommentEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("reading the payload: %w", err)
	}
	if e.GetAction() != "created" {
		return nil, fmt.Errorf("action %q: %w", e.GetAction(), forge.ErrIgnored)
	}
	if !e.GetIssue().IsPullRequest() {
		return nil, fmt.Errorf("comment on issue #%d, not a pull request: %w", e.GetIssue().GetNumber(), forge.ErrIgnored)
	}
	cm := e.GetComment()
	actor := e.GetSender()
	if actor == nil {
		actor = cm.GetUser()
	}
	ev := &forge.Event{
		Kind:    forge.EventComment,
		Action:  "created",
		Repo:    e.GetRepo().GetFullName(),
		MR:      int64(e.GetIssue().GetNumber()),
		Actor:   user(actor),
		Comment: &forge.Comment{ID: cm.GetID(), Author: user(cm.GetUser()), Body: cm.GetBody()},
	}
	return ev, complete(ev)
}

func parseReview(payload []byte) (*forge.Event, error) {
	var e gh.PullRequestReviewEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("reading the payload: %w", err)
	}
	switch e.GetAction() {
	case "submitted", "dismissed":
	default:
		return nil, fmt.Errorf("action %q: %w", e.GetAction(), forge.ErrIgnored)
	}
	pr := e.GetPullRequest()
	actor := e.GetSender()
	if actor == nil {
		actor = e.GetReview().GetUser()
	}
	ev := &forge.Event{
		Kind:     forge.EventReview,
		Action:   e.GetAction(),
		Repo:     e.GetRepo().GetFullName(),
		MR:       int64(pr.GetNumber()),
		Actor:    user(actor),
		HeadSHA:  pr.GetHead().GetSHA(),
		BaseSHA:  pr.GetBase().GetSHA(),
		FromFork: fromFork(pr),
	}
	return ev, complete(ev)
}

// complete rejects a delivery without the fields every event needs.
func complete(ev *forge.Event) error {
	if ev.Repo == "" || ev.MR == 0 {
		return fmt.Errorf("the payload names no repository or pull request number")
	}
	return nil
}

// fromFork: the head lives in another repository than the base. A head
// repository that is gone (a deleted fork) counts as a fork.
func fromFork(pr *gh.PullRequest) bool {
	head := pr.GetHead().GetRepo().GetFullName()
	base := pr.GetBase().GetRepo().GetFullName()
	if head == "" {
		return base != "" || pr.GetHead() != nil
	}
	return !strings.EqualFold(head, base)
}
