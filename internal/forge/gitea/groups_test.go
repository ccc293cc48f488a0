package gitea_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge/gitea"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

// createTeam creates a team of org that has no access to any repository
// and adds members to it.
func createTeam(t *testing.T, s *giteatest.Server, org, name string, members ...string) {
	t.Helper()
	id := s.CreateTeam(t, org, name, map[string]string{"repo.code": "read"})
	for _, m := range members {
		s.AddTeamMember(t, id, m)
	}
}

// groups sets up the teams of the contract: platform, with more members
// than the test server's page of 10 and the bot among them (the least
// access that lets it read the team), and another team the bot is not in.
func groups(t *testing.T, w *world) (map[string][]string, []string) {
	t.Helper()
	members := []string{w.bot, w.reviewer1, w.reviewer2}
	for range 10 {
		login := w.s.Name("member")
		w.s.CreateUser(t, login)
		members = append(members, login)
	}
	createTeam(t, w.s, w.org, "platform", members...)
	createTeam(t, w.s, w.org, "security", w.reviewer3)
	return map[string][]string{
			"platform":          members,
			"Platform":          members, // Gitea's team names ignore case
			w.org + "/platform": members,
		}, []string{
			"nobody",                             // no such team in the repository's organisation
			w.org + "/nobody",                    // nor with the organisation named
			"no-such-org-" + w.org + "/platform", // no such organisation
		}
}

// TestGroupMembersRefused: reading a team the bot may not see fails with a
// message that names the access it needs.
func TestGroupMembersRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.s
	createTeam(t, s, w.org, "platform", w.bot)
	createTeam(t, s, w.org, "security", w.reviewer3)
	ctx := context.Background()
	for _, tc := range []struct {
		name, token, group string
	}{
		{"a team the bot is not in", w.botToken, "security"},
		{"a token without read:organization", s.Token(t, w.bot, "write:repository", "write:issue", "read:user"), "platform"},
		{"a user outside the organisation", s.Token(t, w.stranger, botScopes...), "platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := gitea.New(s.URL(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GroupMembers(ctx, w.repo, tc.group)
			if err == nil || !strings.Contains(err.Error(), "read:organization") || !strings.Contains(err.Error(), "owner of organisation "+w.org) {
				t.Errorf("GroupMembers(%s) = %v, %v; want an error naming the access needed", tc.group, got, err)
			}
		})
	}
	t.Run("not org/team", func(t *testing.T) {
		if _, err := w.client(t).GroupMembers(ctx, w.repo, "a/b/c"); err == nil || !strings.Contains(err.Error(), "ORG/TEAM") {
			t.Errorf("err = %v, want one saying how to name a team", err)
		}
	})
}
