package gitlab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
)

// Access levels of GitLab roles.
const (
	accessDeveloper  = 30
	accessMaintainer = 40
	accessAdmin      = 60
)

func mrRef(repo string, number int64) string { return fmt.Sprintf("%s!%d", repo, number) }

// getMergeRequest is GET /projects/:id/merge_requests/:iid.
func (c *Client) getMergeRequest(ctx context.Context, repo string, number int64) (*gl.MergeRequest, error) {
	return fetch(ctx, c, "getting merge request "+mrRef(repo, number), true, func(o ...gl.RequestOptionFunc) (*gl.MergeRequest, *gl.Response, error) {
		return c.gl.MergeRequests.GetMergeRequest(repo, number, nil, o...)
	})
}

// branchTip is the commit a branch points at; what names the call.
func (c *Client) branchTip(ctx context.Context, what, repo, branch string) (string, error) {
	b, err := fetch(ctx, c, what, true, func(o ...gl.RequestOptionFunc) (*gl.Branch, *gl.Response, error) {
		return c.gl.Branches.GetBranch(repo, branch, o...)
	})
	if err != nil {
		return "", err
	}
	if b.Commit == nil || b.Commit.ID == "" {
		return "", fmt.Errorf("gitlab: %s: the branch has no commit", what)
	}
	return b.Commit.ID, nil
}

// GetMR reads a merge request. HeadSHA is its sha (the source branch's
// latest commit); BaseSHA the current tip of the target branch, read from
// the branches API (diff_refs.base_sha is the merge base, not the tip).
// Draft is draft or, from older GitLab, work_in_progress. An open merge
// request whose source branch is gone has no head: forge.ErrNotFound.
func (c *Client) GetMR(ctx context.Context, repo string, number int64) (*forge.MergeRequest, error) {
	mr, err := c.getMergeRequest(ctx, repo, number)
	if err != nil {
		return nil, err
	}
	out := &forge.MergeRequest{
		Repo:     repo,
		Number:   mr.IID,
		Title:    mr.Title,
		Body:     mr.Description,
		Author:   basicUser(mr.Author),
		Draft:    mr.Draft || mr.WorkInProgress,
		HeadSHA:  mr.SHA,
		HeadRef:  mr.SourceBranch,
		BaseRef:  mr.TargetBranch,
		FromFork: mr.SourceProjectID != mr.TargetProjectID,
		WebURL:   mr.WebURL,
	}
	switch mr.State {
	case "merged":
		out.State = forge.MRMerged
		// A fast-forward merge makes no merge commit: the head lands as is.
		out.MergeSHA = cmp.Or(mr.MergeCommitSHA, mr.SquashCommitSHA, mr.SHA)
		if u := cmp.Or(mr.MergeUser, mr.MergedBy); u != nil {
			by := basicUser(u)
			out.MergedBy = &by
		}
	case "closed":
		out.State = forge.MRClosed
	default: // opened, locked (a merge in progress)
		out.State = forge.MROpen
	}
	if out.State == forge.MROpen && out.HeadSHA == "" {
		return nil, fmt.Errorf("gitlab: merge request %s has no head commit (detailed_merge_status %q): its source branch %q was deleted: %w",
			mrRef(repo, number), mr.DetailedMergeStatus, mr.SourceBranch, forge.ErrNotFound)
	}
	base, err := c.branchTip(ctx, fmt.Sprintf("getting the target branch %q of merge request %s", mr.TargetBranch, mrRef(repo, number)), repo, mr.TargetBranch)
	switch {
	case err == nil:
		out.BaseSHA = base
	case errors.Is(err, forge.ErrNotFound) && out.State != forge.MROpen:
		// A finished merge request whose target branch was deleted since:
		// the target's tip when its diff was last computed.
		out.BaseSHA = mr.DiffRefs.StartSha
	default:
		return nil, err
	}
	return out, nil
}

// Committers is nil: GitLab's merge request commits carry only the author
// and committer emails, which a token without administrator rights cannot
// reliably map to users (GitLab finds a user by email only when the user
// made that email public). GitLab enforces this itself: its merge request
// approval setting "Prevent approvals by users who add commits" (Settings >
// Merge requests > Merge request approvals > Approval settings; Premium and
// Ultimate) refuses the approvals of users who committed to the merge
// request, so they never reach Reviews. See docs/forges/gitlab.md.
func (c *Client) Committers(ctx context.Context, repo string, number int64) ([]string, error) {
	return nil, nil
}

