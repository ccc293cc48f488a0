package queue

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/riverqueue/river/rivertype"

	"github.com/sluicehq/sluice/internal/permanent"
)

// TestFailedJobsAreLogged: a job that fails says so in the log, with its
// error and whether it is tried again; River keeps errors in its own
// table only.
func TestFailedJobsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	row := &rivertype.JobRow{Attempt: 2, MaxAttempts: 25}
	if err := done(log, "event", 7, row, nil); err != nil || buf.Len() != 0 {
		t.Fatalf("a job that succeeded: %v, logged %q", err, buf.String())
	}
	if err := done(log, "event", 7, row, errors.New("make the Sluice bot user an administrator")); err == nil {
		t.Fatal("the error was lost")
	}
	if out := buf.String(); !strings.Contains(out, "tried again later") || !strings.Contains(out, "administrator") || !strings.Contains(out, "attempt=2") {
		t.Errorf("log of a transient failure: %s", out)
	}
	buf.Reset()
	_ = done(log, "plan run", 9, row, permanent.Wrap(errors.New("bad configuration")))
	if out := buf.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "for good") {
		t.Errorf("log of a permanent failure: %s", out)
	}
}
