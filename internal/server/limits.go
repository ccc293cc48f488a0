package server

import (
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// How many new deliveries a merge request, and a repository, may bring:
// token buckets of verified deliveries that are not duplicates. A person
// commenting, reviewing and pushing never comes near them; past them a
// delivery is answered 429 and not stored (see limits.allow).
const (
	mrBurst   = 20
	mrRate    = rate.Limit(1.0 / 3) // a new delivery every 3 s, after the burst
	repoBurst = 200
	repoRate  = rate.Limit(5) // per second
	// maxBuckets bounds the buckets kept; past it, the full ones (the same
	// as new) are dropped.
	maxBuckets = 10000
)

// limits keeps a token bucket per merge request and per repository, in
// this process (replicas each keep their own).
type limits struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// allow takes a token for a new delivery of repo's merge request mr from
// both its buckets, and reports whether there was one in each.
func (l *limits) allow(repo string, mr int64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*rate.Limiter{}
	}
	if len(l.buckets) >= maxBuckets {
		l.sweep(now)
	}
	mrKey := repo + "!" + strconv.FormatInt(mr, 10)
	return l.bucket(mrKey, mrRate, mrBurst).AllowN(now, 1) && l.bucket(repo, repoRate, repoBurst).AllowN(now, 1)
}

func (l *limits) bucket(key string, r rate.Limit, burst int) *rate.Limiter {
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(r, burst)
		l.buckets[key] = b
	}
	return b
}

// sweep drops the buckets that have filled up again: a new one is the
// same.
func (l *limits) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(l.buckets, k)
		}
	}
}
