package gitlab

import (
	"context"
	"fmt"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// GroupMembers returns the members of a GitLab group named by its full
// path ("platform", "acme/platform"), members inherited from its parent
// groups and invited ones included (GET /groups/:id/members/all). Only
// active members with at least the Developer role count: the gate asks
// nothing else of the people an approval rule lists, and Developer is the
// role that may push, as write access elsewhere. The repository does not
// matter: GitLab names groups by their full path. GitLab answers 404 for a
// group the token may not see as for one that does not exist.
func (c *Client) GroupMembers(ctx context.Context, repo, group string) ([]string, error) {
	group = strings.Trim(group, "/")
	if group == "" {
		return nil, fmt.Errorf("gitlab: empty group name: write group:PATH, the group's full path")
	}
	members, err := collect(ctx, c, "listing the members of group "+group+" (a group the token may not see is not found too)",
		func(o ...gl.RequestOptionFunc) ([]*gl.GroupMember, *gl.Response, error) {
			return c.gl.Groups.ListAllGroupMembers(group, &gl.ListGroupMembersOptions{ListOptions: listOptions()}, o...)
		})
	if err != nil {
		return nil, err
	}
	var logins []string
	for _, m := range members {
		if m == nil || m.Username == "" || m.AccessLevel < accessDeveloper || (m.State != "" && m.State != "active") {
			continue
		}
		logins = append(logins, m.Username)
	}
	return logins, nil
}
