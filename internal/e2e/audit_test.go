package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlite"
)

// TestAuditTamperingIsNamed edits one audit row behind the server's back
// (dropping the append-only trigger first, as an intruder with database
// access could) and checks `sluice audit verify` names that entry.
func TestAuditTamperingIsNamed(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		r := newRepo(t, "")
		data := t.TempDir()
		env := serverEnv(t, r, data, dbURL)
		s := startServer(t, env)
		s.post("plan-1", planReq(r))
		s.waitRuns("the plan", mr1, func(rs []store.Run) bool { return count(rs, store.KindPlan, store.StateSucceeded) == 1 })
		s.post("apply-1", applyReq())
		s.waitRuns("the apply", mr1, func(rs []store.Run) bool { return count(rs, store.KindApply, store.StateSucceeded) == 1 })
		s.post("close-1", flow.Request{Action: flow.ActionClose, Repo: "infra", MR: 1, Actor: "carol", Merged: true})
		assertAudit(t, s, "plan", "apply", "mr.merged")

		out, err := verify(t, s)
		if err != nil || !strings.Contains(out, "intact") {
			t.Fatalf("verify before tampering: %v\n%s", err, out)
		}

		db := openRaw(t, data, dbURL)
		mustExec(t, db, dropTriggerSQL(dbURL))
		mustExec(t, db, `UPDATE audit SET actor = 'mallory' WHERE seq = 2`)

		out, err = verify(t, s)
		if err == nil || !strings.Contains(err.Error(), "entry #2") || !strings.Contains(err.Error(), "edited") {
			t.Fatalf("verify after editing entry 2: err=%v\n%s", err, out)
		}
	})
}

func verify(t *testing.T, s *server) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"SLUICE_API_TOKEN": s.client.Token}
	err := cli.Run(context.Background(), []string{"audit", "verify", "--server", s.url}, func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func openRaw(t *testing.T, dataDir, dbURL string) *sql.DB {
	t.Helper()
	if dbURL == "" {
		db, err := sqlite.OpenDB(context.Background(), filepath.Join(dataDir, "sluice.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { db.Close(); pool.Close() })
	return db
}

func dropTriggerSQL(dbURL string) string {
	if dbURL == "" {
		return `DROP TRIGGER audit_no_update`
	}
	return `DROP TRIGGER audit_append_only ON audit`
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
