package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
)

// statusFieldLimit is GitLab's limit on a commit status's description and
// target_url (255 characters).
const statusFieldLimit = 255

// notes lists a merge request's notes, oldest first, system notes
// included.
func (c *Client) notes(ctx context.Context, repo string, number int64) ([]*gl.Note, error) {
	return collect(ctx, c, "listing the comments on merge request "+mrRef(repo, number), func(o ...gl.RequestOptionFunc) ([]*gl.Note, *gl.Response, error) {
		return c.gl.Notes.ListMergeRequestNotes(repo, number, &gl.ListMergeRequestNotesOptions{
			ListOptions: listOptions(),
			OrderBy:     gl.Ptr("created_at"),
			Sort:        gl.Ptr("asc"), // GitLab's default is newest first
		}, o...)
	})
}

func comment(n *gl.Note) forge.Comment {
	return forge.Comment{ID: n.ID, Author: forge.User{ID: n.Author.ID, Login: n.Author.Username}, Body: n.Body}
}

// Comments lists a merge request's comments (notes, threads' replies and
// diff comments included), oldest first. System notes ("added 1 commit",
// "approved this merge request") are left out.
func (c *Client) Comments(ctx context.Context, repo string, number int64) ([]forge.Comment, error) {
	ns, err := c.notes(ctx, repo, number)
	if err != nil {
		return nil, err
	}
	out := []forge.Comment{}
	for _, n := range ns {
		if n != nil && !n.System {
			out = append(out, comment(n))
		}
	}
	return out, nil
}

// GetComment reads one note of a merge request. GitLab finds it under
// the merge request itself, so a note of another merge request or of an
// issue is not found; a system note ("added 1 commit") is no comment.
func (c *Client) GetComment(ctx context.Context, repo string, number, id int64) (*forge.Comment, error) {
	what := fmt.Sprintf("getting comment %d of merge request %s", id, mrRef(repo, number))
	n, err := fetch(ctx, c, what, true, func(o ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error) {
		return c.gl.Notes.GetMergeRequestNote(repo, number, id, o...)
	})
	if err != nil {
		return nil, err
	}
	if n == nil || n.System {
		return nil, fmt.Errorf("gitlab: %s: %w: a system note", what, forge.ErrNotFound)
	}
	cm := comment(n)
	return &cm, nil
}

// Reply posts a new comment on the merge request.
func (c *Client) Reply(ctx context.Context, repo string, number int64, body string) error {
	_, err := c.createNote(ctx, repo, number, body)
	return err
}

func (c *Client) createNote(ctx context.Context, repo string, number int64, body string) (*gl.Note, error) {
	return fetch(ctx, c, "commenting on merge request "+mrRef(repo, number), false, func(o ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error) {
		return c.gl.Notes.CreateMergeRequestNote(repo, number, &gl.CreateMergeRequestNoteOptions{Body: gl.Ptr(body)}, o...)
	})
}

func (c *Client) editNote(ctx context.Context, repo string, number, id int64, body string) error {
	return c.call(ctx, fmt.Sprintf("editing comment %d on merge request %s", id, mrRef(repo, number)), true, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		_, resp, err := c.gl.Notes.UpdateMergeRequestNote(repo, number, id, &gl.UpdateMergeRequestNoteOptions{Body: gl.Ptr(body)}, o...)
		return resp, err
	})
}

func (c *Client) deleteNote(ctx context.Context, repo string, number, id int64) error {
	err := c.call(ctx, fmt.Sprintf("deleting comment %d on merge request %s", id, mrRef(repo, number)), true, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		return c.gl.Notes.DeleteMergeRequestNote(repo, number, id, o...)
	})
	if errors.Is(err, forge.ErrNotFound) {
		return nil // gone already (an earlier attempt, or by hand)
	}
	return err
}

