package github

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v84/github"
)

// GroupMembers returns the members of a team, child teams' members
// included (GitHub's own answer): group "TEAM" is the team with that slug
// in the organisation that owns repo, "ORG/TEAM" the team of organisation
// ORG. GitHub answers 404 for a team the token may not see as for one
// that does not exist; a fine-grained token needs the organisation
// permission "Members: read" (an App the same), a classic one read:org.
func (c *Client) GroupMembers(ctx context.Context, repo, group string) ([]string, error) {
	org, slug, ok := strings.Cut(group, "/")
	if !ok {
		owner, _, err := splitRepo(repo)
		if err != nil {
			return nil, err
		}
		org, slug = owner, group
	}
	if org == "" || slug == "" || strings.Contains(slug, "/") {
		return nil, fmt.Errorf("github: group %q: want TEAM (a team slug of the repository's organisation) or ORG/TEAM", group)
	}
	// Slugs are lower case; a team named in another case is the same team.
	slug = strings.ToLower(slug)
	users, resp, err := all(func(lo gh.ListOptions) ([]*gh.User, *gh.Response, error) {
		return c.gh.Teams.ListTeamMembersBySlug(ctx, org, slug, &gh.TeamListTeamMembersOptions{ListOptions: lo})
	})
	if err != nil {
		if status(resp) == http.StatusForbidden {
			return nil, fmt.Errorf("github: listing the members of team %s/%s: the token was refused: it needs the organisation permission \"Members: read\" (read:org for a classic token): %w", org, slug, err)
		}
		return nil, fail(resp, err, "listing the members of team %s/%s (a team the token may not see is not found too)", org, slug)
	}
	var logins []string
	for _, u := range users {
		if login := u.GetLogin(); login != "" {
			logins = append(logins, login)
		}
	}
	return logins, nil
}
