package gitlab

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
)

// Webhook event names GitLab sends in X-Gitlab-Event.
const (
	eventMergeRequest = "Merge Request Hook"
	eventNote         = "Note Hook"
)

// signatureTolerance is how far webhook-timestamp may be from the clock.
const signatureTolerance = 5 * time.Minute

// signingKeyPrefix starts a Standard Webhooks secret; the rest is the
// base64 of the HMAC key.
const signingKeyPrefix = "whsec_"

// ParseWebhook verifies a GitLab webhook delivery against secret and
// parses it.
//
// A delivery carries one or both of GitLab's mechanisms, and must pass
// each it carries (one at least):
//
//   - X-Gitlab-Token, the webhook's "Secret token", compared with secret
//     in constant time (its length too: both are hashed first);
//   - the Standard Webhooks headers webhook-id, webhook-timestamp and
//     webhook-signature ("v1,<base64>" entries, space-separated), sent when
//     the webhook has a signing token: HMAC-SHA256 of "id.timestamp.body".
//     The key is secret itself, or, for a secret of the form
//     "whsec_<base64>" (how GitLab shows signing tokens), the decoded
//     bytes. The timestamp must be within five minutes of now.
//
// Use the same value for both when a webhook has both: a "whsec_..."
// signing token can also be typed in as the secret token.
//
// Errors never contain a header's value. A valid delivery of any other
// event, or one Sluice does not act on, is forge.ErrIgnored.
func ParseWebhook(h http.Header, body []byte, secret []byte, now time.Time) (*forge.Event, error) {
	if err := verify(h, body, secret, now); err != nil {
		return nil, err
	}
	ev, err := parseEvent(h.Get("X-Gitlab-Event"), body)
	if err != nil {
		return nil, err
	}
	ev.DeliveryID = deliveryID(h)
	return ev, nil
}

