package gitea

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
)

// GetMR reads a pull request. Draft is Gitea's own draft flag (a
// work-in-progress title prefix); BaseSHA is the current tip of the base
// branch (which Gitea reports live in base.sha; the branch API when it
// does not), not the merge base.
func (c *Client) GetMR(ctx context.Context, repo string, number int64) (*forge.MergeRequest, error) {
	what := fmt.Sprintf("reading pull request %s!%d", repo, number)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	api := c.api(ctx)
	pr, resp, err := api.GetPullRequest(owner, name, number)
	if err != nil {
		return nil, failed(what, resp, err)
	}
	if pr.Head == nil || pr.Base == nil {
		return nil, fmt.Errorf("%s on gitea: the answer has no head or base", what)
	}
	mr := &forge.MergeRequest{
		Repo:     repo,
		Number:   pr.Index,
		Title:    pr.Title,
		Body:     pr.Body,
		Author:   user(pr.Poster),
		State:    forge.MROpen,
		Draft:    pr.Draft,
		HeadSHA:  pr.Head.Sha,
		BaseSHA:  pr.Base.Sha,
		HeadRef:  pr.Head.Ref,
		BaseRef:  pr.Base.Ref,
		FromFork: fromFork(pr.Head.RepoID, pr.Base.RepoID, pr.Head.Name),
		WebURL:   pr.HTMLURL,
	}
	switch {
	case pr.HasMerged:
		mr.State = forge.MRMerged
		if pr.MergedCommitID != nil {
			mr.MergeSHA = *pr.MergedCommitID
		}
		if pr.MergedBy != nil {
			u := user(pr.MergedBy)
			mr.MergedBy = &u
		}
	case pr.State == sdk.StateClosed:
		mr.State = forge.MRClosed
	}
	if mr.BaseSHA == "" {
		b, resp, err := api.GetRepoBranch(owner, name, pr.Base.Ref)
		if err != nil {
			return nil, failed(fmt.Sprintf("%s: reading its base branch %s", what, pr.Base.Ref), resp, err)
		}
		if b.Commit != nil {
			mr.BaseSHA = b.Commit.ID
		}
	}
	return mr, nil
}

// fromFork tells whether a pull request's head lives outside the base
// repository: in a fork (or a fork since deleted, which Gitea reports as
// repository -1), or pushed with AGit (git push origin HEAD:refs/for/main),
// which lets anyone who may read the repository propose code without a
// branch there; Gitea reports those with an empty head label.
func fromFork(headRepoID, baseRepoID int64, headLabel string) bool {
	return headRepoID != baseRepoID || headLabel == ""
}

// Reviews returns each reviewer's latest approval or request for changes,
// with the commit it was given on. A reviewer whose latest verdict was
// dismissed has none. Comment-only reviews, review requests and pending
// reviews are not verdicts. Gitea's Stale and Official flags are not
// carried: the gate compares CommitSHA with the head itself.
func (c *Client) Reviews(ctx context.Context, repo string, number int64) ([]forge.Review, error) {
	what := fmt.Sprintf("reading the reviews of pull request %s!%d", repo, number)
	rs, err := c.reviews(ctx, what, repo, number)
	if err != nil {
		return nil, err
	}
	return latestVerdicts(rs), nil
}

func (c *Client) reviews(ctx context.Context, what, repo string, number int64) ([]*sdk.PullReview, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	api := c.api(ctx)
	rs, resp, err := all(func(lo sdk.ListOptions) ([]*sdk.PullReview, *sdk.Response, error) {
		return api.ListPullReviews(owner, name, number, sdk.ListPullReviewsOptions{ListOptions: lo})
	})
	if err != nil {
		return nil, failed(what, resp, err)
	}
	slices.SortStableFunc(rs, func(a, b *sdk.PullReview) int { return cmp.Compare(a.ID, b.ID) })
	return rs, nil
}

// latestVerdicts keeps, per reviewer, the latest approval or request for
// changes unless it was dismissed. rs is in submission order.
func latestVerdicts(rs []*sdk.PullReview) []forge.Review {
	latest := map[int64]*sdk.PullReview{}
	var order []int64
	for _, r := range rs {
		if r == nil || r.Reviewer == nil {
			continue // a team review request
		}
		if r.State != sdk.ReviewStateApproved && r.State != sdk.ReviewStateRequestChanges {
			continue
		}
		if _, seen := latest[r.Reviewer.ID]; !seen {
			order = append(order, r.Reviewer.ID)
		}
		latest[r.Reviewer.ID] = r
	}
	var out []forge.Review
	for _, id := range order {
		r := latest[id]
		if r.Dismissed {
			continue
		}
		state := forge.ReviewApproved
		if r.State == sdk.ReviewStateRequestChanges {
			state = forge.ReviewChangesRequested
		}
		out = append(out, forge.Review{User: user(r.Reviewer), State: state, CommitSHA: r.CommitID, At: r.Submitted})
	}
	return out
}

