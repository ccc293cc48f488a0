package gitea

import (
	"slices"
	"testing"

	sdk "code.gitea.io/sdk/gitea"
)

func TestCommitUsers(t *testing.T) {
	u := func(login string) *sdk.User { return &sdk.User{UserName: login} }
	cs := []*sdk.Commit{
		nil,
		{Author: u("alice"), Committer: u("alice")},
		{Author: nil, Committer: u("Bob")}, // the author's email matched nobody
		{Author: u("bob"), Committer: nil}, // the same user, in another case
		{Author: u(""), Committer: u("carol")},
		{},
	}
	if got, want := commitUsers(cs), []string{"alice", "Bob", "carol"}; !slices.Equal(got, want) {
		t.Errorf("commitUsers = %v, want %v", got, want)
	}
	if got := commitUsers(nil); len(got) != 0 {
		t.Errorf("commitUsers(nil) = %v", got)
	}
}
