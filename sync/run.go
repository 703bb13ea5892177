package datasync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"time"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Run statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusPartly    = "partly" // applied, but some rows were rejected
	StatusFailed    = "failed" // nothing applied
)

// Run is one execution of a job.
type Run struct {
	ID          string     `json:"id"`
	JobID       string     `json:"job_id"`
	Cause       string     `json:"cause"` // schedule, manual, resume, catch-up (a tick missed while the hub was down)
	Attempt     int        `json:"attempt"`
	Status      string     `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Counts      Counts     `json:"counts"`
	ErrorsKept  int64      `json:"errors_kept"`
	CursorFrom  string     `json:"cursor_from,omitempty"`
	CursorTo    string     `json:"cursor_to,omitempty"`
	Checkpoint  string     `json:"checkpoint,omitempty"`
	SourceCount int64      `json:"source_count"` // -1: the source did not say
	Drift       *Drift     `json:"drift,omitempty"`
	Error       string     `json:"error,omitempty"`
	// AllowMassDelete: the run was started to pass the job's full-refresh
	// deletion guard (Limits.MaxDeletePercent) once.
	AllowMassDelete bool `json:"allow_mass_delete,omitempty"`
}

// RunOptions change one run of a job.
type RunOptions struct {
	// AllowMassDelete lets a full refresh mark deleted more records than
	// the job's Limits allow: for an upstream that really did drop them.
	// Only for a run started by hand (admins and the provider's data
	// admins); a run of the job left unfinished and resumed keeps it.
	AllowMassDelete bool
}

// Drift is how the source's fields differ from the job's mapping.
type Drift struct {
	New     []string `json:"new,omitempty"`     // source fields the mapping does not know
	Missing []string `json:"missing,omitempty"` // mapped source fields the source did not send
}

// RowError is one rejected source row.
type RowError struct {
	Seq      int64  `json:"seq"`
	Key      string `json:"key,omitempty"`
	Position string `json:"position"`
	Reason   string `json:"reason"`
}

// Progress reports a run in flight, for progress bars.
type Progress struct {
	Run   *Run
	Total int64 // -1 when the source does not say
}

// ErrJobBusy is returned (as errs.Conflict) when the job is already running,
// here or on another replica.
var ErrJobBusy = errs.Conflict("the job is already running")

func jobLockKey(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sync-job:" + id))
	return int64(h.Sum64() & math.MaxInt64)
}

// RunJob runs a job now and returns its finished run. A run the previous
// process left unfinished (killed, restarted) is resumed from its last
// checkpoint instead of starting afresh. Source failures are retried with
// exponential backoff up to the job's Limits.Retries; after that the run
// is failed and nothing of it is applied. Errors: ErrJobBusy when the job
// runs elsewhere; errs.NotFound for an unknown job.
func (s *Service) RunJob(ctx context.Context, jobID, cause string, progress func(Progress)) (Run, error) {
	return s.RunJobWith(ctx, jobID, cause, RunOptions{}, progress)
}

// RunJobWith is RunJob with options for this run.
func (s *Service) RunJobWith(ctx context.Context, jobID, cause string, opt RunOptions, progress func(Progress)) (Run, error) {
	j, err := s.Job(ctx, jobID)
	if err != nil {
		return Run{}, err
	}
	unlock, ok, err := s.db.TryLock(ctx, jobLockKey(jobID))
	if err != nil {
		return Run{}, err
	}
	if !ok {
		return Run{}, ErrJobBusy
	}
	defer unlock()
	_, fields, err := s.item(ctx, j.ItemCode)
	if err != nil {
		return Run{}, err
	}
	run, err := s.unfinishedRun(ctx, jobID)
	switch {
	case err == nil:
		run.Cause = "resume"
		if err := s.checkStage(ctx, &run); err != nil {
			return run, err
		}
	case errs.Is(err, errs.KindNotFound):
		run, err = s.startRun(ctx, j, cause)
		if err != nil {
			return Run{}, err
		}
	default:
		return Run{}, err
	}
	if opt.AllowMassDelete && !run.AllowMassDelete {
		if _, err := s.db.W.ExecContext(ctx, `UPDATE sync_runs SET allow_mass_delete = 1 WHERE id = $1`, run.ID); err != nil {
			return run, db.Interpret(err, "sync run")
		}
		run.AllowMassDelete = true
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(j.Spec.Limits.Timeout))
	defer cancel()
	r := &runner{s: s, job: j, run: &run, fields: fields, progress: progress, total: -1}
	backoff := time.Duration(j.Spec.Limits.Backoff)
	for {
		run.Attempt++
		err = r.read(ctx)
		if err == nil {
			err = r.finish(ctx)
			if err == nil {
				return run, nil
			}
		}
		if errors.Is(err, errStop) || ctx.Err() != nil || run.Attempt > j.Spec.Limits.Retries {
			break
		}
		var se *SourceError
		if !errors.As(err, &se) {
			break
		}
		s.log.Warn("sync run attempt failed; retrying", "job", j.ID, "run", run.ID, "attempt", run.Attempt, "error", j.Spec.Source.scrub(logText(err)))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
	// The job's credentials stay out of the run's error and the logs,
	// whatever quoted them (a client error quotes the URL it asked for).
	scrubbed := errors.New(j.Spec.Source.scrub(err.Error()))
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) && !errors.Is(err, errStop) {
		// Shutdown or a cancelled CLI: leave the run to resume from its checkpoint.
		return run, errs.Unavailable(scrubbed, "run %s interrupted; it resumes from its checkpoint next time", run.ID)
	}
	if ctx.Err() != nil {
		scrubbed = fmt.Errorf("timed out after %s: %w", time.Duration(j.Spec.Limits.Timeout), scrubbed)
	}
	return run, s.failRun(context.WithoutCancel(ctx), &run, scrubbed)
}

// checkStage makes sure an interrupted run's staged records are all there
// (on PostgreSQL the staging table is UNLOGGED and empty after a database
// crash). If some are missing, the run starts again from the beginning.
func (s *Service) checkStage(ctx context.Context, run *Run) error {
	var staged int64
	if err := s.db.W.QueryRowContext(ctx, `SELECT COUNT(*) FROM sync_stage WHERE run_id = $1`, run.ID).Scan(&staged); err != nil {
		return db.Interpret(err, "stage")
	}
	if staged == run.Counts.Read-run.Counts.Rejected {
		return nil
	}
	s.log.Warn("sync: staged records of an interrupted run are missing; restarting it", "run", run.ID, "staged", staged,
		"expected", run.Counts.Read-run.Counts.Rejected)
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM sync_stage WHERE run_id = $1`, `DELETE FROM sync_run_errors WHERE run_id = $1`,
			`DELETE FROM sync_files WHERE run_id = $1`,
			`UPDATE sync_runs SET rows_read = 0, rejected = 0, errors_kept = 0, checkpoint = '', cursor_to = '' WHERE id = $1`} {
			if _, err := tx.ExecContext(ctx, q, run.ID); err != nil {
				return db.Interpret(err, "sync run")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	run.Counts, run.ErrorsKept, run.Checkpoint, run.CursorTo = Counts{}, 0, "", ""
	return nil
}

// errStop marks failures that retrying cannot fix (schema drift under the
// stop policy, a bad checkpoint).
var errStop = errors.New("stopped")

func (s *Service) startRun(ctx context.Context, j Job, cause string) (Run, error) {
	now := s.nowUTC()
	run := Run{ID: newID("run"), JobID: j.ID, Cause: cause, Status: StatusRunning, StartedAt: now, SourceCount: -1}
	if j.Spec.Mode == ModeIncremental && j.Cursor != "" {
		run.CursorFrom = backOff(j.Cursor, time.Duration(j.Spec.Overlap))
	}
	_, err := s.db.W.ExecContext(ctx, `INSERT INTO sync_runs (id, job_id, cause, attempt, status, started_at, cursor_from) VALUES ($1, $2, $3, 0, $4, $5, $6)`,
		run.ID, run.JobID, run.Cause, run.Status, now.UnixMicro(), run.CursorFrom)
	return run, db.Interpret(err, "sync run")
}

// backOff moves a cursor back by the overlap: times by the duration,
// numbers by its seconds. Other cursors are left as they are.
func backOff(cursor string, overlap time.Duration) string {
	if t, err := time.Parse(time.RFC3339Nano, cursor); err == nil {
		return t.Add(-overlap).Format(time.RFC3339Nano)
	}
	if n, err := strconv.ParseInt(cursor, 10, 64); err == nil {
		return strconv.FormatInt(n-int64(overlap/time.Second), 10)
	}
	return cursor
}

// laterCursor reports whether a is after b (times, then numbers, then text).
func laterCursor(a, b string) bool {
	if b == "" {
		return a != ""
	}
	ta, ea := time.Parse(time.RFC3339Nano, a)
	tb, eb := time.Parse(time.RFC3339Nano, b)
	if ea == nil && eb == nil {
		return ta.After(tb)
	}
	na, ea := strconv.ParseFloat(a, 64)
	nb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		return na > nb
	}
	return a > b
}

