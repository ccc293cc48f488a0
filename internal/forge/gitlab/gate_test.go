package gitlab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluicehq/sluice/internal/forge"
)

func TestPermission(t *testing.T) {
	for _, tc := range []struct {
		name  string
		login string
		patch func(m map[string]any)
		want  forge.Permission
	}{
		{"Developer (documented member)", "john_smith", nil, forge.PermWrite},
		{"user name in another case", "John_Smith", nil, forge.PermWrite},
		{"Maintainer", "john_smith", func(m map[string]any) { m["access_level"] = 40 }, forge.PermAdmin},
		{"Owner", "john_smith", func(m map[string]any) { m["access_level"] = 50 }, forge.PermAdmin},
		{"Reporter", "john_smith", func(m map[string]any) { m["access_level"] = 20 }, forge.PermRead},
		{"Guest", "john_smith", func(m map[string]any) { m["access_level"] = 10 }, forge.PermRead},
		{"Minimal access", "john_smith", func(m map[string]any) { m["access_level"] = 5 }, forge.PermNone},
		{"blocked member", "john_smith", func(m map[string]any) { m["state"] = "blocked" }, forge.PermNone},
		{"not a member", "jack_smith", nil, forge.PermNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGitLab(t)
			f.memberPatch = tc.patch
			c, _ := newTestClient(t, f)
			got, err := c.Permission(context.Background(), testProject, tc.login)
			if err != nil || got != tc.want {
				t.Errorf("Permission(%s) = %v, %v; want %v", tc.login, got, err, tc.want)
			}
		})
	}
}

// TestPermissionShared: a user whom members/all does not list, as GitLab
// 14 answers for a member of a private group the project is shared with,
// gets the role the shares give: their role in the shared group, capped at
// the share's, unless the share expired or the project's group forbids
// sharing projects. project.json is shared with twitter (group 4) at
// Developer; group.json, the project's group, with h5bp (group 28) at
// Reporter.
func TestPermissionShared(t *testing.T) {
	for _, tc := range []struct {
		name    string
		shared  map[int64]int
		project func(m map[string]any)
		group   func(m map[string]any)
		want    forge.Permission
	}{
		{name: "a Maintainer of a group the project is shared with as Developer",
			shared: map[int64]int{4: 40}, want: forge.PermWrite},
		{name: "a Reporter of that group", shared: map[int64]int{4: 20}, want: forge.PermRead},
		{name: "the share expired", shared: map[int64]int{4: 40}, want: forge.PermNone,
			project: func(m map[string]any) {
				m["shared_with_groups"].([]any)[0].(map[string]any)["expires_at"] = "2026-03-01"
			}},
		{name: "the share expires later", shared: map[int64]int{4: 40}, want: forge.PermWrite,
			project: func(m map[string]any) {
				m["shared_with_groups"].([]any)[0].(map[string]any)["expires_at"] = "2026-03-02"
			}},
		{name: "the project's group forbids sharing projects", shared: map[int64]int{4: 40}, want: forge.PermNone,
			group: func(m map[string]any) { m["share_with_group_lock"] = true }},
		{name: "the project's group is shared as Reporter", shared: map[int64]int{28: 40}, want: forge.PermNone},
		{name: "the project's group is shared as Maintainer", shared: map[int64]int{28: 30}, want: forge.PermWrite,
			group: func(m map[string]any) {
				m["shared_with_groups"].([]any)[0].(map[string]any)["group_access_level"] = 40
			}},
		{name: "in no shared group", want: forge.PermNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGitLab(t)
			f.shared, f.projectPatch, f.groupPatch = tc.shared, tc.project, tc.group
			c, _ := newTestClient(t, f)
			got, err := c.Permission(context.Background(), testProject, "jack_smith")
			if err != nil || got != tc.want {
				t.Errorf("Permission = %v, %v; want %v", got, err, tc.want)
			}
			// gitlab-org (group 3, shared as Guest) cannot make anyone a
			// Developer: it is not read.
			if n := f.count("GET", "groups/3/members"); n != 0 {
				t.Errorf("read the members of a group shared as Guest %d times", n)
			}
		})
	}
	t.Run("a Developer in members/all reads no share", func(t *testing.T) {
		f := newFakeGitLab(t)
		c, _ := newTestClient(t, f)
		if got, err := c.Permission(context.Background(), testProject, "john_smith"); err != nil || got != forge.PermWrite {
			t.Fatalf("Permission = %v, %v; want write", got, err)
		}
		if n := f.count("GET", "groups/") + f.count("GET", "projects/"+testProject+"?"); n != 0 {
			t.Errorf("made %d requests for shares", n)
		}
	})
	t.Run("a decision reads the project and its groups once", func(t *testing.T) {
		f := newFakeGitLab(t)
		c, _ := newTestClient(t, f)
		ctx := forge.WithMemo(context.Background())
		for range 3 {
			if _, err := c.Permission(ctx, testProject, "jack_smith"); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.count("GET", "groups/"+fmt.Sprint(testNamespaceID)+"?"); n != 1 {
			t.Errorf("read the project's group %d times, want once", n)
		}
	})
}

