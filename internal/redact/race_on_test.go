//go:build race

package redact

// raceEnabled reports whether the race detector is on; it makes allocations
// of its own, so allocation counts do not hold.
const raceEnabled = true
