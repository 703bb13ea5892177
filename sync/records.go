package datasync

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// KeySeparator joins the values of a record's key fields into its key.
const KeySeparator = "|"

// MaxKeyBytes is the longest record key, in bytes. A PostgreSQL btree
// index row holds at most 2704 bytes: a longer key failed the whole run
// there (and was stored on SQLite); it is a rejected row on both.
const MaxKeyBytes = 1024

// DatasetRecord is one record of an item's dataset as the hub holds it.
type DatasetRecord struct {
	Key       string          `json:"key"`
	Version   int64           `json:"version"`
	Deleted   bool            `json:"deleted,omitempty"`
	Data      json.RawMessage `json:"data"`
	RunID     string          `json:"run_id"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Counts are what a run did to the dataset.
type Counts struct {
	Read      int64 `json:"read"`
	Inserted  int64 `json:"inserted"`
	Updated   int64 `json:"updated"`
	Unchanged int64 `json:"unchanged"`
	Deleted   int64 `json:"deleted"`
	Rejected  int64 `json:"rejected"`
}

// staged is one accepted source record on its way to the dataset.
type staged struct {
	key  string
	hash int64
	tomb bool
	data []byte
}

// contentHash is the first 8 bytes of SHA-256 of the record's canonical
// JSON (object members sorted by name, as encoding/json writes maps).
func contentHash(data []byte) int64 {
	h := sha256.Sum256(data)
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// stage writes a page of records to the run's staging area and, in the same
// transaction, the run's progress: progress gets the transaction's exec
// and the indexes of records whose key this run had already staged
// (duplicates in the source).
func (s *Service) stage(ctx context.Context, runID string, recs []staged, progress func(exec execFunc, dups []int) error) error {
	var dups []int
	if s.db.Dialect == db.Postgres {
		return s.stagePostgres(ctx, runID, recs, progress)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		// Batches of sqliteBatch rows in one prepared multi-row INSERT with
		// "?" placeholders (numbered $N ones make modernc's multi-row
		// insert quadratic). A batch that inserts fewer rows than it has
		// holds duplicates; it is redone row by row to name them.
		full, err := tx.PrepareContext(ctx, stageInsert(sqliteBatch))
		if err != nil {
			return db.Interpret(err, "stage")
		}
		defer full.Close()
		one, err := tx.PrepareContext(ctx, stageInsert(1))
		if err != nil {
			return db.Interpret(err, "stage")
		}
		defer one.Close()
		args := make([]any, 0, sqliteBatch*5)
		for lo := 0; lo < len(recs); lo += sqliteBatch {
			batch := recs[lo:min(lo+sqliteBatch, len(recs))]
			args = args[:0]
			for _, r := range batch {
				args = append(args, runID, r.key, r.hash, b2i(r.tomb), string(r.data))
			}
			if _, err := tx.ExecContext(ctx, `SAVEPOINT stage_batch`); err != nil {
				return db.Interpret(err, "stage")
			}
			var res sql.Result
			if len(batch) == sqliteBatch {
				res, err = full.ExecContext(ctx, args...)
			} else {
				res, err = tx.ExecContext(ctx, stageInsert(len(batch)), args...)
			}
			if err != nil {
				return db.Interpret(err, "stage")
			}
			if n, _ := res.RowsAffected(); n < int64(len(batch)) {
				// Duplicates of keys staged by earlier pages: redo the batch
				// row by row to name them.
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO stage_batch`); err != nil {
					return db.Interpret(err, "stage")
				}
				for i, r := range batch {
					res, err := one.ExecContext(ctx, runID, r.key, r.hash, b2i(r.tomb), string(r.data))
					if err != nil {
						return db.Interpret(err, "stage")
					}
					if n, _ := res.RowsAffected(); n == 0 {
						dups = append(dups, lo+i)
					}
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE stage_batch`); err != nil {
				return db.Interpret(err, "stage")
			}
		}
		return progress(func(q string, args ...any) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return db.Interpret(err, "sync run")
		}, dups)
	})
}

// sqliteBatch is how many records one staging INSERT carries on SQLite.
const sqliteBatch = 200

// stageInsert is a multi-row INSERT into sync_stage with "?" placeholders.
func stageInsert(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO sync_stage (run_id, record_key, hash, tombstone, data) VALUES `)
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	return b.String()
}

// execFunc runs one statement in the staging transaction.
type execFunc func(q string, args ...any) error

