package gate

import (
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/internal/repoconfig"
)

// Settings are a project's sluice.yaml settings that decide its gate,
// defaults filled in.
type Settings struct {
	Min        int
	From       []string
	Codeowners bool
	Mode       string
	Relax      []string
}

// SettingsOf reads them from a project's entry; nil (no entry, no
// sluice.yaml) has the defaults.
func SettingsOf(p *repoconfig.Project) Settings {
	s := Settings{Min: repoconfig.DefaultMinApprovals, Mode: repoconfig.DefaultApplyMode}
	if p == nil {
		return s
	}
	if p.Approval.Min != nil {
		s.Min = *p.Approval.Min
	}
	s.From = p.Approval.From
	s.Codeowners = p.Approval.Codeowners != nil && *p.Approval.Codeowners
	if p.Apply.Mode != "" {
		s.Mode = p.Apply.Mode
	}
	s.Relax = p.Relax
	return s
}

// Equal reports whether two projects' settings are the same.
func (s Settings) Equal(o Settings) bool {
	return s.Min == o.Min && slices.Equal(s.From, o.From) && s.Codeowners == o.Codeowners && s.Mode == o.Mode && slices.Equal(s.Relax, o.Relax)
}

// InForce returns the settings in force for project name of a merge
// request: those of the branch it merges into (base: the project's entry
// there; nil when there is none, baseWhy then saying why), never the
// merge request's own, or it would choose its own reviewers; except the
// head's approval.min when it is higher (a merge request may ask more of
// itself). Where the head's settings differ, a note says so.
func InForce(name string, base, head *repoconfig.Project, baseWhy string) (Settings, []string) {
	rules, headRules := SettingsOf(base), SettingsOf(head)
	var notes []string
	if !rules.Equal(headRules) {
		from := "the base branch's " + repoconfig.FileName
		if base == nil {
			from = "the defaults: " + baseWhy
		}
		note := fmt.Sprintf("the approval rules of %s (approval, apply.mode, relax) are from %s; this merge request changes them, and its rules take effect once it is merged", name, from)
		if headRules.Min > rules.Min {
			note += fmt.Sprintf(", except its higher approval.min (%d), which counts now", headRules.Min)
		}
		notes = append(notes, note)
	}
	rules.Min = max(rules.Min, headRules.Min)
	return rules, notes
}

// DefaultRules are the review requirements of a plan that recorded none
// (planned before Sluice recorded them).
func DefaultRules() Rules { return Rules{MinApprovals: repoconfig.DefaultMinApprovals} }

// ModeRefusal says why a project in apply mode mode is not applied by what
// asks: the merge itself (onMerge), or a request (a comment, the API) on a
// merge request still open (open). "" when the mode lets it be applied.
func ModeRefusal(mode string, onMerge, open bool) string {
	afterMerge := mode == "" || mode == repoconfig.ApplyAfterMerge
	switch {
	case onMerge && !afterMerge:
		return BeforeMergeWhy
	case !onMerge && open && afterMerge:
		return AfterMergeWhy
	}
	return ""
}

// Why a project's apply mode keeps it from being applied.
const (
	BeforeMergeWhy = "it applies before the merge (apply mode before_merge) and had not been applied"
	AfterMergeWhy  = "it is applied when the merge request is merged (apply mode after_merge), not on a comment"
)