type runner struct {
	s        *Service
	job      Job
	run      *Run
	fields   []string
	progress func(Progress)
	total    int64
	drift    Drift
}

func (r *runner) read(ctx context.Context) error {
	conn := r.s.connectors[r.job.Spec.Source.Kind]
	if conn == nil {
		return fmt.Errorf("%w: no connector for source kind %q", errStop, r.job.Spec.Source.Kind)
	}
	req := Request{Since: r.run.CursorFrom, CursorField: r.job.Spec.CursorField, Checkpoint: r.run.Checkpoint, JobID: r.job.ID, RunID: r.run.ID}
	if r.job.Spec.Mode == ModeFull {
		req.Since, req.Full = "", true
	}
	rd, err := conn.Open(ctx, r.job.Spec.Source, req)
	if err != nil {
		return &SourceError{Position: "open", Err: err}
	}
	defer rd.Close()
	started := time.Now()
	readHere := int64(0)
	if r.run.Drift != nil {
		r.drift = *r.run.Drift
	}
	// The next page is fetched (and decoded) while this one is staged.
	// Only staged pages move the checkpoint, so a page fetched but not
	// staged when the process dies is simply fetched again.
	type fetched struct {
		page Page
		err  error
	}
	pages := make(chan fetched, 1)
	fctx, stop := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		for {
			p, err := rd.Next(fctx)
			select {
			case pages <- fetched{p, err}:
			case <-fctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { stop(); wg.Wait() }() // before rd.Close
	for {
		f, ok := <-pages
		if !ok {
			return ctx.Err()
		}
		page, err := f.page, f.err
		if isDone(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if page.Total >= 0 {
			r.total = page.Total
		}
		if err := r.stagePage(ctx, page); err != nil {
			return err
		}
		readHere += int64(len(page.Records))
		if r.progress != nil {
			r.progress(Progress{Run: r.run, Total: r.total})
		}
		if rps := r.job.Spec.Limits.RowsPerSecond; rps > 0 {
			due := time.Duration(float64(readHere) / float64(rps) * float64(time.Second))
			if wait := due - time.Since(started); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
}

// stagePage turns a page into staged records, rejects bad rows, checks
// drift and stages the page with its checkpoint.
func (r *runner) stagePage(ctx context.Context, page Page) error {
	spec := &r.job.Spec
	var (
		recs    []staged
		rowErrs []RowError
		cursor  = r.run.CursorTo
		seen    = make(map[string]int, len(page.Records))
	)
	if len(page.Records) > 0 {
		r.checkDrift(page.Records[0])
		if spec.Drift == DriftStop && (len(r.drift.New) > 0 || len(r.drift.Missing) > 0) {
			d := r.drift
			r.run.Drift = &d
			return fmt.Errorf("%w: schema drift at %s: new fields %v, missing fields %v (policy: stop)", errStop, page.Position, d.New, d.Missing)
		}
	}
	for i, src := range page.Records {
		pos := page.Position + " row " + strconv.Itoa(i+1)
		out := make(map[string]any, len(src))
		tomb := false
		for k, v := range src {
			if k == spec.DeletedField && spec.DeletedField != "" {
				tomb = truthy(v)
				continue
			}
			if code := spec.itemField(k); code != "" && slices.Contains(r.fields, code) {
				out[code] = v
			}
		}
		if spec.CursorField != "" {
			if v, ok := src[spec.CursorField]; ok {
				if c := scalarText(v); laterCursor(c, cursor) {
					cursor = c
				}
			}
		}
		key, bad := recordKey(out, spec.KeyFields)
		if bad != "" {
			rowErrs = append(rowErrs, RowError{Position: pos, Reason: bad})
			continue
		}
		if first, dup := seen[key]; dup {
			rowErrs = append(rowErrs, RowError{Key: key, Position: pos, Reason: fmt.Sprintf("duplicate key %q (also at %s row %d)", key, page.Position, first+1)})
			continue
		}
		seen[key] = i
		data, err := json.Marshal(out)
		if err != nil {
			rowErrs = append(rowErrs, RowError{Key: key, Position: pos, Reason: "cannot encode: " + err.Error()})
			continue
		}
		recs = append(recs, staged{key: key, hash: contentHash(data), tomb: tomb, data: data})
	}
	counts := r.run.Counts
	counts.Read += int64(len(page.Records))
	total := r.run.SourceCount
	if r.total >= 0 {
		total = r.total
	}
	cursorTo := cursor
	var newErrs []RowError
	err := r.s.stage(ctx, r.run.ID, recs, func(exec execFunc, dups []int) error {
		newErrs = rowErrs
		for _, i := range dups {
			newErrs = append(newErrs, RowError{Key: recs[i].key, Position: page.Position,
				Reason: fmt.Sprintf("duplicate key %q: already read earlier in this run", recs[i].key)})
		}
		c := counts
		c.Rejected += int64(len(newErrs))
		kept := r.run.ErrorsKept
		for _, e := range newErrs {
			if kept >= int64(r.job.Spec.Limits.MaxErrors) {
				break
			}
			kept++
			if err := exec(`INSERT INTO sync_run_errors (run_id, seq, record_key, source_pos, reason) VALUES ($1, $2, $3, $4, $5)`,
				r.run.ID, kept, e.Key, clip(e.Position, 500), clip(e.Reason, 1000)); err != nil {
				return err
			}
		}
		var drift string
		if len(r.drift.New) > 0 || len(r.drift.Missing) > 0 {
			b, _ := json.Marshal(r.drift)
			drift = string(b)
		}
		if t := page.Taken; t != nil {
			if err := exec(`INSERT INTO sync_files (job_id, object_key, etag, run_id, taken_at) VALUES ($1, $2, $3, $4, $5)`,
				r.job.ID, t.Key, t.ETag, r.run.ID, r.s.nowUTC().UnixMicro()); err != nil {
				return err
			}
		}
		if err := exec(`UPDATE sync_runs SET rows_read = $1, rejected = $2, errors_kept = $3, checkpoint = $4, cursor_to = $5,
			source_count = $6, drift = $7, attempt = $8 WHERE id = $9`,
			c.Read, c.Rejected, kept, page.Checkpoint, cursorTo, total, drift, r.run.Attempt, r.run.ID); err != nil {
			return err
		}
		r.run.ErrorsKept = kept
		return nil
	})
	if err != nil {
		return err
	}
	counts.Rejected += int64(len(newErrs))
	r.run.Counts = counts
	r.run.Checkpoint, r.run.CursorTo, r.run.SourceCount = page.Checkpoint, cursorTo, total
	if len(r.drift.New) > 0 || len(r.drift.Missing) > 0 {
		d := r.drift
		r.run.Drift = &d
	}
	return nil
}

// checkDrift compares one source record's fields with the mapping.
func (r *runner) checkDrift(rec Record) {
	spec := &r.job.Spec
	var expected []string
	if len(spec.Mapping) > 0 {
		for src := range spec.Mapping {
			expected = append(expected, src)
		}
	} else {
		expected = r.fields
	}
	for k := range rec {
		if k == spec.DeletedField || k == spec.CursorField && !slices.Contains(expected, k) || slices.Contains(spec.IgnoreFields, k) {
			continue
		}
		if !slices.Contains(expected, k) && !slices.Contains(r.drift.New, k) {
			r.drift.New = append(r.drift.New, k)
		}
	}
	tomb := spec.DeletedField != "" && truthy(rec[spec.DeletedField])
	if !tomb {
		for _, k := range expected {
			if _, ok := rec[k]; !ok && !slices.Contains(r.drift.Missing, k) {
				r.drift.Missing = append(r.drift.Missing, k)
			}
		}
	}
	sort.Strings(r.drift.New)
	sort.Strings(r.drift.Missing)
}

// recordKey joins the key fields' values; bad says why a record has no key.
func recordKey(rec map[string]any, keys []string) (key, bad string) {
	parts := make([]string, len(keys))
	for i, k := range keys {
		v, ok := rec[k]
		if !ok || v == nil {
			return "", fmt.Sprintf("key field %s is missing", k)
		}
		t := scalarText(v)
		if t == "" {
			return "", fmt.Sprintf("key field %s is empty", k)
		}
		if strings.Contains(t, KeySeparator) {
			return "", fmt.Sprintf("key field %s contains %q", k, KeySeparator)
		}
		if !validText(t) {
			return "", fmt.Sprintf("key field %s is not valid UTF-8 text (or holds a NUL character)", k)
		}
		parts[i] = t
	}
	key = strings.Join(parts, KeySeparator)
	if len(key) > MaxKeyBytes {
		return "", fmt.Sprintf("key is %d bytes; at most %d", len(key), MaxKeyBytes)
	}
	return key, ""
}

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true" || x == "1" || x == "Y" || x == "是"
	case json.Number:
		return x.String() != "0"
	}
	return false
}

// validText reports whether s can be stored as text on both engines:
// valid UTF-8 without NUL characters (PostgreSQL refuses either).
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// maxLogValue caps what a log line repeats of an error: an upstream's
// words (its error texts and bodies, URLs carrying its cursor tokens) are
// as long as it makes them, and a line was written per retry. The run's
// error keeps more (2,000 bytes).
const maxLogValue = 500

// logText is err's text for a log line, cut to maxLogValue bytes and
// saying how much was cut.
func logText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) <= maxLogValue {
		return s
	}
	c := clip(s, maxLogValue)
	return c + fmt.Sprintf("… (%d bytes cut)", len(s)-len(c))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// finish applies the staged records and closes the run in one transaction.
// The transaction is a registered writer of the item's records (see
// beginWrite), so that no consumer resumes its incremental pulls past
// them while they are not visible yet.
func (r *runner) finish(ctx context.Context) error {
	// The lease: the run's deadline, which bounds the transaction.
	lease := time.Hour
	if dl, ok := ctx.Deadline(); ok {
		lease = time.Until(dl) + time.Minute
	}
	w, err := r.s.beginWrite(ctx, r.job.ItemCode, lease)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			r.s.dropWrite(ctx, w)
		}
	}()
	now := r.s.stampAfter(w)
	full := r.job.Spec.Mode == ModeFull
	status := StatusSucceeded
	if r.run.Counts.Rejected > 0 {
		status = StatusPartly
	}
	guard := deleteGuard{percent: r.job.Spec.Limits.MaxDeletePercent, allowance: r.job.Spec.Limits.DeleteAllowance, lifted: r.run.AllowMassDelete}
	err = r.s.db.Tx(ctx, func(tx *sql.Tx) error {
		c, err := r.s.apply(ctx, tx, r.job.ItemCode, r.run.ID, full, now, guard)
		if err != nil {
			return err
		}
		c.Read, c.Rejected = r.run.Counts.Read, r.run.Counts.Rejected
		if _, err := tx.ExecContext(ctx, `UPDATE sync_runs SET status = $1, finished_at = $2, inserted = $3, updated = $4, unchanged = $5,
			deleted = $6, attempt = $7, error = '' WHERE id = $8`,
			status, now.UnixMicro(), c.Inserted, c.Updated, c.Unchanged, c.Deleted, r.run.Attempt, r.run.ID); err != nil {
			return db.Interpret(err, "sync run")
		}
		if r.job.Spec.Mode == ModeIncremental && r.run.CursorTo != "" && laterCursor(r.run.CursorTo, r.job.Cursor) {
			if _, err := tx.ExecContext(ctx, `UPDATE sync_jobs SET cursor_at = $1 WHERE id = $2`, r.run.CursorTo, r.job.ID); err != nil {
				return db.Interpret(err, "sync job")
			}
		}
		if err := r.s.endWrite(ctx, tx, w); err != nil {
			return err
		}
		if h := r.s.beforeApplyCommit; h != nil {
			h(r.run.ID)
		}
		r.run.Counts = c
		return nil
	})
	if err != nil {
		return err
	}
	committed = true
	r.run.Status, r.run.FinishedAt = status, &now
	return nil
}

