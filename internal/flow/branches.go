package flow

import (
	"context"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/store"
)

// applyBranches are the branches of a forge's repository whose merge
// requests Sluice applies: the server's --apply-branches, or else the
// repository's default branch as the forge says it now. Anyone who may
// push can make a branch, and a merge request's gate rules come from the
// branch it merges into: a merge request into a branch without approval
// rules must never be applied.
func (f *Flow) applyBranches(ctx context.Context, fg forge.Forge, path string) ([]string, error) {
	if len(f.ApplyBranches) > 0 {
		return f.ApplyBranches, nil
	}
	b, err := fg.DefaultBranch(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("asking the forge for the default branch of %s, the branch Sluice applies from: %w", path, err)
	}
	return []string{b}, nil
}

// rulesCommit is the commit whose sluice.yaml and CODEOWNERS set the gate
// rules of plan run r, and the branch it is the tip of. On a forge it is
// what the forge says the merge request's target branch is now, in one
// answer, so the rules are known to be that branch's (the gate then
// applies them only while the merge request merges into it); for a plain
// git repository, the run's base commit, on no branch Sluice knows.
func (f *Flow) rulesCommit(ctx context.Context, r store.Run) (commit, branch string, err error) {
	fg, path, ok := f.forgeOf(r.Repo)
	if !ok || r.MR == 0 {
		return r.BaseSHA, "", nil
	}
	mr, err := fg.GetMR(ctx, path, r.MR)
	if err != nil {
		return "", "", fmt.Errorf("reading merge request %s for the branch its rules come from: %w", subject(r.Repo, r.MR, ""), err)
	}
	if mr.BaseSHA == "" || mr.BaseRef == "" {
		return "", "", fmt.Errorf("merge request %s: the forge names no target branch or no tip of it", subject(r.Repo, r.MR, ""))
	}
	return mr.BaseSHA, mr.BaseRef, nil
}

// mergedElsewhere handles a merge request merged into a branch Sluice does
// not apply from: nothing of it is ever applied, so it is handled as
// closed (its plans discarded, its locks released for the next merge
// requests) and a reply says why. It reports whether mr was such a merge
// request.
func (f *Flow) mergedElsewhere(ctx context.Context, fg forge.Forge, path string, mr *forge.MergeRequest) (bool, error) {
	branches, err := f.applyBranches(ctx, fg, path)
	if err != nil || slices.Contains(branches, mr.BaseRef) {
		return false, err
	}
	return true, fg.Reply(ctx, path, mr.Number, render.MergedElsewhere(mr.BaseRef, branches))
}

// intoOtherBranch reports whether plan run r is of a merge request into a
// branch Sluice does not apply from, as the forge says it now; false for a
// plain git repository.
func (f *Flow) intoOtherBranch(ctx context.Context, r store.Run) (bool, error) {
	fg, path, ok := f.forgeOf(r.Repo)
	if !ok || r.MR == 0 {
		return false, nil
	}
	mr, err := fg.GetMR(ctx, path, r.MR)
	if err != nil {
		return false, fmt.Errorf("reading merge request %s for the branch it merges into: %w", subject(r.Repo, r.MR, ""), err)
	}
	branches, err := f.applyBranches(ctx, fg, path)
	if err != nil {
		return false, err
	}
	return !slices.Contains(branches, mr.BaseRef), nil
}
