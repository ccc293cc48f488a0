package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// pruneEvery is how often the processed events past the retention are
// deleted.
const pruneEvery = time.Hour

// eventPruner deletes the processed events older than the server's
// --event-retention, at most once every pruneEvery; unprocessed events
// stay, whatever their age, until they are carried out.
type eventPruner struct {
	store     store.Store
	retention time.Duration // 0 keeps events for ever
	log       *slog.Logger
	last      time.Time
}

// prune deletes the events processed before now minus the retention,
// unless it did within pruneEvery.
func (p *eventPruner) prune(ctx context.Context, now time.Time) {
	if p.retention <= 0 || !p.last.IsZero() && now.Sub(p.last) < pruneEvery {
		return
	}
	p.last = now
	n, err := p.store.DeleteProcessedEvents(ctx, now.Add(-p.retention))
	if err != nil {
		p.log.Warn("deleting old processed events failed; trying again in an hour", "err", err)
		return
	}
	if n > 0 {
		p.log.Info("deleted processed events past the retention", "events", n, "retention", p.retention.String())
	}
}
