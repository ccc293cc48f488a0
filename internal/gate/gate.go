// Package gate decides whether a plan may be applied: the checklist shown
// on every merge request comment and evaluated before every apply.
package gate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/repoconfig"
)

// Rules are a project's review requirements, from sluice.yaml, after the
// server's policy was applied.
type Rules struct {
	// MinApprovals is how many approvals from eligible reviewers, never
	// counting the author's own nor those of the merge request's
	// committers, are needed.
	MinApprovals int
	// From lists the logins (and group:NAME entries, matched by Groups) whose
	// approvals count; empty means anyone with write access.
	From []string
	// Owners, when set, are the only eligible approvers (from CODEOWNERS).
	Owners []string
}

// Policy is the server's say over what a repository may relax.
type Policy struct {
	// MinApprovalsFloor is the least MinApprovals a repository may ask for.
	MinApprovalsFloor int
	// MayRelax lists checks a repository's sluice.yaml may turn off:
	// threads, checks, draft.
	MayRelax []string
}

// Input is what the gate looks at.
type Input struct {
	MR      forge.MergeRequest
	Reviews []forge.Review
	// Committers are the logins that authored or committed the merge
	// request's commits, as the forge knows them (forge.MergeRequests
	// Committers): their approvals do not count, or whoever pushes a
	// commit onto someone else's merge request could approve it. Empty
	// where the forge cannot tell (GitLab, which enforces it itself).
	Committers []string
	// CommittersUnread says why the forge cannot tell the committers,
	// however often asked (forge.ErrCommitsTruncated: GitHub lists 250
	// commits of a pull request at most); "" when they were read. Any
	// approval may then be a committer's: when approvals are needed, the
	// approvals item fails and says why. (A failure to read them is not
	// this: the decision fails, and is retried.)
	CommittersUnread string
	// Threads is the number of unresolved discussion threads.
	Threads int
	// Checks are the commit's other pipelines and statuses; Sluice's own
	// (named sluice/...) are ignored.
	Checks []forge.Check
	// Actor is who asks for the apply (the commenter, or the merger) and
	// Permission their access.
	Actor      string
	Permission forge.Permission
	// ActorApproves: the actor's request counts as their approval of the
	// plan, given at Now. On a merged merge request the forge takes no
	// more approvals, so an eligible reviewer's `sluice apply` is how they
	// give one.
	ActorApproves bool
	Now           time.Time
	// NobodyAsks, when set, says why no person asks for the apply (the
	// JSON API asks, or the forge does not say who merged): Actor then
	// names who asks instead, has no right to apply and never approves,
	// and "may apply" fails saying this.
	NobodyAsks string
	// ApplyBranches are the branches Sluice applies merge requests into
	// (the repository's default branch unless the server names others).
	// A merge request into any other branch is planned, never applied:
	// anyone who may push can make a branch, and the rules come from the
	// branch a merge request merges into.
	ApplyBranches []string
	// RulesBranch is the branch the plan took its rules from (its
	// sluice.yaml and CODEOWNERS, as the forge said it was when the plan
	// ran); "" for a plan recorded before Sluice said. A plan whose rules
	// are not those of the branch the merge request now merges into (its
	// target was changed) is no longer current.
	RulesBranch string
	// PlanHead is the commit the plan was made of, PlanAt when it was
	// made. Approvals given before the plan do not count: a reviewer
	// approves what they saw.
	PlanHead string
	PlanAt   time.Time
	// Diverged lists the project's files in which what the merge brings
	// differs from what was planned. On an open merge request: the files
	// the base branch changed since the merge request's branch left it
	// (their merge base) that the planned head does not have as the base
	// has them, so merging would bring changes nobody planned, whenever the
	// base moved (before the plan or after it). On a merged one: the files
	// the merge commit has otherwise than the planned head. Any makes the
	// plan unfit to apply: the branch must be updated from the base.
	Diverged []string
	// Merged: the merge request is merged; draft and the head no longer
	// matter, what was merged does (Diverged).
	Merged bool
	// Groups maps group names to member logins, for the group:NAME entries
	// of From and Owners (see GroupsOf).
	Groups map[string][]string
	// UnreadGroups says why a group of the rules could not be read (group
	// name → reason, such as "not found"). Such a group matches nobody, and
	// the approvals item says so.
	UnreadGroups map[string]string
	// Self is the login of the account Sluice acts as ("" when the forge
	// will not say). Its approvals never count, nor those of any bot
	// (MachineAccount): whoever holds Sluice's token, or a bot's, is not a
	// reviewer.
	Self string
	// ReviewerPermissions are the approvers' access; without a From list,
	// only approvals from people with write access count. Nil: not checked.
	ReviewerPermissions map[string]forge.Permission
	// LockLost, when set, says that the merge request no longer holds
	// the project's lock (a person released it, and another merge request
	// took it): the plan must not be applied, whatever else passes, or
	// two merge requests would change the same infrastructure at once.
	LockLost string
	// Relaxed lists checks this repository turned off (already limited to
	// those the server allows).
	Relaxed []string
}

