package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

const runColumns = `id, kind, repo, mr, project, workspace, head_sha, base_sha, state, actor,
	owner, plan_id, error_message, state_lock_id, summary, created_at, started_at, finished_at, settled_at, dir`

func scanRun(sc scanner) (store.Run, error) {
	var (
		r                 store.Run
		created           int64
		started, finished sql.NullInt64
		settled           sql.NullInt64
		summary           []byte
	)
	err := sc.Scan(&r.ID, &r.Kind, &r.Repo, &r.MR, &r.Project, &r.Workspace, &r.HeadSHA, &r.BaseSHA,
		&r.State, &r.Actor, &r.Owner, &r.PlanID, &r.Error, &r.StateLockID, &summary,
		&created, &started, &finished, &settled, &r.Dir)
	if err != nil {
		return store.Run{}, err
	}
	r.Summary = summary
	r.CreatedAt = fromMicros(created)
	r.StartedAt = fromNullMicros(started)
	r.FinishedAt = fromNullMicros(finished)
	r.SettledAt = fromNullMicros(settled)
	return r, nil
}

// CreateRun inserts a run in state queued. Of r's fields only those that
// describe the run are kept (not its state, owner, error or times), except
// CreatedAt, which defaults to now.
func (s *Store) CreateRun(ctx context.Context, r store.Run) (store.Run, error) {
	row := s.pool().queryRow(ctx, `INSERT INTO runs
		(kind, repo, mr, project, workspace, head_sha, base_sha, state, actor, plan_id, created_at, dir)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING `+runColumns,
		r.Kind, r.Repo, r.MR, r.Project, r.Workspace, r.HeadSHA, r.BaseSHA, store.StateQueued,
		r.Actor, r.PlanID, micros(stamp(r.CreatedAt)), r.Dir)
	run, err := scanRun(row)
	if isUniqueViolation(err) {
		err = fmt.Errorf("%w: plan %d already has an apply run", store.ErrConflict, r.PlanID)
	}
	if err != nil {
		return store.Run{}, fmt.Errorf("creating %s run of %s!%d %s: %w", r.Kind, r.Repo, r.MR, r.Project, err)
	}
	return run, nil
}

// GetRun returns a run, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id int64) (store.Run, error) {
	r, err := s.getRun(ctx, s.pool(), id)
	if err != nil {
		return store.Run{}, fmt.Errorf("getting run %d: %w", id, err)
	}
	return r, nil
}

func (s *Store) getRun(ctx context.Context, c conn, id int64) (store.Run, error) {
	r, err := scanRun(c.queryRow(ctx, "SELECT "+runColumns+" FROM runs WHERE id = ?", id))
	return r, notFound(err)
}

