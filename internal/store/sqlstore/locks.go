package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/internal/store"
)

// A lock is a row of locks (its holder) and the rows of lock_queue with the
// same key (its waiters, in id order). Every change to a key runs in a
// transaction serialised on that key, which keeps the invariant that a key
// has waiters only while it has a holder.

func keyOf(k store.LockKey) string { return lockKey(k.Repo, k.Dir, k.Workspace) }

// AcquireLock gives the lock to mr if it is free, or queues mr behind its
// holder, once: asking again keeps the place (and renames the project to
// project).
func (s *Store) AcquireLock(ctx context.Context, k store.LockKey, project string, mr int64) (store.LockResult, error) {
	var res store.LockResult
	err := s.inTx(ctx, []string{keyOf(k)}, func(c conn) error {
		holder, err := lockHolder(ctx, c, k)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := c.exec(ctx, "INSERT INTO locks (repo, dir, workspace, project, mr, acquired_at) VALUES (?, ?, ?, ?, ?, ?)",
				k.Repo, k.Dir, k.Workspace, project, mr, micros(now())); err != nil {
				return err
			}
			if _, err := c.exec(ctx, "DELETE FROM lock_queue WHERE repo = ? AND dir = ? AND workspace = ? AND mr = ?",
				k.Repo, k.Dir, k.Workspace, mr); err != nil {
				return err
			}
			res = store.LockResult{Held: true, Holder: mr}
			return nil
		case err != nil:
			return err
		case holder == mr:
			res = store.LockResult{Held: true, Holder: mr}
			_, err := c.exec(ctx, "UPDATE locks SET project = ? WHERE repo = ? AND dir = ? AND workspace = ? AND project <> ?",
				project, k.Repo, k.Dir, k.Workspace, project)
			return err
		}
		if _, err := c.exec(ctx, `INSERT INTO lock_queue (repo, dir, workspace, project, mr, enqueued_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (repo, dir, workspace, mr) DO UPDATE SET project = excluded.project`,
			k.Repo, k.Dir, k.Workspace, project, mr, micros(now())); err != nil {
			return err
		}
		var pos int
		if err := c.queryRow(ctx, `SELECT COUNT(*) FROM lock_queue
			WHERE repo = ? AND dir = ? AND workspace = ? AND id <= (
				SELECT id FROM lock_queue WHERE repo = ? AND dir = ? AND workspace = ? AND mr = ?)`,
			k.Repo, k.Dir, k.Workspace, k.Repo, k.Dir, k.Workspace, mr).Scan(&pos); err != nil {
			return err
		}
		res = store.LockResult{Holder: holder, Position: pos}
		return nil
	})
	if err != nil {
		return store.LockResult{}, fmt.Errorf("acquiring lock %s for !%d: %w", describe(k), mr, err)
	}
	return res, nil
}

