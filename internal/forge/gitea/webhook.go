package gitea

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/internal/forge"
)

// header returns the first non-empty of the named headers. Forgejo sends
// X-Forgejo-* headers besides (or, some day, instead of) the X-Gitea-*
// ones.
func header(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// signature returns the delivery's HMAC-SHA256 signature. Gitea sends the
// hex digest in X-Gitea-Signature (and X-Forgejo-Signature on Forgejo),
// and the same as "sha256=HEX" in X-Hub-Signature-256, which is read when
// the first are absent. No secret, no signature, or one that is not 32
// bytes of hex is forge.ErrBadSignature.
func signature(h http.Header, secret []byte) ([]byte, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("gitea webhook: no secret configured to check it against: %w", forge.ErrBadSignature)
	}
	sig := header(h, "X-Gitea-Signature", "X-Forgejo-Signature")
	if sig == "" {
		if hub, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256="); ok {
			sig = hub
		}
	}
	if sig == "" {
		return nil, fmt.Errorf("gitea webhook has no signature (give the webhook a secret): %w", forge.ErrBadSignature)
	}
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || len(got) != sha256.Size {
		return nil, fmt.Errorf("gitea webhook signature is not a hex HMAC-SHA256: %w", forge.ErrBadSignature)
	}
	return got, nil
}

// verify checks the delivery's HMAC-SHA256 signature of body with secret,
// in constant time.
func verify(h http.Header, body, secret []byte) error {
	got, err := signature(h, secret)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		if strings.HasPrefix(h.Get("Content-Type"), "application/x-www-form-urlencoded") {
			return fmt.Errorf("gitea webhook was sent as a form, which Sluice cannot verify: set its content type to application/json: %w", forge.ErrBadSignature)
		}
		return fmt.Errorf("gitea webhook signature does not match the configured secret: %w", forge.ErrBadSignature)
	}
	return nil
}

// Webhook payloads, the fields Sluice reads.
type (
	hookUser struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
	}
	hookRepo struct {
		ID       int64  `json:"id"`
		FullName string `json:"full_name"`
	}
	hookBranch struct {
		Label  string `json:"label"`
		Ref    string `json:"ref"`
		SHA    string `json:"sha"`
		RepoID int64  `json:"repo_id"`
	}
	hookPR struct {
		Number int64       `json:"number"`
		Title  string      `json:"title"`
		Draft  bool        `json:"draft"`
		Merged bool        `json:"merged"`
		Head   *hookBranch `json:"head"`
		Base   *hookBranch `json:"base"`
	}
	hookChange struct {
		From string `json:"from"`
	}
	prPayload struct {
		Action  string `json:"action"`
		Number  int64  `json:"number"`
		Changes *struct {
			Title *hookChange `json:"title"`
			Ref   *hookChange `json:"ref"` // the target branch, when it changed
		} `json:"changes"`
		PullRequest *hookPR   `json:"pull_request"`
		Repository  *hookRepo `json:"repository"`
		Sender      *hookUser `json:"sender"`
	}
	commentPayload struct {
		Action string `json:"action"`
		Issue  *struct {
			Number int64 `json:"number"`
		} `json:"issue"`
		PullRequest *hookPR `json:"pull_request"`
		Comment     *struct {
			ID   int64    `json:"id"`
			Body string   `json:"body"`
			User hookUser `json:"user"`
		} `json:"comment"`
		Repository *hookRepo `json:"repository"`
		Sender     *hookUser `json:"sender"`
		IsPull     bool      `json:"is_pull"`
	}
)

// Parse verifies a Gitea (or Forgejo) webhook delivery and returns the
// event. Pull request events become EventMR (opened, synchronize,
// reopened, closed, merged, edited, and ready or draft when an edit adds or
// removes the work-in-progress title prefix); comments on pull requests
// become EventComment; approvals, requests for changes and review comments
// become EventReview ("submitted"). Anything else — pushes, branch
// creation, issue events, labels, assignments, review requests, comment
// edits — is forge.ErrIgnored.
func (c *Client) Parse(h http.Header, body []byte, secret []byte) (*forge.Event, error) {
	if err := verify(h, body, secret); err != nil {
		return nil, err
	}
	parse, err := parser(h)
	if err != nil {
		return nil, err
	}
	return parse(c, eventType(h), header(h, "X-Gitea-Delivery", "X-Forgejo-Delivery"), body)
}

