package gitlab

import (
	"context"
	"errors"
	"fmt"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluicehq/sluice/internal/forge"
)

// maxGroupDepth bounds the walk up a project's groups: GitLab nests groups
// 20 deep at most.
const maxGroupDepth = 20

// accessLevel is the user's role on the project as GitLab grants it: the
// highest of their direct membership, the memberships inherited from the
// project's groups, and those given by the groups the project, or one of
// its groups, is shared with (each at most the role the share gives);
// 0 when none gives them any.
//
// GET /projects/:id/members/all/:user_id answers that effective role on
// current GitLab. Older versions leave out of it some of the members that
// shares give access (GitLab 14 lists an invited group's members only when
// that group is public or the asker is in it, and the members of groups a
// project's group is shared with came later), so when it answers less
// than Developer Sluice reads the shares itself (see sharedLevel).
func (c *Client) accessLevel(ctx context.Context, repo string, uid int64) (gl.AccessLevelValue, error) {
	level, err := c.memberLevel(ctx, "project "+repo, uid, func(o ...gl.RequestOptionFunc) (*gl.ProjectMember, *gl.Response, error) {
		return c.gl.ProjectMembers.GetInheritedProjectMember(repo, uid, o...)
	})
	if err != nil || level >= accessDeveloper {
		return level, err
	}
	shared, err := c.sharedLevel(ctx, repo, uid, level)
	return max(level, shared), err
}

// memberLevel is a membership's role as GET .../members/all/:user_id
// answers it; 0 for no membership or a member who is not active.
func (c *Client) memberLevel(ctx context.Context, of string, uid int64, get func(o ...gl.RequestOptionFunc) (*gl.ProjectMember, *gl.Response, error)) (gl.AccessLevelValue, error) {
	m, err := fetch(ctx, c, fmt.Sprintf("getting the membership of user %d in %s", uid, of), true, get)
	switch {
	case errors.Is(err, forge.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case m == nil || m.State != "" && m.State != "active": // blocked, deactivated, awaiting
		return 0, nil
	}
	return m.AccessLevel, nil
}

// share is a group's access to the project through a share: its members
// get at most level.
type share struct {
	group   int64
	level   gl.AccessLevelValue
	expires *gl.ISOTime
}

// What a decision's memo keeps (see forge.WithMemo), per client.
type (
	projectKey struct {
		c    *Client
		repo string
	}
	groupKey struct {
		c  *Client
		id int64
	}
)

// sharedLevel is the highest role above floor that the project's shares
// give the user: the groups the project is shared with (unless one of its
// groups forbids sharing projects: share_with_group_lock), and the groups
// the project's groups are shared with, each capped at the share's role,
// expired shares left out. Only shares that could make the user a
// Developer or more, and more than floor, are read: below that nothing
// Sluice decides changes. A group the token may not see gives nothing.
func (c *Client) sharedLevel(ctx context.Context, repo string, uid int64, floor gl.AccessLevelValue) (gl.AccessLevelValue, error) {
	p, err := forge.Remember(ctx, projectKey{c, repo}, func() (*gl.Project, error) {
		return fetch(ctx, c, "reading project "+repo, true, func(o ...gl.RequestOptionFunc) (*gl.Project, *gl.Response, error) {
			return c.gl.Projects.GetProject(repo, nil, o...)
		})
	})
	if err != nil {
		return 0, err
	}
	var shares []share
	locked := false
	if p.Namespace != nil && p.Namespace.Kind == "group" {
		id := p.Namespace.ID
		for depth := 0; id != 0 && depth < maxGroupDepth; depth++ {
			g, err := c.group(ctx, id)
			if err != nil {
				return 0, err
			}
			if g == nil { // hidden from the token: nothing to read above it
				break
			}
			locked = locked || g.ShareWithGroupLock
			for _, s := range g.SharedWithGroups {
				shares = append(shares, share{s.GroupID, gl.AccessLevelValue(s.GroupAccessLevel), s.ExpiresAt})
			}
			id = g.ParentID
		}
	}
	if !locked {
		for _, s := range p.SharedWithGroups {
			shares = append(shares, share{s.GroupID, gl.AccessLevelValue(s.GroupAccessLevel), s.ExpiresAt})
		}
	}
	best := floor
	today := c.now().UTC().Format(time.DateOnly)
	for _, s := range shares {
		if s.level <= best || s.level < accessDeveloper || s.expires != nil && s.expires.String() < today {
			continue
		}
		level, err := c.memberLevel(ctx, fmt.Sprintf("group %d", s.group), uid, func(o ...gl.RequestOptionFunc) (*gl.ProjectMember, *gl.Response, error) {
			m, resp, err := c.gl.GroupMembers.GetInheritedGroupMember(s.group, uid, o...)
			if m == nil {
				return nil, resp, err
			}
			return &gl.ProjectMember{ID: m.ID, Username: m.Username, State: m.State, AccessLevel: m.AccessLevel}, resp, err
		})
		if err != nil {
			return 0, err
		}
		best = max(best, min(level, s.level))
	}
	return best, nil
}

// group reads a group without its projects; nil when the token may not
// see it.
func (c *Client) group(ctx context.Context, id int64) (*gl.Group, error) {
	return forge.Remember(ctx, groupKey{c, id}, func() (*gl.Group, error) {
		g, err := fetch(ctx, c, fmt.Sprintf("reading group %d", id), true, func(o ...gl.RequestOptionFunc) (*gl.Group, *gl.Response, error) {
			return c.gl.Groups.GetGroup(id, &gl.GetGroupOptions{WithProjects: gl.Ptr(false)}, o...)
		})
		if errors.Is(err, forge.ErrNotFound) {
			return nil, nil
		}
		return g, err
	})
}