// ReleaseLock frees the lock if mr holds it, passing it to the first waiter,
// or takes mr out of the queue.
func (s *Store) ReleaseLock(ctx context.Context, k store.LockKey, mr int64) (*store.Waiter, error) {
	var next *store.Waiter
	err := s.inTx(ctx, []string{keyOf(k)}, func(c conn) error {
		var err error
		next, err = release(ctx, c, k, mr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("releasing lock %s of !%d: %w", describe(k), mr, err)
	}
	return next, nil
}

// ReleaseMR releases every lock and queue place of an MR in a repo, in one
// transaction serialised on all of the MR's keys (found just before it:
// a key the MR asks for meanwhile is not released).
func (s *Store) ReleaseMR(ctx context.Context, repo string, mr int64) (map[store.LockKey]store.Waiter, error) {
	keys, err := s.keysOf(ctx, repo, mr)
	if err != nil {
		return nil, fmt.Errorf("releasing locks of %s!%d: %w", repo, mr, err)
	}
	passed := make(map[store.LockKey]store.Waiter)
	if len(keys) == 0 {
		return passed, nil
	}
	serial := make([]string, len(keys))
	for i, k := range keys {
		serial[i] = keyOf(k)
	}
	err = s.inTx(ctx, serial, func(c conn) error {
		for _, k := range keys {
			next, err := release(ctx, c, k, mr)
			if err != nil {
				return fmt.Errorf("%s: %w", describe(k), err)
			}
			if next != nil {
				passed[k] = *next
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("releasing locks of %s!%d: %w", repo, mr, err)
	}
	return passed, nil
}

// keysOf returns the keys an MR holds or waits for.
func (s *Store) keysOf(ctx context.Context, repo string, mr int64) ([]store.LockKey, error) {
	rows, err := s.pool().query(ctx, `SELECT repo, dir, workspace FROM locks WHERE repo = ? AND mr = ?
		UNION SELECT repo, dir, workspace FROM lock_queue WHERE repo = ? AND mr = ?`, repo, mr, repo, mr)
	keys, err := collect(rows, err, func(sc scanner) (store.LockKey, error) {
		var k store.LockKey
		return k, sc.Scan(&k.Repo, &k.Dir, &k.Workspace)
	})
	slices.SortFunc(keys, func(a, b store.LockKey) int {
		return cmp.Or(cmp.Compare(a.Dir, b.Dir), cmp.Compare(a.Workspace, b.Workspace))
	})
	return keys, err
}

// release does ReleaseLock's work in a transaction serialised on k.
func release(ctx context.Context, c conn, k store.LockKey, mr int64) (*store.Waiter, error) {
	holder, err := lockHolder(ctx, c, k)
	if errors.Is(err, sql.ErrNoRows) || err == nil && holder != mr {
		_, err := c.exec(ctx, "DELETE FROM lock_queue WHERE repo = ? AND dir = ? AND workspace = ? AND mr = ?",
			k.Repo, k.Dir, k.Workspace, mr)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.exec(ctx, "DELETE FROM locks WHERE repo = ? AND dir = ? AND workspace = ?",
		k.Repo, k.Dir, k.Workspace); err != nil {
		return nil, err
	}
	var (
		id       int64
		w        store.Waiter
		enqueued int64
	)
	err = c.queryRow(ctx, `SELECT id, mr, project, enqueued_at FROM lock_queue
		WHERE repo = ? AND dir = ? AND workspace = ? ORDER BY id LIMIT 1`,
		k.Repo, k.Dir, k.Workspace).Scan(&id, &w.MR, &w.Project, &enqueued)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w.EnqueuedAt = fromMicros(enqueued)
	if _, err := c.exec(ctx, "DELETE FROM lock_queue WHERE id = ?", id); err != nil {
		return nil, err
	}
	if _, err := c.exec(ctx, "INSERT INTO locks (repo, dir, workspace, project, mr, acquired_at) VALUES (?, ?, ?, ?, ?, ?)",
		k.Repo, k.Dir, k.Workspace, w.Project, w.MR, micros(now())); err != nil {
		return nil, err
	}
	return &w, nil
}

func lockHolder(ctx context.Context, c conn, k store.LockKey) (int64, error) {
	var mr int64
	err := c.queryRow(ctx, "SELECT mr FROM locks WHERE repo = ? AND dir = ? AND workspace = ?",
		k.Repo, k.Dir, k.Workspace).Scan(&mr)
	return mr, err
}

// GetLock returns a held lock and its queue, or ErrNotFound when it is free.
func (s *Store) GetLock(ctx context.Context, k store.LockKey) (store.Lock, error) {
	locks, err := s.listLocks(ctx, "l.repo = ? AND l.dir = ? AND l.workspace = ?", k.Repo, k.Dir, k.Workspace)
	if err == nil && len(locks) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Lock{}, fmt.Errorf("getting lock %s: %w", describe(k), err)
	}
	return locks[0], nil
}

// ListLocks returns the held locks of a repo (of every repo when repo is
// empty) with their queues, ordered by repo, directory and workspace.
func (s *Store) ListLocks(ctx context.Context, repo string) ([]store.Lock, error) {
	where, args := "", []any(nil)
	if repo != "" {
		where, args = "l.repo = ?", []any{repo}
	}
	locks, err := s.listLocks(ctx, where, args...)
	if err != nil {
		return nil, fmt.Errorf("listing locks of %q: %w", repo, err)
	}
	return locks, nil
}

// listLocks reads holders and waiters in one statement, so that it sees one
// consistent state.
func (s *Store) listLocks(ctx context.Context, where string, args ...any) ([]store.Lock, error) {
	q := `SELECT l.repo, l.dir, l.workspace, l.project, l.mr, l.acquired_at, q.mr, q.project, q.enqueued_at
		FROM locks l LEFT JOIN lock_queue q
			ON q.repo = l.repo AND q.dir = l.dir AND q.workspace = l.workspace`
	if where != "" {
		q += " WHERE " + where
	}
	q += " ORDER BY l.repo, l.dir, l.workspace, q.id"
	rows, err := s.pool().query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var locks []store.Lock
	for rows.Next() {
		var (
			l                store.Lock
			acquired         int64
			waiter, enqueued sql.NullInt64
			waiterProject    sql.NullString
		)
		if err := rows.Scan(&l.Repo, &l.Dir, &l.Workspace, &l.Project, &l.MR, &acquired, &waiter, &waiterProject, &enqueued); err != nil {
			return nil, err
		}
		l.AcquiredAt = fromMicros(acquired)
		if n := len(locks); n == 0 || locks[n-1].LockKey != l.LockKey {
			locks = append(locks, l)
		}
		if waiter.Valid {
			last := &locks[len(locks)-1]
			last.Queue = append(last.Queue, store.Waiter{MR: waiter.Int64, Project: waiterProject.String, EnqueuedAt: fromMicros(enqueued.Int64)})
		}
	}
	return locks, rows.Err()
}

func describe(k store.LockKey) string {
	return k.Repo + " " + k.Dir + " (" + k.Workspace + ")"
}