// approvalsAnswer is GET /projects/:id/merge_requests/:iid/approvals, read
// directly: the client's type drops approved_at.
type approvalsAnswer struct {
	Approved          bool  `json:"approved"`
	ApprovalsRequired int64 `json:"approvals_required"`
	ApprovalsLeft     int64 `json:"approvals_left"`
	ApprovedBy        []struct {
		User       *gl.BasicUser `json:"user"`
		ApprovedAt *time.Time    `json:"approved_at"`
	} `json:"approved_by"`
}

func (c *Client) approvals(ctx context.Context, repo string, number int64) (*approvalsAnswer, error) {
	path := fmt.Sprintf("projects/%s/merge_requests/%d/approvals", gl.PathEscape(repo), number)
	return getJSON[approvalsAnswer](ctx, c, "getting the approvals of merge request "+mrRef(repo, number), path)
}

// getJSON is GET path (under /api/v4) decoded into a T of the adapter's
// own, for what the client's types drop or cannot tell missing.
func getJSON[T any](ctx context.Context, c *Client, what, path string) (*T, error) {
	return fetch(ctx, c, what, true, func(o ...gl.RequestOptionFunc) (*T, *gl.Response, error) {
		req, err := c.gl.NewRequest(http.MethodGet, path, nil, o)
		if err != nil {
			return nil, nil, err
		}
		v := new(T) // a fresh one per attempt
		resp, err := c.gl.Do(req, v)
		return v, resp, err
	})
}

// Reviews returns who approved the merge request (GET .../approvals,
// approved_by: every approval, whether or not it satisfies a rule) and
// which reviewers requested changes (GET .../reviewers, state
// "requested_changes"; a GitLab without "Request changes" answers no
// reviewer in that state, and one without the endpoint a 404, taken as no
// reviewers). A reviewer who requested changes is
// reported so even if an approval of theirs is still recorded: GitLab
// sets the reviewer state to "approved" when they approve again. GitLab
// does not say at which commit an approval was given: CommitSHA is "".
func (c *Client) Reviews(ctx context.Context, repo string, number int64) ([]forge.Review, error) {
	a, err := c.approvals(ctx, repo, number)
	if err != nil {
		return nil, err
	}
	byUser := map[int64]forge.Review{}
	untimed := false
	for _, ab := range a.ApprovedBy {
		if ab.User == nil {
			continue
		}
		r := forge.Review{User: basicUser(ab.User), State: forge.ReviewApproved}
		if ab.ApprovedAt != nil {
			r.At = *ab.ApprovedAt
		} else {
			untimed = true
		}
		byUser[r.User.ID] = r
	}
	if untimed {
		// GitLab before 18 does not say when an approval was given; the
		// system note it writes ("approved this merge request") does.
		if err := c.approvalTimes(ctx, repo, number, byUser); err != nil {
			return nil, err
		}
	}
	reviewers, err := fetch(ctx, c, "listing the reviewers of merge request "+mrRef(repo, number), true, func(o ...gl.RequestOptionFunc) ([]*gl.MergeRequestReviewer, *gl.Response, error) {
		return c.gl.MergeRequests.GetMergeRequestReviewers(repo, number, o...)
	})
	// The merge request exists (its approvals were just read): a 404 here
	// is a GitLab without the reviewers endpoint.
	if err != nil && !errors.Is(err, forge.ErrNotFound) {
		return nil, err
	}
	for _, rv := range reviewers {
		if rv.User == nil || rv.State != "requested_changes" {
			continue
		}
		r := forge.Review{User: basicUser(rv.User), State: forge.ReviewChangesRequested}
		if rv.CreatedAt != nil {
			r.At = *rv.CreatedAt
		}
		byUser[r.User.ID] = r
	}
	out := make([]forge.Review, 0, len(byUser))
	for _, r := range byUser {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b forge.Review) int { return cmp.Compare(a.User.Login, b.User.Login) })
	return out, nil
}

