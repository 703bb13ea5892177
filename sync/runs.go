package datasync

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

const runCols = `id, job_id, cause, attempt, status, started_at, finished_at, rows_read, inserted, updated, unchanged, deleted, rejected,
	errors_kept, cursor_from, cursor_to, checkpoint, source_count, drift, error, allow_mass_delete`

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var (
		r        Run
		started  int64
		finished sql.NullInt64
		drift    string
		allow    int64
	)
	err := sc.Scan(&r.ID, &r.JobID, &r.Cause, &r.Attempt, &r.Status, &started, &finished, &r.Counts.Read, &r.Counts.Inserted,
		&r.Counts.Updated, &r.Counts.Unchanged, &r.Counts.Deleted, &r.Counts.Rejected, &r.ErrorsKept, &r.CursorFrom, &r.CursorTo,
		&r.Checkpoint, &r.SourceCount, &drift, &r.Error, &allow)
	if err != nil {
		return r, err
	}
	r.StartedAt, r.AllowMassDelete = fromMicros(started), allow != 0
	if finished.Valid {
		t := fromMicros(finished.Int64)
		r.FinishedAt = &t
	}
	if drift != "" {
		r.Drift = &Drift{}
		_ = json.Unmarshal([]byte(drift), r.Drift)
	}
	return r, nil
}

// GetRun returns one run.
func (s *Service) GetRun(ctx context.Context, id string) (Run, error) {
	if !validText(id) { // PostgreSQL would refuse it: a 500, not a 404
		return Run{}, errs.NotFound("sync run %q not found", id)
	}
	r, err := scanRun(s.db.R.QueryRowContext(ctx, `SELECT `+runCols+` FROM sync_runs WHERE id = $1`, id))
	return r, db.Interpret(err, "sync run "+id)
}

func (s *Service) unfinishedRun(ctx context.Context, jobID string) (Run, error) {
	r, err := scanRun(s.db.W.QueryRowContext(ctx, `SELECT `+runCols+` FROM sync_runs WHERE job_id = $1 AND status = $2 ORDER BY started_at DESC LIMIT 1`, jobID, StatusRunning))
	return r, db.Interpret(err, "unfinished run of job "+jobID)
}

// Runs lists a job's runs, newest first, at most limit (default 50).
func (s *Service) Runs(ctx context.Context, jobID string, limit int) ([]Run, error) {
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	if !validText(jobID) {
		return []Run{}, nil // no job has such an id
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+runCols+` FROM sync_runs WHERE job_id = $1 ORDER BY started_at DESC, id LIMIT `+strconv.Itoa(limit), jobID)
	if err != nil {
		return nil, db.Interpret(err, "sync runs")
	}
	defer rows.Close()
	out := []Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, db.Interpret(err, "sync runs")
		}
		out = append(out, r)
	}
	return out, db.Interpret(rows.Err(), "sync runs")
}

// RunErrorsFor is RunErrors for p. The rows name records by their keys
// (often a 身份证号) and quote upstream values, which other departments
// read only under a grant: so only data admins of the item's department,
// hub admins and auditors see them.
func (s *Service) RunErrorsFor(ctx context.Context, p *exchange.Principal, runID string) ([]RowError, error) {
	run, err := s.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	if p == nil || !p.Has(exchange.RoleAdmin, exchange.RoleAuditor) {
		j, err := s.Job(ctx, run.JobID)
		if err != nil {
			return nil, err
		}
		it, _, err := s.item(ctx, j.ItemCode)
		if err != nil {
			return nil, err
		}
		if !catalog.CanChange(p, it.ProviderID) {
			return nil, errs.Forbidden("the rejected rows of item %s's sync runs name its records: only data admins of department %s, hub admins and auditors may read them", it.Code, it.ProviderID)
		}
	}
	return s.RunErrors(ctx, runID)
}

// RunErrors returns the rejected rows a run kept (at most the job's
// Limits.MaxErrors; Counts.Rejected says how many there were).
func (s *Service) RunErrors(ctx context.Context, runID string) ([]RowError, error) {
	if !validText(runID) {
		return []RowError{}, nil // no run has such an id
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT seq, record_key, source_pos, reason FROM sync_run_errors WHERE run_id = $1 ORDER BY seq`, runID)
	if err != nil {
		return nil, db.Interpret(err, "run errors")
	}
	defer rows.Close()
	out := []RowError{}
	for rows.Next() {
		var e RowError
		if err := rows.Scan(&e.Seq, &e.Key, &e.Position, &e.Reason); err != nil {
			return nil, db.Interpret(err, "run errors")
		}
		out = append(out, e)
	}
	return out, db.Interpret(rows.Err(), "run errors")
}

// interrupted lists jobs with a run left running (by a killed process).
func (s *Service) interrupted(ctx context.Context) ([]string, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT DISTINCT job_id FROM sync_runs WHERE status = $1`, StatusRunning)
	if err != nil {
		return nil, db.Interpret(err, "sync runs")
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, db.Interpret(err, "sync runs")
		}
		ids = append(ids, id)
	}
	return ids, db.Interpret(rows.Err(), "sync runs")
}
