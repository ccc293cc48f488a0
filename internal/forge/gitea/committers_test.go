package gitea_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCommitters reads the users linked to a pull request's commits from
// the real Gitea: more commits than a page holds (10 on the test server),
// emails in another case than the user's, commits whose emails match no
// user, and commits of the base branch, which are not the pull request's.
func TestCommitters(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.s
	c := w.client(t)
	ctx := context.Background()

	// The first and the last commit, on the first and the last page
	// whichever order Gitea lists them in, bring one user each.
	var commits []commit
	for i := range 23 {
		file := map[string]string{"many.tf": "# " + strconv.Itoa(i) + "\n"}
		switch {
		case i == 0:
			commits = append(commits, commit{strings.ToUpper(w.email(w.reviewer2)), unknownEmail, file})
		case i == 22:
			commits = append(commits, commit{unknownEmail, w.email(w.reader), file})
		case i%2 == 1:
			commits = append(commits, commit{unknownEmail, unknownEmail, file})
		default:
			commits = append(commits, commit{w.email(w.author), w.email(w.author), file})
		}
	}
	w.pushCommits(t, w.author, "main", "many", commits...)
	pr := s.CreatePR(t, w.tok[w.author], w.repo, "many", "main", "Many", "")
	// The base branch moves on after the pull request was opened: its
	// commits are not the pull request's.
	w.pushCommits(t, w.reviewer3, "main", "main", commit{w.email(w.reviewer3), w.email(w.reviewer3), map[string]string{"other.tf": "# other\n"}})

	got, err := c.Committers(ctx, w.repo, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{w.author, w.reviewer2, w.reader}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("Committers = %v, want %v", got, want)
	}

	// Commits whose emails match nobody link nobody.
	w.pushCommits(t, w.author, "main", "anonymous", commit{unknownEmail, unknownEmail, map[string]string{"anon.tf": "# anon\n"}})
	anon := s.CreatePR(t, w.tok[w.author], w.repo, "anonymous", "main", "Anonymous", "")
	if got, err := c.Committers(ctx, w.repo, anon.Number); err != nil || len(got) != 0 {
		t.Errorf("Committers of commits no user made = %v, %v; want none", got, err)
	}
}

func sorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}
