package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/store"
)

// confirmCommand reads a command's comment back from the forge before it
// changes anything: a webhook's claims are only claims, since whoever
// holds the webhook secret, or replays a delivery the forge's delivery
// page shows, can sign any author and any body. The comment must exist
// on that merge request and still say the same command; the request is
// then the forge's comment's, its author the forge's. Otherwise why says
// what did not hold, and the request is not carried out: nobody is
// answered, since the comment's author (if there is one) did not write
// that command, and a deleted or edited comment is not a command (an
// edit is never one). A request of the JSON API names no comment.
func (it intake) confirmCommand(ctx context.Context, ev store.Event, req Request) (confirmed Request, why string, err error) {
	f := it.f
	fg, path, ok := f.forgeOf(req.Repo)
	if !ok || !req.ByComment || fromAPI(ev) {
		return req, "", nil
	}
	if req.CommentID == 0 {
		return req, "the request names no comment to read back", nil
	}
	c, err := fg.GetComment(ctx, path, req.MR, req.CommentID)
	if errors.Is(err, forge.ErrNotFound) {
		return req, fmt.Sprintf("comment %d is not on this merge request on the forge (deleted, on another merge request, or never written): %v", req.CommentID, err), nil
	}
	if err != nil {
		return req, "", fmt.Errorf("reading comment %d back from the forge: %w", req.CommentID, err)
	}
	got, err := RequestFromEvent(forgeOfRepo(req.Repo), &forge.Event{
		Kind: forge.EventComment, Action: "created", Repo: path, MR: req.MR,
		Actor: c.Author, HeadSHA: req.HeadSHA, FromFork: req.FromFork, Comment: c,
	})
	if errors.Is(err, forge.ErrIgnored) {
		return req, fmt.Sprintf("comment %d on the forge is not a command (edited since, or never one)", req.CommentID), nil
	}
	if err != nil {
		return req, "", err
	}
	if got.Action != req.Action || !slices.Equal(got.Projects, req.Projects) {
		return req, fmt.Sprintf("comment %d on the forge asks for %s, not %s (edited since, or never so)",
			req.CommentID, describe(got), describe(req)), nil
	}
	got.Repo = req.Repo
	if !strings.EqualFold(got.Actor, req.Actor) {
		f.Log.Warn("a webhook named another author than the forge's for a command; acting as the forge's",
			"event", ev.ID, "repo", req.Repo, "mr", req.MR, "comment", req.CommentID, "webhook_author", req.Actor, "author", got.Actor)
	}
	return got, "", nil
}

// describe names what a request asks: "apply -p prod".
func describe(req Request) string {
	s := req.Action
	for _, p := range req.Projects {
		s += " -p " + p
	}
	return s
}
