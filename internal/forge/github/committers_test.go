package github

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
)

const pullCommitsKey = "GET /repos/" + testRepo + "/pulls/1347/commits"

func TestCommittersPages(t *testing.T) {
	s := newRecorded(t)
	s.pageSize = 1
	got, err := s.client(t).Committers(context.Background(), testRepo, 1347)
	if err != nil {
		t.Fatal(err)
	}
	// hubot authored the first commit, which web-flow committed; octocat
	// the second, on the second page.
	if !slices.Equal(got, []string{"hubot", "octocat"}) {
		t.Errorf("Committers = %v, want [hubot octocat]", got)
	}
	if n := s.hitCount(pullCommitsKey); n != 2 {
		t.Errorf("%d pages asked for, want 2", n)
	}
}

// TestCommittersUnlinked: commits whose emails GitHub links to no account
// (author and committer null) add nobody; bots count; web-flow never does,
// whatever its case.
func TestCommittersUnlinked(t *testing.T) {
	s := newRecorded(t)
	s.fail(pullCommitsKey, fault{status: 200, body: `[
		{"sha": "1111111111111111111111111111111111111111", "commit": {"author": {"email": "nobody@example.com"}, "committer": {"email": "nobody@example.com"}}, "author": null, "committer": null},
		{"sha": "2222222222222222222222222222222222222222", "author": {"login": "dependabot[bot]", "id": 49699333, "type": "Bot"}, "committer": {"login": "Web-Flow", "id": 19864447, "type": "User"}},
		{"sha": "3333333333333333333333333333333333333333", "author": {"login": "Dependabot[bot]", "id": 49699333, "type": "Bot"}, "committer": null}
	]`})
	got, err := s.client(t).Committers(context.Background(), testRepo, 1347)
	if err != nil || !slices.Equal(got, []string{"dependabot[bot]"}) {
		t.Errorf("Committers = %v, %v; want [dependabot[bot]]", got, err)
	}
}

// TestCommittersTooMany: GitHub lists at most 250 commits of a pull
// request; with that many, the others cannot be seen.
func TestCommittersTooMany(t *testing.T) {
	for _, tc := range []struct {
		commits int
		wantErr bool
	}{
		{249, false},
		{250, true},
		{400, true},
	} {
		s := newRecorded(t)
		s.pullCommits = tc.commits - 2 // beside the two recorded
		got, err := s.client(t).Committers(context.Background(), testRepo, 1347)
		switch {
		case tc.wantErr && (err == nil || !strings.Contains(err.Error(), "only the first 250 commits")):
			t.Errorf("%d commits: Committers = %v, %v; want an error about GitHub's limit", tc.commits, got, err)
		case !tc.wantErr && (err != nil || len(got) != 2):
			t.Errorf("%d commits: Committers = %v, %v; want hubot and octocat", tc.commits, got, err)
		}
	}
}

func TestCommittersErrors(t *testing.T) {
	s := newRecorded(t)
	c := s.client(t)
	ctx := context.Background()
	if _, err := c.Committers(ctx, testRepo, 9); !errors.Is(err, forge.ErrNotFound) || !strings.Contains(err.Error(), "listing commits of "+testRepo+"#9") {
		t.Errorf("missing pull request: err = %v, want ErrNotFound naming it", err)
	}
	if _, err := c.Committers(ctx, "no-slash", 1); err == nil {
		t.Error("malformed repository: no error")
	}
}
