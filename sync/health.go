package datasync

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// ShareItem makes the catalogue an exchange.ItemDirectory for the sharing
// workflow (exchange cannot import catalog, which imports exchange).
func (s *Service) ShareItem(ctx context.Context, code string) (exchange.ShareItem, error) {
	it, err := s.catalog.Item(ctx, code)
	if err != nil {
		return exchange.ShareItem{}, err
	}
	out := exchange.ShareItem{Code: it.Code, Name: it.Name, ProviderID: it.ProviderID, ShareType: it.ShareType, Published: it.Status == catalog.StatusPublished}
	for _, f := range it.Fields {
		out.Fields = append(out.Fields, exchange.ShareField{Code: f.Code, Personal: f.Personal || f.Sensitive})
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT spec FROM sync_jobs WHERE item_code = $1 ORDER BY id`, code)
	if err != nil {
		return out, db.Interpret(err, "sync jobs")
	}
	defer rows.Close()
	for rows.Next() {
		var spec string
		var keys struct {
			KeyFields []string `json:"key_fields"`
		}
		if err := rows.Scan(&spec); err != nil {
			return out, db.Interpret(err, "sync jobs")
		}
		if err := json.Unmarshal([]byte(spec), &keys); err != nil {
			return out, errs.Internal(err, "sync job spec of item %s", code)
		}
		for _, k := range keys.KeyFields {
			if !slices.Contains(out.KeyFields, k) {
				out.KeyFields = append(out.KeyFields, k)
			}
		}
	}
	return out, db.Interpret(rows.Err(), "sync jobs")
}

// MaxAge is how old an item's data may be for its update cycle (更新周期)
// before its job counts as overdue; 0 for 不定期 (no deadline).
func MaxAge(cycle string) time.Duration {
	day := 24 * time.Hour
	switch cycle {
	case "实时":
		return time.Hour
	case "每日":
		return day + 6*time.Hour
	case "每周":
		return 7*day + 6*time.Hour
	case "每月":
		return 31*day + 6*time.Hour
	case "每季度":
		return 92 * day
	case "每半年":
		return 183 * day
	case "每年":
		return 366 * day
	}
	return 0
}

// Health is a job's freshness and completeness.
type Health struct {
	JobID        string     `json:"job_id"`
	ItemCode     string     `json:"item_code"`
	UpdateCycle  string     `json:"update_cycle"`
	Paused       bool       `json:"paused"`
	LastSuccess  *time.Time `json:"last_success,omitempty"`
	AgeSeconds   float64    `json:"age_seconds"`     // since the last success; -1 if never
	MaxAge       float64    `json:"max_age_seconds"` // from the update cycle; 0: no deadline
	Overdue      bool       `json:"overdue"`
	LastStatus   string     `json:"last_status,omitempty"`
	Records      int64      `json:"records"`      // live records in the dataset
	SourceCount  int64      `json:"source_count"` // last count the source gave; -1 unknown
	Completeness float64    `json:"completeness"` // records / source_count; -1 unknown
}

// Health reports every job's freshness and completeness.
func (s *Service) Health(ctx context.Context) ([]Health, error) {
	jobs, err := s.Jobs(ctx, "")
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Health, 0, len(jobs))
	for _, j := range jobs {
		h := Health{JobID: j.ID, ItemCode: j.ItemCode, Paused: j.Paused, AgeSeconds: -1, SourceCount: -1, Completeness: -1}
		if it, err := s.catalog.Item(ctx, j.ItemCode); err == nil {
			h.UpdateCycle = it.UpdateCycle
			h.MaxAge = MaxAge(it.UpdateCycle).Seconds()
		}
		var last sql.NullInt64
		if err := s.db.R.QueryRowContext(ctx, `SELECT MAX(finished_at) FROM sync_runs WHERE job_id = $1 AND status IN ($2, $3)`,
			j.ID, StatusSucceeded, StatusPartly).Scan(&last); err != nil {
			return nil, db.Interpret(err, "sync runs")
		}
		if last.Valid {
			t := fromMicros(last.Int64)
			h.LastSuccess = &t
			h.AgeSeconds = now.Sub(t).Seconds()
		}
		var (
			status string
			count  int64
		)
		err := s.db.R.QueryRowContext(ctx, `SELECT status, source_count FROM sync_runs WHERE job_id = $1 ORDER BY started_at DESC LIMIT 1`, j.ID).Scan(&status, &count)
		if err != nil && err != sql.ErrNoRows {
			return nil, db.Interpret(err, "sync runs")
		}
		h.LastStatus = status
		if h.Records, err = s.RecordCount(ctx, j.ItemCode); err != nil {
			return nil, err
		}
		if j.Spec.Mode == ModeFull && count >= 0 {
			h.SourceCount = count
			if count > 0 {
				h.Completeness = float64(h.Records) / float64(count)
			} else {
				h.Completeness = 1
			}
		}
		h.Overdue = !j.Paused && h.MaxAge > 0 && (h.AgeSeconds < 0 || h.AgeSeconds > h.MaxAge)
		out = append(out, h)
	}
	return out, nil
}

// CorrectionRunPrefix starts the run id of a record version made by
// CorrectRecord; the principal's id follows.
const CorrectionRunPrefix = "correction:"

// CorrectRecord changes fields of one record directly (a dispute's
// correction) as a new version, kept in the record's history like a
// synced one. Only the provider's data admins may.
func (s *Service) CorrectRecord(ctx context.Context, p *exchange.Principal, item, key string, fields map[string]any) (DatasetRecord, error) {
	c, err := s.CheckCorrection(ctx, p, item, key, fields)
	if err != nil {
		return DatasetRecord{}, err
	}
	if err := s.db.Tx(ctx, func(tx *sql.Tx) error { return s.CorrectRecordTx(ctx, tx, c) }); err != nil {
		s.dropWrite(ctx, c.w)
		return DatasetRecord{}, err
	}
	return s.Record(ctx, item, key)
}

// Correction is a checked change of fields of one record, made by
// CheckCorrection and written by CorrectRecordTx.
type Correction struct {
	by, item, key string
	fields        map[string]any
	w             inflight // registered by CheckCorrection; see beginWrite
}

// CheckCorrection checks that p may change fields of record key of item,
// as CorrectRecord does before it writes, and returns the correction for
// CorrectRecordTx. It reads the catalogue, outside any transaction: check
// before the transaction begins. It also registers the correction as a
// writer of the item's records (beginWrite, in a transaction of its own),
// so that consumers do not resume their incremental pulls past it while
// it is not committed: CorrectRecordTx must follow within 10 minutes. A
// correction checked and never written holds the item's resume point
// back until then (ReleaseCorrection ends that at once).
func (s *Service) CheckCorrection(ctx context.Context, p *exchange.Principal, item, key string, fields map[string]any) (Correction, error) {
	it, codes, err := s.item(ctx, item)
	if err != nil {
		return Correction{}, err
	}
	if !catalog.CanChange(p, it.ProviderID) {
		return Correction{}, errs.Forbidden("only data admins of department %s correct records of item %s", it.ProviderID, item)
	}
	for f := range fields {
		if !slices.Contains(codes, f) {
			return Correction{}, errs.InvalidFields("correction is not valid", errs.FieldError{Pointer: "/correction/" + f, Reason: "not a field of the item"})
		}
	}
	w, err := s.beginWrite(ctx, item, correctionLease)
	if err != nil {
		return Correction{}, err
	}
	return Correction{by: p.ID, item: item, key: key, fields: fields, w: w}, nil
}

// ReleaseCorrection gives up a correction CheckCorrection returned that
// will not be written (its transaction failed or never ran). Harmless
// after the correction was committed.
func (s *Service) ReleaseCorrection(ctx context.Context, c Correction) {
	s.dropWrite(ctx, c.w)
}

// CorrectRecordTx writes correction c in tx as a new version of its
// record; the caller commits (or rolls back) tx. It reads and writes only
// through tx, so it runs inside another write's transaction (on SQLite the
// one writer connection is tx's). The record is not found: errs.NotFound.
func (s *Service) CorrectRecordTx(ctx context.Context, tx *sql.Tx, c Correction) error {
	if c.item == "" {
		return errs.Internal(nil, "record correction not checked (use CheckCorrection)")
	}
	// The correction is merged into the record as it is when the row is
	// locked, so a run applied meanwhile is not undone (SQLite's write
	// transactions are serial already).
	q := `SELECT data FROM dataset_records WHERE item_code = $1 AND record_key = $2`
	if s.db.Dialect == db.Postgres {
		q += ` FOR UPDATE`
	}
	var dat string
	if err := tx.QueryRowContext(ctx, q, c.item, c.key).Scan(&dat); err != nil {
		return db.Interpret(err, "record "+c.key)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(dat), &m); err != nil {
		return errs.Internal(err, "record %s", c.key)
	}
	maps.Copy(m, c.fields)
	b, _ := json.Marshal(m)
	// Stamped at or after the registration, which leaves in this
	// transaction: both become visible at its commit.
	if _, err := tx.ExecContext(ctx, `UPDATE dataset_records SET data = $1, hash = $2, version = version + 1, run_id = $3, updated_at = $4
		WHERE item_code = $5 AND record_key = $6`, string(b), contentHash(b), CorrectionRunPrefix+c.by, s.stampAfter(c.w).UnixMicro(), c.item, c.key); err != nil {
		return db.Interpret(err, "record "+c.key)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO dataset_record_versions (item_code, record_key, version, hash, deleted, data, run_id, changed_at)
		SELECT item_code, record_key, version, hash, deleted, data, run_id, updated_at FROM dataset_records WHERE item_code = $1 AND record_key = $2`, c.item, c.key); err != nil {
		return db.Interpret(err, "record history")
	}
	return s.endWrite(ctx, tx, c.w)
}
