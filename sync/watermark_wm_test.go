package datasync_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// keysChangedSince lists the keys of item's records changed at or after since.
func keysChangedSince(t *testing.T, f *fixture, since time.Time) []string {
	t.Helper()
	var keys []string
	err := f.sync.EachRecord(context.Background(), f.item.Code, datasync.RecordQuery{ChangedSince: since}, func(r datasync.DatasetRecord) error {
		keys = append(keys, r.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestResumePointWaitsForRunInFlight: a run stamps its records before its
// transaction commits. A consumer pulling while it is applying, and next
// asking for changes since the time of that pull, missed them; the resume
// point the pull got does not. The run is held between stamping and
// commit by a test hook.
func TestResumePointWaitsForRunInFlight(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 20)
		j := f.job(t, httpSpec(up, datasync.ModeFull))
		f.run(t, j.ID)

		changed := up.Change(3, 5)
		stamped, release := make(chan string), make(chan struct{})
		f.sync.SetBeforeApplyCommit(func(runID string) {
			stamped <- runID
			<-release
		})
		done := make(chan datasync.Run, 1)
		go func() {
			r, err := f.sync.RunJob(ctx, j.ID, "manual", nil)
			if err != nil {
				t.Error(err)
			}
			done <- r
		}()
		<-stamped
		// The transaction stays open longer than the replicas' clock-skew
		// margin (a big run's does), so that the margin alone does not
		// cover it.
		const margin = 20 * time.Millisecond
		time.Sleep(5 * margin)
		// The pull, while the run's records are written but not committed,
		// served by another replica (another Service over the database).
		replica := datasync.New(d, f.cat, datasync.Config{ClockSkewMargin: margin})
		pulledAt := time.Now().UTC()
		resume, err := replica.ResumePoint(ctx, f.item.Code)
		if err != nil {
			t.Fatal(err)
		}
		if got := keysChangedSince(t, f, time.Time{}); len(got) != 20 {
			t.Fatalf("pull during the run saw %d records", len(got))
		}
		close(release)
		r := <-done
		f.sync.SetBeforeApplyCommit(nil)
		if r.Status != datasync.StatusSucceeded || r.Counts.Updated != 3 {
			t.Fatalf("run: %+v", r)
		}
		rec, err := f.sync.Record(ctx, f.item.Code, changed[0])
		if err != nil {
			t.Fatal(err)
		}
		if !rec.UpdatedAt.Before(pulledAt) {
			t.Fatalf("record stamped %s, not before the pull at %s: the test shows nothing", rec.UpdatedAt, pulledAt)
		}
		// The old way: resume at the time of the pull. The changes are lost.
		if got := keysChangedSince(t, f, pulledAt); len(got) != 0 {
			t.Fatalf("changed since the pull's time: %v (expected the old way to miss them)", got)
		}
		// The resume point the pull got: every change is there.
		got := keysChangedSince(t, f, resume)
		for _, k := range changed {
			if !slices.Contains(got, k) {
				t.Errorf("changed record %s missing from changed_since=resume point %s (got %v)", k, resume, got)
			}
		}
		// Nothing in flight any more: the resume point is the clock less the margin.
		now := time.Now().UTC()
		after, err := replica.ResumePoint(ctx, f.item.Code)
		if err != nil {
			t.Fatal(err)
		}
		if want := now.Add(-margin); after.Before(want.Add(-time.Second)) || after.After(want.Add(time.Second)) {
			t.Errorf("idle resume point %s, want about %s", after, want)
		}
		var left int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM sync_inflight`).Scan(&left); err != nil || left != 0 {
			t.Errorf("registrations left after the run: %d %v", left, err)
		}
	})
}

// TestResumePointRegistrationLease: a writer that crashed leaves its
// registration behind; it holds the resume point back only until it
// expires, and a failed run removes its own at once.
func TestResumePointRegistrationLease(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		now := time.Now().UTC()
		old := now.Add(-time.Hour)
		// A crashed writer whose lease runs another minute, one expired.
		for _, row := range []struct {
			id           string
			stamp, until time.Time
		}{{"wr_live", old, now.Add(time.Minute)}, {"wr_gone", old.Add(-time.Hour), now.Add(-time.Minute)}} {
			if _, err := d.W.ExecContext(ctx, `INSERT INTO sync_inflight (id, item_code, stamp, expires_at) VALUES ($1, $2, $3, $4)`,
				row.id, f.item.Code, row.stamp.UnixMicro(), row.until.UnixMicro()); err != nil {
				t.Fatal(err)
			}
		}
		rp, err := f.sync.ResumePoint(ctx, f.item.Code)
		if err != nil || !rp.Equal(old.Truncate(time.Microsecond).Add(-datasync.DefaultClockSkewMargin)) {
			t.Fatalf("resume point %s %v, want the live registration's stamp less the margin", rp, err)
		}
		if _, err := d.W.ExecContext(ctx, `DELETE FROM sync_inflight WHERE id = 'wr_live'`); err != nil {
			t.Fatal(err)
		}
		// Expired (past the margin): ignored.
		if rp, err = f.sync.ResumePoint(ctx, f.item.Code); err != nil || rp.Before(now.Add(-datasync.DefaultClockSkewMargin-time.Second)) {
			t.Fatalf("resume point %s %v: held back by an expired registration", rp, err)
		}
		// A run that fails in its applying transaction leaves none behind.
		up := synctest.New(t, 30)
		j := f.job(t, httpSpec(up, datasync.ModeFull))
		f.run(t, j.ID)
		up.Delete(30, 1) // the deletion guard fails the run in the transaction
		if r := f.run(t, j.ID); r.Status != datasync.StatusFailed {
			t.Fatalf("run: %+v", r)
		}
		var live int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM sync_inflight WHERE expires_at > $1`, now.UnixMicro()).Scan(&live); err != nil || live != 0 {
			t.Fatalf("live registrations after a failed run: %d %v", live, err)
		}
	})
}