// Committers returns the users Gitea links to the pull request's commits:
// those whose email (primary, or another activated one) is a commit's
// author or committer email. Gitea does the matching and answers nil for
// an email no user has, so such a commit adds nobody.
func (c *Client) Committers(ctx context.Context, repo string, number int64) ([]string, error) {
	what := fmt.Sprintf("reading the commits of pull request %s!%d", repo, number)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	api := c.api(ctx)
	cs, resp, err := all(func(lo sdk.ListOptions) ([]*sdk.Commit, *sdk.Response, error) {
		return api.ListPullRequestCommits(owner, name, number, sdk.ListPullRequestCommitsOptions{ListOptions: lo})
	})
	if err != nil {
		return nil, failed(what, resp, err)
	}
	return commitUsers(cs), nil
}

// commitUsers lists the logins of the commits' authors and committers,
// each once (logins compared without regard to case), in order of first
// appearance.
func commitUsers(cs []*sdk.Commit) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range cs {
		if c == nil {
			continue
		}
		for _, u := range []*sdk.User{c.Author, c.Committer} {
			if u == nil || u.UserName == "" || seen[strings.ToLower(u.UserName)] {
				continue
			}
			seen[strings.ToLower(u.UserName)] = true
			out = append(out, u.UserName)
		}
	}
	return out
}

// UnresolvedThreads counts the code conversations not marked resolved.
// Gitea groups a pull request's review comments into a conversation per
// file and line (old or new side), across reviews, and keeps the resolved
// mark on the conversation's first comment; outdated conversations count
// too, as on GitLab. Comments of pending (unsubmitted) reviews do not.
// Plain comments on the pull request are not threads.
func (c *Client) UnresolvedThreads(ctx context.Context, repo string, number int64) (int, error) {
	what := fmt.Sprintf("counting the unresolved conversations of pull request %s!%d", repo, number)
	rs, err := c.reviews(ctx, what, repo, number)
	if err != nil {
		return 0, err
	}
	owner, name, _ := splitRepo(repo)
	api := c.api(ctx)
	var comments []*sdk.PullReviewComment
	for _, r := range rs {
		if r.State == sdk.ReviewStatePending || r.CodeCommentsCount == 0 {
			continue
		}
		cs, resp, err := api.ListPullReviewComments(owner, name, number, r.ID)
		if err != nil {
			return 0, failed(fmt.Sprintf("%s: reading review %d", what, r.ID), resp, err)
		}
		comments = append(comments, cs...)
	}
	return unresolved(comments), nil
}

// unresolved counts the conversations whose first comment has no resolver.
func unresolved(cs []*sdk.PullReviewComment) int {
	type spot struct {
		path string
		line int64 // negative on the old side
	}
	first := map[spot]*sdk.PullReviewComment{}
	for _, c := range cs {
		if c == nil {
			continue
		}
		line := int64(c.LineNum)
		if line == 0 {
			line = -int64(c.OldLineNum)
		}
		k := spot{c.Path, line}
		if f, ok := first[k]; !ok || earlier(c, f) {
			first[k] = c
		}
	}
	n := 0
	for _, c := range first {
		if c.Resolver == nil || c.Resolver.ID == 0 {
			n++
		}
	}
	return n
}

func earlier(a, b *sdk.PullReviewComment) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.Before(b.Created)
	}
	return a.ID < b.ID
}

// Checks lists the latest commit status of each context on sha. Gitea
// Actions report through commit statuses too. Gitea's states map as Gitea
// itself combines them: error, failure and warning fail; skipped succeeds.
func (c *Client) Checks(ctx context.Context, repo, sha string) ([]forge.Check, error) {
	what := fmt.Sprintf("reading the commit statuses of %s in %s", gitx.Short(sha), repo)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	api := c.api(ctx)
	ss, resp, err := all(func(lo sdk.ListOptions) ([]*sdk.Status, *sdk.Response, error) {
		return api.ListStatuses(owner, name, sha, sdk.ListStatusesOption{ListOptions: lo})
	})
	if err != nil {
		return nil, failed(what, resp, err)
	}
	return latestStatuses(ss), nil
}

// latestStatuses keeps the newest status of each context, in context
// order. Gitea adds a status per update, ids increasing.
func latestStatuses(ss []*sdk.Status) []forge.Check {
	latest := map[string]*sdk.Status{}
	for _, s := range ss {
		if s == nil {
			continue
		}
		if l, ok := latest[s.Context]; !ok || s.ID > l.ID {
			latest[s.Context] = s
		}
	}
	out := make([]forge.Check, 0, len(latest))
	for _, s := range latest {
		out = append(out, forge.Check{Name: s.Context, State: checkState(s.State), Description: s.Description, URL: s.TargetURL})
	}
	slices.SortFunc(out, func(a, b forge.Check) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func checkState(s sdk.StatusState) forge.CheckState {
	switch s {
	case sdk.StatusSuccess, "skipped":
		return forge.CheckSuccess
	case sdk.StatusError, sdk.StatusFailure, sdk.StatusWarning:
		return forge.CheckFailure
	default:
		return forge.CheckPending
	}
}

func statusState(s forge.CheckState) (sdk.StatusState, error) {
	switch s {
	case forge.CheckPending:
		return sdk.StatusPending, nil
	case forge.CheckSuccess:
		return sdk.StatusSuccess, nil
	case forge.CheckFailure:
		return sdk.StatusFailure, nil
	default:
		return "", fmt.Errorf("unknown check state %q", s)
	}
}