// stagePostgres COPYs the page into sync_stage and writes the run's
// progress, in one pgx transaction on one connection.
func (s *Service) stagePostgres(ctx context.Context, runID string, recs []staged, progress func(exec execFunc, dups []int) error) error {
	conn, err := s.db.W.Conn(ctx)
	if err != nil {
		return db.Interpret(err, "stage")
	}
	defer conn.Close()
	var dups []int
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		// Fast path: COPY straight into sync_stage. A key this run staged
		// before (a duplicate in the source) makes it fail; then the page
		// goes through a temporary table and ON CONFLICT DO NOTHING, which
		// names the duplicates.
		cols := []string{"run_id", "record_key", "hash", "tombstone", "data"}
		rowsOf := func(i int) ([]any, error) {
			r := recs[i]
			return []any{runID, r.key, r.hash, b2i(r.tomb), string(r.data)}, nil
		}
		sp, err := tx.Begin(ctx) // a savepoint
		if err != nil {
			return err
		}
		_, err = sp.CopyFrom(ctx, pgx.Identifier{"sync_stage"}, cols, pgx.CopyFromSlice(len(recs), rowsOf))
		if err == nil {
			err = sp.Commit(ctx)
		} else {
			_ = sp.Rollback(ctx)
			if !db.IsUniqueViolation(err) {
				return err
			}
			if dups, err = stageWithConflicts(ctx, tx, runID, recs); err != nil {
				return err
			}
		}
		if err := progress(func(q string, args ...any) error {
			_, err := tx.Exec(ctx, q, args...)
			return err
		}, dups); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	return db.Interpret(err, "stage")
}

