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

// mode is one of Gitea's access modes, in Gitea's order.
type mode int

const (
	modeNone mode = iota
	modeRead
	modeWrite
	modeAdmin
	modeOwner
)

// parseMode reads an access mode as the API writes it; anything else is
// none.
func parseMode(s string) mode {
	switch strings.ToLower(s) {
	case "read":
		return modeRead
	case "write":
		return modeWrite
	case "admin":
		return modeAdmin
	case "owner":
		return modeOwner
	}
	return modeNone
}

// units is someone's access to the two units of a repository that decide
// what Sluice lets them do. Gitea lets write access to the code push,
// merge and give an approval it counts as official, and each of those
// needs the pull requests at least readable (without them the pull
// request is "not found"): write access to the pull request unit alone
// merges nothing and approves nothing official.
type units struct{ code, pulls mode }

func (u units) max(v units) units { return units{max(u.code, v.code), max(u.pulls, v.pulls)} }

// permission is what Sluice makes of the units: write when the code is
// writable and the pull requests readable, read when either is readable.
func (u units) permission() forge.Permission {
	switch {
	case u.code >= modeWrite && u.pulls >= modeRead:
		return forge.PermWrite
	case u.code >= modeRead || u.pulls >= modeRead:
		return forge.PermRead
	}
	return forge.PermNone
}

// repoTeam is a team with access to a repository, as far as Sluice needs
// it.
type repoTeam struct {
	id    int64
	name  string
	admin bool // an owner or administrator team: the permission API counts it
	units units
}

// teamOfAPI reads a team as the API answers it: its units_map (Gitea
// 1.16 and later, and Forgejo), or else its list of units, each with the
// team's overall mode.
func teamOfAPI(t *sdk.Team) repoTeam {
	rt := repoTeam{id: t.ID, name: t.Name, admin: parseMode(string(t.Permission)) >= modeAdmin}
	if len(t.UnitsMap) > 0 {
		rt.units = units{parseMode(t.UnitsMap[string(sdk.RepoUnitCode)]), parseMode(t.UnitsMap[string(sdk.RepoUnitPulls)])}
		return rt
	}
	overall := parseMode(string(t.Permission))
	if slices.Contains(t.Units, sdk.RepoUnitCode) {
		rt.units.code = overall
	}
	if slices.Contains(t.Units, sdk.RepoUnitPulls) {
		rt.units.pulls = overall
	}
	return rt
}

// Permission is the user's access to the repository as Gitea decides it
// (its GetUserRepoPermission), on the units that matter (see units):
//
//   - site administrators, the repository's owner, the organisation's
//     owners, administrator collaborators and members of administrator
//     teams are admins: the permission API says so;
//   - on a user's repository, that API's answer is the collaborator's
//     role;
//   - on an organisation's repository, a collaborator has their role on
//     every unit, and a member of the repository's teams the most any of
//     their teams gives per unit. Gitea 1.26 gives a team made on its
//     team page overall access "none" and the access per unit, so the
//     permission API answers "none" (or "read", on a public repository)
//     for a team member who may push and merge: Sluice reads the teams'
//     units and members instead.
//
// A user without access is PermNone; an unknown user is ErrNotFound.
// Gitea answers the permission API only to repository administrators, and
// shows a team's members only to the organisation's owners, the team's
// members and site administrators: the bot must be an administrator of
// the repository and may have to read its teams (see docs/forges/gitea.md).
// Under a forge.WithMemo context the repository's teams and their members
// are read once for the decision.
func (c *Client) Permission(ctx context.Context, repo, login string) (forge.Permission, error) {
	what := fmt.Sprintf("reading %s's permission on %s", login, repo)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return forge.PermNone, fmt.Errorf("%s: %w", what, err)
	}
	p, resp, err := c.api(ctx).CollaboratorPermission(owner, name, login)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusForbidden {
			return forge.PermNone, fmt.Errorf("%s on gitea: Gitea shows other users' permissions only to repository administrators; make the Sluice bot user an administrator of %s (collaborator role Administrator): %w",
				what, repo, err)
		}
		return forge.PermNone, failed(what, resp, err)
	}
	if p == nil {
		return forge.PermNone, fmt.Errorf("%s on gitea: empty answer", what)
	}
	overall := parseMode(string(p.Permission))
	if overall >= modeAdmin {
		return forge.PermAdmin, nil
	}
	teams, inOrg, err := c.repoTeams(ctx, owner, name)
	if err != nil {
		return forge.PermNone, fmt.Errorf("%s: %w", what, err)
	}
	if !inOrg {
		return units{overall, overall}.permission(), nil
	}
	perm, err := decide(overall, teams,
		func() (bool, error) { return c.isCollaborator(ctx, owner, name, login) },
		func(t repoTeam) (bool, error) { return c.inTeam(ctx, owner, t, login) })
	if err != nil {
		return forge.PermNone, fmt.Errorf("%s: %w", what, err)
	}
	return perm, nil
}