// failRun records the failure and drops what the run staged.
func (s *Service) failRun(ctx context.Context, run *Run, cause error) error {
	now := s.nowUTC()
	msg := clip(cause.Error(), 2000)
	msg = strings.TrimPrefix(msg, errStop.Error()+": ")
	// An upstream's error body quoted in the message may be GBK or binary:
	// PostgreSQL refuses such text, and the run would stay "running".
	msg = strings.ToValidUTF8(strings.ReplaceAll(msg, "\x00", ""), "\uFFFD")
	var drift string
	if run.Drift != nil {
		b, _ := json.Marshal(run.Drift)
		drift = string(b)
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sync_stage WHERE run_id = $1`, run.ID); err != nil {
			return db.Interpret(err, "stage")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sync_files WHERE run_id = $1`, run.ID); err != nil { // give the files back
			return db.Interpret(err, "sync files")
		}
		_, err := tx.ExecContext(ctx, `UPDATE sync_runs SET status = $1, finished_at = $2, error = $3, attempt = $4, drift = $5,
			inserted = 0, updated = 0, unchanged = 0, deleted = 0 WHERE id = $6`,
			StatusFailed, now.UnixMicro(), msg, run.Attempt, drift, run.ID)
		return db.Interpret(err, "sync run")
	})
	if err != nil {
		return err
	}
	run.Status, run.FinishedAt, run.Error = StatusFailed, &now, msg
	run.Counts.Inserted, run.Counts.Updated, run.Counts.Unchanged, run.Counts.Deleted = 0, 0, 0, 0
	return nil
}
