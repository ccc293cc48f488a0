package flow

import (
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/store"
)

// TestPlanStatusSaysWhatTheCommentSays: the description of sluice/plan is
// the comment's summary sentence (render.PlanSummary), imports and moves
// included: it used to drop them, so a plan that only imports read "0 to
// add, 0 to change, 0 to destroy" on the commit. The longest sentence
// still fits GitHub's 140 characters, the shortest limit of the forges.
func TestPlanStatusSaysWhatTheCommentSays(t *testing.T) {
	tests := []struct {
		sum  engine.Summary
		want string
	}{
		{engine.Summary{Import: 1, Move: 1}, "1 to import, 0 to add, 0 to change, 0 to destroy, 1 to move"},
		{engine.Summary{Add: 1, Replace: 2}, "1 to add, 0 to change, 0 to destroy, 2 to replace"},
		{engine.Summary{Add: 999999, Change: 999999, Destroy: 999999, Replace: 999999, Import: 999999, Move: 999999}, ""},
	}
	for _, tt := range tests {
		st := projectState{Project: "net", PlanRun: store.Run{ID: 1, HeadSHA: "h", State: store.StateSucceeded},
			Summary: runSummary{Changes: true, Summary: tt.sum}}
		got := statusesOf(st)[0].check.Description
		want := tt.want
		if want == "" {
			want = render.PlanSummary(tt.sum)
		}
		if got != want || len(got) > 140 {
			t.Errorf("sluice/plan of %+v says %q (%d characters), want %q, at most 140", tt.sum, got, len(got), want)
		}
	}
}