// UpsertComment keeps one comment per marker on the merge request:
// bodies[0] goes into the oldest note containing marker (created when
// there is none), and bodies[1:] into the continuation parts after it,
// found by the part marker each carries ("<!-- X part n -->" for marker
// "<!-- X -->"): edited in place, created when missing, deleted when no
// longer needed. Only notes by the token's own account are considered, so
// a comment quoting the marker cannot capture Sluice's. Unchanged notes
// are not written.
func (c *Client) UpsertComment(ctx context.Context, repo string, number int64, marker string, bodies []string) error {
	if marker == "" || len(bodies) == 0 {
		return fmt.Errorf("gitlab: updating the comment on merge request %s: no marker or no body", mrRef(repo, number))
	}
	self, err := c.whoami(ctx)
	if err != nil {
		return err
	}
	ns, err := c.notes(ctx, repo, number)
	if err != nil {
		return err
	}
	prefix := forge.PartPrefix(marker)
	var head *gl.Note
	var parts []*gl.Note
	for _, n := range ns {
		if n == nil || n.System || n.Author.ID != self.ID {
			continue
		}
		switch {
		case head == nil && strings.Contains(n.Body, marker):
			head = n
		case strings.Contains(n.Body, prefix):
			// Parts before the head (left over from a head deleted by
			// hand) are stale too: they go with the unneeded ones.
			parts = append(parts, n)
		}
	}
	if head == nil {
		if _, err := c.createNote(ctx, repo, number, bodies[0]); err != nil {
			return err
		}
	} else if head.Body != bodies[0] {
		if err := c.editNote(ctx, repo, number, head.ID, bodies[0]); err != nil {
			return err
		}
	}
	var keep []*gl.Note
	for _, p := range parts {
		if head != nil && p.ID > head.ID {
			keep = append(keep, p)
		} else if err := c.deleteNote(ctx, repo, number, p.ID); err != nil {
			return err
		}
	}
	for i, body := range bodies[1:] {
		if i < len(keep) {
			if keep[i].Body != body {
				if err := c.editNote(ctx, repo, number, keep[i].ID, body); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := c.createNote(ctx, repo, number, body); err != nil {
			return err
		}
	}
	for _, p := range keep[min(len(keep), len(bodies)-1):] {
		if err := c.deleteNote(ctx, repo, number, p.ID); err != nil {
			return err
		}
	}
	return nil
}

// SetStatus sets the commit status c.Name on sha: pending, success or
// failed, with the description and URL (each cut to GitLab's 255
// characters; a longer URL is left out rather than broken). GitLab
// refuses to set a pending or running status to the state it already has
// ("Cannot transition status"); that answer counts as success.
func (c *Client) SetStatus(ctx context.Context, repo, sha string, ch forge.Check) error {
	var state gl.BuildStateValue
	switch ch.State {
	case forge.CheckPending:
		state = gl.Pending
	case forge.CheckSuccess:
		state = gl.Success
	case forge.CheckFailure:
		state = gl.Failed
	default:
		return fmt.Errorf("gitlab: setting commit status %q on %s: unknown state %q", ch.Name, repo, ch.State)
	}
	opt := &gl.SetCommitStatusOptions{State: state, Name: gl.Ptr(ch.Name)}
	if ch.Description != "" {
		opt.Description = gl.Ptr(truncate(ch.Description, statusFieldLimit))
	}
	if ch.URL != "" && utf8.RuneCountInString(ch.URL) <= statusFieldLimit {
		opt.TargetURL = gl.Ptr(ch.URL)
	}
	what := fmt.Sprintf("setting commit status %q to %s on %s at %s", ch.Name, state, repo, gitx.Short(sha))
	err := c.call(ctx, what, true, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		_, resp, err := c.gl.Commits.SetCommitStatus(repo, sha, opt, o...)
		return resp, err
	})
	if statusOf(nil, err) == http.StatusBadRequest && strings.Contains(errorMessage(err), "Cannot transition status") {
		return nil
	}
	return err
}

// truncate cuts s to at most n characters, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
