package flow

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/internal/store"
)

// logWriter stores a run's output as it streams: lines are redacted, then
// written in small batches so a long plan's log is readable while it runs
// and a crash loses at most the last fraction of a second.
type logWriter struct {
	f        *Flow
	ctx      context.Context
	runID    int64
	redactor *redact.Redactor

	mu       sync.Mutex
	pending  []store.LogLine
	kick     chan struct{}
	done     chan struct{}
	finished chan struct{}
	once     sync.Once
}

const logFlushEvery = 250 * time.Millisecond

func (f *Flow) newLogWriter(ctx context.Context, runID int64) *logWriter {
	w := &logWriter{
		f: f, ctx: context.WithoutCancel(ctx), runID: runID,
		kick: make(chan struct{}, 1), done: make(chan struct{}), finished: make(chan struct{}),
	}
	go w.loop()
	return w
}

// Line records one line; it never blocks on the database.
func (w *logWriter) Line(stream, text string) {
	w.mu.Lock()
	w.pending = append(w.pending, store.LogLine{Stream: stream, Text: w.redactor.String(text), At: w.f.now()})
	n := len(w.pending)
	w.mu.Unlock()
	if n >= 200 {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// setRedactor changes what is hidden from the lines that follow.
func (w *logWriter) setRedactor(r *redact.Redactor) {
	w.mu.Lock()
	w.redactor = r
	w.mu.Unlock()
}

func (w *logWriter) redact(s string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.redactor.String(s)
}

func (w *logWriter) loop() {
	defer close(w.finished)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.kick:
		case <-w.done:
			w.flush()
			return
		}
		w.flush()
	}
}

func (w *logWriter) flush() {
	w.mu.Lock()
	lines := w.pending
	w.pending = nil
	w.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	if err := w.f.Store.AppendLogs(w.ctx, w.runID, lines); err != nil {
		w.f.Log.Warn("storing run output failed; lines lost", "run", w.runID, "lines", len(lines), "err", err)
	}
}

// Close flushes what is left and waits for it; it is safe to call more
// than once.
func (w *logWriter) Close() {
	w.once.Do(func() { close(w.done) })
	<-w.finished
}