// approvalTimes sets the time of each approval in byUser that has none from
// the latest "approved this merge request" system note of its user. One
// without such a note keeps no time, and the gate does not count it.
func (c *Client) approvalTimes(ctx context.Context, repo string, number int64, byUser map[int64]forge.Review) error {
	notes, err := c.notes(ctx, repo, number)
	if err != nil {
		return err
	}
	for _, n := range notes {
		if n == nil || !n.System || n.Author.ID == 0 || n.CreatedAt == nil ||
			!strings.EqualFold(strings.TrimSpace(n.Body), "approved this merge request") {
			continue
		}
		r, ok := byUser[n.Author.ID]
		if ok && r.State == forge.ReviewApproved && n.CreatedAt.After(r.At) {
			r.At = *n.CreatedAt
			byUser[n.Author.ID] = r
		}
	}
	return nil
}

// blockingAnswer is what UnresolvedThreads reads of GET
// /projects/:id/merge_requests/:iid, directly: the client's type cannot
// tell a false blocking_discussions_resolved from a missing one, which
// older GitLab does not send (GitLab 11's answers have none: the field
// came with gitlab-org/gitlab#30161).
type blockingAnswer struct {
	BlockingDiscussionsResolved *bool `json:"blocking_discussions_resolved"`
}

// UnresolvedThreads counts the merge request's discussions that hold a
// resolvable note and are not resolved (a discussion is resolved when all
// its resolvable notes are). When that finds none but GitLab says
// blocking_discussions_resolved is false (threads the token cannot see),
// it answers 1 so the gate still holds; a GitLab that does not say (older
// versions) is not taken to say false: the discussions are the answer.
func (c *Client) UnresolvedThreads(ctx context.Context, repo string, number int64) (int, error) {
	mr, err := getJSON[blockingAnswer](ctx, c, "getting merge request "+mrRef(repo, number),
		fmt.Sprintf("projects/%s/merge_requests/%d", gl.PathEscape(repo), number))
	if err != nil {
		return 0, err
	}
	ds, err := collect(ctx, c, "listing the discussions of merge request "+mrRef(repo, number), func(o ...gl.RequestOptionFunc) ([]*gl.Discussion, *gl.Response, error) {
		return c.gl.Discussions.ListMergeRequestDiscussions(repo, number, &gl.ListMergeRequestDiscussionsOptions{ListOptions: listOptions()}, o...)
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range ds {
		resolvable, resolved := false, true
		for _, note := range d.Notes {
			if note != nil && note.Resolvable {
				resolvable = true
				resolved = resolved && note.Resolved
			}
		}
		if resolvable && !resolved {
			n++
		}
	}
	if n == 0 && mr.BlockingDiscussionsResolved != nil && !*mr.BlockingDiscussionsResolved {
		n = 1
	}
	return n, nil
}

// Checks lists the pipelines whose sha is sha (the newest per source and
// name) and the commit statuses on sha (the latest per name: external
// statuses such as Sluice's own, and the CI jobs, which GitLab reports as
// statuses too). A pipeline on a merged-results or merge-train ref has
// another sha; MRChecks adds it. A pipeline that holds one of Sluice's
// own statuses is left out (see checks).
func (c *Client) Checks(ctx context.Context, repo, sha string) ([]forge.Check, error) {
	out, _, err := c.checks(ctx, repo, sha)
	return out, err
}

// checks is Checks, and the pipelines that hold one of Sluice's own
// statuses. GitLab adds a commit status to the latest pipeline of its
// commit, or makes an external pipeline for it, and a pipeline fails or
// waits while any of its jobs does: judged by its own status, a pipeline
// holding sluice/gate would hold the gate that holds it, for good. Its
// other jobs are among the statuses listed (every status, so that a
// pipeline holding an older one of Sluice's is known too), and count as
// checks of their own.
func (c *Client) checks(ctx context.Context, repo, sha string) ([]forge.Check, map[int64]bool, error) {
	pipelines, err := collect(ctx, c, fmt.Sprintf("listing the pipelines of %s at %s", repo, gitx.Short(sha)), func(o ...gl.RequestOptionFunc) ([]*gl.PipelineInfo, *gl.Response, error) {
		return c.gl.Pipelines.ListProjectPipelines(repo, &gl.ListProjectPipelinesOptions{
			ListOptions: listOptions(),
			SHA:         gl.Ptr(sha),
			OrderBy:     gl.Ptr("id"),
			Sort:        gl.Ptr("desc"),
		}, o...)
	})
	if err != nil {
		return nil, nil, err
	}
	statuses, err := collect(ctx, c, fmt.Sprintf("listing the commit statuses of %s at %s", repo, gitx.Short(sha)), func(o ...gl.RequestOptionFunc) ([]*gl.CommitStatus, *gl.Response, error) {
		return c.gl.Commits.GetCommitStatuses(repo, sha, &gl.GetCommitStatusesOptions{ListOptions: listOptions(), All: gl.Ptr(true)}, o...)
	})
	if err != nil {
		return nil, nil, err
	}
	own := map[int64]bool{}
	for _, s := range statuses {
		if s != nil && s.PipelineID != 0 && forge.OwnCheck(s.Name) {
			own[s.PipelineID] = true
		}
	}
	var out []forge.Check
	seen := map[string]int64{} // check name → id kept
	index := map[string]int{}
	keep := func(id int64, ch forge.Check) {
		if prev, ok := seen[ch.Name]; ok {
			if prev >= id {
				return
			}
			out[index[ch.Name]] = ch
			seen[ch.Name] = id
			return
		}
		seen[ch.Name], index[ch.Name] = id, len(out)
		out = append(out, ch)
	}
	for _, p := range pipelines {
		if p != nil && p.SHA == sha && !own[p.ID] {
			keep(p.ID, pipelineCheck(p.Name, p.Source, p.Status, p.WebURL))
		}
	}
	for _, s := range statuses {
		if s != nil {
			keep(s.ID, statusCheck(s))
		}
	}
	return out, own, nil
}

// MRChecks is Checks on the merge request's head, plus its head pipeline
// ("head pipeline"): the pipeline GitLab's "Pipelines must succeed" looks
// at, which for merged results pipelines and merge trains runs on a merge
// commit, not on the head.
func (c *Client) MRChecks(ctx context.Context, repo string, number int64) ([]forge.Check, error) {
	mr, err := c.getMergeRequest(ctx, repo, number)
	if err != nil {
		return nil, err
	}
	checks, own, err := c.checks(ctx, repo, mr.SHA)
	if err != nil {
		return nil, err
	}
	if p := mr.HeadPipeline; p != nil && !own[p.ID] {
		ch := pipelineCheck("", string(p.Source), p.Status, p.WebURL)
		ch.Name = "head pipeline"
		checks = append(checks, ch)
	}
	return checks, nil
}

// pipelineCheck names a pipeline "pipeline (<source>)", or
// "pipeline: <name> (<source>)" when it has a name.
func pipelineCheck(name, source, status, url string) forge.Check {
	n := "pipeline"
	if name != "" {
		n += ": " + name
	}
	if source != "" {
		n += " (" + source + ")"
	}
	return forge.Check{Name: n, State: pipelineState(status), Description: status, URL: url}
}

// pipelineState maps a pipeline status. A skipped pipeline is a failure,
// as for "Pipelines must succeed" unless the project considers skipped
// pipelines successful; a manual one (waiting for someone to play a
// blocking job) is pending.
func pipelineState(status string) forge.CheckState {
	switch status {
	case "success":
		return forge.CheckSuccess
	case "failed", "canceled", "skipped":
		return forge.CheckFailure
	}
	return forge.CheckPending // created, waiting_for_resource, preparing, pending, running, scheduled, manual
}

// statusCheck maps a commit status (or CI job): a failure that is allowed
// to fail, a skipped job and a manual job that may be skipped do not hold
// the merge request.
func statusCheck(s *gl.CommitStatus) forge.Check {
	ch := forge.Check{Name: s.Name, Description: s.Description, URL: s.TargetURL}
	switch s.Status {
	case "success":
		ch.State = forge.CheckSuccess
	case "failed", "canceled":
		ch.State = forge.CheckFailure
		if s.AllowFailure {
			ch.State = forge.CheckSuccess
			ch.Description = cmp.Or(ch.Description, s.Status+" (allowed to fail)")
		}
	case "skipped":
		ch.State = forge.CheckSuccess
	case "manual":
		ch.State = forge.CheckPending
		if s.AllowFailure {
			ch.State = forge.CheckSuccess
		}
	default:
		ch.State = forge.CheckPending
	}
	if ch.Description == "" {
		ch.Description = s.Status
	}
	return ch
}

// Permission maps the user's effective role on the project (see
// accessLevel: GET /projects/:id/members/all/:user_id after looking the
// user id up by username, and the project's shares when that answers less
// than Developer): Owner and Maintainer are admin, Developer write,
// Reporter, Planner and Guest read, no membership none. Instance administrators who
// are not members have no membership to read, and are none. An unknown
// user is forge.ErrNotFound.
func (c *Client) Permission(ctx context.Context, repo, login string) (forge.Permission, error) {
	u, err := c.userByLogin(ctx, login)
	if err != nil {
		return forge.PermNone, err
	}
	level, err := c.accessLevel(ctx, repo, u.ID)
	if err != nil {
		return forge.PermNone, err
	}
	return permission(level), nil
}

func permission(level gl.AccessLevelValue) forge.Permission {
	switch {
	case level >= accessMaintainer:
		return forge.PermAdmin
	case level >= accessDeveloper:
		return forge.PermWrite
	case level >= gl.GuestPermissions:
		return forge.PermRead
	}
	return forge.PermNone
}

// CanMerge says whether login may merge into branch, as GitLab decides it
// from the protected branches matching branch (exact names and wildcards)
// and the user's role: on an unprotected branch, Developers and above;
// on a protected one, anyone any matching rule's "Allowed to merge" lets
// in (the most permissive rule wins): a role (Developer, Maintainer; "No
// one" lets nobody; the Administrator entry only instance administrators,
// whom the API does not show, so never), a user, or a group the user is
// a member of. User and group entries also need the Developer role on the
// project, as GitLab requires.
func (c *Client) CanMerge(ctx context.Context, repo, login, branch string) (bool, error) {
	u, err := c.userByLogin(ctx, login)
	if err != nil {
		return false, err
	}
	level, err := c.accessLevel(ctx, repo, u.ID)
	if err != nil {
		return false, err
	}
	rules, err := collect(ctx, c, "listing the protected branches of "+repo, func(o ...gl.RequestOptionFunc) ([]*gl.ProtectedBranch, *gl.Response, error) {
		return c.gl.ProtectedBranches.ListProtectedBranches(repo, &gl.ListProtectedBranchesOptions{ListOptions: listOptions()}, o...)
	})
	if err != nil {
		return false, err
	}
	var entries []*gl.BranchAccessDescription
	protected := false
	for _, r := range rules {
		if r != nil && branchMatches(r.Name, branch) {
			protected = true
			entries = append(entries, r.MergeAccessLevels...)
		}
	}
	if !protected {
		return level >= accessDeveloper, nil
	}
	for _, e := range entries {
		switch {
		case e == nil:
		case e.UserID != 0:
			if e.UserID == u.ID && level >= accessDeveloper {
				return true, nil
			}
		case e.GroupID != 0:
			if level < accessDeveloper {
				continue
			}
			in, err := c.inGroup(ctx, e.GroupID, u.ID)
			if err != nil {
				return false, err
			}
			if in {
				return true, nil
			}
		case e.AccessLevel == 0 || e.AccessLevel >= accessAdmin:
			// No one; or instance administrators only.
		case level >= e.AccessLevel:
			return true, nil
		}
	}
	return false, nil
}

// inGroup says whether the user is an active member of the group
// (directly or through its ancestors).
func (c *Client) inGroup(ctx context.Context, gid, uid int64) (bool, error) {
	m, err := fetch(ctx, c, fmt.Sprintf("getting the membership of user %d in group %d", uid, gid), true, func(o ...gl.RequestOptionFunc) (*gl.GroupMember, *gl.Response, error) {
		return c.gl.GroupMembers.GetInheritedGroupMember(gid, uid, o...)
	})
	switch {
	case errors.Is(err, forge.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return m.State == "" || m.State == "active", nil
}

// branchMatches matches a protected branch name or wildcard ("release/*",
// "*-stable": * matches any characters, / included) against a branch.
func branchMatches(pattern, branch string) bool {
	if pattern == branch {
		return true
	}
	if !strings.Contains(pattern, "*") {
		return false
	}
	parts := strings.Split(pattern, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	re, err := regexp.Compile("^" + strings.Join(parts, ".*") + "$")
	return err == nil && re.MatchString(branch)
}

// ApprovalRule is one approval rule of a merge request, as GitLab
// evaluates it.
type ApprovalRule struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Type is GitLab's rule_type: regular, code_owner, report_approver,
	// any_approver.
	Type       string       `json:"type"`
	Required   int          `json:"required"`
	ApprovedBy []forge.User `json:"approved_by"`
	// Eligible are the users who may approve for this rule.
	Eligible []forge.User `json:"eligible"`
	// Approved is GitLab's verdict on the rule.
	Approved bool `json:"approved"`
}

// ApprovalState is a merge request's approval rules and whether they are
// all satisfied.
type ApprovalState struct {
	// Approved is true when every rule is approved.
	Approved bool `json:"approved"`
	// Overwritten is true when the rules were changed on the merge request
	// (away from the project's).
	Overwritten bool           `json:"overwritten"`
	Rules       []ApprovalRule `json:"rules"`
}

// ApprovalState reads GET .../approval_state (Premium and Ultimate). A
// rule is approved when GitLab says so or when it has as many approvals
// as it requires. On GitLab Free, where that endpoint is missing (404) or
// refused (403), it falls back to GET .../approvals: one rule, "approvals",
// approved when no approval is left.
func (c *Client) ApprovalState(ctx context.Context, repo string, number int64) (*ApprovalState, error) {
	st, err := fetch(ctx, c, "getting the approval state of merge request "+mrRef(repo, number), true, func(o ...gl.RequestOptionFunc) (*gl.MergeRequestApprovalState, *gl.Response, error) {
		return c.gl.MergeRequestApprovals.GetApprovalState(repo, number, o...)
	})
	if errors.Is(err, forge.ErrNotFound) || statusOf(nil, err) == http.StatusForbidden {
		return c.approvalStateFree(ctx, repo, number)
	}
	if err != nil {
		return nil, err
	}
	out := &ApprovalState{Approved: true, Overwritten: st.ApprovalRulesOverwritten}
	for _, r := range st.Rules {
		if r == nil {
			continue
		}
		rule := ApprovalRule{ID: r.ID, Name: r.Name, Type: r.RuleType, Required: int(r.ApprovalsRequired)}
		for _, u := range r.ApprovedBy {
			rule.ApprovedBy = append(rule.ApprovedBy, basicUser(u))
		}
		for _, u := range r.EligibleApprovers {
			rule.Eligible = append(rule.Eligible, basicUser(u))
		}
		rule.Approved = r.Approved || len(rule.ApprovedBy) >= rule.Required
		out.Approved = out.Approved && rule.Approved
		out.Rules = append(out.Rules, rule)
	}
	return out, nil
}

func (c *Client) approvalStateFree(ctx context.Context, repo string, number int64) (*ApprovalState, error) {
	a, err := c.approvals(ctx, repo, number)
	if err != nil {
		return nil, err
	}
	rule := ApprovalRule{Name: "approvals", Type: "any_approver", Required: int(a.ApprovalsRequired), Approved: a.ApprovalsLeft <= 0}
	for _, ab := range a.ApprovedBy {
		if ab.User != nil {
			rule.ApprovedBy = append(rule.ApprovedBy, basicUser(ab.User))
		}
	}
	return &ApprovalState{Approved: rule.Approved, Rules: []ApprovalRule{rule}}, nil
}

// closingIssue is one entry of GET .../closes_issues: GitLab issues have
// an iid; an external tracker's (Jira) have a string id and no iid.
type closingIssue struct {
	IID int64 `json:"iid"`
}

// ClosesIssues lists the numbers (iids) of the project issues merging the
// merge request closes ("Closes #12" in its description or commits).
// Issues of an external tracker such as Jira have no number and are left
// out.
func (c *Client) ClosesIssues(ctx context.Context, repo string, number int64) ([]int64, error) {
	path := fmt.Sprintf("projects/%s/merge_requests/%d/closes_issues", gl.PathEscape(repo), number)
	issues, err := collect(ctx, c, "listing the issues merge request "+mrRef(repo, number)+" closes", func(o ...gl.RequestOptionFunc) ([]closingIssue, *gl.Response, error) {
		req, err := c.gl.NewRequest(http.MethodGet, path, &gl.ListOptions{PerPage: perPage}, o)
		if err != nil {
			return nil, nil, err
		}
		var page []closingIssue
		resp, err := c.gl.Do(req, &page)
		return page, resp, err
	})
	if err != nil {
		return nil, err
	}
	out := []int64{}
	for _, is := range issues {
		if is.IID != 0 {
			out = append(out, is.IID)
		}
	}
	return out, nil
}
