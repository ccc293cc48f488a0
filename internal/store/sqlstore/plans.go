package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

const planColumns = `id, run_id, repo, mr, project, workspace, head_sha, base_sha, artifact_sha256,
	sealed, normalized, has_changes, created_at, discarded, applied_run_id`

func scanPlan(sc scanner) (store.Plan, error) {
	var (
		p       store.Plan
		created int64
		applied sql.NullInt64
	)
	err := sc.Scan(&p.ID, &p.RunID, &p.Repo, &p.MR, &p.Project, &p.Workspace, &p.HeadSHA, &p.BaseSHA,
		&p.ArtifactSHA256, &p.Sealed, &p.Normalized, &p.HasChanges, &created, &p.Discarded, &applied)
	if err != nil {
		return store.Plan{}, err
	}
	p.CreatedAt = fromMicros(created)
	p.AppliedRunID = applied.Int64
	return p, nil
}

// SavePlan stores a plan. A live plan replaces the project's live plan of
// the MR, which is discarded in the same transaction. The plan is stored
// discarded instead, leaving the live one alone, when the caller says so
// (p.Discarded: its run was overtaken) or when the live plan was made by a
// newer run (a larger run id: runs are numbered in the order they were
// created, and a newer push gets a newer run). Transactions saving plans
// for the same project are serialised, so exactly one plan stays live and
// an older plan saved last never replaces a newer one.
func (s *Store) SavePlan(ctx context.Context, p store.Plan) (store.Plan, error) {
	var saved store.Plan
	err := s.inTx(ctx, []string{planKey(p.Repo, p.MR, p.Project, p.Workspace)}, func(c conn) error {
		discarded := p.Discarded
		if !discarded {
			var newer int64
			err := c.queryRow(ctx, `SELECT COUNT(*) FROM plans
				WHERE repo = ? AND mr = ? AND project = ? AND workspace = ? AND NOT discarded AND run_id > ?`,
				p.Repo, p.MR, p.Project, p.Workspace, p.RunID).Scan(&newer)
			if err != nil {
				return fmt.Errorf("looking for a newer plan: %w", err)
			}
			discarded = newer > 0
		}
		if !discarded {
			if _, err := c.exec(ctx, `UPDATE plans SET discarded = TRUE
				WHERE repo = ? AND mr = ? AND project = ? AND workspace = ? AND NOT discarded`,
				p.Repo, p.MR, p.Project, p.Workspace); err != nil {
				return fmt.Errorf("discarding older plans: %w", err)
			}
		}
		var err error
		saved, err = scanPlan(c.queryRow(ctx, `INSERT INTO plans
			(run_id, repo, mr, project, workspace, head_sha, base_sha, artifact_sha256,
			 sealed, normalized, has_changes, created_at, discarded)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING `+planColumns,
			p.RunID, p.Repo, p.MR, p.Project, p.Workspace, p.HeadSHA, p.BaseSHA, p.ArtifactSHA256,
			p.Sealed, p.Normalized, p.HasChanges, micros(stamp(p.CreatedAt)), discarded))
		return err
	})
	if err != nil {
		return store.Plan{}, fmt.Errorf("saving plan for %s!%d %s/%s: %w", p.Repo, p.MR, p.Project, p.Workspace, err)
	}
	return saved, nil
}

// GetPlan returns a plan, or ErrNotFound.
func (s *Store) GetPlan(ctx context.Context, id int64) (store.Plan, error) {
	p, err := scanPlan(s.pool().queryRow(ctx, "SELECT "+planColumns+" FROM plans WHERE id = ?", id))
	if err != nil {
		return store.Plan{}, fmt.Errorf("getting plan %d: %w", id, notFound(err))
	}
	return p, nil
}

// LatestPlan returns the live plan of a project of an MR, or ErrNotFound.
func (s *Store) LatestPlan(ctx context.Context, repo string, mr int64, project, workspace string) (store.Plan, error) {
	p, err := scanPlan(s.pool().queryRow(ctx, "SELECT "+planColumns+` FROM plans
		WHERE repo = ? AND mr = ? AND project = ? AND workspace = ? AND NOT discarded
		ORDER BY id DESC LIMIT 1`, repo, mr, project, workspace))
	if err != nil {
		return store.Plan{}, fmt.Errorf("getting latest plan for %s!%d %s/%s: %w", repo, mr, project, workspace, notFound(err))
	}
	return p, nil
}

// DiscardPlans discards every live plan of an MR.
func (s *Store) DiscardPlans(ctx context.Context, repo string, mr int64) error {
	_, err := s.pool().exec(ctx, "UPDATE plans SET discarded = TRUE WHERE repo = ? AND mr = ? AND NOT discarded", repo, mr)
	if err != nil {
		return fmt.Errorf("discarding plans of %s!%d: %w", repo, mr, err)
	}
	return nil
}

// ClaimPlan records that applyRunID applies the plan: a conditional UPDATE,
// so a plan is claimed once. The same run claiming again succeeds (a
// retried job).
func (s *Store) ClaimPlan(ctx context.Context, planID, applyRunID int64) error {
	c := s.pool()
	n, err := c.execN(ctx, `UPDATE plans SET applied_run_id = ?
		WHERE id = ? AND NOT discarded AND (applied_run_id IS NULL OR applied_run_id = ?)`,
		applyRunID, planID, applyRunID)
	if err == nil && n == 0 {
		var (
			discarded bool
			applied   sql.NullInt64
		)
		err = notFound(c.queryRow(ctx, "SELECT discarded, applied_run_id FROM plans WHERE id = ?", planID).Scan(&discarded, &applied))
		switch {
		case err != nil:
		case applied.Valid:
			err = fmt.Errorf("already applied by run %d: %w", applied.Int64, store.ErrConflict)
		case discarded:
			err = fmt.Errorf("plan was discarded: %w", store.ErrConflict)
		default:
			err = errors.New("plan changed during the claim") // cannot happen: nothing un-discards or un-claims
		}
	}
	if err != nil {
		return fmt.Errorf("claiming plan %d for run %d: %w", planID, applyRunID, err)
	}
	return nil
}
