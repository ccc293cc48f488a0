package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

// logBatch is how many lines one INSERT carries (5 parameters each, well
// under both databases' parameter limits).
const logBatch = 200

// AppendLogs numbers the lines after the run's last one and stores them.
// The run's last_log_seq is advanced in the same transaction; the UPDATE
// serialises concurrent appenders to one run (a row lock in PostgreSQL, the
// write lock in SQLite).
func (s *Store) AppendLogs(ctx context.Context, runID int64, lines []store.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	err := s.inTx(ctx, nil, func(c conn) error {
		var last int64
		err := c.queryRow(ctx, "UPDATE runs SET last_log_seq = last_log_seq + ? WHERE id = ? RETURNING last_log_seq",
			len(lines), runID).Scan(&last)
		if err != nil {
			return notFound(err)
		}
		seq := last - int64(len(lines))
		at := now()
		for chunk := range slices.Chunk(lines, logBatch) {
			args := make([]any, 0, 5*len(chunk))
			for _, l := range chunk {
				seq++
				t := at
				if !l.At.IsZero() {
					t = stamp(l.At)
				}
				args = append(args, runID, seq, l.Stream, l.Text, micros(t))
			}
			q := "INSERT INTO run_logs (run_id, seq, stream, line, at) VALUES (?, ?, ?, ?, ?)" +
				strings.Repeat(", (?, ?, ?, ?, ?)", len(chunk)-1)
			if _, err := c.exec(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending %d log lines to run %d: %w", len(lines), runID, err)
	}
	return nil
}

// Logs returns the lines of a run after afterSeq, in order.
func (s *Store) Logs(ctx context.Context, runID, afterSeq int64, limit int) ([]store.LogLine, error) {
	rows, err := s.pool().query(ctx, "SELECT seq, stream, line, at FROM run_logs WHERE run_id = ? AND seq > ? ORDER BY seq"+limitClause(limit),
		runID, afterSeq)
	lines, err := collect(rows, err, func(sc scanner) (store.LogLine, error) {
		var (
			l  store.LogLine
			at int64
		)
		err := sc.Scan(&l.Seq, &l.Stream, &l.Text, &at)
		l.At = fromMicros(at)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading logs of run %d: %w", runID, err)
	}
	return lines, nil
}
