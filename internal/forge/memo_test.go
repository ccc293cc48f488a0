package forge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
)

// TestRemember: under a memo a key is read once, until it succeeds; without
// one, and under another memo, it is read again.
func TestRemember(t *testing.T) {
	reads := 0
	fail := true
	read := func() (int, error) {
		reads++
		if fail {
			return 0, errors.New("boom")
		}
		return reads, nil
	}
	type key struct{ name string }

	ctx := forge.WithMemo(context.Background())
	if _, err := forge.Remember(ctx, key{"a"}, read); err == nil {
		t.Fatal("the failed read: no error")
	}
	fail = false
	for range 3 {
		if got, err := forge.Remember(ctx, key{"a"}, read); err != nil || got != 2 {
			t.Fatalf("Remember = %v, %v; want the second read, 2", got, err)
		}
	}
	if got, _ := forge.Remember(ctx, key{"b"}, read); got != 3 {
		t.Errorf("another key = %v, want a read of its own, 3", got)
	}
	if got, _ := forge.Remember(forge.WithMemo(context.Background()), key{"a"}, read); got != 4 {
		t.Errorf("another memo = %v, want a read of its own, 4", got)
	}
	if got, _ := forge.Remember(context.Background(), key{"a"}, read); got != 5 {
		t.Errorf("no memo = %v, want a read, 5", got)
	}
}
