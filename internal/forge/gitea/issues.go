package gitea

import (
	"context"
	"fmt"
	"strings"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/sluicehq/sluice/internal/forge"
)

// FindIssue returns the oldest open issue whose body contains marker, or
// forge.ErrNotFound. It reads every open issue (pull requests excluded):
// Gitea's keyword search depends on the indexer and would not find an HTML
// comment.
func (c *Client) FindIssue(ctx context.Context, repo, marker string) (*forge.Issue, error) {
	what := fmt.Sprintf("looking for the open issue marked %s in %s", marker, repo)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	api := c.api(ctx)
	is, resp, err := all(func(lo sdk.ListOptions) ([]*sdk.Issue, *sdk.Response, error) {
		return api.ListRepoIssues(owner, name, sdk.ListIssueOption{ListOptions: lo, State: sdk.StateOpen, Type: sdk.IssueTypeIssue})
	})
	if err != nil {
		return nil, failed(what, resp, err)
	}
	var found *sdk.Issue
	for _, is := range is {
		if is == nil || is.PullRequest != nil || is.State != sdk.StateOpen || !strings.Contains(is.Body, marker) {
			continue
		}
		if found == nil || is.Index < found.Index {
			found = is
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s on gitea: %w", what, forge.ErrNotFound)
	}
	return issue(found), nil
}

func issue(is *sdk.Issue) *forge.Issue {
	return &forge.Issue{Number: is.Index, Title: is.Title, Body: is.Body, Open: is.State == sdk.StateOpen, WebURL: is.HTMLURL}
}

// CreateIssue opens an issue.
func (c *Client) CreateIssue(ctx context.Context, repo, title, body string) (*forge.Issue, error) {
	what := fmt.Sprintf("opening issue %q in %s", title, repo)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	is, resp, err := c.api(ctx).CreateIssue(owner, name, sdk.CreateIssueOption{Title: title, Body: body})
	if err != nil {
		return nil, failed(what, resp, err)
	}
	return issue(is), nil
}

// UpdateIssue sets an issue's title and body.
func (c *Client) UpdateIssue(ctx context.Context, repo string, number int64, title, body string) error {
	what := fmt.Sprintf("updating issue %s#%d", repo, number)
	return c.editIssue(ctx, what, repo, number, sdk.EditIssueOption{Title: title, Body: &body})
}

// CloseIssue comments on an issue (unless comment is empty) and closes it.
func (c *Client) CloseIssue(ctx context.Context, repo string, number int64, comment string) error {
	what := fmt.Sprintf("closing issue %s#%d", repo, number)
	if comment != "" {
		if err := c.comment(ctx, what, repo, number, comment); err != nil {
			return err
		}
	}
	closed := sdk.StateClosed
	return c.editIssue(ctx, what, repo, number, sdk.EditIssueOption{State: &closed})
}

// CommentIssue comments on an issue.
func (c *Client) CommentIssue(ctx context.Context, repo string, number int64, body string) error {
	what := fmt.Sprintf("commenting on issue %s#%d", repo, number)
	return c.comment(ctx, what, repo, number, body)
}

func (c *Client) editIssue(ctx context.Context, what, repo string, number int64, opt sdk.EditIssueOption) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if _, resp, err := c.api(ctx).EditIssue(owner, name, number, opt); err != nil {
		return failed(what, resp, err)
	}
	return nil
}