// deliveryID is what identifies the delivery: Idempotency-Key (GitLab
// 17.4+, kept across retries of the same delivery), else webhook-id (the
// same value), else X-Gitlab-Event-UUID.
func deliveryID(h http.Header) string {
	for _, k := range []string{"Idempotency-Key", "Webhook-Id", "X-Gitlab-Event-UUID"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

func verify(h http.Header, body, secret []byte, now time.Time) error {
	signed, err := checkHeaders(h, secret, now)
	if err != nil || !signed {
		return err
	}
	return verifySignature(h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature"), body, secret)
}

// checkHeaders verifies what the headers alone can tell: a secret is
// configured, the delivery carries a mechanism, X-Gitlab-Token matches,
// and the Standard Webhooks headers come together with a timestamp within
// signatureTolerance. signed says whether webhook-signature is left to
// check against the body.
func checkHeaders(h http.Header, secret []byte, now time.Time) (signed bool, err error) {
	if len(secret) == 0 {
		return false, fmt.Errorf("%w: no webhook secret is configured for GitLab", forge.ErrBadSignature)
	}
	tokens := h.Values("X-Gitlab-Token")
	id, ts, sig := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	signed = id != "" || ts != "" || sig != ""
	if len(tokens) == 0 && !signed {
		return false, fmt.Errorf("%w: the delivery has neither X-Gitlab-Token nor webhook-signature; set the webhook's secret token in GitLab", forge.ErrBadSignature)
	}
	if len(tokens) > 0 {
		if len(tokens) != 1 || !equalSecret([]byte(tokens[0]), secret) {
			return false, fmt.Errorf("%w: X-Gitlab-Token does not match the configured secret", forge.ErrBadSignature)
		}
	}
	if !signed {
		return false, nil
	}
	if id == "" || ts == "" || sig == "" {
		return false, fmt.Errorf("%w: webhook-id, webhook-timestamp and webhook-signature must come together", forge.ErrBadSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false, fmt.Errorf("%w: webhook-timestamp is not Unix seconds", forge.ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > signatureTolerance || d < -signatureTolerance {
		return false, fmt.Errorf("%w: webhook-timestamp is %s away from this server's clock (at most %s allowed): a replay, or a clock to fix",
			forge.ErrBadSignature, d.Abs().Round(time.Second), signatureTolerance)
	}
	return true, nil
}

// equalSecret compares in constant time, length included.
func equalSecret(got, want []byte) bool {
	g, w := sha256.Sum256(got), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// verifySignature checks webhook-signature, whose headers checkHeaders
// has checked: an HMAC-SHA256 of "id.timestamp.body".
func verifySignature(id, ts, sig string, body, secret []byte) error {
	mac := hmac.New(sha256.New, signingKey(secret))
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	for _, entry := range strings.Fields(sig) {
		version, value, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 webhook-signature matches the body and the configured secret", forge.ErrBadSignature)
}

// signingKey is the HMAC key of a secret: the decoded bytes of
// "whsec_<base64>", else the secret as it is.
func signingKey(secret []byte) []byte {
	if rest, ok := bytes.CutPrefix(secret, []byte(signingKeyPrefix)); ok {
		if key, err := base64.StdEncoding.DecodeString(string(rest)); err == nil && len(key) > 0 {
			return key
		}
	}
	return secret
}

// hookUser is the user block of a webhook payload: who did what the
// delivery reports. Older GitLab (GitLab 11's documented payloads) sends
// no id in it.
type hookUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

type hookProject struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
}

type hookCommit struct {
	ID string `json:"id"`
}

// mergeRequestHook is what Sluice reads of a "Merge Request Hook".
type mergeRequestHook struct {
	ObjectKind       string      `json:"object_kind"`
	User             hookUser    `json:"user"`
	Project          hookProject `json:"project"`
	ObjectAttributes struct {
		IID             int64      `json:"iid"`
		Action          string     `json:"action"`
		OldRev          string     `json:"oldrev"`
		SourceProjectID int64      `json:"source_project_id"`
		TargetProjectID int64      `json:"target_project_id"`
		LastCommit      hookCommit `json:"last_commit"`
		// Draft is GitLab's verdict on the merge request now (16.3 and
		// later); WorkInProgress the same, under its older name (every
		// version). Nil when the payload does not say.
		Draft          *bool `json:"draft"`
		WorkInProgress *bool `json:"work_in_progress"`
	} `json:"object_attributes"`
	Changes map[string]json.RawMessage `json:"changes"`
}

// noteHook is what Sluice reads of a "Note Hook".
type noteHook struct {
	ObjectKind       string      `json:"object_kind"`
	User             hookUser    `json:"user"`
	Project          hookProject `json:"project"`
	ObjectAttributes struct {
		ID int64 `json:"id"`
		// AuthorID is the note's author, in every version (older ones
		// send no user.id).
		AuthorID     int64  `json:"author_id"`
		Note         string `json:"note"`
		NoteableType string `json:"noteable_type"`
		System       bool   `json:"system"`
		Action       string `json:"action"`
	} `json:"object_attributes"`
	MergeRequest *struct {
		IID             int64      `json:"iid"`
		SourceProjectID int64      `json:"source_project_id"`
		TargetProjectID int64      `json:"target_project_id"`
		LastCommit      hookCommit `json:"last_commit"`
	} `json:"merge_request"`
}

// change is one entry of a payload's "changes".
type change struct {
	Previous json.RawMessage `json:"previous"`
	Current  json.RawMessage `json:"current"`
}

func parseEvent(event string, body []byte) (*forge.Event, error) {
	parse, err := parser(event)
	if err != nil {
		return nil, err
	}
	return parse(body)
}

// parsers are the events Sluice acts on, by X-Gitlab-Event.
var parsers = map[string]func(body []byte) (*forge.Event, error){
	eventMergeRequest: parseMergeRequest,
	eventNote:         parseNote,
}

// parser returns the parser of an X-Gitlab-Event, or forge.ErrIgnored.
func parser(event string) (func([]byte) (*forge.Event, error), error) {
	if parse, ok := parsers[event]; ok {
		return parse, nil
	}
	return nil, fmt.Errorf("%w: GitLab %q", forge.ErrIgnored, event)
}

// PrecheckWebhook judges a delivery by its headers alone (see
// forge.Webhooks): X-Gitlab-Token is compared with secret, and the
// Standard Webhooks headers must come together with a recent timestamp,
// before any body is read; an event Sluice does not act on is
// forge.ErrIgnored.
func PrecheckWebhook(h http.Header, secret []byte, now time.Time) error {
	if _, err := checkHeaders(h, secret, now); err != nil {
		return err
	}
	_, err := parser(h.Get("X-Gitlab-Event"))
	return err
}

// parseMergeRequest maps object_attributes.action: open, reopen, close,
// merge; update with oldrev (new commits), with a change of the branch it
// merges into (see retargeted), with a draft change (see draftChange), or
// with a title or description change; approval and approved (submitted
// reviews), unapproval and unapproved (dismissed). Other updates (labels,
// assignees, ...) are ignored.
//
// A change of the target branch is ActionRetargeted, which the flow plans
// again on: a merge request into another branch has another base, and the
// rules its plans took from the old branch no longer hold.
func parseMergeRequest(body []byte) (*forge.Event, error) {
	var p mergeRequestHook
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("gitlab: reading a Merge Request Hook payload: %w", err)
	}
	a := p.ObjectAttributes
	if p.Project.PathWithNamespace == "" || a.IID == 0 {
		return nil, fmt.Errorf("gitlab: a Merge Request Hook payload without project.path_with_namespace or object_attributes.iid")
	}
	ev := &forge.Event{
		Kind:     forge.EventMR,
		Repo:     p.Project.PathWithNamespace,
		MR:       a.IID,
		Actor:    forge.User{ID: p.User.ID, Login: p.User.Username},
		HeadSHA:  a.LastCommit.ID,
		FromFork: a.SourceProjectID != 0 && a.TargetProjectID != 0 && a.SourceProjectID != a.TargetProjectID,
	}
	switch a.Action {
	case "open":
		ev.Action = forge.ActionOpened
	case "reopen":
		ev.Action = forge.ActionReopened
	case "close":
		ev.Action = forge.ActionClosed
	case "merge":
		ev.Action = forge.ActionMerged
	case "update":
		switch draft, changed := draftChange(&p); {
		case a.OldRev != "":
			ev.Action = forge.ActionSynchronize
		case retargeted(p.Changes):
			ev.Action = forge.ActionRetargeted
		case changed && draft:
			ev.Action = forge.ActionDraft
		case changed:
			ev.Action = forge.ActionReady
		case p.Changes["title"] != nil || p.Changes["description"] != nil:
			ev.Action = forge.ActionEdited
		default:
			return nil, fmt.Errorf("%w: GitLab merge request update that changes none of commits, target branch, draft, title or description", forge.ErrIgnored)
		}
	case "approval", "approved":
		ev.Kind, ev.Action = forge.EventReview, "submitted"
	case "unapproval", "unapproved":
		ev.Kind, ev.Action = forge.EventReview, "dismissed"
	default:
		return nil, fmt.Errorf("%w: GitLab merge request action %q", forge.ErrIgnored, a.Action)
	}
	return ev, nil
}

// draftPrefixes are the title prefixes that make a merge request a draft
// in GitLab before 16.3: "Draft:", "[Draft]" and "(Draft)" from 13.2,
// "WIP:" and "[WIP]" before 14.0 (both between). Their case does not
// matter. Prefixes some versions knew besides ("Draft - " in 13.x, "WIP "
// in older ones) are left out: such a change reads as an edit, which refreshes the
// checklist, draft item included, without planning again.
var draftPrefixes = []string{"Draft:", "[Draft]", "(Draft)", "WIP:", "[WIP]"}

// draftChange tells whether an update marked the merge request draft or
// ready, and which. GitLab 16.3 and later say so in changes.draft, and
// send object_attributes.draft. Older GitLab reports "Mark as ready" and
// "Mark as draft" only as a change of the title (gitlab-org/gitlab#25028):
// the prefixes of the previous and the current title are compared, and the
// change counts only when GitLab's own verdict on the current title
// (object_attributes.work_in_progress) agrees with the prefix rule, so a
// prefix this GitLab does not know ("WIP:" since 14.0) makes no change.
func draftChange(p *mergeRequestHook) (draft, changed bool) {
	if raw := p.Changes["draft"]; raw != nil {
		var prev, cur bool
		if !changeOf(raw, &prev, &cur) || prev == cur {
			return false, false
		}
		return cur, true
	}
	a := p.ObjectAttributes
	if a.Draft != nil { // 16.3 or later, which would have said so
		return false, false
	}
	var prev, cur string
	if !changeOf(p.Changes["title"], &prev, &cur) {
		return false, false
	}
	was, now := forge.DraftTitle(prev, draftPrefixes...), forge.DraftTitle(cur, draftPrefixes...)
	if was == now || (a.WorkInProgress != nil && *a.WorkInProgress != now) {
		return false, false
	}
	return now, true
}

// retargeted tells whether an update changed the branch the merge request
// merges into: changes.target_branch, or, from the GitLab versions that
// report a retarget with only the merge status GitLab sets to be checked
// again (gitlab-org/gitlab#224610: "unchecked", or
// "cannot_be_merged_recheck"), a change of merge_status alone among the
// fields Sluice reads.
func retargeted(changes map[string]json.RawMessage) bool {
	var prev, cur string
	switch {
	case changeOf(changes["target_branch"], &prev, &cur):
		return prev != cur
	case changes["title"] != nil || changes["description"] != nil || changes["draft"] != nil:
		return false
	case changeOf(changes["merge_status"], &prev, &cur):
		return prev != cur && (cur == "unchecked" || cur == "cannot_be_merged_recheck")
	}
	return false
}

// changeOf decodes one entry of a payload's "changes" into prev and cur;
// false when raw is absent or not of their type.
func changeOf(raw json.RawMessage, prev, cur any) bool {
	if raw == nil {
		return false
	}
	var ch change
	return json.Unmarshal(raw, &ch) == nil && json.Unmarshal(ch.Previous, prev) == nil && json.Unmarshal(ch.Current, cur) == nil
}

// parseNote maps a new comment on a merge request to EventComment.
// Comments on anything else, system notes, and edits of a comment (GitLab
// 16.11+ sends those with action "update": an edited "sluice apply" must
// not run again) are ignored.
func parseNote(body []byte) (*forge.Event, error) {
	var p noteHook
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("gitlab: reading a Note Hook payload: %w", err)
	}
	a := p.ObjectAttributes
	switch {
	case a.NoteableType != "MergeRequest":
		return nil, fmt.Errorf("%w: GitLab comment on a %s", forge.ErrIgnored, a.NoteableType)
	case a.System:
		return nil, fmt.Errorf("%w: GitLab system note", forge.ErrIgnored)
	case a.Action != "" && a.Action != "create":
		return nil, fmt.Errorf("%w: GitLab comment %s", forge.ErrIgnored, a.Action)
	}
	mr := p.MergeRequest
	if p.Project.PathWithNamespace == "" || mr == nil || mr.IID == 0 {
		return nil, fmt.Errorf("gitlab: a Note Hook payload on a merge request without project.path_with_namespace or merge_request.iid")
	}
	// The note's author: user is who wrote it, without an id in older
	// GitLab, whose author_id is the same account.
	actor := forge.User{ID: cmp.Or(p.User.ID, a.AuthorID), Login: p.User.Username}
	return &forge.Event{
		Kind:     forge.EventComment,
		Action:   "created",
		Repo:     p.Project.PathWithNamespace,
		MR:       mr.IID,
		Actor:    actor,
		HeadSHA:  mr.LastCommit.ID,
		Comment:  &forge.Comment{ID: a.ID, Author: actor, Body: a.Note},
		FromFork: mr.SourceProjectID != 0 && mr.TargetProjectID != 0 && mr.SourceProjectID != mr.TargetProjectID,
	}, nil
}
