package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// AppendAudit appends an entry to the hash chain. Appenders are serialised
// (one advisory lock in PostgreSQL, the write lock in SQLite), so each reads
// the true last entry. There is no way to change or delete an entry: the
// schema refuses it with triggers.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry, hash store.HashFunc) (store.AuditEntry, error) {
	if hash == nil {
		return store.AuditEntry{}, errors.New("appending audit entry: no hash function")
	}
	// Set every field to what it reads back as before hashing, so that the
	// stored entry verifies.
	e.At = stamp(e.At)
	if len(e.Details) == 0 {
		e.Details = nil
	}
	err := s.inTx(ctx, []string{auditKey}, func(c conn) error {
		var last struct {
			seq  int64
			hash string
		}
		err := c.queryRow(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&last.seq, &last.hash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading the last entry: %w", err)
		}
		e.Seq = last.seq + 1
		e.PrevHash = last.hash
		e.Hash = hash(e)
		_, err = c.exec(ctx, `INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, micros(e.At), e.Actor, e.Action, e.Subject, e.Details, e.PrevHash, e.Hash)
		return err
	})
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("appending audit entry %s %s: %w", e.Action, e.Subject, err)
	}
	return e, nil
}

// AuditEntries returns entries after afterSeq and at or after since, in
// order, at most limit (0: all).
func (s *Store) AuditEntries(ctx context.Context, afterSeq int64, since time.Time, limit int) ([]store.AuditEntry, error) {
	q := "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit WHERE seq > ?"
	args := []any{afterSeq}
	if !since.IsZero() {
		q += " AND at >= ?"
		args = append(args, micros(since))
	}
	rows, err := s.pool().query(ctx, q+" ORDER BY seq"+limitClause(limit), args...)
	entries, err := collect(rows, err, func(sc scanner) (store.AuditEntry, error) {
		var (
			e  store.AuditEntry
			at int64
		)
		err := sc.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.Details, &e.PrevHash, &e.Hash)
		e.At = fromMicros(at)
		if len(e.Details) == 0 {
			e.Details = nil
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading audit entries: %w", err)
	}
	return entries, nil
}
