package gate

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/repoconfig"
)

// TestInForce: the base's settings are in force, never the head's, but
// for a higher approval.min; a note says where the head's differ; no base
// entry means the defaults.
func TestInForce(t *testing.T) {
	two, three := 2, 3
	base := &repoconfig.Project{Name: "prod", Approval: repoconfig.Approval{Min: &two, From: []string{"carol"}}}
	head := &repoconfig.Project{Name: "prod", Approval: repoconfig.Approval{Min: &three}, Relax: []string{repoconfig.RelaxThreads}}

	got, notes := InForce("prod", base, head, "")
	if got.Min != 3 || len(got.From) != 1 || got.From[0] != "carol" || len(got.Relax) != 0 || got.Mode != repoconfig.ApplyAfterMerge {
		t.Errorf("in force: %+v, want the base's from and relax, the head's higher min", got)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "are from the base branch's sluice.yaml") || !strings.Contains(notes[0], "higher approval.min (3)") {
		t.Errorf("notes = %q", notes)
	}

	got, notes = InForce("prod", base, base, "")
	if got.Min != 2 || len(notes) != 0 {
		t.Errorf("same settings: %+v %q, want the base's and no note", got, notes)
	}

	got, notes = InForce("prod", nil, head, "the base branch has no sluice.yaml")
	if got.Min != 3 || len(got.Relax) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "from the defaults: the base branch has no sluice.yaml") {
		t.Errorf("no base entry: %+v %q, want the defaults but the head's higher min", got, notes)
	}
	if d := SettingsOf(nil); d.Min != repoconfig.DefaultMinApprovals || d.Mode != repoconfig.DefaultApplyMode || DefaultRules().MinApprovals != d.Min {
		t.Errorf("defaults: %+v, %+v", d, DefaultRules())
	}
}

func TestModeRefusal(t *testing.T) {
	for _, tc := range []struct {
		mode          string
		onMerge, open bool
		want          string
	}{
		{repoconfig.ApplyAfterMerge, true, false, ""},
		{"", true, false, ""},
		{repoconfig.ApplyBeforeMerge, true, false, BeforeMergeWhy},
		{repoconfig.ApplyAfterMerge, false, true, AfterMergeWhy},
		{"", false, true, AfterMergeWhy},
		{repoconfig.ApplyAfterMerge, false, false, ""}, // a request on a merged merge request
		{repoconfig.ApplyBeforeMerge, false, true, ""},
	} {
		if got := ModeRefusal(tc.mode, tc.onMerge, tc.open); got != tc.want {
			t.Errorf("ModeRefusal(%q, merge %v, open %v) = %q, want %q", tc.mode, tc.onMerge, tc.open, got, tc.want)
		}
	}
}