// Precheck refuses a delivery without a well-formed signature, and
// ignores an event Parse would ignore whatever its body, from its headers
// alone (see forge.Webhooks).
func (c *Client) Precheck(h http.Header, secret []byte) error {
	if _, err := signature(h, secret); err != nil {
		return err
	}
	_, err := parser(h)
	return err
}

// MaxBody is the largest delivery read. Gitea documents no cap on its
// payloads; the events Sluice reads carry a pull request and a comment or
// review, far smaller than GitHub's and GitLab's cap, which is used here
// too.
func (c *Client) MaxBody() int64 { return forge.MaxWebhookBody }

// eventType is the delivery's event type, from X-Gitea-Event-Type (or
// Forgejo's), else from the older X-Gitea-Event.
func eventType(h http.Header) string {
	if event := header(h, "X-Gitea-Event-Type", "X-Forgejo-Event-Type"); event != "" {
		return event
	}
	return legacyEventType(header(h, "X-Gitea-Event", "X-Forgejo-Event"))
}

// parsers are the event types Sluice acts on. Any other — issue_comment
// (on issues: Gitea sends pull_request_comment for pull requests), push,
// create, pull_request_label, ... — is forge.ErrIgnored.
var parsers = map[string]func(c *Client, event, delivery string, body []byte) (*forge.Event, error){
	"pull_request":      (*Client).parsePR,
	"pull_request_sync": (*Client).parsePR,
	"pull_request_comment": func(_ *Client, event, delivery string, body []byte) (*forge.Event, error) {
		return parseComment(event, delivery, body)
	},
	"pull_request_review_approved": func(_ *Client, event, delivery string, body []byte) (*forge.Event, error) {
		return parseReview(event, delivery, body)
	},
	"pull_request_review_rejected": func(_ *Client, event, delivery string, body []byte) (*forge.Event, error) {
		return parseReview(event, delivery, body)
	},
	"pull_request_review_comment": func(_ *Client, event, delivery string, body []byte) (*forge.Event, error) {
		return parseReview(event, delivery, body)
	},
}

// parser returns the parser of the delivery's event type, or
// forge.ErrIgnored.
func parser(h http.Header) (func(c *Client, event, delivery string, body []byte) (*forge.Event, error), error) {
	event := eventType(h)
	if parse, ok := parsers[event]; ok {
		return parse, nil
	}
	if event == "" {
		return nil, fmt.Errorf("gitea webhook without X-Gitea-Event: %w", forge.ErrIgnored)
	}
	return nil, fmt.Errorf("gitea %s webhook: %w", event, forge.ErrIgnored)
}

// legacyEventType maps X-Gitea-Event, for servers that send no
// X-Gitea-Event-Type, to the event type it stands for.
func legacyEventType(event string) string {
	switch event {
	case "issue_comment":
		return "pull_request_comment" // parseComment ignores issues
	case "pull_request_approved":
		return "pull_request_review_approved"
	case "pull_request_rejected":
		return "pull_request_review_rejected"
	case "pull_request_comment": // a review comment, under its legacy name
		return "pull_request_review_comment"
	default:
		return event
	}
}

func decode(event string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("parsing gitea %s webhook: %w", event, err)
	}
	return nil
}

func (p *hookPR) fromFork() bool {
	if p == nil || p.Head == nil || p.Base == nil {
		return false
	}
	return fromFork(p.Head.RepoID, p.Base.RepoID, p.Head.Label)
}

func (p *hookPR) shas() (head, base string) {
	if p == nil {
		return "", ""
	}
	if p.Head != nil {
		head = p.Head.SHA
	}
	if p.Base != nil {
		base = p.Base.SHA
	}
	return head, base
}

func actor(u *hookUser) forge.User {
	if u == nil {
		return forge.User{}
	}
	return forge.User{ID: u.ID, Login: u.Login}
}

