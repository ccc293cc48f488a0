package github

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	gh "github.com/google/go-github/v84/github"

	"github.com/sluicehq/sluice/internal/forge"
)

// listComments pages through the issue comments of a pull request or
// issue, oldest first.
func (c *Client) listComments(ctx context.Context, owner, name string, number int64) ([]*gh.IssueComment, *gh.Response, error) {
	return all(func(lo gh.ListOptions) ([]*gh.IssueComment, *gh.Response, error) {
		return c.gh.Issues.ListComments(ctx, owner, name, int(number), &gh.IssueListCommentsOptions{
			Sort:        gh.Ptr("created"),
			Direction:   gh.Ptr("asc"),
			ListOptions: lo,
		})
	})
}

// Comments lists a pull request's conversation comments, oldest first
// (review comments on lines of the diff are not included).
func (c *Client) Comments(ctx context.Context, repo string, number int64) ([]forge.Comment, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	cs, resp, err := c.listComments(ctx, owner, name, number)
	if err != nil {
		return nil, fail(resp, err, "listing comments on %s#%d", repo, number)
	}
	out := make([]forge.Comment, 0, len(cs))
	for _, cm := range cs {
		out = append(out, forge.Comment{ID: cm.GetID(), Author: user(cm.GetUser()), Body: cm.GetBody()})
	}
	return out, nil
}

// GetComment reads one conversation comment of a pull request. GitHub
// finds issue comments by id across the repository; the issue or pull
// request a comment belongs to is the number its issue_url ends with.
func (c *Client) GetComment(ctx context.Context, repo string, number, id int64) (*forge.Comment, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	cm, resp, err := c.gh.Issues.GetComment(ctx, owner, name, id)
	if err != nil {
		return nil, fail(resp, err, "getting comment %d of %s#%d", id, repo, number)
	}
	if n, ok := forge.NumberAtEnd(cm.GetIssueURL()); !ok || n != number {
		return nil, fmt.Errorf("github: getting comment %d of %s#%d: %w: it belongs to %q", id, repo, number, forge.ErrNotFound, cm.GetIssueURL())
	}
	return &forge.Comment{ID: cm.GetID(), Author: user(cm.GetUser()), Body: cm.GetBody()}, nil
}

// UpsertComment keeps one comment per marker: bodies[0] goes into the
// oldest comment containing marker (created when there is none), and
// bodies[1:] into the continuation parts after it, found by the part
// marker each carries ("<!-- X part n -->" for marker "<!-- X -->"),
// edited in place, created when missing, deleted when no longer needed.
// Only comments by the token's own account are considered (see
// WithLogin). Unchanged comments are not written.
func (c *Client) UpsertComment(ctx context.Context, repo string, number int64, marker string, bodies []string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	if marker == "" || len(bodies) == 0 {
		return fmt.Errorf("github: updating the comment on %s#%d: no marker or no body", repo, number)
	}
	self, err := c.Self(ctx)
	if err != nil {
		return err
	}
	cs, resp, err := c.listComments(ctx, owner, name, number)
	if err != nil {
		return fail(resp, err, "listing comments on %s#%d", repo, number)
	}
	if self != "" {
		cs = slices.DeleteFunc(cs, func(cm *gh.IssueComment) bool { return !strings.EqualFold(cm.GetUser().GetLogin(), self) })
	}
	prefix := forge.PartPrefix(marker)
	main, parts, stale := forge.StickyComments(cs, (*gh.IssueComment).GetBody, marker,
		func(body string) bool { return strings.Contains(body, prefix) }, len(bodies))
	if err := c.putComment(ctx, owner, name, number, main, bodies[0]); err != nil {
		return fmt.Errorf("github: updating the comment %q on %s#%d: %w", marker, repo, number, err)
	}
	for i, body := range bodies[1:] {
		var existing *gh.IssueComment
		if i < len(parts) {
			existing = parts[i]
		}
		if err := c.putComment(ctx, owner, name, number, existing, body); err != nil {
			return fmt.Errorf("github: updating part %d of the comment %q on %s#%d: %w", i+2, marker, repo, number, err)
		}
	}
	for _, cm := range stale {
		resp, err := c.gh.Issues.DeleteComment(ctx, owner, name, cm.GetID())
		if err != nil && !notFound(resp, err) {
			return fail(resp, err, "deleting the old comment %d on %s#%d", cm.GetID(), repo, number)
		}
	}
	return nil
}

// putComment edits existing to body (when it differs), or creates it.
func (c *Client) putComment(ctx context.Context, owner, name string, number int64, existing *gh.IssueComment, body string) error {
	if existing == nil {
		_, _, err := c.gh.Issues.CreateComment(ctx, owner, name, int(number), &gh.IssueComment{Body: gh.Ptr(body)})
		return err
	}
	if existing.GetBody() == body {
		return nil
	}
	_, _, err := c.gh.Issues.EditComment(ctx, owner, name, existing.GetID(), &gh.IssueComment{Body: gh.Ptr(body)})
	return err
}

// Reply posts a new comment on a pull request.
func (c *Client) Reply(ctx context.Context, repo string, number int64, body string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	_, resp, err := c.gh.Issues.CreateComment(ctx, owner, name, int(number), &gh.IssueComment{Body: gh.Ptr(body)})
	if err != nil {
		return fail(resp, err, "commenting on %s#%d", repo, number)
	}
	return nil
}

// statusDescriptionLimit is GitHub's limit on a commit status's
// description, in characters.
const statusDescriptionLimit = 140

// SetStatus sets the commit status ck.Name (its "context") on sha.
// Creating a status replaces the previous one of the same context, so
// the request is retried like an idempotent one.
func (c *Client) SetStatus(ctx context.Context, repo, sha string, ck forge.Check) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	var state string
	switch ck.State {
	case forge.CheckPending:
		state = "pending"
	case forge.CheckSuccess:
		state = "success"
	case forge.CheckFailure:
		state = "failure"
	default:
		return fmt.Errorf("github: setting status %q on %s@%s: unknown state %q", ck.Name, repo, sha, ck.State)
	}
	if ck.Name == "" {
		return fmt.Errorf("github: setting a status on %s@%s: the status has no name", repo, sha)
	}
	st := gh.RepoStatus{
		State:       gh.Ptr(state),
		Context:     gh.Ptr(ck.Name),
		Description: gh.Ptr(truncate(ck.Description, statusDescriptionLimit)),
	}
	if ck.URL != "" {
		st.TargetURL = gh.Ptr(ck.URL)
	}
	_, resp, err := c.gh.Repositories.CreateStatus(idempotent(ctx), owner, name, sha, st)
	if err != nil {
		return fail(resp, err, "setting status %q on %s@%s", ck.Name, repo, sha)
	}
	return nil
}

// truncate cuts s to at most n characters, ending with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