func TestPermissionLevels(t *testing.T) {
	for level, want := range map[gl.AccessLevelValue]forge.Permission{
		0: forge.PermNone, 5: forge.PermNone, 10: forge.PermRead, 15: forge.PermRead, 20: forge.PermRead,
		30: forge.PermWrite, 40: forge.PermAdmin, 50: forge.PermAdmin, 60: forge.PermAdmin,
	} {
		if got := permission(level); got != want {
			t.Errorf("permission(%d) = %v, want %v", level, got, want)
		}
	}
}

func TestCanMerge(t *testing.T) {
	maintainer := func(m map[string]any) { m["access_level"] = 40 }
	rule := func(name string, entries ...map[string]any) func(bs []map[string]any) {
		return func(bs []map[string]any) {
			bs[0]["name"] = name
			bs[0]["merge_access_levels"] = entries
		}
	}
	for _, tc := range []struct {
		name    string
		premium bool
		member  func(m map[string]any)
		rules   func(bs []map[string]any)
		login   string
		branch  string
		want    bool
	}{
		// protected_branches.json: main and release/*, Maintainers merge.
		{"Developer, protected main", false, nil, nil, "john_smith", "main", false},
		{"Maintainer, protected main", false, maintainer, nil, "john_smith", "main", true},
		{"Developer, wildcard release/*", false, nil, nil, "john_smith", "release/1.0", false},
		{"Maintainer, wildcard release/*", false, maintainer, nil, "john_smith", "release/2.0/hotfix", true},
		{"Developer, unprotected branch", false, nil, nil, "john_smith", "feature", true},
		{"Reporter, unprotected branch", false, func(m map[string]any) { m["access_level"] = 20 }, nil, "john_smith", "feature", false},
		{"not a member, unprotected branch", false, nil, nil, "jack_smith", "feature", false},
		{"a branch only prefixed like the wildcard", false, maintainer, rule("release-*", map[string]any{"access_level": 0}), "john_smith", "releases", true},
		{"No one", false, maintainer, rule("main", map[string]any{"access_level": 0}), "john_smith", "main", false},
		{"Administrators only", false, maintainer, rule("main", map[string]any{"access_level": 60}), "john_smith", "main", false},
		{"Developers + Maintainers", false, nil, rule("main", map[string]any{"access_level": 30}), "john_smith", "main", true},
		{"the user by id", false, nil, rule("main", map[string]any{"access_level": 40, "user_id": 1}), "john_smith", "main", true},
		{"another user by id", false, maintainer, rule("main", map[string]any{"access_level": 40, "user_id": 2}), "john_smith", "main", false},
		{"the user by id, but a Reporter", false, func(m map[string]any) { m["access_level"] = 20 }, rule("main", map[string]any{"access_level": 40, "user_id": 1}), "john_smith", "main", false},
		// protected_branches_premium.json: main, merge group 1234.
		{"member of the merge group", true, nil, nil, "john_smith", "main", true},
		{"not in the merge group", true, nil, nil, "jack_smith", "main", false},
		{"most permissive of two matching rules", false, nil, func(bs []map[string]any) {
			bs[1]["name"] = "*"
			bs[1]["merge_access_levels"] = []map[string]any{{"access_level": 30}}
		}, "john_smith", "main", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGitLab(t)
			f.premium, f.memberPatch, f.branchPatch = tc.premium, tc.member, tc.rules
			c, _ := newTestClient(t, f)
			got, err := c.CanMerge(context.Background(), testProject, tc.login, tc.branch)
			if err != nil || got != tc.want {
				t.Errorf("CanMerge(%s, %s) = %v, %v; want %v", tc.login, tc.branch, got, err, tc.want)
			}
		})
	}
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	if _, err := c.CanMerge(context.Background(), testProject, "nobody", "main"); !errors.Is(err, forge.ErrNotFound) {
		t.Errorf("CanMerge for an unknown user: %v", err)
	}
}

func TestBranchMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, branch string
		want            bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"release/*", "release/1.0", true},
		{"release/*", "release/1.0/rc", true},
		{"release/*", "release", false},
		{"*-stable", "15-0-stable", true},
		{"*-stable", "15-0-stable-x", false},
		{"*", "anything", true},
		{"a.b*", "axb1", false},
		{"v*.*", "v1.2", true},
		{"v*.*", "v12", false},
	} {
		if got := branchMatches(tc.pattern, tc.branch); got != tc.want {
			t.Errorf("branchMatches(%q, %q) = %v, want %v", tc.pattern, tc.branch, got, tc.want)
		}
	}
}

func TestApprovalState(t *testing.T) {
	ctx := context.Background()
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	got, err := c.ApprovalState(ctx, testProject, testMR)
	if err != nil {
		t.Fatal(err)
	}
	jdoe := forge.User{ID: 4, Login: "jdoe"}
	if !got.Approved || !got.Overwritten || len(got.Rules) != 1 {
		t.Fatalf("ApprovalState = %+v", got)
	}
	r := got.Rules[0]
	if r.ID != 1 || r.Name != "Ruby" || r.Type != "regular" || r.Required != 2 || !r.Approved ||
		!slices.Equal(r.ApprovedBy, []forge.User{jdoe}) || !slices.Equal(r.Eligible, []forge.User{jdoe}) {
		t.Errorf("rule = %+v", r)
	}

	// A rule GitLab does not call approved: one approval short, then with
	// as many as it requires.
	for _, tc := range []struct {
		approvers []any
		want      bool
	}{
		{[]any{map[string]any{"id": 4, "username": "jdoe"}}, false},
		{[]any{map[string]any{"id": 4, "username": "jdoe"}, map[string]any{"id": 5, "username": "jroe"}}, true},
	} {
		f.approvalState = patchJSON(t, recording(t, "approval_state.json"), func(m map[string]any) {
			rule := m["rules"].([]any)[0].(map[string]any)
			rule["approved"], rule["approved_by"] = false, tc.approvers
		})
		got, err := c.ApprovalState(ctx, testProject, testMR)
		if err != nil || got.Approved != tc.want || got.Rules[0].Approved != tc.want {
			t.Errorf("ApprovalState with %d of 2 approvals = %+v, %v; want approved %v", len(tc.approvers), got, err, tc.want)
		}
	}

	// GitLab Free: no approval_state; the approvals left decide.
	f.freeTier = true
	got, err = c.ApprovalState(ctx, testProject, testMR)
	if err != nil {
		t.Fatal(err)
	}
	root := forge.User{ID: 1, Login: "root"}
	if got.Approved || len(got.Rules) != 1 || got.Rules[0].Required != 2 || !slices.Equal(got.Rules[0].ApprovedBy, []forge.User{root}) {
		t.Errorf("ApprovalState on Free = %+v", got)
	}
	if _, err := c.ApprovalState(ctx, testProject, 999); !errors.Is(err, forge.ErrNotFound) {
		t.Errorf("ApprovalState of a missing merge request: %v", err)
	}
}

func TestClosesIssues(t *testing.T) {
	ctx := context.Background()
	f := newFakeGitLab(t)
	c, _ := newTestClient(t, f)
	got, err := c.ClosesIssues(ctx, testProject, testMR)
	if err != nil || !slices.Equal(got, []int64{6}) {
		t.Errorf("ClosesIssues = %v, %v; want [6]", got, err)
	}
	f.jira = true
	got, err = c.ClosesIssues(ctx, testProject, testMR)
	if err != nil || len(got) != 0 {
		t.Errorf("ClosesIssues with Jira = %v, %v; want none", got, err)
	}
	if _, err := c.ClosesIssues(ctx, testProject, 999); !errors.Is(err, forge.ErrNotFound) {
		t.Errorf("ClosesIssues of a missing merge request: %v", err)
	}
}

func TestPagination(t *testing.T) {
	for _, keyset := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyset=%v", keyset), func(t *testing.T) {
			f := newFakeGitLab(t)
			f.maxPerPage, f.keyset = 2, keyset
			want := []string{"Comment for MR"} // note 302 is a system note
			for i := range 4 {
				n := f.addNote(testMR, fakeUser{ID: 2, Username: "jack_smith"}, fmt.Sprintf("comment %d", i))
				want = append(want, n.Body)
			}
			c, _ := newTestClient(t, f)
			cs, err := c.Comments(context.Background(), testProject, testMR)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, cm := range cs {
				got = append(got, cm.Body)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Comments = %q, want %q", got, want)
			}
			if n := f.count("GET", "/notes"); n != 3 {
				t.Errorf("%d pages read, want 3", n)
			}
		})
	}
}
