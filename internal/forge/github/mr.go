package github

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	gh "github.com/google/go-github/v84/github"

	"github.com/sluicehq/sluice/internal/forge"
)

// GetMR reads a pull request. BaseSHA is the current tip of the base
// branch (GET branch), not the pull request's base.sha, which GitHub only
// updates on pushes to the pull request.
func (c *Client) GetMR(ctx context.Context, repo string, number int64) (*forge.MergeRequest, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	pr, resp, err := c.gh.PullRequests.Get(ctx, owner, name, int(number))
	if err != nil {
		return nil, fail(resp, err, "getting pull request %s#%d", repo, number)
	}
	mr := &forge.MergeRequest{
		Repo:     repo,
		Number:   int64(pr.GetNumber()),
		Title:    pr.GetTitle(),
		Body:     pr.GetBody(),
		Author:   user(pr.GetUser()),
		Draft:    pr.GetDraft(),
		HeadSHA:  pr.GetHead().GetSHA(),
		HeadRef:  pr.GetHead().GetRef(),
		BaseRef:  pr.GetBase().GetRef(),
		FromFork: fromFork(pr),
		WebURL:   pr.GetHTMLURL(),
	}
	switch {
	case pr.GetState() == "open":
		mr.State = forge.MROpen
	case pr.GetMerged() || pr.MergedAt != nil:
		mr.State = forge.MRMerged
		// merge_commit_sha of an open pull request is GitHub's test merge,
		// never a commit on the base branch: only read it once merged.
		mr.MergeSHA = pr.GetMergeCommitSHA()
		if pr.MergedBy != nil {
			u := user(pr.MergedBy)
			mr.MergedBy = &u
		}
	default:
		mr.State = forge.MRClosed
	}
	branch, resp, err := c.gh.Repositories.GetBranch(ctx, owner, name, mr.BaseRef, 1)
	switch {
	case err == nil:
		mr.BaseSHA = branch.GetCommit().GetSHA()
	case notFound(resp, err) && mr.State != forge.MROpen:
		// The base branch of a finished pull request may be long gone.
		mr.BaseSHA = pr.GetBase().GetSHA()
	default:
		return nil, fail(resp, err, "getting base branch %s of pull request %s#%d", mr.BaseRef, repo, number)
	}
	return mr, nil
}

// Reviews returns each reviewer's latest approval or request for
// changes. A later COMMENTED review changes nothing; a DISMISSED one
// (GitHub turns a dismissed review's state into DISMISSED) leaves that
// reviewer with no standing review.
func (c *Client) Reviews(ctx context.Context, repo string, number int64) ([]forge.Review, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	rs, resp, err := all(func(lo gh.ListOptions) ([]*gh.PullRequestReview, *gh.Response, error) {
		return c.gh.PullRequests.ListReviews(ctx, owner, name, int(number), &lo)
	})
	if err != nil {
		return nil, fail(resp, err, "listing reviews of %s#%d", repo, number)
	}
	latest := map[string]forge.Review{}
	for _, r := range rs {
		if r.User == nil {
			continue
		}
		key := strings.ToLower(r.GetUser().GetLogin())
		var state forge.ReviewState
		switch r.GetState() {
		case "APPROVED":
			state = forge.ReviewApproved
		case "CHANGES_REQUESTED":
			state = forge.ReviewChangesRequested
		case "DISMISSED":
			delete(latest, key)
			continue
		default: // COMMENTED, PENDING
			continue
		}
		latest[key] = forge.Review{
			User:      user(r.GetUser()),
			State:     state,
			CommitSHA: r.GetCommitID(),
			At:        r.GetSubmittedAt().Time,
		}
	}
	out := make([]forge.Review, 0, len(latest))
	for _, r := range latest {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b forge.Review) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.User.Login, b.User.Login)
	})
	return out, nil
}

// webFlow is the account GitHub makes the committer of the commits made in
// its web interface (edits, suggestions, the "Update branch" button): it
// commits on behalf of the person who clicked, who is the author.
const webFlow = "web-flow"

// maxPullCommits is the most commits GitHub lists of a pull request.
const maxPullCommits = 250

