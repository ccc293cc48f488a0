package gitlab

import (
	"context"
	"fmt"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// DefaultBranch is the project's default branch.
func (c *Client) DefaultBranch(ctx context.Context, repo string) (string, error) {
	what := "getting project " + repo
	p, err := fetch(ctx, c, what, true, func(o ...gl.RequestOptionFunc) (*gl.Project, *gl.Response, error) {
		return c.gl.Projects.GetProject(repo, nil, o...)
	})
	if err != nil {
		return "", err
	}
	if p.DefaultBranch == "" {
		return "", fmt.Errorf("gitlab: %s: the answer names no default branch (an empty repository?)", what)
	}
	return p.DefaultBranch, nil
}
