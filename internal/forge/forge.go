// Package forge is the forge-neutral model of merge requests — GitLab's
// merge requests, GitHub's and Gitea's pull requests — and the small
// interfaces Sluice needs from a forge. Adapters live in forge/gitlab,
// forge/github and forge/gitea; forge/forgetest is the contract suite
// every adapter passes. The few pieces the adapters share are here too:
// the sticky comment's parts (StickyComments, PartPrefix), the waits of
// their retries (RetryAfter, Sleep), and how a title marks a draft
// (DraftTitle).
package forge

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors adapters return, to be tested with errors.Is.
var (
	// ErrNotFound: the repository, merge request, branch, user or group is
	// gone (or the token may not see it).
	ErrNotFound = errors.New("not found on the forge")
	// ErrBadSignature: a webhook's signature or token is missing or wrong.
	ErrBadSignature = errors.New("webhook signature missing or wrong")
	// ErrIgnored: a valid webhook Sluice has nothing to do with.
	ErrIgnored = errors.New("event ignored")
	// ErrCommitsTruncated: the forge lists only part of a merge request's
	// commits (GitHub: the first 250), so who wrote the others cannot be
	// told, however often Committers is asked.
	ErrCommitsTruncated = errors.New("not every commit can be listed")
)

// User is a forge account.
type User struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
}

// MRState is whether a merge request is open, merged or closed unmerged.
type MRState string

const (
	MROpen   MRState = "open"
	MRMerged MRState = "merged"
	MRClosed MRState = "closed"
)

// MergeRequest is a merge request (pull request) as Sluice needs it.
type MergeRequest struct {
	// Repo is the repository's full path on the forge: "org/infra".
	Repo   string  `json:"repo"`
	Number int64   `json:"number"`
	Title  string  `json:"title"`
	Body   string  `json:"body"`
	Author User    `json:"author"`
	State  MRState `json:"state"`
	Draft  bool    `json:"draft"`
	// HeadSHA is the merge request's latest commit; BaseSHA the current tip
	// of the branch it merges into.
	HeadSHA string `json:"head_sha"`
	BaseSHA string `json:"base_sha"`
	HeadRef string `json:"head_ref"`
	BaseRef string `json:"base_ref"`
	// FromFork is true when the head lives in another repository.
	FromFork bool `json:"from_fork"`
	// MergeSHA is the commit the merge created, once merged.
	MergeSHA string `json:"merge_sha,omitempty"`
	MergedBy *User  `json:"merged_by,omitempty"`
	WebURL   string `json:"web_url"`
}

// ReviewState is what a review says.
type ReviewState string

const (
	ReviewApproved         ReviewState = "approved"
	ReviewChangesRequested ReviewState = "changes_requested"
	ReviewCommented        ReviewState = "commented"
)

// Review is a reviewer's latest word on a merge request. Adapters return
// one per reviewer: the latest that counts (approval or changes
// requested), with the commit it was given at.
type Review struct {
	User  User        `json:"user"`
	State ReviewState `json:"state"`
	// CommitSHA is the head the review was given on ("" when unknown).
	CommitSHA string    `json:"commit_sha,omitempty"`
	At        time.Time `json:"at"`
}

// CheckState is the outcome of a pipeline, check or commit status.
type CheckState string

const (
	CheckPending CheckState = "pending"
	CheckSuccess CheckState = "success"
	CheckFailure CheckState = "failure"
)

// Check is one pipeline, check run or commit status on a commit.
type Check struct {
	Name        string     `json:"name"`
	State       CheckState `json:"state"`
	Description string     `json:"description,omitempty"`
	URL         string     `json:"url,omitempty"`
}

// OwnCheck reports whether a check is one Sluice posts itself (sluice/plan:
// PROJECT, sluice/apply: PROJECT, sluice/gate): the gate never counts them
// among the other checks, and a GitLab pipeline that holds one is judged
// by its other jobs.
func OwnCheck(name string) bool { return strings.HasPrefix(name, "sluice/") }

// Permission is a user's access to a repository.
type Permission int

const (
	PermNone Permission = iota
	PermRead
	PermWrite // may push, approve and ask for an apply
	PermAdmin // maintainer / admin / owner
)

func (p Permission) String() string {
	return [...]string{"none", "read", "write", "admin"}[p]
}

// Comment is a comment on a merge request or an issue.
type Comment struct {
	ID     int64  `json:"id"`
	Author User   `json:"author"`
	Body   string `json:"body"`
}

