package flow

import (
	"context"
	"fmt"
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

	mu      sync.Mutex
	pending []store.LogLine
	// holding: lines wait in held, unredacted and unstored, until the
	// secrets to hide in them are known (setRedactor).
	holding   bool
	held      []store.LogLine
	heldBytes int
	dropped   int
	kick      chan struct{}
	done      chan struct{}
	finished  chan struct{}
	once      sync.Once
}

const logFlushEvery = 250 * time.Millisecond

func (rn runner) newLogWriter(ctx context.Context, runID int64) *logWriter {
	f := rn.f
	w := &logWriter{
		f: f, ctx: context.WithoutCancel(ctx), runID: runID, redactor: f.own(),
		kick: make(chan struct{}, 1), done: make(chan struct{}), finished: make(chan struct{}),
	}
	go w.loop()
	return w
}

// maxHeld bounds the output held back while a plan runs.
const maxHeld = 32 << 20

// Line records one line; it never blocks on the database.
func (w *logWriter) Line(stream, text string) {
	w.mu.Lock()
	if w.holding {
		if w.heldBytes+len(text) > maxHeld {
			w.dropped++
		} else {
			w.held = append(w.held, store.LogLine{Stream: stream, Text: text, At: w.f.now()})
			w.heldBytes += len(text)
		}
		w.mu.Unlock()
		return
	}
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

// hold keeps the lines that follow from being stored until setRedactor
// (or Close) says what to hide in them. A plan's secrets are known only
// once it is made, and the engine's output while planning may show them
// (a sensitive value that reaches an attribute the provider does not mark
// sensitive): stored as it came, the run log would keep what the comment
// hides.
func (w *logWriter) hold() {
	w.mu.Lock()
	w.holding = true
	w.mu.Unlock()
}

// setRedactor changes what is hidden from the lines that follow, and from
// those held.
func (w *logWriter) setRedactor(r *redact.Redactor) {
	w.mu.Lock()
	w.redactor = r
	w.releaseLocked()
	w.mu.Unlock()
}

// releaseLocked moves the held lines, redacted, to those to store.
func (w *logWriter) releaseLocked() {
	if !w.holding {
		return
	}
	for _, l := range w.held {
		l.Text = w.redactor.String(l.Text)
		w.pending = append(w.pending, l)
	}
	if w.dropped > 0 {
		w.pending = append(w.pending, store.LogLine{Stream: "sluice", At: w.f.now(),
			Text: fmt.Sprintf("sluice: %d lines of the engine's output were not kept (over %d MiB)", w.dropped, maxHeld>>20)})
	}
	w.holding, w.held, w.heldBytes, w.dropped = false, nil, 0, 0
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
	w.mu.Lock()
	w.releaseLocked()
	w.mu.Unlock()
	w.once.Do(func() { close(w.done) })
	<-w.finished
}