// Committers returns the GitHub users linked to the pull request's commits
// as author or committer (GitHub matches the commit's emails to its users;
// an email nobody has verified links nobody), without web-flow. Bots, such
// as dependabot[bot], are included. GitHub lists at most 250 commits of a
// pull request: with that many, the commits after them cannot be seen, and
// Committers fails (forge.ErrCommitsTruncated) rather than answer for part
// of them.
func (c *Client) Committers(ctx context.Context, repo string, number int64) ([]string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	cs, resp, err := all(func(lo gh.ListOptions) ([]*gh.RepositoryCommit, *gh.Response, error) {
		return c.gh.PullRequests.ListCommits(ctx, owner, name, int(number), &lo)
	})
	if err != nil {
		return nil, fail(resp, err, "listing commits of %s#%d", repo, number)
	}
	if len(cs) >= maxPullCommits {
		return nil, fmt.Errorf("github: listing commits of %s#%d: %w: GitHub lists only the first %d commits of a pull request, so who wrote the others cannot be told; squash or split the pull request",
			repo, number, forge.ErrCommitsTruncated, maxPullCommits)
	}
	var out []string
	seen := map[string]bool{webFlow: true}
	for _, rc := range cs {
		for _, u := range []*gh.User{rc.GetAuthor(), rc.GetCommitter()} {
			login := u.GetLogin()
			if login == "" || seen[strings.ToLower(login)] {
				continue
			}
			seen[strings.ToLower(login)] = true
			out = append(out, login)
		}
	}
	return out, nil
}

// reviewThreadsQuery pages through a pull request's review threads. The
// REST API does not say whether a thread is resolved; GraphQL does.
const reviewThreadsQuery = `query($owner: String!, $name: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $cursor) {
        nodes { isResolved }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}`

type graphqlError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type reviewThreadsResult struct {
	Data struct {
		Repository *struct {
			PullRequest *struct {
				ReviewThreads struct {
					Nodes []struct {
						IsResolved bool `json:"isResolved"`
					} `json:"nodes"`
					PageInfo struct {
						HasNextPage bool   `json:"hasNextPage"`
						EndCursor   string `json:"endCursor"`
					} `json:"pageInfo"`
				} `json:"reviewThreads"`
			} `json:"pullRequest"`
		} `json:"repository"`
	} `json:"data"`
	Errors []graphqlError `json:"errors"`
}

// UnresolvedThreads counts the pull request's unresolved review threads
// (outdated ones included, as GitHub's "require conversation resolution"
// does), through the GraphQL API on the same client.
func (c *Client) UnresolvedThreads(ctx context.Context, repo string, number int64) (int, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	n := 0
	var cursor *string
	for page := 0; ; page++ {
		if page > 1000 {
			return 0, fmt.Errorf("github: counting review threads of %s#%d: more than 1000 pages", repo, number)
		}
		body := map[string]any{
			"query": reviewThreadsQuery,
			"variables": map[string]any{
				"owner": owner, "name": name, "number": number, "cursor": cursor,
			},
		}
		req, err := c.gh.NewRequest(http.MethodPost, c.graphqlURL, body)
		if err != nil {
			return 0, fmt.Errorf("github: counting review threads of %s#%d: %w", repo, number, err)
		}
		var out reviewThreadsResult
		resp, err := c.gh.Do(withRepo(idempotent(ctx), owner, name), req, &out)
		if err != nil {
			return 0, fail(resp, err, "counting review threads of %s#%d", repo, number)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			if e.Type == "NOT_FOUND" {
				return 0, fmt.Errorf("github: counting review threads of %s#%d: %s: %w", repo, number, e.Message, forge.ErrNotFound)
			}
			return 0, fmt.Errorf("github: counting review threads of %s#%d: GraphQL: %s", repo, number, e.Message)
		}
		if out.Data.Repository == nil || out.Data.Repository.PullRequest == nil {
			return 0, fmt.Errorf("github: counting review threads of %s#%d: %w", repo, number, forge.ErrNotFound)
		}
		threads := out.Data.Repository.PullRequest.ReviewThreads
		for _, t := range threads.Nodes {
			if !t.IsResolved {
				n++
			}
		}
		if !threads.PageInfo.HasNextPage || threads.PageInfo.EndCursor == "" {
			return n, nil
		}
		next := threads.PageInfo.EndCursor
		cursor = &next
	}
}

