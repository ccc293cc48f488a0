package flow

import (
	"sync"
	"testing"
	"time"
)

func TestKeyLocks(t *testing.T) {
	var (
		k       keyLocks
		mu      sync.Mutex
		inside  = map[string]int{}
		overlap bool
		wg      sync.WaitGroup
	)
	for i := range 40 {
		wg.Go(func() {
			key := []string{"a", "b"}[i%2]
			unlock := k.lock(key)
			mu.Lock()
			inside[key]++
			overlap = overlap || inside[key] > 1
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside[key]--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	if overlap {
		t.Error("two holders of one key at once")
	}
	if len(k.held) != 0 {
		t.Errorf("keys left held: %v", k.held)
	}
}