// Item is one line of the checklist.
type Item struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Waiting, on an item that fails, says it waits for people or for
	// something under way (an approval, a thread resolved, the draft made
	// ready, a check still running, the plan of a new push) rather than
	// for a change to the merge request (changes requested, a check that
	// failed, a branch behind its base).
	Waiting bool `json:"waiting,omitempty"`
}

// Result is the whole checklist.
type Result struct {
	Items []Item `json:"items"`
	// Notes say where the server's policy overrode the repository's rules.
	Notes []string `json:"notes,omitempty"`
	// Approvers are the people whose approvals counted, for the record
	// of who approved what was applied.
	Approvers []string `json:"approvers,omitempty"`
}

// OK reports whether every item passes.
func (r Result) OK() bool {
	for _, i := range r.Items {
		if !i.OK {
			return false
		}
	}
	return true
}

// Waiting reports whether every item that fails only waits (see
// Item.Waiting); false when all pass.
func (r Result) Waiting() bool {
	failing := r.Failing()
	for _, i := range failing {
		if !i.Waiting {
			return false
		}
	}
	return len(failing) > 0
}

// Failing lists the items that do not pass.
func (r Result) Failing() []Item {
	var out []Item
	for _, i := range r.Items {
		if !i.OK {
			out = append(out, i)
		}
	}
	return out
}

// Names of the checklist items.
const (
	ItemBranch     = "merges into a branch Sluice applies from"
	ItemFresh      = "plan is current"
	ItemApprovals  = "approvals"
	ItemChanges    = "no changes requested"
	ItemThreads    = "threads resolved"
	ItemChecks     = "other checks green"
	ItemDraft      = "not a draft"
	ItemDiverged   = "merges as planned"
	ItemPermission = "may apply"
	ItemLock       = "holds the project lock"
)

// Effective returns the project's rules with the server's policy applied:
// a repository cannot ask for fewer approvals than the floor, and may only
// relax what the policy lets it. It also returns a note for each setting
// the policy overrode.
func Effective(r Rules, relax []string, p Policy) (Rules, []string, []string) {
	var notes []string
	if r.MinApprovals < p.MinApprovalsFloor {
		notes = append(notes, fmt.Sprintf("sluice.yaml asks for %d approvals; the server requires at least %d", r.MinApprovals, p.MinApprovalsFloor))
		r.MinApprovals = p.MinApprovalsFloor
	}
	var allowed []string
	for _, x := range relax {
		if slices.Contains(p.MayRelax, x) {
			allowed = append(allowed, x)
		} else {
			notes = append(notes, fmt.Sprintf("sluice.yaml may not turn off %q on this server", x))
		}
	}
	return r, allowed, notes
}

