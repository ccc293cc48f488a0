package forge

import "strings"

// PartPrefix is how the continuation parts of marker's comment start: for
// "<!-- sluice:plan -->", part n carries "<!-- sluice:plan part n -->"
// (render.PartMarker's form).
func PartPrefix(marker string) string {
	if m, ok := strings.CutSuffix(marker, "-->"); ok {
		return strings.TrimRight(m, " ") + " part "
	}
	return marker + " part "
}

// StickyComments sorts out the comments an UpsertComment of n bodies
// finds: cs are the merge request's comments by the token's own account,
// oldest first, and body reads one's text. head is the first comment that
// contains marker (the zero C when none does); parts are the continuation
// parts after it, in order, at most n-1 of them; stale are the comments to
// delete: later ones containing marker (duplicates, from a race), parts
// with no head before them, and parts beyond n-1. isPart tells a
// continuation part by its body.
func StickyComments[C any](cs []C, body func(C) string, marker string, isPart func(string) bool, n int) (head C, parts, stale []C) {
	found := false
	for _, c := range cs {
		b := body(c)
		switch {
		case strings.Contains(b, marker) && !found:
			head, found = c, true
		case strings.Contains(b, marker):
			stale = append(stale, c)
		case isPart(b) && found:
			parts = append(parts, c)
		case isPart(b):
			stale = append(stale, c)
		}
	}
	if keep := max(n-1, 0); keep < len(parts) {
		stale = append(stale, parts[keep:]...)
		parts = parts[:keep]
	}
	return head, parts, stale
}
