package gitlab

import (
	"context"
	"fmt"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluicehq/sluice/internal/forge"
)

func issueRef(repo string, number int64) string { return fmt.Sprintf("%s#%d", repo, number) }

func issue(is *gl.Issue) *forge.Issue {
	return &forge.Issue{Number: is.IID, Title: is.Title, Body: is.Description, Open: is.State == "opened", WebURL: is.WebURL}
}

// openIssues lists the project's open issues, oldest first; with search,
// only those GitLab finds it in the description of.
func (c *Client) openIssues(ctx context.Context, repo, search string) ([]*gl.Issue, error) {
	opt := &gl.ListProjectIssuesOptions{
		ListOptions: listOptions(),
		State:       gl.Ptr("opened"),
		OrderBy:     gl.Ptr("created_at"),
		Sort:        gl.Ptr("asc"),
	}
	what := "listing the open issues of " + repo
	if search != "" {
		opt.Search, opt.In = gl.Ptr(search), gl.Ptr("description")
		what = "searching the open issues of " + repo
	}
	return collect(ctx, c, what, func(o ...gl.RequestOptionFunc) ([]*gl.Issue, *gl.Response, error) {
		return c.gl.Issues.ListProjectIssues(repo, opt, o...)
	})
}

// FindIssue returns the oldest open issue whose description contains
// marker, or forge.ErrNotFound. It asks GitLab's issue search first
// (search=marker, in=description), then checks the description itself;
// when the search finds nothing (GitLab's search splits the query into
// words, and full-text search may tokenise a marker differently) it reads
// all open issues, so a drift issue is never opened twice.
func (c *Client) FindIssue(ctx context.Context, repo, marker string) (*forge.Issue, error) {
	if marker == "" {
		return nil, fmt.Errorf("gitlab: finding an issue of %s: empty marker", repo)
	}
	for _, search := range []string{marker, ""} {
		issues, err := c.openIssues(ctx, repo, search)
		if err != nil {
			return nil, err
		}
		for _, is := range issues {
			if is != nil && is.State == "opened" && strings.Contains(is.Description, marker) {
				return issue(is), nil
			}
		}
	}
	return nil, fmt.Errorf("gitlab: no open issue of %s carries %q: %w", repo, marker, forge.ErrNotFound)
}

// CreateIssue opens an issue.
func (c *Client) CreateIssue(ctx context.Context, repo, title, body string) (*forge.Issue, error) {
	is, err := fetch(ctx, c, fmt.Sprintf("opening an issue %q on %s", title, repo), false, func(o ...gl.RequestOptionFunc) (*gl.Issue, *gl.Response, error) {
		return c.gl.Issues.CreateIssue(repo, &gl.CreateIssueOptions{Title: gl.Ptr(title), Description: gl.Ptr(body)}, o...)
	})
	if err != nil {
		return nil, err
	}
	return issue(is), nil
}

func (c *Client) updateIssue(ctx context.Context, what, repo string, number int64, opt *gl.UpdateIssueOptions) error {
	return c.call(ctx, what, true, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		_, resp, err := c.gl.Issues.UpdateIssue(repo, number, opt, o...)
		return resp, err
	})
}

// UpdateIssue replaces an issue's title and description.
func (c *Client) UpdateIssue(ctx context.Context, repo string, number int64, title, body string) error {
	return c.updateIssue(ctx, "editing issue "+issueRef(repo, number), repo, number,
		&gl.UpdateIssueOptions{Title: gl.Ptr(title), Description: gl.Ptr(body)})
}

// CloseIssue comments on an issue (when comment is not empty), then
// closes it.
func (c *Client) CloseIssue(ctx context.Context, repo string, number int64, comment string) error {
	if comment != "" {
		if err := c.CommentIssue(ctx, repo, number, comment); err != nil {
			return err
		}
	}
	return c.updateIssue(ctx, "closing issue "+issueRef(repo, number), repo, number,
		&gl.UpdateIssueOptions{StateEvent: gl.Ptr("close")})
}

// CommentIssue comments on an issue.
func (c *Client) CommentIssue(ctx context.Context, repo string, number int64, body string) error {
	return c.call(ctx, "commenting on issue "+issueRef(repo, number), false, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		_, resp, err := c.gl.Notes.CreateIssueNote(repo, number, &gl.CreateIssueNoteOptions{Body: gl.Ptr(body)}, o...)
		return resp, err
	})
}