// Evaluate runs every check and returns the checklist.
func Evaluate(r Rules, in Input) Result {
	in = withActorsApproval(in)
	var res Result
	add := func(name string, ok bool, detail string, args ...any) {
		res.Items = append(res.Items, Item{Name: name, OK: ok, Detail: fmt.Sprintf(detail, args...)})
	}
	// wait marks the item just added, when it fails, as one that waits.
	wait := func() {
		if it := &res.Items[len(res.Items)-1]; !it.OK {
			it.Waiting = true
		}
	}
	relaxed := func(name string) bool { return slices.Contains(in.Relaxed, name) }

	// Only merge requests into the branches Sluice applies from are
	// applied, under those branches' rules.
	if slices.Contains(in.ApplyBranches, in.MR.BaseRef) {
		add(ItemBranch, true, "%s", in.MR.BaseRef)
	} else {
		add(ItemBranch, false, "this merge request merges into %s, and Sluice applies only merge requests into %s: it is planned, never applied",
			in.MR.BaseRef, strings.Join(in.ApplyBranches, ", "))
	}

	// Shown only when it fails: the lock is the merge request's while it
	// is planned and reviewed.
	if in.LockLost != "" {
		add(ItemLock, false, "%s", in.LockLost)
	}

	// The plan must describe the code being merged, under the rules of
	// the branch it is merged into.
	switch {
	case in.PlanHead == "":
		add(ItemFresh, false, "no successful plan yet")
	case in.MR.HeadSHA != in.PlanHead && !in.Merged:
		add(ItemFresh, false, "the plan is of %s, the merge request is now at %s: a new plan is needed", gitx.Short(in.PlanHead), gitx.Short(in.MR.HeadSHA))
	case in.RulesBranch != "" && in.RulesBranch != in.MR.BaseRef:
		add(ItemFresh, false, "the plan took its rules from %s, the merge request now merges into %s: a new plan is needed", in.RulesBranch, in.MR.BaseRef)
	default:
		add(ItemFresh, true, "planned at %s", gitx.Short(in.PlanHead))
	}
	wait() // Sluice plans a new push, and a new target branch, itself

	eligible, ineligible, tooEarly := approvals(r, in)
	res.Approvers = eligible
	ok := len(eligible) >= r.MinApprovals
	var why []string
	// Fail closed: without the committers, no approval can be told from
	// a committer's.
	if in.CommittersUnread != "" {
		ok = ok && r.MinApprovals <= 0
		why = append(why, "cannot tell who pushed commits to this merge request: "+in.CommittersUnread)
	}
	if !ok && len(ineligible) > 0 {
		why = append(why, "not counted: "+strings.Join(ineligible, ", "))
	}
	if !ok && len(tooEarly) > 0 {
		why = append(why, "given before the current plan: "+strings.Join(tooEarly, ", "))
	}
	// A group that could not be read matches nobody; say so, passing or
	// not, so that nobody wonders why an approval does not count.
	for _, g := range GroupsOf(r) {
		if reason, unread := in.UnreadGroups[g]; unread {
			why = append(why, fmt.Sprintf("group:%s could not be read: %s", g, reason))
		}
	}
	detail := fmt.Sprintf("%d of %d needed%s", len(eligible), r.MinApprovals, who(eligible))
	if len(why) > 0 {
		detail += " (" + strings.Join(why, "; ") + ")"
	}
	add(ItemApprovals, ok, "%s", detail)
	if in.CommittersUnread == "" {
		wait()
	}

	var changes []string
	for _, rv := range in.Reviews {
		if rv.State == forge.ReviewChangesRequested {
			changes = append(changes, rv.User.Login)
		}
	}
	add(ItemChanges, len(changes) == 0, "%s", orNone("changes requested by ", changes))

	if relaxed(repoconfig.RelaxThreads) {
		add(ItemThreads, true, "not required by this repository")
	} else {
		add(ItemThreads, in.Threads == 0, "%d unresolved", in.Threads)
		wait()
	}

	if relaxed(repoconfig.RelaxChecks) {
		add(ItemChecks, true, "not required by this repository")
	} else {
		var bad, pending []string
		others := 0
		for _, c := range in.Checks {
			if forge.OwnCheck(c.Name) {
				continue
			}
			others++
			switch c.State {
			case forge.CheckFailure:
				bad = append(bad, c.Name)
			case forge.CheckPending:
				pending = append(pending, c.Name)
			}
		}
		switch {
		case len(bad) > 0:
			add(ItemChecks, false, "failed: %s", strings.Join(bad, ", "))
		case len(pending) > 0:
			add(ItemChecks, false, "still running: %s", strings.Join(pending, ", "))
			wait()
		default:
			add(ItemChecks, true, "%d green", others)
		}
	}

	switch {
	case relaxed(repoconfig.RelaxDraft) || in.Merged:
	default:
		add(ItemDraft, !in.MR.Draft, "%s", map[bool]string{true: "the merge request is a draft", false: "ready for review"}[in.MR.Draft])
		wait()
	}

	// What is applied is the plan of the head; what is merged is the head
	// with what the base changed meanwhile. They must be the same in the
	// project's files, or the apply would undo the base's changes (and the
	// merge leave the code unlike the infrastructure). A new plan of the
	// same head would not help: the branch must get the base's changes.
	paths := strings.Join(firstN(in.Diverged, 5), ", ")
	switch {
	case len(in.Diverged) > 0 && in.Merged:
		add(ItemDiverged, false, "the merge commit differs from the planned commit %s in %s: %s had changed them, and what was merged is not what was planned",
			gitx.Short(in.PlanHead), paths, in.MR.BaseRef)
	case len(in.Diverged) > 0:
		add(ItemDiverged, false, "%s changed %s, which this branch does not have: update the branch from %s (merge %s into it, or rebase it); Sluice then plans it again",
			in.MR.BaseRef, paths, in.MR.BaseRef, in.MR.BaseRef)
	case in.Merged:
		add(ItemDiverged, true, "the merge commit has this project's files as planned")
	default:
		add(ItemDiverged, true, "the branch has every change %s made to this project's files", in.MR.BaseRef)
	}

	switch {
	case in.NobodyAsks != "":
		add(ItemPermission, false, "%s", in.NobodyAsks)
	case in.Actor != "":
		add(ItemPermission, in.Permission >= forge.PermWrite, "%s has %s access (write needed)", in.Actor, in.Permission)
	}
	return res
}

