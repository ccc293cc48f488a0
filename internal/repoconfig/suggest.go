package repoconfig

import closest "github.com/sluicehq/sluice/internal/suggest"

// suggest returns the candidate closest to s, for "did you mean" hints, or
// "" when none is close (see suggest.Closest).
func suggest(s string, candidates []string) string {
	c, _ := closest.Closest(s, candidates)
	return c
}
