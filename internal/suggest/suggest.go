// Package suggest finds the word someone probably meant, for "did you
// mean" hints in error messages.
package suggest

import (
	"strings"
	"unicode/utf8"
)

// Closest returns the candidate closest to word and true, or "" and false
// when none is close. A candidate is close when its edit distance to word,
// ignoring case, is at most a third of its length (at least 1), or when it
// contains word of 3 or more letters ("tofu" for "opentofu"). Of several,
// the first with the smallest distance wins.
func Closest(word string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	lw := strings.ToLower(word)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := distance(lw, lc)
		if d > max(1, utf8.RuneCountInString(lc)/3) && !(utf8.RuneCountInString(lw) >= 3 && strings.Contains(lc, lw)) {
			continue
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best, bestDist >= 0
}

// distance is the Levenshtein distance between a and b, in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
