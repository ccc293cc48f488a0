package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v84/github"

	"github.com/sluicehq/sluice/internal/forge"
)

func issue(i *gh.Issue) *forge.Issue {
	return &forge.Issue{
		Number: int64(i.GetNumber()),
		Title:  i.GetTitle(),
		Body:   i.GetBody(),
		Open:   i.GetState() == "open",
		WebURL: i.GetHTMLURL(),
	}
}

// FindIssue returns the oldest open issue whose body contains marker, or
// forge.ErrNotFound. It lists the open issues (pull requests, which the
// issues API returns too, are skipped) rather than searching, because
// the search index lags behind writes.
func (c *Client) FindIssue(ctx context.Context, repo, marker string) (*forge.Issue, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	opt := &gh.IssueListByRepoOptions{
		State:       "open",
		Sort:        "created",
		Direction:   "asc",
		ListOptions: gh.ListOptions{PerPage: perPage},
	}
	for {
		is, resp, err := c.gh.Issues.ListByRepo(ctx, owner, name, opt)
		if err != nil {
			return nil, fail(resp, err, "listing the open issues of %s", repo)
		}
		for _, i := range is {
			if !i.IsPullRequest() && i.GetState() == "open" && strings.Contains(i.GetBody(), marker) {
				return issue(i), nil
			}
		}
		if resp.NextPage == 0 {
			return nil, fmt.Errorf("github: no open issue in %s carries %q: %w", repo, marker, forge.ErrNotFound)
		}
		opt.ListOptions.Page = resp.NextPage
	}
}

// CreateIssue opens an issue.
func (c *Client) CreateIssue(ctx context.Context, repo, title, body string) (*forge.Issue, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	i, resp, err := c.gh.Issues.Create(ctx, owner, name, &gh.IssueRequest{Title: gh.Ptr(title), Body: gh.Ptr(body)})
	if err != nil {
		return nil, fail(resp, err, "opening an issue in %s", repo)
	}
	return issue(i), nil
}

// UpdateIssue replaces an issue's title and body.
func (c *Client) UpdateIssue(ctx context.Context, repo string, number int64, title, body string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	_, resp, err := c.gh.Issues.Edit(ctx, owner, name, int(number), &gh.IssueRequest{Title: gh.Ptr(title), Body: gh.Ptr(body)})
	if err != nil {
		return fail(resp, err, "updating issue %s#%d", repo, number)
	}
	return nil
}

// CloseIssue comments (when comment is not empty), then closes the issue
// as completed.
func (c *Client) CloseIssue(ctx context.Context, repo string, number int64, comment string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	if comment != "" {
		if err := c.CommentIssue(ctx, repo, number, comment); err != nil {
			return err
		}
	}
	req := &gh.IssueRequest{State: gh.Ptr("closed"), StateReason: gh.Ptr("completed")}
	_, resp, err := c.gh.Issues.Edit(ctx, owner, name, int(number), req)
	if err != nil {
		return fail(resp, err, "closing issue %s#%d", repo, number)
	}
	return nil
}

// CommentIssue posts a comment on an issue.
func (c *Client) CommentIssue(ctx context.Context, repo string, number int64, body string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	_, resp, err := c.gh.Issues.CreateComment(ctx, owner, name, int(number), &gh.IssueComment{Body: gh.Ptr(body)})
	if err != nil {
		return fail(resp, err, "commenting on issue %s#%d", repo, number)
	}
	return nil
}
