package forge

import "strings"

// DraftTitle reports whether title starts with one of prefixes, in any
// case: how Gitea (its WORK_IN_PROGRESS_PREFIXES, "WIP:" and "[WIP]" by
// default) and GitLab before 16.3 ("Draft:", "[Draft]", "(Draft)", and
// "WIP:" or "[WIP]" before 14.0) tell a draft by its title. The adapters
// compare a title before and after an edit with it, to tell marking a
// merge request ready or draft from another edit.
func DraftTitle(title string, prefixes ...string) bool {
	for _, p := range prefixes {
		if len(title) >= len(p) && strings.EqualFold(title[:len(p)], p) {
			return true
		}
	}
	return false
}
