package gitea

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
)

// UpsertComment keeps one comment per marker on a pull request:
// bodies[0] goes into the oldest comment containing marker (created when
// there is none), and bodies[1:] into the continuation parts after it,
// edited in place, created when missing, deleted when no longer needed. A
// part is recognised by the part marker render gives it ("<!-- X part n
// -->" for marker "<!-- X -->"); a body without one gets an invisible tag
// derived from marker instead. Only the bot's own comments are candidates
// (a reply quoting the sticky comment also contains the marker); a
// duplicate of the first comment (from a race) and parts whose first
// comment is gone are deleted, and a comment already right is left alone.
func (c *Client) UpsertComment(ctx context.Context, repo string, number int64, marker string, bodies []string) error {
	what := fmt.Sprintf("updating the %s comment on pull request %s!%d", marker, repo, number)
	if marker == "" || len(bodies) == 0 {
		return fmt.Errorf("%s: want a marker and at least one body", what)
	}
	if !strings.Contains(bodies[0], marker) {
		return fmt.Errorf("%s: the first body does not contain the marker, so the comment could not be found again", what)
	}
	owner, name, err := splitRepo(repo)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	me, err := c.self(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	cs, err := c.comments(ctx, owner, name, number)
	if err != nil {
		return failed(what, nil, err)
	}
	cs = slices.DeleteFunc(cs, func(cm *sdk.Comment) bool { return cm.Poster == nil || cm.Poster.ID != me.ID })
	prefix, tag := forge.PartPrefix(marker), partTag(marker)
	head, parts, stale := forge.StickyComments(cs, func(cm *sdk.Comment) string { return cm.Body }, marker,
		func(body string) bool { return strings.Contains(body, prefix) || strings.Contains(body, tag) }, len(bodies))
	api := c.api(ctx)
	put := func(existing *sdk.Comment, body, which string) error {
		if existing == nil {
			if _, resp, err := api.CreateIssueComment(owner, name, number, sdk.CreateIssueCommentOption{Body: body}); err != nil {
				return failed(fmt.Sprintf("%s: adding %s", what, which), resp, err)
			}
			return nil
		}
		if existing.Body == body {
			return nil
		}
		if _, resp, err := api.EditIssueComment(owner, name, existing.ID, sdk.EditIssueCommentOption{Body: body}); err != nil {
			return failed(fmt.Sprintf("%s: editing %s (comment %d)", what, which, existing.ID), resp, err)
		}
		return nil
	}
	if err := put(head, bodies[0], "the first part"); err != nil {
		return err
	}
	for i, body := range bodies[1:] {
		if !strings.Contains(body, prefix) {
			body += "\n\n" + tag
		}
		var existing *sdk.Comment
		if i < len(parts) {
			existing = parts[i]
		}
		if err := put(existing, body, fmt.Sprintf("part %d", i+2)); err != nil {
			return err
		}
	}
	for _, cm := range stale {
		if resp, err := api.DeleteIssueComment(owner, name, cm.ID); err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
			return failed(fmt.Sprintf("%s: deleting comment %d, no longer needed", what, cm.ID), resp, err)
		}
	}
	return nil
}

// partTag marks the continuation parts of marker's comment whose bodies
// carry no part marker.
func partTag(marker string) string {
	sum := sha256.Sum256([]byte(marker))
	return "<!-- sluice-part:" + hex.EncodeToString(sum[:6]) + " -->"
}

// Comments lists a pull request's comments (not review comments), oldest
// first.
func (c *Client) Comments(ctx context.Context, repo string, number int64) ([]forge.Comment, error) {
	what := fmt.Sprintf("reading the comments of pull request %s!%d", repo, number)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cs, err := c.comments(ctx, owner, name, number)
	if err != nil {
		return nil, failed(what, nil, err)
	}
	out := make([]forge.Comment, 0, len(cs))
	for _, cm := range cs {
		out = append(out, forge.Comment{ID: cm.ID, Author: user(cm.Poster), Body: cm.Body})
	}
	return out, nil
}