// decide is the permission on an organisation's repository of a user
// whose permission API answer, overall, is below admin: the larger of
// their collaboration's role and their teams' overall modes, and read on
// a public repository. Gitea gives a collaborator overall on every unit,
// and a member of the repository's teams the most their teams give per
// unit besides. collaborator and member ask Gitea; decide asks only what
// can still change the answer, the teams that give most first.
func decide(overall mode, teams []repoTeam, collaborator func() (bool, error), member func(repoTeam) (bool, error)) (forge.Permission, error) {
	if overall >= modeAdmin {
		return forge.PermAdmin, nil
	}
	var asked, isCollaborator bool
	collab := func() (bool, error) {
		if asked {
			return isCollaborator, nil
		}
		ok, err := collaborator()
		if err != nil {
			return false, err
		}
		asked, isCollaborator = true, ok
		return ok, nil
	}
	var got units
	if overall >= modeWrite {
		switch ok, err := collab(); {
		case err != nil:
			return forge.PermNone, err
		case ok:
			return forge.PermWrite, nil
		}
	}
	teams = slices.Clone(teams)
	slices.SortStableFunc(teams, func(a, b repoTeam) int {
		if a.units.code != b.units.code {
			return int(b.units.code - a.units.code)
		}
		return int(b.units.pulls - a.units.pulls)
	})
	for _, t := range teams {
		if got.permission() >= forge.PermWrite {
			break
		}
		// An administrator team's members are admins in overall already;
		// a team that gives no more than got cannot change the answer.
		if t.admin || got.max(t.units) == got || t.units.permission() == forge.PermNone {
			continue
		}
		in, err := member(t)
		if err != nil {
			return forge.PermNone, err
		}
		if in {
			got = got.max(t.units)
		}
	}
	// A collaborator reads the pull requests whatever the teams give.
	if got.code >= modeWrite && got.pulls < modeRead && overall >= modeRead {
		ok, err := collab()
		if err != nil {
			return forge.PermNone, err
		}
		if ok {
			got = got.max(units{overall, overall})
		}
	}
	p := got.permission()
	if p == forge.PermNone && overall >= modeRead {
		p = forge.PermRead // a public repository, a collaborator who reads, a team's overall mode
	}
	return p, nil
}

// What a decision's memo keeps (see forge.WithMemo), per client: what a
// token may see is its own.
type (
	repoTeamsKey struct {
		c    *Client
		repo string // owner/name in lower case, as Gitea compares them
	}
	teamMembersKey struct {
		c    *Client
		team int64
	}
)

// teamsOfRepo is a repository's teams; inOrg is false for a user's
// repository, which has none.
type teamsOfRepo struct {
	teams []repoTeam
	inOrg bool
}

// repoTeams lists the teams with access to the repository, those that
// include all the organisation's repositories too.
func (c *Client) repoTeams(ctx context.Context, owner, name string) ([]repoTeam, bool, error) {
	r, err := forge.Remember(ctx, repoTeamsKey{c, strings.ToLower(owner + "/" + name)}, func() (teamsOfRepo, error) {
		ts, resp, err := c.api(ctx).GetRepoTeams(owner, name)
		if err != nil {
			if resp != nil && resp.StatusCode == http.StatusMethodNotAllowed { // "repo is not owned by an organization"
				return teamsOfRepo{}, nil
			}
			return teamsOfRepo{}, teamFailed(fmt.Sprintf("listing the teams of %s/%s", owner, name), owner, false, resp, err)
		}
		r := teamsOfRepo{inOrg: true}
		for _, t := range ts {
			if t != nil {
				r.teams = append(r.teams, teamOfAPI(t))
			}
		}
		return r, nil
	})
	return r.teams, r.inOrg, err
}

// isCollaborator says whether login is a collaborator of the repository
// (Gitea answers 204 or 404).
func (c *Client) isCollaborator(ctx context.Context, owner, name, login string) (bool, error) {
	_, resp, err := c.api(ctx).IsCollaborator(owner, name, login)
	what := fmt.Sprintf("asking whether %s is a collaborator of %s/%s", login, owner, name)
	switch {
	case err != nil:
		return false, failed(what, resp, err)
	case resp.StatusCode == http.StatusNoContent:
		return true, nil
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	}
	return false, failed(what, resp, fmt.Errorf("unexpected answer %s", resp.Status))
}

// inTeam says whether login is a member of team t of organisation org. It
// lists the members (once per decision, under a memo) rather than asking
// for one: Gitea answers "not found" both for someone outside the team and
// to a bot that may not see the team, and only a list tells them apart.
func (c *Client) inTeam(ctx context.Context, org string, t repoTeam, login string) (bool, error) {
	members, err := forge.Remember(ctx, teamMembersKey{c, t.id}, func() (map[string]bool, error) {
		api := c.api(ctx)
		us, resp, err := all(func(o sdk.ListOptions) ([]*sdk.User, *sdk.Response, error) {
			return api.ListTeamMembers(t.id, sdk.ListTeamMembersOptions{ListOptions: o})
		})
		if err != nil {
			return nil, teamFailed(fmt.Sprintf("listing the members of team %s of organisation %s, which has access to the repository", t.name, org), org, true, resp, err)
		}
		members := make(map[string]bool, len(us))
		for _, u := range us {
			if u != nil {
				members[strings.ToLower(u.UserName)] = true
			}
		}
		return members, nil
	})
	return members[strings.ToLower(login)], err
}
