// Package sqlite opens Sluice's store in an SQLite file (modernc.org/sqlite,
// pure Go): the embedded default for a single server.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

// driverName is the database/sql driver dsn is for.
const driverName = "sqlite"

// maxConns bounds the pool. Readers run concurrently under WAL; writers
// queue on SQLite's write lock (BEGIN IMMEDIATE, busy_timeout) whatever the
// pool size.
const maxConns = 8

// dsn returns the data source name Sluice opens path with: WAL, a 10 s busy
// timeout, foreign keys, and transactions that take the write lock when
// they begin (BEGIN IMMEDIATE), so that a read-then-write transaction never
// fails to upgrade. River's riversqlite driver opens its pool with OpenDB,
// so with the same settings.
func dsn(path string) string {
	return path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// OpenDB opens a pool on the SQLite file at path, creating the file (0600)
// and its directory (0700) when missing. It applies no migrations.
func OpenDB(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("opening SQLite database %q: give a plain file path (without ?, # or file:)", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the directory of SQLite database %s: %w", path, err)
	}
	if err := private(path); err != nil {
		return nil, err
	}
	db, err := sql.Open(driverName, dsn(path))
	if err != nil {
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := ping(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	return db, nil
}

// ping opens a first connection. Its pragmas turn a new file to WAL,
// which takes the file's exclusive lock: a process opening the same file
// at that moment gets SQLITE_BUSY at once (SQLite does not call the busy
// handler there), so a busy file is asked again, for as long as
// busy_timeout would have waited.
func ping(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Open opens the store in the SQLite file at path and brings its schema up
// to date. The store's DB method returns the pool.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	db, err := OpenDB(ctx, path)
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.Open(ctx, db, sqlstore.SQLite)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store in %s: %w", path, err)
	}
	return s, nil
}

// private makes the database file, its write-ahead log and its shared
// memory file readable by the server's user only: they hold the run logs,
// the plans and the audit log. SQLite creates a database 0644 whatever the
// umask allows, but gives the -wal and -shm files the mode of the database
// file, so the file is created here first, 0600, and files an earlier
// version left looser are tightened.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			err = os.Chmod(p, fi.Mode().Perm()&0o700)
		}
		if err != nil {
			return fmt.Errorf("making SQLite database file %s private: %w", p, err)
		}
	}
	return nil
}