// Checks lists the commit statuses (the combined status, latest per
// context) and the check runs (latest per name) on sha. Check runs that
// ended neutral or skipped count as success, as in branch protection.
func (c *Client) Checks(ctx context.Context, repo, sha string) ([]forge.Check, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	statuses, resp, err := all(func(lo gh.ListOptions) ([]*gh.RepoStatus, *gh.Response, error) {
		cs, resp, err := c.gh.Repositories.GetCombinedStatus(ctx, owner, name, sha, &lo)
		if err != nil {
			return nil, resp, err
		}
		return cs.Statuses, resp, nil
	})
	if err != nil {
		return nil, fail(resp, err, "getting the statuses of %s@%s", repo, sha)
	}
	var out []forge.Check
	for _, s := range statuses {
		out = append(out, forge.Check{
			Name:        s.GetContext(),
			State:       statusState(s.GetState()),
			Description: s.GetDescription(),
			URL:         s.GetTargetURL(),
		})
	}
	runs, resp, err := all(func(lo gh.ListOptions) ([]*gh.CheckRun, *gh.Response, error) {
		rs, resp, err := c.gh.Checks.ListCheckRunsForRef(ctx, owner, name, sha, &gh.ListCheckRunsOptions{Filter: gh.Ptr("latest"), ListOptions: lo})
		if err != nil {
			return nil, resp, err
		}
		return rs.CheckRuns, resp, nil
	})
	if err != nil {
		return nil, fail(resp, err, "listing the check runs of %s@%s", repo, sha)
	}
	for _, r := range runs {
		url := r.GetHTMLURL()
		if url == "" {
			url = r.GetDetailsURL()
		}
		out = append(out, forge.Check{
			Name:        r.GetName(),
			State:       checkRunState(r.GetStatus(), r.GetConclusion()),
			Description: r.GetOutput().GetTitle(),
			URL:         url,
		})
	}
	return out, nil
}

func statusState(s string) forge.CheckState {
	switch s {
	case "success":
		return forge.CheckSuccess
	case "pending":
		return forge.CheckPending
	default: // failure, error
		return forge.CheckFailure
	}
}

func checkRunState(status, conclusion string) forge.CheckState {
	if status != "completed" {
		return forge.CheckPending // queued, in_progress, waiting, requested, pending
	}
	switch conclusion {
	case "success", "neutral", "skipped":
		return forge.CheckSuccess
	default: // failure, cancelled, timed_out, action_required, stale, startup_failure
		return forge.CheckFailure
	}
}

// Permission maps GitHub's repository role (GET
// /repos/{owner}/{repo}/collaborators/{username}/permission), which is the
// highest of the user's grants: the repository's collaborators, its teams,
// the organisation's base permission and the enterprise. role_name admin
// and maintain → PermAdmin, write → PermWrite, triage and read →
// PermRead. A custom role's name is none of those: its base role decides,
// through the legacy permission GitHub answers with it (maintain and write
// answer write, triage and read answer read), as it does on older GitHub
// Enterprise Server versions that answer no role_name. A user GitHub does
// not know (404) → PermNone.
func (c *Client) Permission(ctx context.Context, repo, login string) (forge.Permission, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return forge.PermNone, err
	}
	if login == "" {
		return forge.PermNone, nil
	}
	p, resp, err := c.gh.Repositories.GetPermissionLevel(ctx, owner, name, login)
	if err != nil {
		if status(resp) == http.StatusNotFound {
			return forge.PermNone, nil
		}
		return forge.PermNone, fail(resp, err, "getting %s's permission on %s", login, repo)
	}
	switch p.GetRoleName() {
	case "admin", "maintain":
		return forge.PermAdmin, nil
	case "write":
		return forge.PermWrite, nil
	case "triage", "read":
		return forge.PermRead, nil
	}
	switch p.GetPermission() {
	case "admin":
		return forge.PermAdmin, nil
	case "write":
		return forge.PermWrite, nil
	case "read":
		return forge.PermRead, nil
	}
	return forge.PermNone, nil
}
