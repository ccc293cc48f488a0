package postgres_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/postgres"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
	"github.com/sluicehq/sluice/internal/store/storetest"
	"github.com/sluicehq/sluice/internal/testkit/pgtest"
)

// The test binary doubles as the child process of TestLockAcrossProcesses.
const (
	childURL   = "SLUICE_STORE_LOCK_CHILD_URL"
	childFirst = "SLUICE_STORE_LOCK_CHILD_FIRST_MR"
	childCount = "SLUICE_STORE_LOCK_CHILD_COUNT"
)

func TestMain(m *testing.M) {
	if os.Getenv(childURL) != "" {
		if err := lockChild(); err != nil {
			fmt.Fprintln(os.Stderr, "lock child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	pgtest.Main(m)
}

func open(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.NewDatabase(t))
	})
}

// Stores opened at once on one database (as replicas starting together
// would) migrate it once.
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 4
	var wg sync.WaitGroup
	stores := make([]*sqlstore.Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	s := open(t, url)
	var rows, distinct int
	if err := s.DB().QueryRowContext(t.Context(), "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != distinct {
		t.Fatalf("schema_migrations has %d rows for %d versions", rows, distinct)
	}
}

// New leaves the pool to its owner (River shares it).
func TestNewSharesPool(t *testing.T) {
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := postgres.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRun(ctx, store.Run{Kind: store.KindPlan, Repo: "r", Project: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT COUNT(*) FROM runs").Scan(&n); err != nil || n != 1 {
		t.Fatalf("pool after the store closed: %d runs, %v", n, err)
	}
}

func TestOpenFails(t *testing.T) {
	missing := strings.Replace(pgtest.Start(t), "/postgres?", "/missing?", 1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, url := range []string{missing, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", "::not a url"} {
		if s, err := postgres.Open(ctx, url); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Action: "x"}, func(store.AuditEntry) string { return "h" }); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE audit SET actor = 'mallory'", "DELETE FROM audit", "TRUNCATE audit"} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
}

// lockAttempt is one AcquireLock result, as a child prints it.
type lockAttempt struct {
	MR     int64            `json:"mr"`
	Result store.LockResult `json:"result"`
	Error  string           `json:"error,omitempty"`
}

var lockKey = store.LockKey{Repo: "gitea:org/infra", Dir: "network", Workspace: "default"}

// TestLockAcrossProcesses fires 1,000 concurrent AcquireLock calls of
// distinct MRs at one project from two processes: one MR gets the lock,
// the 999 others queue at positions 1..999, each once, and the stored queue
// is in position order.
func TestLockAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	url := pgtest.NewDatabase(t)
	s := open(t, url) // migrated before the children race
	const procs, perProc = 2, 500

	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Scanner
	}
	children := make([]child, procs)
	for i := range children {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			childURL+"="+url+"&pool_max_conns=20",
			childFirst+"="+strconv.Itoa(1+i*perProc),
			childCount+"="+strconv.Itoa(perProc))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i] = child{cmd, stdin, bufio.NewScanner(stdout)}
	}
	// Each child connects, says ready and waits, so that both fire at once.
	for i, c := range children {
		if !c.stdout.Scan() || c.stdout.Text() != "ready" {
			t.Fatalf("child %d did not get ready: %q %v", i, c.stdout.Text(), c.stdout.Err())
		}
	}
	for _, c := range children {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	var attempts []lockAttempt
	for i, c := range children {
		for c.stdout.Scan() {
			var a lockAttempt
			if err := json.Unmarshal(c.stdout.Bytes(), &a); err != nil {
				t.Fatalf("child %d printed %q: %v", i, c.stdout.Text(), err)
			}
			if a.Error != "" {
				t.Errorf("child %d: MR %d: %s", i, a.MR, a.Error)
			}
			attempts = append(attempts, a)
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
	}
	if len(attempts) != procs*perProc {
		t.Fatalf("%d results, want %d", len(attempts), procs*perProc)
	}
	results := make([]store.LockResult, len(attempts))
	for i, a := range attempts {
		results[i] = a.Result
	}
	storetest.CheckLockResults(t, results)
	l, err := s.GetLock(t.Context(), lockKey)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckQueueOrder(t, l, results, func(i int) int64 { return attempts[i].MR })
	locks, err := s.ListLocks(t.Context(), lockKey.Repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 {
		t.Fatalf("ListLocks returned %d locks, want 1", len(locks))
	}
	storetest.CheckQueueOrder(t, locks[0], results, func(i int) int64 { return attempts[i].MR })
}

// lockChild is the child side of TestLockAcrossProcesses.
func lockChild() error {
	first, err := strconv.ParseInt(os.Getenv(childFirst), 10, 64)
	if err != nil {
		return err
	}
	count, err := strconv.Atoi(os.Getenv(childCount))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, os.Getenv(childURL))
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for go: %w", err)
	}
	out := make([]lockAttempt, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			mr := first + int64(i)
			res, err := s.AcquireLock(ctx, lockKey, "net", mr)
			out[i] = lockAttempt{MR: mr, Result: res}
			if err != nil {
				out[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	enc := json.NewEncoder(os.Stdout)
	var errs []error
	for _, a := range out {
		errs = append(errs, enc.Encode(a))
	}
	return errors.Join(errs...)
}

func TestLockKeysUpgrade(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	storetest.CheckLockKeysUpgrade(t, func(q string) error { _, err := pool.Exec(t.Context(), q); return err },
		filepath.Join("..", "sqlstore", "migrations", "postgres"), func() store.Store { return open(t, url) })
}