// ListRuns lists runs newest first.
func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Repo != "" {
		add("repo = ?", f.Repo)
	}
	if f.MR != 0 {
		add("mr = ?", f.MR)
	}
	if f.Project != "" {
		add("project = ?", f.Project)
	}
	if f.Workspace != "" {
		add("workspace = ?", f.Workspace)
	}
	if f.Dir != "" {
		add("dir = ?", f.Dir)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.HeadSHA != "" {
		add("head_sha = ?", f.HeadSHA)
	}
	if f.PlanID != 0 {
		add("plan_id = ?", f.PlanID)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	if f.Unsettled {
		// Literal, as the partial index runs_unsettled is written, so that
		// both databases use it.
		where = append(where, "kind = 'apply' AND state = 'succeeded' AND settled_at IS NULL")
	}
	q := "SELECT " + runColumns + " FROM runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY id DESC" + limitClause(limit)
	rows, err := s.pool().query(ctx, q, args...)
	runs, err := collect(rows, err, scanRun)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	return runs, nil
}

// transition runs a conditional UPDATE ... RETURNING on one run. When no
// row changes it tells a missing run (ErrNotFound) from one in another state
// (ErrConflict).
func (s *Store) transition(ctx context.Context, id int64, query string, args ...any) (store.Run, error) {
	c := s.pool()
	r, err := scanRun(c.queryRow(ctx, query, args...))
	if !errors.Is(err, sql.ErrNoRows) {
		return r, err
	}
	cur, err := s.getRun(ctx, c, id)
	if err != nil {
		return store.Run{}, err
	}
	return store.Run{}, fmt.Errorf("run is %s: %w", cur.State, store.ErrConflict)
}

// StartRun moves a queued run to running. The conditional UPDATE is what
// makes a run start at most once.
func (s *Store) StartRun(ctx context.Context, id int64, owner string) (store.Run, error) {
	r, err := s.transition(ctx, id, `UPDATE runs SET state = ?, owner = ?, started_at = ?
		WHERE id = ? AND state = ? RETURNING `+runColumns,
		store.StateRunning, owner, micros(now()), id, store.StateQueued)
	if err != nil {
		return store.Run{}, fmt.Errorf("starting run %d: %w", id, err)
	}
	return r, nil
}

// FinishRun moves a running run (or a queued one, to cancelled) to a final
// state.
func (s *Store) FinishRun(ctx context.Context, id int64, state store.RunState, errMsg string, summary []byte) (store.Run, error) {
	if !state.Final() {
		return store.Run{}, fmt.Errorf("finishing run %d: %q is not a final state", id, state)
	}
	from := "state = 'running'"
	if state == store.StateCancelled {
		from = "state IN ('queued', 'running')"
	}
	r, err := s.transition(ctx, id, `UPDATE runs SET state = ?, error_message = ?, summary = ?, finished_at = ?
		WHERE id = ? AND `+from+` RETURNING `+runColumns,
		state, errMsg, summary, micros(now()), id)
	if err != nil {
		return store.Run{}, fmt.Errorf("finishing run %d as %s: %w", id, state, err)
	}
	return r, nil
}

// SettleRun records that what follows a succeeded apply was done. Only a
// succeeded run settles; settling it again keeps the first time.
func (s *Store) SettleRun(ctx context.Context, id int64) error {
	_, err := s.transition(ctx, id, `UPDATE runs SET settled_at = COALESCE(settled_at, ?)
		WHERE id = ? AND state = ? RETURNING `+runColumns, micros(now()), id, store.StateSucceeded)
	if err != nil {
		return fmt.Errorf("settling run %d: %w", id, err)
	}
	return nil
}

// SetStateLockID records the engine state lock a run holds. It is not
// conditional on the state: the lock id matters most when the run ended
// badly.
func (s *Store) SetStateLockID(ctx context.Context, id int64, lockID string) error {
	n, err := s.pool().execN(ctx, "UPDATE runs SET state_lock_id = ? WHERE id = ?", lockID, id)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("recording state lock of run %d: %w", id, err)
	}
	return nil
}

// InterruptRuns marks the running runs of instances not in alive as
// interrupted. The runs keep their owner, to tell who ran them.
func (s *Store) InterruptRuns(ctx context.Context, alive []string) ([]store.Run, error) {
	q := `UPDATE runs SET state = 'interrupted', finished_at = ?,
		error_message = 'the server running it stopped (instance ' || owner || ')'
		WHERE state = 'running'`
	args := []any{micros(now())}
	if len(alive) > 0 {
		q += " AND owner NOT IN (?" + strings.Repeat(", ?", len(alive)-1) + ")"
		for _, a := range alive {
			args = append(args, a)
		}
	}
	rows, err := s.pool().query(ctx, q+" RETURNING "+runColumns, args...)
	runs, err := collect(rows, err, scanRun)
	if err != nil {
		return nil, fmt.Errorf("interrupting runs of stopped servers: %w", err)
	}
	slices.SortFunc(runs, func(a, b store.Run) int { return cmp.Compare(a.ID, b.ID) })
	return runs, nil
}

// Heartbeat records that an instance is alive now.
func (s *Store) Heartbeat(ctx context.Context, instance string) error {
	_, err := s.pool().exec(ctx, `INSERT INTO instances (name, seen_at) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at`, instance, micros(now()))
	if err != nil {
		return fmt.Errorf("recording heartbeat of %s: %w", instance, err)
	}
	return nil
}

// Instances lists the instances seen since the cutoff, by name.
func (s *Store) Instances(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.pool().query(ctx, "SELECT name FROM instances WHERE seen_at >= ? ORDER BY name", micros(since))
	names, err := collect(rows, err, func(sc scanner) (string, error) {
		var n string
		return n, sc.Scan(&n)
	})
	if err != nil {
		return nil, fmt.Errorf("listing live instances: %w", err)
	}
	return names, nil
}