// withActorsApproval is in with the actor's request counted as their
// approval of the plan (Input.ActorApproves).
func withActorsApproval(in Input) Input {
	if !in.ActorApproves || in.Actor == "" || in.NobodyAsks != "" || in.PlanHead == "" {
		return in
	}
	in.Reviews = append(slices.Clip(in.Reviews), forge.Review{User: forge.User{Login: in.Actor}, State: forge.ReviewApproved, CommitSHA: in.PlanHead, At: in.Now})
	return in
}

// approvals sorts approvers into those that count, those that do not (the
// author, a committer, not eligible) and those given before the plan. Each person
// counts once, by their latest review (see latestReviews): a reviewer who
// approved and then asks for the apply of a merged merge request, which
// the flow reads as an approval too, is one approver, not two.
func approvals(r Rules, in Input) (eligible, ineligible, tooEarly []string) {
	allowed := eligibleSet(r, in.Groups)
	committed := map[string]bool{}
	for _, c := range in.Committers {
		committed[strings.ToLower(c)] = true
	}
	for _, rv := range latestReviews(in.Reviews) {
		if rv.State != forge.ReviewApproved {
			continue
		}
		login := rv.User.Login
		machine := MachineAccount(login, in.Self)
		switch {
		case machine != "":
			ineligible = append(ineligible, login+" ("+machine+")")
		case strings.EqualFold(login, in.MR.Author.Login):
			ineligible = append(ineligible, login+" (the author)")
		case committed[strings.ToLower(login)]:
			ineligible = append(ineligible, login+" (pushed commits to this merge request)")
		case allowed != nil && !allowed[strings.ToLower(login)]:
			ineligible = append(ineligible, login+" (not an eligible approver)")
		case allowed == nil && in.ReviewerPermissions != nil && in.ReviewerPermissions[login] < forge.PermWrite:
			ineligible = append(ineligible, login+" (no write access)")
		// An approval the forge gives neither a commit nor a time for (GitLab
		// before approved_at) may have been given on any earlier plan: it
		// does not count.
		case rv.CommitSHA == "" && rv.At.IsZero():
			tooEarly = append(tooEarly, login+" (the forge says neither when nor on which commit)")
		case rv.CommitSHA != "" && in.PlanHead != "" && rv.CommitSHA != in.PlanHead:
			tooEarly = append(tooEarly, login)
		// Compared at the forge's precision: Gitea gives review times in
		// whole seconds, so an approval 0.9 s after the plan may read as the
		// plan's own second, and counts; one a second earlier does not.
		case !rv.At.IsZero() && !in.PlanAt.IsZero() && rv.At.Before(atPrecisionOf(in.PlanAt, rv.At)):
			tooEarly = append(tooEarly, login)
		default:
			eligible = append(eligible, login)
		}
	}
	return eligible, ineligible, tooEarly
}

