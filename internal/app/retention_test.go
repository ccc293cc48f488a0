package app

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlite"
)

// The pruner deletes the events processed longer ago than the retention,
// once an hour at most, never an unprocessed one, and nothing with a
// retention of 0.
func TestEventPruner(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	insert := func(delivery string, processed bool) int64 {
		e, _, err := st.InsertEvent(ctx, store.Event{Forge: "gitea", DeliveryID: delivery, Kind: "close", Payload: []byte("{}"),
			ReceivedAt: time.Now().Add(-60 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if processed {
			if err := st.MarkEventProcessed(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
		}
		return e.ID
	}
	done, pending := insert("done", true), insert("pending", false)
	var logs bytes.Buffer
	const retention = 30 * 24 * time.Hour
	p := &eventPruner{store: st, retention: retention, log: slog.New(slog.NewTextHandler(&logs, nil))}
	exists := func(id int64) bool {
		_, err := st.GetEvent(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	p.prune(ctx, time.Now()) // processed just now: kept
	if !exists(done) || !exists(pending) {
		t.Fatal("an event processed within the retention was deleted")
	}
	later := time.Now().Add(retention + time.Minute)
	p.last = later.Add(-pruneEvery + time.Minute)
	p.prune(ctx, later) // within the hour of the last pass: nothing
	if !exists(done) {
		t.Fatal("pruned twice within an hour")
	}
	p.prune(ctx, later.Add(time.Minute))
	if exists(done) || !exists(pending) {
		t.Fatalf("after the retention: processed event kept %v, unprocessed kept %v; want deleted and kept", exists(done), exists(pending))
	}
	if !strings.Contains(logs.String(), `msg="deleted processed events past the retention" events=1 retention=720h0m0s`) {
		t.Errorf("log: %s", logs.String())
	}

	forever := &eventPruner{store: st, log: slog.New(slog.DiscardHandler)}
	old := insert("old", true)
	forever.prune(ctx, time.Now().Add(100*365*24*time.Hour))
	if !exists(old) {
		t.Fatal("a retention of 0 deleted an event")
	}
}
