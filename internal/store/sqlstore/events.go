package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

const eventColumns = "id, forge, delivery_id, semantic_key, kind, payload, received_at, processed_at"

func scanEvent(sc scanner) (store.Event, error) {
	var (
		e                  store.Event
		delivery, semantic sql.NullString
		received           int64
		processed          sql.NullInt64
	)
	if err := sc.Scan(&e.ID, &e.Forge, &delivery, &semantic, &e.Kind, &e.Payload, &received, &processed); err != nil {
		return store.Event{}, err
	}
	e.DeliveryID = delivery.String
	e.SemanticKey = semantic.String
	e.ReceivedAt = fromMicros(received)
	e.ProcessedAt = fromNullMicros(processed)
	return e, nil
}

// InsertEvent stores an event unless one with the same (forge, delivery id)
// or the same semantic key exists, and then returns that one. The unique
// indexes decide, so concurrent duplicates insert once: INSERT ... ON
// CONFLICT DO NOTHING waits for a concurrent insert of the same key to
// commit, and the SELECT that follows sees it. Empty keys are stored as NULL
// and never collide.
func (s *Store) InsertEvent(ctx context.Context, e store.Event) (store.Event, bool, error) {
	c := s.pool()
	e.ReceivedAt = stamp(e.ReceivedAt)
	e.ProcessedAt = nil
	// An event deleted between the two statements would leave nothing to
	// return; nothing deletes events, but retry rather than fail if it did.
	for range 3 {
		err := c.queryRow(ctx, `INSERT INTO events (forge, delivery_id, semantic_key, kind, payload, received_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
			e.Forge, nullString(e.DeliveryID), nullString(e.SemanticKey), e.Kind, e.Payload, micros(e.ReceivedAt)).Scan(&e.ID)
		if err == nil {
			return e, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return store.Event{}, false, fmt.Errorf("storing %s event %s: %w", e.Forge, e.DeliveryID, err)
		}
		existing, err := s.FindEvent(ctx, e.Forge, e.DeliveryID, e.SemanticKey)
		if err == nil {
			return existing, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Event{}, false, err
		}
	}
	return store.Event{}, false, fmt.Errorf("storing %s event %s: duplicate of an event that vanished", e.Forge, e.DeliveryID)
}

// FindEvent returns the first event with the delivery id of that forge, or
// with the semantic key: the one InsertEvent would take a new event with
// those keys for a duplicate of. Empty keys match nothing.
func (s *Store) FindEvent(ctx context.Context, forge, deliveryID, semanticKey string) (store.Event, error) {
	e, err := scanEvent(s.pool().queryRow(ctx, "SELECT "+eventColumns+` FROM events
		WHERE (forge = ? AND delivery_id = ?) OR semantic_key = ? ORDER BY id LIMIT 1`,
		forge, nullString(deliveryID), nullString(semanticKey)))
	if err != nil {
		return store.Event{}, fmt.Errorf("looking for the event %s %s: %w", forge, deliveryID, notFound(err))
	}
	return e, nil
}

// GetEvent returns an event, or ErrNotFound.
func (s *Store) GetEvent(ctx context.Context, id int64) (store.Event, error) {
	e, err := scanEvent(s.pool().queryRow(ctx, "SELECT "+eventColumns+" FROM events WHERE id = ?", id))
	if err != nil {
		return store.Event{}, fmt.Errorf("getting event %d: %w", id, notFound(err))
	}
	return e, nil
}

// MarkEventProcessed records that an event's work is queued. Marking it
// again keeps the first time.
func (s *Store) MarkEventProcessed(ctx context.Context, id int64) error {
	c := s.pool()
	n, err := c.execN(ctx, "UPDATE events SET processed_at = ? WHERE id = ? AND processed_at IS NULL", micros(now()), id)
	if err == nil && n == 0 {
		var one int
		err = notFound(c.queryRow(ctx, "SELECT 1 FROM events WHERE id = ?", id).Scan(&one))
	}
	if err != nil {
		return fmt.Errorf("marking event %d processed: %w", id, err)
	}
	return nil
}

// PendingEvents returns unprocessed events received before the cutoff,
// oldest first, at most limit (0: all).
func (s *Store) PendingEvents(ctx context.Context, before time.Time, limit int) ([]store.Event, error) {
	rows, err := s.pool().query(ctx, "SELECT "+eventColumns+` FROM events
		WHERE processed_at IS NULL AND received_at < ? ORDER BY received_at, id`+limitClause(limit), micros(before))
	events, err := collect(rows, err, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("listing pending events: %w", err)
	}
	return events, nil
}

// pruneBatch is how many events one DELETE removes, so that pruning a
// long history never holds the write lock for long.
const pruneBatch = 1000

// DeleteProcessedEvents deletes, a batch at a time, the events processed
// before cutoff (events_processed finds them).
func (s *Store) DeleteProcessedEvents(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := s.pool().execN(ctx, `DELETE FROM events WHERE id IN (SELECT id FROM events
			WHERE processed_at IS NOT NULL AND processed_at < ? ORDER BY processed_at LIMIT ?)`, micros(before), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("deleting events processed before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