// comments lists an issue's or pull request's comments, oldest first. The
// error, when there is one, already says which call failed; a 404 wraps
// forge.ErrNotFound.
func (c *Client) comments(ctx context.Context, owner, name string, number int64) ([]*sdk.Comment, error) {
	api := c.api(ctx)
	cs, resp, err := all(func(lo sdk.ListOptions) ([]*sdk.Comment, *sdk.Response, error) {
		return api.ListIssueComments(owner, name, number, sdk.ListIssueCommentOptions{ListOptions: lo})
	})
	if err != nil {
		// Gitea 1.26 answers 500 when the issue does not exist.
		if resp != nil && resp.StatusCode == http.StatusInternalServerError {
			if _, r, e := api.GetIssue(owner, name, number); e != nil && r != nil && r.StatusCode == http.StatusNotFound {
				return nil, fmt.Errorf("%w: %w", forge.ErrNotFound, e)
			}
		}
		return nil, notFound(resp, err)
	}
	// Gitea answers every comment at once; a server that pages would
	// repeat none, but make sure.
	seen := map[int64]bool{}
	cs = slices.DeleteFunc(cs, func(cm *sdk.Comment) bool {
		if cm == nil || seen[cm.ID] {
			return true
		}
		seen[cm.ID] = true
		return false
	})
	slices.SortStableFunc(cs, func(a, b *sdk.Comment) int { return cmp.Compare(a.ID, b.ID) })
	return cs, nil
}

// notFound marks a 404 as forge.ErrNotFound, for callers that wrap with
// failed(what, nil, err).
func notFound(resp *sdk.Response, err error) error {
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %w", forge.ErrNotFound, err)
	}
	if resp != nil {
		return fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	return err
}

// Reply posts a new comment on a pull request.
func (c *Client) Reply(ctx context.Context, repo string, number int64, body string) error {
	what := fmt.Sprintf("commenting on pull request %s!%d", repo, number)
	return c.comment(ctx, what, repo, number, body)
}

func (c *Client) comment(ctx context.Context, what, repo string, number int64, body string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if _, resp, err := c.api(ctx).CreateIssueComment(owner, name, number, sdk.CreateIssueCommentOption{Body: body}); err != nil {
		return failed(what, resp, err)
	}
	return nil
}

// SetStatus sets the commit status named c.Name on sha.
func (c *Client) SetStatus(ctx context.Context, repo, sha string, check forge.Check) error {
	what := fmt.Sprintf("setting status %q on %s in %s", check.Name, gitx.Short(sha), repo)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	state, err := statusState(check.State)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	_, resp, err := c.api(ctx).CreateStatus(owner, name, sha, sdk.CreateStatusOption{
		State:       state,
		TargetURL:   check.URL,
		Description: check.Description,
		Context:     check.Name,
	})
	if err != nil {
		return failed(what, resp, err)
	}
	return nil
}

// GetComment reads one comment of a pull request. Gitea finds comments by
// id across the repository and answers 204 for one that is not a plain
// comment (a review's, a system event's); the pull request it belongs to
// is the number at the end of its pull_request_url, a comment on an issue
// having an issue_url instead.
func (c *Client) GetComment(ctx context.Context, repo string, number, id int64) (*forge.Comment, error) {
	what := fmt.Sprintf("reading comment %d of pull request %s!%d", id, repo, number)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cm, resp, err := c.api(ctx).GetIssueComment(owner, name, id)
	if resp != nil && resp.StatusCode == http.StatusNoContent {
		return nil, fmt.Errorf("%s on gitea: %w: not a plain comment", what, forge.ErrNotFound)
	}
	if err != nil {
		return nil, failed(what, resp, err)
	}
	if n, ok := forge.NumberAtEnd(cm.PRURL); !ok || n != number {
		return nil, fmt.Errorf("%s on gitea: %w: it belongs to %s", what, forge.ErrNotFound, cmp.Or(cm.PRURL, cm.IssueURL, "nothing Gitea names"))
	}
	return &forge.Comment{ID: cm.ID, Author: user(cm.Poster), Body: cm.Body}, nil
}
