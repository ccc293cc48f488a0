package storetest

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

// CheckLockKeysUpgrade checks that locks taken before they were keyed by
// directory (schema version 4) survive the migration that keys them so:
// a lock, its waiter and their plan runs are keyed by the project's name
// as their directory, labelled with it, and release and pass on as
// before. exec runs SQL on the empty database; migrations is the
// dialect's migrations directory; open opens the store on it (migrating
// the rest).
func CheckLockKeysUpgrade(t *testing.T, exec func(sql string) error, migrations string, open func() store.Store) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(migrations, "000[1-4]_*.sql"))
	if err != nil || len(files) != 4 {
		t.Fatalf("migrations 1 to 4 in %s: %v, %v", migrations, files, err)
	}
	slices.Sort(files)
	must1 := func(sql string) {
		t.Helper()
		if err := exec(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	must1(`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`)
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		must1(string(b))
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		must1("INSERT INTO schema_migrations (version, name, applied_at) VALUES (" + strconv.Itoa(i+1) + ", '" + name + "', 0)")
	}
	must1(`INSERT INTO runs (kind, repo, mr, project, workspace, head_sha, base_sha, state, actor, plan_id, created_at)
		VALUES ('plan', 'r', 2, 'net', 'default', 'h', 'b', 'queued', 'bob', 0, 1)`)
	must1(`INSERT INTO locks (repo, project, workspace, mr, acquired_at) VALUES ('r', 'net', 'default', 1, 1)`)
	must1(`INSERT INTO lock_queue (repo, project, workspace, mr, enqueued_at) VALUES ('r', 'net', 'default', 2, 2)`)

	s, ctx := open(), t.Context()
	key := store.LockKey{Repo: "r", Dir: "net", Workspace: "default"}
	l := must(s.GetLock(ctx, key))(t)
	if l.MR != 1 || l.Project != "net" || len(l.Queue) != 1 || l.Queue[0].MR != 2 || l.Queue[0].Project != "net" {
		t.Fatalf("the lock after the upgrade: %+v, want !1's as net, !2 waiting as net", l)
	}
	runs := must(s.ListRuns(ctx, store.RunFilter{Repo: "r", Dir: "net", MR: 2}))(t)
	if len(runs) != 1 || runs[0].Dir != "net" {
		t.Fatalf("the waiting run after the upgrade: %+v, want its directory net", runs)
	}
	if next := must(s.ReleaseLock(ctx, key, 1))(t); next == nil || next.MR != 2 || next.Project != "net" {
		t.Fatalf("releasing the lock passed it to %+v, want !2", next)
	}
}
