package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// Dialect is the database a Store runs on. Everything that differs between
// SQLite and PostgreSQL is in this file and in the migrations.
type Dialect int

const (
	// SQLite expects a database/sql pool whose transactions begin with
	// BEGIN IMMEDIATE (modernc.org/sqlite's _txlock=immediate), so that
	// writers serialise.
	SQLite Dialect = iota + 1
	// Postgres expects a pool over pgx's stdlib driver.
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// rebind rewrites the ? placeholders of a query for the dialect. Queries in
// this package never hold a literal question mark.
func (d Dialect) rebind(query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// serialize makes the rest of tx exclusive with every other transaction
// serialised on one of the same keys, until tx ends. It must be the first
// statement of the transaction.
//
// SQLite needs nothing: its transactions begin IMMEDIATE, so all writers are
// already serialised. PostgreSQL takes a transaction-level advisory lock per
// key, in a fixed order so that two transactions taking several keys cannot
// deadlock. Under READ COMMITTED every later statement of tx sees what the
// previous holder committed.
func (d Dialect) serialize(ctx context.Context, tx *sql.Tx, keys ...string) error {
	if d != Postgres {
		return nil
	}
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, advisoryKey(k))
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", id); err != nil {
			return fmt.Errorf("taking advisory lock: %w", err)
		}
	}
	return nil
}

// advisoryKey maps a serialisation key to PostgreSQL's 64-bit advisory lock
// space. A collision only serialises two unrelated keys, never breaks them.
func advisoryKey(k string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sluice\x00" + k))
	return int64(h.Sum64())
}

// Serialisation keys.
const (
	auditKey   = "audit"
	migrateKey = "migrate"
)

func lockKey(repo, project, workspace string) string {
	return "lock\x00" + repo + "\x00" + project + "\x00" + workspace
}

func planKey(repo string, mr int64, project, workspace string) string {
	return "plan\x00" + repo + "\x00" + strconv.FormatInt(mr, 10) + "\x00" + project + "\x00" + workspace
}

// isUniqueViolation reports whether err is a unique constraint violation:
// SQLite's "UNIQUE constraint failed", PostgreSQL's SQLSTATE 23505.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return pg.SQLState() == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}
