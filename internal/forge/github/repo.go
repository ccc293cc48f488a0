package github

import (
	"context"
	"fmt"
)

// DefaultBranch is the repository's default branch.
func (c *Client) DefaultBranch(ctx context.Context, repo string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	r, resp, err := c.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return "", fail(resp, err, "getting repository %s", repo)
	}
	if r.GetDefaultBranch() == "" {
		return "", fmt.Errorf("github: getting repository %s: the answer names no default branch", repo)
	}
	return r.GetDefaultBranch(), nil
}