// stageWithConflicts stages a page some of whose keys are already staged
// and returns the indexes of those.
func stageWithConflicts(ctx context.Context, tx pgx.Tx, runID string, recs []staged) ([]int, error) {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS sync_stage_in (record_key TEXT NOT NULL, hash BIGINT NOT NULL, tombstone BIGINT NOT NULL, data TEXT NOT NULL) ON COMMIT DELETE ROWS`); err != nil {
		return nil, err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"sync_stage_in"}, []string{"record_key", "hash", "tombstone", "data"},
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
			r := recs[i]
			return []any{r.key, r.hash, b2i(r.tomb), string(r.data)}, nil
		})); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `INSERT INTO sync_stage (run_id, record_key, hash, tombstone, data)
		SELECT $1, record_key, hash, tombstone, data FROM sync_stage_in ON CONFLICT DO NOTHING RETURNING record_key`, runID)
	if err != nil {
		return nil, err
	}
	inserted := make(map[string]bool, len(recs))
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, err
		}
		inserted[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var dups []int
	for i, r := range recs {
		if !inserted[r.key] {
			dups = append(dups, i)
		}
	}
	return dups, nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// apply moves the run's staged records into the item's dataset inside tx:
// new keys are inserted, records whose hash changed (or that come back
// after a deletion) get a new version, tombstones mark records deleted,
// and in a full refresh every live record the run did not stage is marked
// deleted. Every version this makes is also written to the record's
// history (dataset_record_versions). Staged rows are removed.
//
// Unchanged records are filtered out by the join before the upsert, so
// they are never touched: on PostgreSQL an ON CONFLICT DO UPDATE whose
// WHERE is false still locks (and so writes) the row.
func (s *Service) apply(ctx context.Context, tx *sql.Tx, item, runID string, full bool, now time.Time, guard deleteGuard) (Counts, error) {
	var c Counts
	count := func() (int64, error) {
		var n int64
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dataset_records WHERE item_code = $1`, item).Scan(&n)
		return n, err
	}
	before, err := count()
	if err != nil {
		return c, db.Interpret(err, "dataset")
	}
	// The deletion guard judges a full refresh against the dataset as
	// consumers knew it: the live records before this run, not counting
	// those the run itself adds (a run that replaced every key, inserting
	// 100 and deleting the old 100, passed as 100 of 200).
	var liveBefore int64
	if full {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dataset_records WHERE item_code = $1 AND deleted = 0`, item).Scan(&liveBefore); err != nil {
			return c, db.Interpret(err, "dataset")
		}
	}
	var staged, tombs int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(tombstone), 0) FROM sync_stage WHERE run_id = $1`, runID).Scan(&staged, &tombs); err != nil {
		return c, db.Interpret(err, "stage")
	}
	us := now.UnixMicro()
	t0 := time.Now()
	defer func() { s.log.Debug("sync: applied", "run", runID, "took", time.Since(t0)) }()
	res, err := tx.ExecContext(ctx, `INSERT INTO dataset_records (item_code, record_key, version, hash, deleted, data, run_id, updated_at)
		SELECT $1, s.record_key, 1, s.hash, 0, s.data, $2, $3 FROM sync_stage s
		LEFT JOIN dataset_records d ON d.item_code = $1 AND d.record_key = s.record_key
		WHERE s.run_id = $2 AND s.tombstone = 0 AND (d.record_key IS NULL OR d.hash <> s.hash OR d.deleted <> 0)
		ON CONFLICT (item_code, record_key) DO UPDATE SET version = dataset_records.version + 1, hash = excluded.hash, deleted = 0,
			data = excluded.data, run_id = excluded.run_id, updated_at = excluded.updated_at
		WHERE dataset_records.hash <> excluded.hash OR dataset_records.deleted <> 0`, item, runID, us)
	if err != nil {
		return c, db.Interpret(err, "dataset")
	}
	changed, _ := res.RowsAffected()
	s.log.Debug("sync: upsert", "run", runID, "took", time.Since(t0))
	after, err := count()
	if err != nil {
		return c, db.Interpret(err, "dataset")
	}
	c.Inserted = after - before
	c.Updated = changed - c.Inserted
	c.Unchanged = staged - tombs - changed
	if tombs > 0 {
		res, err := tx.ExecContext(ctx, `UPDATE dataset_records SET deleted = 1, version = version + 1, run_id = $2, updated_at = $3
			WHERE item_code = $1 AND deleted = 0 AND record_key IN (SELECT record_key FROM sync_stage WHERE run_id = $2 AND tombstone = 1)`, item, runID, us)
		if err != nil {
			return c, db.Interpret(err, "dataset")
		}
		n, _ := res.RowsAffected()
		c.Deleted += n
		c.Unchanged += tombs - n // tombstones of records already gone
	}
	if full {
		s.log.Debug("sync: before deletions", "run", runID, "took", time.Since(t0))
		// Records the upstream flagged deleted count against the guard
		// too: every record sent with its flag set is a wipe as well.
		n, err := s.deleteUnstaged(ctx, tx, item, runID, staged-tombs, us, guard, liveBefore, c.Deleted)
		if err != nil {
			return c, err
		}
		c.Deleted += n
	}
	s.log.Debug("sync: before history", "run", runID, "took", time.Since(t0))
	// Every row changed above carries this run's id and time; the
	// (item_code, updated_at) index finds them without visiting the rest.
	// (A range, not "updated_at = $3": for the equality SQLite's planner
	// prefers the primary key's item_code prefix, a scan of the dataset.)
	// When the run changed most of the dataset (a first load), that scan
	// in key order is the cheaper way on SQLite, 4.5 s instead of 6.2 s
	// for 1,000,000 rows, so there the unary + keeps the index out.
	// PostgreSQL's planner makes the choice itself.
	changedAt := "updated_at BETWEEN $3 AND $3"
	if s.db.Dialect == db.SQLite && (changed+c.Deleted)*2 > after {
		changedAt = "+updated_at = $3"
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO dataset_record_versions (item_code, record_key, version, hash, deleted, data, run_id, changed_at)
		SELECT item_code, record_key, version, hash, deleted, data, run_id, updated_at FROM dataset_records
		WHERE item_code = $1 AND `+changedAt+` AND run_id = $2`, item, runID, us)
	if err != nil {
		return c, db.Interpret(err, "record history")
	}
	if n, _ := res.RowsAffected(); n != changed+c.Deleted {
		return c, errs.Internal(nil, "run %s changed %d records but wrote %d history rows", runID, changed+c.Deleted, n)
	}
	s.log.Debug("sync: before stage cleanup", "run", runID, "took", time.Since(t0))
	if _, err := tx.ExecContext(ctx, `DELETE FROM sync_stage WHERE run_id = $1`, runID); err != nil {
		return c, db.Interpret(err, "stage")
	}
	return c, nil
}

// deleteGuard is a job's limit on what a full refresh may mark deleted
// (Limits.MaxDeletePercent, Limits.DeleteAllowance); lifted for a run
// started with RunOptions.AllowMassDelete.
type deleteGuard struct {
	percent, allowance int
	lifted             bool
}

// refuses reports whether the guard stops a full refresh that would mark
// n of the have live records deleted.
func (g deleteGuard) refuses(n, have int64) bool {
	return !g.lifted && g.percent < 100 && n > int64(g.allowance) && n*100 > int64(g.percent)*have
}

// deleteUnstaged marks deleted, for a full refresh, every live record of
// the item that the run did not stage, in one statement, and returns how
// many. live is how many records the run staged that are not tombstones:
// after the upsert each of those is live, so the records to delete number
// (live records) - live. Counting the live records is a plain range scan;
// only when some are missing does the anti-join against the stage run.
// When that number is past guard, nothing is marked and the run stops:
// an upstream answering [] would otherwise wipe the dataset every
// department reads.
//
// The guard counts flagged, the records this run already marked deleted
// because the upstream flagged them, with the unstaged ones, against
// liveBefore, the live records before the run.
func (s *Service) deleteUnstaged(ctx context.Context, tx *sql.Tx, item, runID string, live, us int64, guard deleteGuard, liveBefore, flagged int64) (int64, error) {
	var have int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dataset_records WHERE item_code = $1 AND deleted = 0`, item).Scan(&have); err != nil {
		return 0, db.Interpret(err, "dataset")
	}
	n := max(have-live, 0)
	if all := n + flagged; all > 0 && guard.refuses(all, liveBefore) {
		return 0, fmt.Errorf("%w: full refresh would mark %d of the %d live records deleted (%d%%): the job allows at most %d%% once past %d deletions "+
			"(limits.max_delete_percent, limits.delete_allowance); nothing was applied. If the upstream really dropped them, "+
			"run the job once with allow_mass_delete=true", errStop, all, liveBefore, all*100/max(liveBefore, 1), guard.percent, guard.allowance)
	}
	if n == 0 {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE dataset_records SET deleted = 1, version = version + 1, run_id = $2, updated_at = $3
		WHERE item_code = $1 AND deleted = 0 AND NOT EXISTS (SELECT 1 FROM sync_stage s WHERE s.run_id = $2 AND s.record_key = dataset_records.record_key)`, item, runID, us)
	if err != nil {
		return 0, db.Interpret(err, "dataset")
	}
	n, _ = res.RowsAffected()
	return n, nil
}

// Record returns one record of an item's dataset by key, deleted or not.
func (s *Service) Record(ctx context.Context, item, key string) (DatasetRecord, error) {
	var (
		r   DatasetRecord
		del int64
		at  int64
		dat string
	)
	err := s.db.QueryRow(ctx, `SELECT record_key, version, deleted, data, run_id, updated_at FROM dataset_records WHERE item_code = $1 AND record_key = $2`, item, key).
		Scan(&r.Key, &r.Version, &del, &dat, &r.RunID, &at)
	if err != nil {
		return r, db.Interpret(err, fmt.Sprintf("record %q of item %s", key, item))
	}
	r.Deleted, r.UpdatedAt, r.Data = del != 0, fromMicros(at), json.RawMessage(dat)
	return r, nil
}

// RecordVersions returns the versions of one record of an item, oldest
// first, a page at a time: those after version `after` (0: from the
// first), at most limit (default 100, at most 1000). next is the cursor of
// the following page (the last version returned), "" after the last. A
// version's UpdatedAt is when it was made; a deleted version holds the
// content the record had when it went. errs.NotFound when the item has no
// record with that key.
func (s *Service) RecordVersions(ctx context.Context, item, key string, after int64, limit int) (vs []DatasetRecord, next string, err error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := s.db.R.QueryContext(ctx, `SELECT version, deleted, data, run_id, changed_at FROM dataset_record_versions
		WHERE item_code = $1 AND record_key = $2 AND version > $3 ORDER BY version LIMIT `+strconv.Itoa(limit+1), item, key, after)
	vs, err = db.Collect(rows, err, "record history", func(sc db.Scanner) (DatasetRecord, error) {
		var (
			r   DatasetRecord
			del int64
			at  int64
			dat string
		)
		if err := sc.Scan(&r.Version, &del, &dat, &r.RunID, &at); err != nil {
			return r, err
		}
		r.Key, r.Deleted, r.UpdatedAt, r.Data = key, del != 0, fromMicros(at), json.RawMessage(dat)
		return r, nil
	})
	if err != nil {
		return nil, "", err
	}
	if len(vs) == 0 {
		// An empty page after the last version, or no such record.
		if _, err := s.Record(ctx, item, key); err != nil {
			return nil, "", err
		}
		return []DatasetRecord{}, "", nil
	}
	if len(vs) > limit {
		vs = vs[:limit]
		next = strconv.FormatInt(vs[len(vs)-1].Version, 10)
	}
	return vs, next, nil
}

// RecordQuery selects records of an item.
type RecordQuery struct {
	// Keys, if not empty, keeps only the records with these keys (a
	// lookup by key, still under the other conditions).
	Keys []string
	// Filters are field code = value conditions (values compared as text).
	Filters map[string]string
	// ChangedSince keeps records changed at or after the time.
	ChangedSince time.Time
	// IncludeDeleted also returns records gone from the source.
	IncludeDeleted bool
	// Cursor is the last key of the previous page.
	Cursor string
	Limit  int // default 100, at most 1000
}

var reFieldCode = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// Records lists an item's records in key order, a page at a time; next is
// the cursor of the following page, "" after the last.
func (s *Service) Records(ctx context.Context, item string, q RecordQuery) (recs []DatasetRecord, next string, err error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	if q.Limit > 1000 {
		q.Limit = 1000
	}
	recs = []DatasetRecord{}
	err = s.EachRecord(ctx, item, q, func(r DatasetRecord) error {
		recs = append(recs, r)
		return nil
	})
	if len(recs) > q.Limit {
		recs = recs[:q.Limit]
		next = recs[len(recs)-1].Key
	}
	return recs, next, err
}

// EachRecord calls fn for each record q selects, in key order; with
// q.Limit > 0 it stops after Limit+1 records (Records uses it to page).
func (s *Service) EachRecord(ctx context.Context, item string, q RecordQuery, fn func(DatasetRecord) error) error {
	sqlq := `SELECT record_key, version, deleted, data, run_id, updated_at FROM dataset_records WHERE item_code = $1`
	args := []any{item}
	add := func(cond string, v any) {
		args = append(args, v)
		sqlq += " AND " + strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args)))
	}
	if !q.IncludeDeleted {
		sqlq += " AND deleted = 0"
	}
	if len(q.Keys) > 0 {
		ph := make([]string, len(q.Keys))
		for i, k := range q.Keys {
			args = append(args, k)
			ph[i] = "$" + strconv.Itoa(len(args))
		}
		sqlq += " AND record_key IN (" + strings.Join(ph, ", ") + ")"
	}
	if q.Cursor != "" {
		add("record_key > ?", q.Cursor)
	}
	if !q.ChangedSince.IsZero() {
		add("updated_at >= ?", q.ChangedSince.UnixMicro())
	}
	for f, v := range q.Filters {
		if !reFieldCode.MatchString(f) {
			return errs.InvalidFields("bad filter", errs.FieldError{Pointer: "?" + f, Reason: "not a field code"})
		}
		if s.db.Dialect == db.Postgres {
			add("(data::jsonb ->> '"+f+"') = ?", v)
		} else {
			// json_extract gives JSON true and false as 1 and 0; ->> on
			// PostgreSQL gives "true" and "false".
			p := "'$." + f + "'"
			add("(CASE json_type(data, "+p+") WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(data, "+p+") AS TEXT) END) = ?", v)
		}
	}
	sqlq += " ORDER BY record_key"
	if q.Limit > 0 {
		sqlq += " LIMIT " + strconv.Itoa(q.Limit+1)
	}
	rows, err := s.db.R.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return db.Interpret(err, "dataset records")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r   DatasetRecord
			del int64
			at  int64
			dat string
		)
		if err := rows.Scan(&r.Key, &r.Version, &del, &dat, &r.RunID, &at); err != nil {
			return db.Interpret(err, "dataset records")
		}
		r.Deleted, r.UpdatedAt, r.Data = del != 0, fromMicros(at), json.RawMessage(dat)
		if err := fn(r); err != nil {
			return err
		}
	}
	return db.Interpret(rows.Err(), "dataset records")
}

// RecordCount returns how many live (not deleted) records an item's dataset has.
func (s *Service) RecordCount(ctx context.Context, item string) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM dataset_records WHERE item_code = $1 AND deleted = 0`, item).Scan(&n)
	return n, db.Interpret(err, "dataset")
}
