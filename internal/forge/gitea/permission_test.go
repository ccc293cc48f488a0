package gitea_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/gitea"
	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

// teamWorld is newWorld's private repository of an organisation with
// teams made as Gitea 1.26's team page makes them (overall access "none",
// access per unit), each with access to the repository and one member.
type teamWorld struct {
	*world
	writer, reader, pusher, triager, orgOwner string
	writers                                   int64 // the team of writer
}

func newTeamWorld(t *testing.T) *teamWorld {
	t.Helper()
	w := &teamWorld{world: newWorld(t)}
	s := w.s
	for _, tm := range []struct {
		login *string
		team  string
		units map[string]string
	}{
		{&w.writer, "writers", map[string]string{"repo.code": "write", "repo.pulls": "write", "repo.issues": "write"}},
		{&w.reader, "readers", map[string]string{"repo.code": "read", "repo.pulls": "read"}},
		// pushes, but cannot see pull requests: Gitea answers "not found"
		// to its approvals and merges
		{&w.pusher, "pushers", map[string]string{"repo.code": "write"}},
		// manages pull requests and issues, but its approvals are not
		// official and Gitea refuses its merges
		{&w.triager, "triage", map[string]string{"repo.code": "read", "repo.pulls": "write", "repo.issues": "write"}},
	} {
		*tm.login = s.Name("team-" + tm.team)
		w.tok[*tm.login] = s.CreateUser(t, *tm.login)
		id := s.CreateTeam(t, w.org, tm.team, tm.units)
		s.AddTeamRepo(t, id, w.repo)
		s.AddTeamMember(t, id, *tm.login)
		if tm.team == "writers" {
			w.writers = id
		}
	}
	w.orgOwner = s.Name("owner")
	s.CreateUser(t, w.orgOwner)
	s.AddOrgOwner(t, w.org, w.orgOwner)
	return w
}

// TestPermissionTeams checks permissions given through organisation teams
// on the real Gitea, whose permission API answers "none" (private) or
// "read" (public) for a team member who may push and merge.
func TestPermissionTeams(t *testing.T) {
	t.Parallel()
	w := newTeamWorld(t)
	s, ctx := w.s, context.Background()
	c := w.client(t)

	// The bot is an administrator of the repository, not a member of the
	// organisation: it may not see the teams, and says what it needs.
	_, err := c.Permission(ctx, w.repo, w.writer)
	if err == nil || !strings.Contains(err.Error(), "owner of organisation "+w.org) {
		t.Errorf("Permission with the teams hidden: err = %v, want one naming the access the bot needs", err)
	}

	s.AddOrgOwner(t, w.org, w.bot)
	for _, private := range []bool{true, false} {
		s.SetPrivate(t, w.repo, private)
		name := map[bool]string{true: "private", false: "public"}[private]
		// On a public repository every user reads.
		nothing := map[bool]forge.Permission{true: forge.PermNone, false: forge.PermRead}[private]
		for _, tc := range []struct {
			who, login string
			want       forge.Permission
		}{
			{"write through a team", w.writer, forge.PermWrite},
			{"read through a team", w.reader, forge.PermRead},
			{"code but no pull requests through a team", w.pusher, forge.PermRead},
			{"pull requests but read code through a team", w.triager, forge.PermRead},
			{"a writing collaborator", w.author, forge.PermWrite},
			{"a reading collaborator", w.world.reader, forge.PermRead},
			{"an organisation owner", w.orgOwner, forge.PermAdmin},
			{"a site administrator", giteatest.AdminLogin, forge.PermAdmin},
			{"a user with nothing", w.stranger, nothing},
		} {
			t.Run(name+"/"+tc.who, func(t *testing.T) {
				if p, err := c.Permission(ctx, w.repo, tc.login); err != nil || p != tc.want {
					t.Errorf("Permission(%s) = %v, %v; want %v", tc.login, p, err, tc.want)
				}
			})
		}
	}
	s.SetPrivate(t, w.repo, true)

	t.Run("a collaborator who is also in a team", func(t *testing.T) {
		s.AddCollaborator(t, w.repo, w.pusher, "read")
		defer s.RemoveCollaborator(t, w.repo, w.pusher)
		// The team's code and the collaboration's pull requests.
		if p, err := c.Permission(ctx, w.repo, w.pusher); err != nil || p != forge.PermWrite {
			t.Errorf("Permission = %v, %v; want write", p, err)
		}
	})

	t.Run("a member removed from the team", func(t *testing.T) {
		decision := forge.WithMemo(ctx)
		if p, err := c.Permission(decision, w.repo, w.writer); err != nil || p != forge.PermWrite {
			t.Fatalf("before: Permission = %v, %v; want write", p, err)
		}
		s.RemoveTeamMember(t, w.writers, w.writer)
		defer s.AddTeamMember(t, w.writers, w.writer)
		if p, err := c.Permission(forge.WithMemo(ctx), w.repo, w.writer); err != nil || p != forge.PermNone {
			t.Errorf("the next decision: Permission = %v, %v; want none", p, err)
		}
		if p, err := c.Permission(ctx, w.repo, w.writer); err != nil || p != forge.PermNone {
			t.Errorf("without a memo: Permission = %v, %v; want none", p, err)
		}
	})
}

// TestPermissionCalls counts the requests a decision makes: a team
// member's permission reads the permission, the repository's teams and
// the first team's members; a second one in the same decision only their
// permission, and the next decision reads everything again.
func TestPermissionCalls(t *testing.T) {
	t.Parallel()
	w := newTeamWorld(t)
	s, ctx := w.s, context.Background()
	s.AddOrgOwner(t, w.org, w.bot)
	second := s.Name("team-writers")
	s.CreateUser(t, second)
	s.AddTeamMember(t, w.writers, second)

	var calls atomic.Int64
	target, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(counting.Close)
	c, err := gitea.New(counting.URL, w.botToken)
	if err != nil {
		t.Fatal(err)
	}

	decision := forge.WithMemo(ctx)
	for _, step := range []struct {
		ctx   context.Context
		login string
		want  int64
	}{
		{decision, w.writer, 3},
		{decision, second, 1},
		{decision, w.author, 2}, // a writing collaborator: the permission, and whether they are one
		{forge.WithMemo(ctx), second, 3},
	} {
		calls.Store(0)
		if p, err := c.Permission(step.ctx, w.repo, step.login); err != nil || p != forge.PermWrite {
			t.Fatalf("Permission(%s) = %v, %v; want write", step.login, p, err)
		}
		if got := calls.Load(); got != step.want {
			t.Errorf("Permission(%s) made %d requests, want %d", step.login, got, step.want)
		}
	}
}
