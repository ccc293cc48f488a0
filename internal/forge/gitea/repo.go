package gitea

import (
	"context"
	"fmt"
)

// DefaultBranch is the repository's default branch.
func (c *Client) DefaultBranch(ctx context.Context, repo string) (string, error) {
	what := "reading repository " + repo
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	r, resp, err := c.api(ctx).GetRepo(owner, name)
	if err != nil {
		return "", failed(what, resp, err)
	}
	if r.DefaultBranch == "" {
		return "", fmt.Errorf("%s on gitea: the answer names no default branch", what)
	}
	return r.DefaultBranch, nil
}
