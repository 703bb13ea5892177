package datasync

import (
	"context"
	"database/sql"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// DefaultClockSkewMargin is how far a resume point (ResumePoint) stays
// behind the oldest change that may not be visible yet, unless
// Config.ClockSkewMargin says otherwise: the replicas' clocks stamp
// records and judge leases, and they may differ by this much. A consumer
// pulls these last seconds again; it never misses them.
const DefaultClockSkewMargin = 5 * time.Second

// correctionLease bounds how long a checked correction (CheckCorrection)
// holds its item's resume point back when it is never written (an
// acceptance refused after the check): the correction's write must come
// within it, or it fails.
const correctionLease = 10 * time.Minute

// inflight is a registered writer of an item's records: its rows are
// stamped at or after stamp, and it must commit before expires.
type inflight struct {
	id      string
	item    string
	stamp   time.Time
	expires time.Time
}

// beginWrite registers, in a transaction of its own that commits before
// it returns, a writer of item's records that will commit before lease
// runs out. The writer then stamps its rows with a time taken after this
// returns (at or after the stamp registered; see stampAfter) and ends
// with endWrite in the transaction that writes them.
//
// Why this is enough: a listing first reads the oldest live registration
// of the item and then the records. A writer registered by then stamps at
// or after its registration, so the resume point is not later than its
// stamp; one not registered yet stamps after the listing began (less the
// replicas' clock skew); one whose registration is gone has committed,
// and its rows are in the listing, for the registration goes in the same
// transaction as the rows.
func (s *Service) beginWrite(ctx context.Context, item string, lease time.Duration) (inflight, error) {
	now := s.nowUTC()
	w := inflight{id: newID("wr"), item: item, stamp: now, expires: now.Add(lease)}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		// Registrations of crashed writers, long expired, go here: the
		// table stays as small as the number of writers at work.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sync_inflight WHERE expires_at < $1`, now.Add(-time.Hour).UnixMicro()); err != nil {
			return db.Interpret(err, "write registration")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sync_inflight (id, item_code, stamp, expires_at) VALUES ($1, $2, $3, $4)`,
			w.id, w.item, w.stamp.UnixMicro(), w.expires.UnixMicro())
		return db.Interpret(err, "write registration")
	})
	return w, err
}

// stampAfter is the time a registered writer stamps its rows with: now,
// and never before its registration's stamp (a clock stepped back).
func (s *Service) stampAfter(w inflight) time.Time {
	now := s.nowUTC()
	if now.Before(w.stamp) {
		return w.stamp
	}
	return now
}

// endWrite removes w's registration inside tx, the transaction that
// writes the records, so that both become visible at its commit. A
// registration that expired (or was removed) fails the write: listings
// may have resumed past its stamp already.
func (s *Service) endWrite(ctx context.Context, tx *sql.Tx, w inflight) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM sync_inflight WHERE id = $1 AND expires_at > $2`, w.id, s.nowUTC().UnixMicro())
	if err != nil {
		return db.Interpret(err, "write registration")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.Unavailable(nil, "the write to item %s's records took longer than its lease (until %s): not committed; try again",
			w.item, w.expires.Format(time.RFC3339))
	}
	return nil
}

// dropWrite removes w's registration after its transaction failed (or
// never ran), so that it does not hold the item's resume point back until
// it expires. Best effort: an expiry does the same later.
func (s *Service) dropWrite(ctx context.Context, w inflight) {
	if w.id == "" {
		return
	}
	if _, err := s.db.W.ExecContext(context.WithoutCancel(ctx), `DELETE FROM sync_inflight WHERE id = $1`, w.id); err != nil {
		s.log.Warn("sync: could not remove a write registration; it expires", "item", w.item, "until", w.expires, "error", err)
	}
}

// ResumePoint is where a consumer that lists item's records now should
// resume its next incremental pull (changed_since): no change to the
// item that the listing does not show is stamped before it. Read it
// before the records: it is the oldest stamp of a writer in flight, or
// now, less the clock-skew margin (Config.ClockSkewMargin). A pull from
// it repeats records changed in the last seconds before it; it does not
// miss any.
func (s *Service) ResumePoint(ctx context.Context, item string) (time.Time, error) {
	now := s.nowUTC()
	var oldest sql.NullInt64
	// A registration counts until it expired a margin ago by this clock:
	// its writer judges its own lease by another.
	err := s.db.R.QueryRowContext(ctx, `SELECT MIN(stamp) FROM sync_inflight WHERE item_code = $1 AND expires_at > $2`,
		item, now.Add(-s.margin).UnixMicro()).Scan(&oldest)
	if err != nil {
		return time.Time{}, db.Interpret(err, "write registrations")
	}
	at := now
	if oldest.Valid && fromMicros(oldest.Int64).Before(at) {
		at = fromMicros(oldest.Int64)
	}
	return at.Add(-s.margin), nil
}
