// Package audit is Sluice's append-only audit log: who did what to which
// merge request, project or lock, and when. Each entry carries the hash of
// the one before it (store.AuditEntry.PrevHash) and its own hash (Hash), so
// that Verify finds an entry edited, deleted, moved or inserted in the
// database after the fact.
//
// The chain cannot show that entries were cut off its end: the shortened log
// is a valid chain. Report.LastSeq and Report.LastHash are there to be kept
// outside the database (a ticket, a log shipper, a signed note); a later
// Verify must still reach that entry with that hash.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Appender appends entries; store.Store is one.
type Appender interface {
	AppendAudit(ctx context.Context, e store.AuditEntry, hash store.HashFunc) (store.AuditEntry, error)
}

// Source reads entries: those with Seq > afterSeq and At >= since, in Seq
// order, at most limit (0: all). store.Store is one.
type Source interface {
	AuditEntries(ctx context.Context, afterSeq int64, since time.Time, limit int) ([]store.AuditEntry, error)
}

// Store is what the Log needs of store.Store.
type Store interface {
	Appender
	Source
}

var _ Store = store.Store(nil)

// Log records audit entries.
type Log struct {
	store Store
	now   func() time.Time
}

// New returns a Log writing to s.
func New(s Store) *Log {
	return &Log{store: s, now: time.Now}
}

// Record appends an entry: actor (a forge user, or "sluice"; "" when not
// known) did action (e.g. "apply", "lock.released") to subject (e.g.
// "gitea:org/infra!42/prod"), with details marshalled to a JSON object (a
// struct or map; nil for none).
//
// Details must not contain secrets: the log is kept forever, exported and
// shown to operators, and an entry cannot be changed afterwards without
// breaking the chain. Pass identifiers, counts and outcomes, never tokens,
// keys, variables or plan contents.
func (l *Log) Record(ctx context.Context, actor, action, subject string, details any) (store.AuditEntry, error) {
	if action == "" {
		return store.AuditEntry{}, fmt.Errorf("recording audit entry by %q on %q: the action is empty", actor, subject)
	}
	e := store.AuditEntry{
		// Microseconds are what the hash covers and the stores keep.
		At:      l.now().UTC().Truncate(time.Microsecond),
		Actor:   actor,
		Action:  action,
		Subject: subject,
	}
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return store.AuditEntry{}, fmt.Errorf("recording audit entry %s on %s: marshalling details: %w", action, subject, err)
		}
		switch {
		case bytes.Equal(b, []byte("null")):
		case len(b) > 0 && b[0] == '{':
			e.Details = b
		default:
			return store.AuditEntry{}, fmt.Errorf("recording audit entry %s on %s: details must be a JSON object, got %T", action, subject, details)
		}
	}
	stored, err := l.store.AppendAudit(ctx, e, Hash)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("recording audit entry %s on %s: %w", action, subject, err)
	}
	return stored, nil
}

// Export writes the entries with At >= since (the zero time: all) to w as
// JSON lines, one entry per line in Seq order, with Details as a JSON
// object:
//
//	{"seq":1,"at":"2025-01-02T03:04:05.123456Z","actor":"alice","action":"plan.apply","subject":"gitea:org/infra!42/prod","details":{"run":7},"prev_hash":"","hash":"9f2c…"}
func Export(ctx context.Context, src Source, since time.Time, w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err := walk(ctx, src, since, exportPage, func(e store.AuditEntry) error {
		if err := enc.Encode(exported(e)); err != nil {
			return fmt.Errorf("writing entry %d: %w", e.Seq, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("exporting audit log: %w", err)
	}
	return nil
}

const exportPage = 1000

// exportedEntry is store.AuditEntry with Details as JSON rather than base64.
type exportedEntry struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Subject  string          `json:"subject"`
	Details  json.RawMessage `json:"details,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

func exported(e store.AuditEntry) exportedEntry {
	x := exportedEntry{
		Seq: e.Seq, At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Subject: e.Subject,
		PrevHash: e.PrevHash, Hash: e.Hash,
	}
	if len(e.Details) > 0 {
		if json.Valid(e.Details) {
			x.Details = compact(e.Details)
		} else {
			// Not JSON (it was altered): export the bytes as a string
			// rather than fail the export of the rest.
			x.Details, _ = json.Marshal(string(e.Details))
		}
	}
	return x
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return b
	}
	return out.Bytes()
}

// errNoProgress means a page of entries did not end past the one before, so
// paging would never end.
var errNoProgress = errors.New("the store returned a page of entries out of order")
