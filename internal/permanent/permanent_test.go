package permanent

import (
	"errors"
	"fmt"
	"testing"
)

func TestWrap(t *testing.T) {
	base := errors.New("no project \"x\"")
	err := fmt.Errorf("event 3: %w", Wrap(base))
	if !Is(err) {
		t.Errorf("Is(%v) = false, want true through the wrapping", err)
	}
	if !errors.Is(err, base) {
		t.Errorf("the permanent error does not unwrap to its cause")
	}
	if err.Error() != `event 3: no project "x"` {
		t.Errorf("text %q: marking must not change it", err)
	}
	if Is(base) || Is(nil) || Is(fmt.Errorf("x: %w", base)) {
		t.Errorf("an error never marked counts as permanent")
	}
	if Wrap(nil) != nil {
		t.Errorf("Wrap(nil) is not nil")
	}
}
