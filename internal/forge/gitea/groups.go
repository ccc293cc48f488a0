package gitea

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/sluicehq/sluice/internal/forge"
)

// GroupMembers returns the members of a team: group "TEAM" is a team of
// the organisation that owns repo, "ORG/TEAM" a team of organisation ORG.
// Team names compare case-insensitively, as Gitea's do. Gitea shows a
// team's members only to the organisation's owners, the team's own members
// and site administrators, and only to tokens with the read:organization
// scope; a refusal says so.
func (c *Client) GroupMembers(ctx context.Context, repo, group string) ([]string, error) {
	org, team, err := teamOf(repo, group)
	if err != nil {
		return nil, err
	}
	api := c.api(ctx)
	teams, resp, err := all(func(o sdk.ListOptions) ([]*sdk.Team, *sdk.Response, error) {
		return api.ListOrgTeams(org, sdk.ListTeamsOptions{ListOptions: o})
	})
	if err != nil {
		return nil, teamFailed(fmt.Sprintf("listing the teams of organisation %s", org), org, false, resp, err)
	}
	i := slices.IndexFunc(teams, func(t *sdk.Team) bool { return t != nil && strings.EqualFold(t.Name, team) })
	if i < 0 {
		return nil, fmt.Errorf("team %s of organisation %s on gitea: %w", team, org, forge.ErrNotFound)
	}
	members, resp, err := all(func(o sdk.ListOptions) ([]*sdk.User, *sdk.Response, error) {
		return api.ListTeamMembers(teams[i].ID, sdk.ListTeamMembersOptions{ListOptions: o})
	})
	if err != nil {
		return nil, teamFailed(fmt.Sprintf("listing the members of team %s of organisation %s", team, org), org, true, resp, err)
	}
	logins := make([]string, 0, len(members))
	for _, m := range members {
		if m != nil && m.UserName != "" {
			logins = append(logins, m.UserName)
		}
	}
	return logins, nil
}

// teamOf splits a group:NAME entry into an organisation and a team name.
func teamOf(repo, group string) (org, team string, err error) {
	org, team, ok := strings.Cut(group, "/")
	if !ok {
		owner, _, err := splitRepo(repo)
		if err != nil {
			return "", "", err
		}
		org, team = owner, group
	}
	if org == "" || team == "" || strings.Contains(team, "/") {
		return "", "", fmt.Errorf("group %q on gitea: want TEAM (a team of the repository's organisation) or ORG/TEAM", group)
	}
	return org, team, nil
}

// teamFailed is failed, with the access Gitea asks of whoever reads teams.
// known says the team exists (it was just listed): a "not found" then
// means the bot may not see it, as Gitea hides a team's members from those
// outside its organisation.
func teamFailed(what, org string, known bool, resp *sdk.Response, err error) error {
	if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
		known && resp.StatusCode == http.StatusNotFound) {
		return fmt.Errorf("%s on gitea: the token was refused (%d): it needs the read:organization scope, and the bot must be an owner of organisation %s (or a member of the team): %w",
			what, resp.StatusCode, org, err)
	}
	return failed(what, resp, err)
}