// atPrecisionOf is t cut to the precision of a time the forge gave: whole
// seconds when the forge gave no fraction of one (Gitea), else t.
func atPrecisionOf(t, given time.Time) time.Time {
	if given.Nanosecond() == 0 {
		return t.Truncate(time.Second)
	}
	return t
}

// MachineAccount says why login is a machine's account, not a person's:
// the account Sluice acts as (self, "" when unknown), or a bot (a GitHub
// App's "NAME[bot]"); "" for anyone else. A machine's approval never
// counts, and its `sluice ...` comments are no commands (the flow's
// byMachine): Sluice's token must not approve what Sluice applies, and
// Sluice must not answer its own replies.
func MachineAccount(login, self string) string {
	switch {
	case self != "" && strings.EqualFold(login, self):
		return "the account Sluice acts as"
	case strings.HasSuffix(strings.ToLower(login), "[bot]"):
		return "a bot"
	}
	return ""
}

// latestReviews keeps one review per person, logins compared without
// regard to case: their latest approval or request for changes (other
// reviews say neither). The latest is the one with the later time; when
// either has none, the one listed last. People keep the place of their
// first review.
func latestReviews(reviews []forge.Review) []forge.Review {
	var out []forge.Review
	index := map[string]int{}
	for _, rv := range reviews {
		if rv.State != forge.ReviewApproved && rv.State != forge.ReviewChangesRequested {
			continue
		}
		key := strings.ToLower(rv.User.Login)
		i, seen := index[key]
		switch {
		case !seen:
			index[key] = len(out)
			out = append(out, rv)
		case rv.At.IsZero() || out[i].At.IsZero() || !rv.At.Before(out[i].At):
			out[i] = rv
		}
	}
	return out
}

// eligibleFrom is the list that says who may approve: the code owners
// when there are any, else From.
func eligibleFrom(r Rules) []string {
	if len(r.Owners) > 0 {
		return r.Owners
	}
	return r.From
}

// GroupsOf lists the groups (NAME of group:NAME, once each, in order) whose
// members may approve under r: the input's Groups must hold their members.
func GroupsOf(r Rules) []string {
	var out []string
	for _, e := range eligibleFrom(r) {
		if g, ok := strings.CutPrefix(e, "group:"); ok && g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

func eligibleSet(r Rules, groups map[string][]string) map[string]bool {
	src := eligibleFrom(r)
	if len(src) == 0 {
		return nil
	}
	set := map[string]bool{}
	for _, e := range src {
		if g, ok := strings.CutPrefix(e, "group:"); ok {
			for _, m := range groups[g] {
				set[strings.ToLower(m)] = true
			}
			continue
		}
		set[strings.ToLower(strings.TrimPrefix(e, "@"))] = true
	}
	return set
}

func who(logins []string) string {
	if len(logins) == 0 {
		return ""
	}
	return ": " + strings.Join(logins, ", ")
}

func orNone(prefix string, list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return prefix + strings.Join(list, ", ")
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
