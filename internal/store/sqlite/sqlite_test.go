package sqlite_test

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlite"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "sluice.db"))
	})
}

func TestPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "sluice.db"))
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000"} {
		var got string
		if err := s.DB().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestOpenCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "db")
	open(t, filepath.Join(dir, "sluice.db"))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestOpenRejectsDSNs(t *testing.T) {
	for _, p := range []string{"", "file:x.db", filepath.Join(t.TempDir(), "x.db?mode=ro")} {
		if s, err := sqlite.Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

// Stores opened at once on one file (as two processes would) migrate it
// once, and a later open finds nothing to do.
func TestConcurrentMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	const n = 4
	var wg sync.WaitGroup
	stores := make([]*sqlstore.Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = sqlite.Open(t.Context(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	s := open(t, path)
	var rows, distinct int
	if err := s.DB().QueryRowContext(t.Context(), "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != distinct {
		t.Fatalf("schema_migrations has %d rows for %d versions", rows, distinct)
	}
	// Every store works on the shared file.
	for _, s := range stores {
		if _, err := s.CreateRun(t.Context(), store.Run{Kind: store.KindPlan, Repo: "r", Project: "p"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "sluice.db"))
	ctx := t.Context()
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Action: "x"}, func(store.AuditEntry) string { return "h" }); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
}

// The database holds run logs, plans and the audit log: it and its -wal
// and -shm files are readable by the server's user only, whatever the
// umask, and files an earlier version left 0644 are tightened.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	check := func(path string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s is mode %04o, want 0600", filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := open(t, path)
	if _, err := s.DB().ExecContext(t.Context(), "CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	check(path)

	// A second pool on the same file, as River opens, finds them loose.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open(t, path)
	check(path)
}

func TestLockKeysUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	db, err := sqlite.OpenDB(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckLockKeysUpgrade(t, func(q string) error { _, err := db.ExecContext(t.Context(), q); return err },
		filepath.Join("..", "sqlstore", "migrations", "sqlite"), func() store.Store { return open(t, path) })
}
