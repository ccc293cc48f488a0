package gate

import "testing"

// TestOnlyApplyBranches: anyone who may push can make a branch, and a
// merge request takes its rules from the branch it merges into. A branch
// without approval rules, and a merge request into it, would be applied
// with no review: only merge requests into the branches Sluice applies
// from pass, and a plan whose rules came from another branch than the
// one the merge request now merges into (its target was changed) is no
// longer current.
func TestOnlyApplyBranches(t *testing.T) {
	tests := []struct {
		name          string
		base, rules   string
		applyBranches []string
		merged        bool
		item          string
		detail        string
	}{
		{name: "into the default branch", base: "main", rules: "main", applyBranches: []string{"main"}},
		{name: "into another branch the server applies from", base: "production", rules: "production", applyBranches: []string{"main", "production"}},
		{
			name: "into a branch its author made", base: "my-base", rules: "my-base", applyBranches: []string{"main"}, item: ItemBranch,
			detail: "this merge request merges into my-base, and Sluice applies only merge requests into main: it is planned, never applied",
		},
		{
			name: "merged into a branch its author made", base: "my-base", rules: "my-base", applyBranches: []string{"main"}, merged: true, item: ItemBranch,
			detail: "this merge request merges into my-base, and Sluice applies only merge requests into main: it is planned, never applied",
		},
		{
			name: "planned into my-base, then retargeted to main", base: "main", rules: "my-base", applyBranches: []string{"main"}, item: ItemFresh,
			detail: "the plan took its rules from my-base, the merge request now merges into main: a new plan is needed",
		},
		{
			name: "retargeted, then merged", base: "main", rules: "my-base", applyBranches: []string{"main"}, merged: true, item: ItemFresh,
			detail: "the plan took its rules from my-base, the merge request now merges into main: a new plan is needed",
		},
		{name: "a plan recorded before Sluice named its rules' branch", base: "main", applyBranches: []string{"main"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ready()
			in.MR.BaseRef, in.RulesBranch, in.ApplyBranches, in.Merged = tt.base, tt.rules, tt.applyBranches, tt.merged
			res := Evaluate(Rules{MinApprovals: 1}, in)
			failing := res.Failing()
			if tt.item == "" {
				if len(failing) != 0 {
					t.Fatalf("failing: %+v", failing)
				}
				return
			}
			if len(failing) != 1 || failing[0].Name != tt.item || failing[0].Detail != tt.detail {
				t.Fatalf("failing: %+v\nwant only %s: %s", failing, tt.item, tt.detail)
			}
		})
	}
}