// Issue is an issue on the forge (drift reports, the issue an MR closes).
type Issue struct {
	Number int64  `json:"number"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	Open   bool   `json:"open"`
	WebURL string `json:"web_url"`
}

// EventKind is what a webhook reports.
type EventKind string

const (
	// EventMR: a merge request was opened, pushed to, marked ready or
	// draft, reopened, closed or merged (Action says which).
	EventMR EventKind = "merge_request"
	// EventComment: someone commented on a merge request (commands).
	EventComment EventKind = "comment"
	// EventReview: a review or approval was given or withdrawn.
	EventReview EventKind = "review"
)

// MR actions of an EventMR.
const (
	ActionOpened      = "opened"
	ActionSynchronize = "synchronize" // new commits pushed
	ActionReady       = "ready"       // draft → ready for review
	ActionDraft       = "draft"       // ready → draft
	ActionReopened    = "reopened"
	ActionClosed      = "closed" // closed without merge
	ActionMerged      = "merged"
	ActionEdited      = "edited" // title or body changed
	// ActionRetargeted: the branch it merges into changed; its plans, and
	// the rules they took from the old branch, no longer hold.
	ActionRetargeted = "retargeted"
)

// Event is a verified webhook in forge-neutral form.
type Event struct {
	Kind EventKind `json:"kind"`
	// Action is the EventMR action, or "created" for comments, "submitted"
	// / "dismissed" for reviews.
	Action     string `json:"action"`
	DeliveryID string `json:"delivery_id"`
	Repo       string `json:"repo"`
	MR         int64  `json:"mr"`
	// Actor is who did it: pusher, commenter, merger.
	Actor   User   `json:"actor"`
	HeadSHA string `json:"head_sha,omitempty"`
	BaseSHA string `json:"base_sha,omitempty"`
	// Comment is set for EventComment.
	Comment *Comment `json:"comment,omitempty"`
	// FromFork is true when the merge request comes from a fork.
	FromFork bool `json:"from_fork,omitempty"`
}

// Webhooks verifies and parses a forge's webhook deliveries.
type Webhooks interface {
	// Precheck judges a delivery by its headers alone, before its body is
	// read, so that a delivery nobody signed costs no memory:
	// ErrBadSignature when it carries none of the forge's signature or
	// token headers, or one that cannot be right (a token that does not
	// match, a signature of the wrong form, an empty secret); ErrIgnored
	// for an event Sluice never acts on (whatever its body, which is
	// neither read nor verified); nil otherwise. A delivery Parse accepts
	// always passes Precheck.
	Precheck(h http.Header, secret []byte) error
	// MaxBody is the largest delivery body this forge sends: a longer one
	// is refused unread.
	MaxBody() int64
	// Parse verifies the delivery's signature or token against secret
	// (ErrBadSignature when wrong or missing), then returns the event, or
	// ErrIgnored for a valid delivery Sluice has no use for.
	Parse(h http.Header, body []byte, secret []byte) (*Event, error)
}

// MaxWebhookBody is the payload cap GitHub documents ("Payloads are
// capped at 25 MB"), and GitLab's (it does not send a payload whose JSON
// is over 25 MB). The adapters' MaxBody use it.
const MaxWebhookBody = 25 << 20

// MergeRequests reads merge request state.
type MergeRequests interface {
	GetMR(ctx context.Context, repo string, number int64) (*MergeRequest, error)
	// Reviews returns each reviewer's latest approval or request for
	// changes.
	Reviews(ctx context.Context, repo string, number int64) ([]Review, error)
	// UnresolvedThreads counts the merge request's unresolved discussion
	// threads (0 where the forge has no such notion).
	UnresolvedThreads(ctx context.Context, repo string, number int64) (int, error)
	// Checks lists the pipelines, checks and statuses on a commit.
	Checks(ctx context.Context, repo, sha string) ([]Check, error)
	// Permission is the user's access to the repository.
	Permission(ctx context.Context, repo, login string) (Permission, error)
	// Committers returns the logins of the accounts the forge links to the
	// merge request's commits as their author or committer, each once, in
	// no particular order: the gate does not count their approvals. The
	// forge links a commit to an account by the email addresses git
	// recorded, which whoever pushes chooses: this tells who the commits
	// say wrote them, not who pushed them.
	//
	//   - Gitea: the users Gitea matches to each commit's author and
	//     committer emails; a commit whose emails match no user adds nobody.
	//   - GitHub: the users GitHub matches the same way, without web-flow
	//     (the committer of the commits made in GitHub's web interface);
	//     bots are included. GitHub lists at most 250 commits of a pull
	//     request: with that many, it is an error wrapping
	//     ErrCommitsTruncated, since the others cannot be seen.
	//   - GitLab: nil. Its commits carry only emails, which a token without
	//     administrator rights cannot reliably map to users; GitLab's own
	//     approval setting "Prevent approvals by users who add commits"
	//     (Settings > Merge requests > Merge request approvals) refuses
	//     their approvals there.
	Committers(ctx context.Context, repo string, number int64) ([]string, error)
}

// Commenter writes on merge requests and commits.
type Commenter interface {
	// UpsertComment keeps one comment per marker on a merge request: the
	// first body updates (or creates) the comment that contains marker;
	// further bodies are the continuation parts, kept in order after it.
	// Parts no longer needed are deleted.
	UpsertComment(ctx context.Context, repo string, number int64, marker string, bodies []string) error
	// Comments lists a merge request's comments, oldest first.
	Comments(ctx context.Context, repo string, number int64) ([]Comment, error)
	// GetComment reads comment id of merge request number as the forge
	// has it now: its author and body, not what a webhook said they were.
	// A comment that does not exist, was deleted, is not a plain comment
	// (a GitLab system note) or belongs to another merge request or issue
	// is an error wrapping ErrNotFound.
	GetComment(ctx context.Context, repo string, number, id int64) (*Comment, error)
	// Reply posts a new comment.
	Reply(ctx context.Context, repo string, number int64, body string) error
	// SetStatus sets a commit status named name on sha.
	SetStatus(ctx context.Context, repo, sha string, c Check) error
}

// Issues comments on issues: those a merged merge request closes are
// told what became of the change.
type Issues interface {
	CommentIssue(ctx context.Context, repo string, number int64, body string) error
}

// IssueTracker opens, finds, updates and closes Sluice's own issues (drift
// reports). Every adapter has it; it is not part of Forge, whose methods
// are those the server calls, until drift detection uses it.
type IssueTracker interface {
	// FindIssue returns the open issue whose body contains marker, or
	// ErrNotFound.
	FindIssue(ctx context.Context, repo, marker string) (*Issue, error)
	CreateIssue(ctx context.Context, repo, title, body string) (*Issue, error)
	UpdateIssue(ctx context.Context, repo string, number int64, title, body string) error
	CloseIssue(ctx context.Context, repo string, number int64, comment string) error
}

// Groups reads who belongs to a group: the group:NAME entries of
// sluice.yaml's approval.from and the team owners of CODEOWNERS.
type Groups interface {
	// GroupMembers returns the logins of the members of group as the forge
	// understands it for repo: on Gitea and GitHub a team, "TEAM" of the
	// organisation that owns repo or "ORG/TEAM"; on GitLab a group by its
	// full path, counting members with at least the Developer role. A
	// group that does not exist (or that the token may not see) is an
	// error wrapping ErrNotFound.
	GroupMembers(ctx context.Context, repo, group string) ([]string, error)
}

// Repositories reads what Sluice needs of a repository itself.
type Repositories interface {
	// DefaultBranch is the repository's default branch ("main") as the
	// forge says now: the branch Sluice applies from unless the server
	// is told otherwise. A repository that does not exist (or that the
	// token may not see) is an error wrapping ErrNotFound.
	DefaultBranch(ctx context.Context, repo string) (string, error)
}

// Forge is everything Sluice asks of one forge.
type Forge interface {
	Name() string // gitlab, github, gitea
	// Self is the login of the account Sluice acts as (a GitHub App's is
	// "SLUG[bot]"), asked of the forge once; "" when the forge will not
	// say (a GitHub App installation token given as a plain token).
	Self(ctx context.Context) (string, error)
	// CommentLimit is the largest comment body the forge accepts, in bytes.
	CommentLimit() int
	// CloneURL is where git fetches the repository from; the token for it
	// goes in CloneAuth, never in the URL.
	CloneURL(repo string) string
	CloneAuth() (username, token string)
	Webhooks
	Repositories
	MergeRequests
	Commenter
	Issues
	Groups
}

// NumberAtEnd reads the number a merge request's or issue's URL ends with
// (".../pulls/12", ".../issues/12"): the adapters tell with it which one a
// comment belongs to. ok is false for a URL that ends otherwise.
func NumberAtEnd(u string) (n int64, ok bool) {
	i := strings.LastIndexByte(u, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(u[i+1:], 10, 64)
	return n, err == nil && n > 0
}
