package github

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
)

// TestCommittersTruncatedIsTyped: GitHub's 250-commit limit is told apart
// from any other failure (forge.ErrCommitsTruncated): it is the one the
// gate turns into a failing approvals item, since asking again cannot
// help; any other error is returned for the decision to be retried.
func TestCommittersTruncatedIsTyped(t *testing.T) {
	ctx := context.Background()
	s := newRecorded(t)
	s.pullCommits = 250
	_, err := s.client(t).Committers(ctx, testRepo, 1347)
	if !errors.Is(err, forge.ErrCommitsTruncated) || !strings.Contains(err.Error(), "GitHub lists only the first 250 commits") {
		t.Errorf("250 commits: err = %v, want forge.ErrCommitsTruncated saying why", err)
	}

	s = newRecorded(t)
	s.fail(pullCommitsKey, fault{status: 403, body: `{"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest"}`})
	_, err = s.client(t).Committers(ctx, testRepo, 1347)
	if err == nil || errors.Is(err, forge.ErrCommitsTruncated) {
		t.Errorf("403: err = %v, want an error that is not forge.ErrCommitsTruncated", err)
	}
	if _, err := s.client(t).Committers(ctx, testRepo, 9); err == nil || errors.Is(err, forge.ErrCommitsTruncated) {
		t.Errorf("missing pull request: err = %v, want an error that is not forge.ErrCommitsTruncated", err)
	}
}