// decodePR reads a pull request or review payload, which must name the
// pull request and its repository.
func decodePR(event string, body []byte) (*prPayload, error) {
	var p prPayload
	if err := decode(event, body, &p); err != nil {
		return nil, err
	}
	if p.PullRequest == nil || p.Repository == nil || p.Repository.FullName == "" {
		return nil, fmt.Errorf("parsing gitea %s webhook: no pull request or repository in it", event)
	}
	return &p, nil
}

// event is the payload of a decodePR as an event.
func (p *prPayload) event(kind forge.EventKind, action, delivery string) *forge.Event {
	number := p.Number
	if number == 0 {
		number = p.PullRequest.Number
	}
	head, base := p.PullRequest.shas()
	return &forge.Event{
		Kind:       kind,
		Action:     action,
		DeliveryID: delivery,
		Repo:       p.Repository.FullName,
		MR:         number,
		Actor:      actor(p.Sender),
		HeadSHA:    head,
		BaseSHA:    base,
		FromFork:   p.PullRequest.fromFork(),
	}
}

func (c *Client) parsePR(event, delivery string, body []byte) (*forge.Event, error) {
	p, err := decodePR(event, body)
	if err != nil {
		return nil, err
	}
	var action string
	switch p.Action {
	case "opened":
		action = forge.ActionOpened
	case "synchronized":
		action = forge.ActionSynchronize
	case "reopened":
		action = forge.ActionReopened
	case "closed":
		action = forge.ActionClosed
		if p.PullRequest.Merged {
			action = forge.ActionMerged
		}
	case "deleted": // an administrator deleted the pull request
		action = forge.ActionClosed
	case "edited":
		action = forge.ActionEdited
		if p.Changes != nil && p.Changes.Ref != nil {
			action = forge.ActionRetargeted
		} else if p.Changes != nil && p.Changes.Title != nil {
			was := c.draftTitle(p.Changes.Title.From)
			switch {
			case was && !p.PullRequest.Draft:
				action = forge.ActionReady
			case !was && p.PullRequest.Draft:
				action = forge.ActionDraft
			}
		}
	default: // assigned, label_updated, milestoned, review_requested, ...
		return nil, fmt.Errorf("gitea %s webhook with action %q: %w", event, p.Action, forge.ErrIgnored)
	}
	return p.event(forge.EventMR, action, delivery), nil
}

// draftTitle tells whether a title carries one of the server's
// work-in-progress prefixes (Gitea ignores their case).
func (c *Client) draftTitle(title string) bool {
	return forge.DraftTitle(title, c.wip...)
}

func parseComment(event, delivery string, body []byte) (*forge.Event, error) {
	var p commentPayload
	if err := decode(event, body, &p); err != nil {
		return nil, err
	}
	if !p.IsPull && p.PullRequest == nil {
		return nil, fmt.Errorf("gitea comment on an issue: %w", forge.ErrIgnored)
	}
	if p.Action != "created" {
		return nil, fmt.Errorf("gitea comment webhook with action %q: %w", p.Action, forge.ErrIgnored)
	}
	if p.Issue == nil || p.Comment == nil || p.Repository == nil || p.Repository.FullName == "" {
		return nil, fmt.Errorf("parsing gitea %s webhook: no issue, comment or repository in it", event)
	}
	author := forge.User{ID: p.Comment.User.ID, Login: p.Comment.User.Login}
	head, base := p.PullRequest.shas()
	ev := &forge.Event{
		Kind:       forge.EventComment,
		Action:     "created",
		DeliveryID: delivery,
		Repo:       p.Repository.FullName,
		MR:         p.Issue.Number,
		Actor:      actor(p.Sender),
		HeadSHA:    head,
		BaseSHA:    base,
		Comment:    &forge.Comment{ID: p.Comment.ID, Author: author, Body: p.Comment.Body},
		FromFork:   p.PullRequest.fromFork(),
	}
	if ev.Actor.Login == "" {
		ev.Actor = author
	}
	return ev, nil
}

func parseReview(event, delivery string, body []byte) (*forge.Event, error) {
	p, err := decodePR(event, body)
	if err != nil {
		return nil, err
	}
	if p.Action != "reviewed" {
		return nil, fmt.Errorf("gitea %s webhook with action %q: %w", event, p.Action, forge.ErrIgnored)
	}
	return p.event(forge.EventReview, "submitted", delivery), nil
}
