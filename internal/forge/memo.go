package forge

import (
	"context"
	"sync"
)

// memoKey is the context key of a decision's memo.
type memoKey struct{}

// memo is what adapters read for one decision.
type memo struct {
	mu   sync.Mutex
	seen map[any]any
}

// WithMemo returns a context under which Remember keeps what adapters read
// (a repository's teams, a team's members) for as long as the decision
// that made the context lasts. The caller opens one per decision and drops
// it with the decision, so nothing read here outlives it: a person removed
// from a team loses what the team gave them at the next decision.
func WithMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &memo{seen: map[any]any{}})
}

// Remember returns what read returned the first time it succeeded for key
// under ctx's memo (a key names what is read and who reads it: a
// comparable value of the adapter's own type). Without a memo it reads
// every time. Errors are not kept, so a failed read is tried again.
func Remember[T any](ctx context.Context, key any, read func() (T, error)) (T, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m == nil {
		return read()
	}
	m.mu.Lock()
	v, ok := m.seen[key]
	m.mu.Unlock()
	if ok {
		return v.(T), nil
	}
	got, err := read()
	if err != nil {
		return got, err
	}
	m.mu.Lock()
	m.seen[key] = got
	m.mu.Unlock()
	return got, nil
}
