package datasync_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

func TestIncrementalChangesAndDeletes(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 5000)
		j := f.job(t, httpSpec(up, datasync.ModeIncremental))
		r := f.run(t, j.ID)
		wantCounts(t, r, datasync.Counts{Read: 5000, Inserted: 5000})
		if r.Status != datasync.StatusSucceeded || r.SourceCount != 5000 {
			t.Fatalf("first run: %+v", r)
		}
		changed := up.Change(300, 10)
		deleted := up.Delete(40, 2000)
		r = f.run(t, j.ID)
		if r.Counts.Updated != 300 || r.Counts.Deleted != 40 || r.Counts.Inserted != 0 || r.Counts.Rejected != 0 {
			t.Fatalf("second run counts: %+v", r.Counts)
		}
		if r.Counts.Read != r.Counts.Updated+r.Counts.Deleted+r.Counts.Unchanged {
			t.Fatalf("read %d != updated+deleted+unchanged %+v", r.Counts.Read, r.Counts)
		}
		rec, err := f.sync.Record(ctx, f.item.Code, changed[0])
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		_ = json.Unmarshal(rec.Data, &data)
		if rec.Version != 2 || data["address"] != up.Get(changed[0]).Address {
			t.Fatalf("changed record: version %d data %v", rec.Version, data)
		}
		rec, err = f.sync.Record(ctx, f.item.Code, deleted[0])
		if err != nil || !rec.Deleted || rec.Version != 2 {
			t.Fatalf("deleted record: %+v %v", rec, err)
		}
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 5000-40 {
			t.Fatalf("live records %d, want %d", n, 5000-40)
		}
		// Nothing changed: a third run reads only the overlap and changes nothing.
		r = f.run(t, j.ID)
		if r.Counts.Updated != 0 || r.Counts.Deleted != 0 || r.Counts.Inserted != 0 {
			t.Fatalf("idle run changed data: %+v", r.Counts)
		}
	})
}

func TestFullRefreshMarksMissingDeleted(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := synctest.New(t, 3000)
		j := f.job(t, httpSpec(up, datasync.ModeFull))
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 3000, Inserted: 3000})
		up.Change(25, 1)
		up.Delete(7, 100)
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 2993, Updated: 25, Unchanged: 2968, Deleted: 7})
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 2993, Unchanged: 2993})
	})
}

func TestUpstreamFaults(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 2500) // pages 1..3 of 1000
		j := f.job(t, httpSpec(up, datasync.ModeFull))
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 2500, Inserted: 2500})
		up.Change(10, 1)
		version := func() int64 {
			rec, err := f.sync.Record(ctx, f.item.Code, "P0000001")
			if err != nil {
				t.Fatal(err)
			}
			return rec.Version
		}
		unchanged := func(t *testing.T, v int64) {
			t.Helper()
			rec, err := f.sync.Record(ctx, f.item.Code, "P0000001")
			if err != nil || rec.Version != v {
				t.Fatalf("dataset was written by a failed run: %+v %v", rec, err)
			}
		}
		t.Run("transient 500s are retried", func(t *testing.T) {
			up.Set(func(u *synctest.Upstream) { u.Fail500 = 2 })
			r := f.run(t, j.ID)
			if r.Status != datasync.StatusSucceeded || r.Attempt != 3 || r.Counts.Updated != 10 {
				t.Fatalf("run %+v", r)
			}
			up.Change(10, 1)
		})
		cases := []struct {
			name  string
			fault func(u *synctest.Upstream)
			want  string
		}{
			{"persistent 500 on page 2", func(u *synctest.Upstream) { u.FailAt = 2 }, "page 2: upstream answered HTTP 500"},
			{"timeout on page 3", func(u *synctest.Upstream) { u.Slow, u.SlowAt = 5*time.Second, 3 }, "page 3: timed out after 2s"},
			{"malformed JSON on page 2", func(u *synctest.Upstream) { u.BadJSON = 2 }, "page 2: malformed JSON"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				v := version()
				up.Set(c.fault)
				defer up.Reset()
				r := f.run(t, j.ID)
				if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, c.want) || r.Attempt != 3 {
					t.Fatalf("run: status %s attempt %d error %q; want failed after 3 attempts with %q", r.Status, r.Attempt, r.Error, c.want)
				}
				if r.Counts.Inserted+r.Counts.Updated+r.Counts.Deleted != 0 {
					t.Fatalf("failed run reports changes: %+v", r.Counts)
				}
				unchanged(t, v)
				got, _ := f.sync.GetRun(ctx, r.ID)
				if got.Status != datasync.StatusFailed || got.Error != r.Error {
					t.Fatalf("stored run %+v", got)
				}
			})
		}
		t.Run("schema drift with policy stop", func(t *testing.T) {
			spec := j.Spec
			spec.Drift = datasync.DriftStop
			if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: spec}); err != nil {
				t.Fatal(err)
			}
			v := version()
			up.Set(func(u *synctest.Upstream) { u.ExtraField, u.DropAddress = true, true })
			defer up.Reset()
			r := f.run(t, j.ID)
			if r.Status != datasync.StatusFailed || r.Attempt != 1 || r.Drift == nil ||
				strings.Join(r.Drift.New, ",") != "phone" || strings.Join(r.Drift.Missing, ",") != "address" {
				t.Fatalf("run %+v drift %+v", r, r.Drift)
			}
			unchanged(t, v)
			spec.Drift = datasync.DriftIgnore
			if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: spec}); err != nil {
				t.Fatal(err)
			}
			up.Set(func(u *synctest.Upstream) { u.DropAddress = false })
			r = f.run(t, j.ID)
			if r.Status != datasync.StatusSucceeded || r.Drift == nil || strings.Join(r.Drift.New, ",") != "phone" || r.Counts.Updated != 10 {
				t.Fatalf("ignore policy: %+v drift %+v", r, r.Drift)
			}
		})
		t.Run("duplicate keys are rejected and recorded", func(t *testing.T) {
			up.Set(func(u *synctest.Upstream) { u.DuplicateAt = 2 })
			defer up.Reset()
			r := f.run(t, j.ID)
			if r.Status != datasync.StatusPartly || r.Counts.Rejected != 1 || r.Counts.Read != 2501 {
				t.Fatalf("run %+v", r)
			}
			es, err := f.sync.RunErrors(ctx, r.ID)
			if err != nil || len(es) != 1 || !strings.Contains(es[0].Reason, "duplicate key") || es[0].Position != "page 2 row 1001" {
				t.Fatalf("errors %+v %v", es, err)
			}
		})
		t.Run("a key repeated on a later page is rejected", func(t *testing.T) {
			up.Set(func(u *synctest.Upstream) { u.RepeatFirstAt = 3 })
			defer up.Reset()
			r := f.run(t, j.ID)
			if r.Status != datasync.StatusPartly || r.Counts.Rejected != 1 || r.Counts.Read != 2501 || r.Counts.Unchanged+r.Counts.Updated != 2500 {
				t.Fatalf("run %+v", r)
			}
			es, err := f.sync.RunErrors(ctx, r.ID)
			if err != nil || len(es) != 1 || !strings.Contains(es[0].Reason, "duplicate key \""+es[0].Key+"\": already read earlier in this run") || es[0].Position != "page 3" {
				t.Fatalf("errors %+v %v", es, err)
			}
		})
	})
}

func TestCursorPaginationAndHMAC(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := synctest.New(t, 2345)
		up.Set(func(u *synctest.Upstream) { u.CursorPages, u.HMACSecret = true, "shared-secret" })
		spec := httpSpec(up, datasync.ModeFull)
		spec.Source.Pagination, spec.Source.Auth, spec.Source.Token, spec.Source.KeyID = "cursor", "hmac", "shared-secret", "hub"
		j := f.job(t, spec)
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 2345, Inserted: 2345})
		if up.Requests != 3 {
			t.Fatalf("%d requests for 3 pages", up.Requests)
		}
		// A wrong secret is refused upstream: the run fails and says so.
		spec.Source.Token = "wrong"
		if _, err := f.sync.UpdateJob(context.Background(), gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "HTTP 401") {
			t.Fatalf("run with a wrong secret: %+v", r)
		}
	})
}

func TestSecretsSealedAtRest(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		f.sealSecrets(t)
		up := synctest.New(t, 10)
		j := f.job(t, httpSpec(up, datasync.ModeFull))
		var stored string
		if err := d.R.QueryRowContext(ctx, `SELECT spec FROM sync_jobs WHERE id = $1`, j.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, synctest.Token) || !strings.Contains(stored, `"token":"sealed:`) {
			t.Fatalf("token stored in clear: %s", stored)
		}
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 10, Inserted: 10})
		// Without the key the job cannot be used, and says why.
		_, err := datasync.New(d, f.cat, datasync.Config{}).Job(ctx, j.ID)
		if !errs.Is(err, errs.KindUnavailable) || !strings.Contains(err.Error(), "encrypted") {
			t.Fatalf("job without the master key: %v", err)
		}
	})
}

func TestRateAndRunTimeout(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := synctest.New(t, 3000)
		spec := httpSpec(up, datasync.ModeFull)
		spec.Limits.RowsPerSecond = 3000 // pages of 1000: the third page waits until 1 s
		j := f.job(t, spec)
		start := time.Now()
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 3000, Inserted: 3000})
		if took := time.Since(start); took < 900*time.Millisecond {
			t.Fatalf("3000 rows at 3000 rows/s took %s", took)
		}
		// A run that outlives its timeout fails, and nothing is applied.
		spec.Limits.RowsPerSecond = 0
		spec.Limits.Timeout = datasync.Duration(time.Second)
		spec.Source.RequestTimeout = datasync.Duration(10 * time.Second)
		if _, err := f.sync.UpdateJob(context.Background(), gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		up.Change(5, 1)
		up.Set(func(u *synctest.Upstream) { u.Slow, u.SlowAt = 3*time.Second, 2 })
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "timed out after 1s") {
			t.Fatalf("run past its timeout: %+v", r)
		}
		if rec, _ := f.sync.Record(context.Background(), f.item.Code, "P0000001"); rec.Version != 1 {
			t.Fatalf("timed-out run changed the dataset: %+v", rec)
		}
	})
}

func pgURLOf(t *testing.T, d *db.DB) string { return d.URL }

func TestResumeAfterInterruption(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 4500)
		j := f.job(t, httpSpec(up, datasync.ModeIncremental))
		cctx, cancel := context.WithCancel(ctx)
		pages := 0
		r, err := f.sync.RunJob(cctx, j.ID, "manual", func(p datasync.Progress) {
			if pages++; pages == 2 {
				cancel() // the process "dies" after two committed pages
			}
		})
		if !errs.Is(err, errs.KindUnavailable) || r.Status != datasync.StatusRunning {
			t.Fatalf("interrupted run: %+v %v", r, err)
		}
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 0 {
			t.Fatalf("interrupted run applied %d records", n)
		}
		before := up.Requests
		r2 := f.run(t, j.ID)
		if r2.ID != r.ID || r2.Cause != "resume" {
			t.Fatalf("did not resume run %s: %+v", r.ID, r2)
		}
		wantCounts(t, r2, datasync.Counts{Read: 4500, Inserted: 4500})
		if got := up.Requests - before; got != 3 {
			t.Fatalf("resume fetched %d pages, want the 3 after the checkpoint", got)
		}
	})
}

func TestJobRunsOnceAtATime(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := synctest.New(t, 2000)
		up.Set(func(u *synctest.Upstream) { u.Slow, u.SlowAt = 500*time.Millisecond, 1 })
		j := f.job(t, httpSpec(up, datasync.ModeFull))
		other := f.sync
		if d.Dialect == db.Postgres {
			// A second replica: its own pool on the same database.
			d2, err := db.Open(context.Background(), pgURLOf(t, d))
			if err != nil {
				t.Fatal(err)
			}
			defer d2.Close()
			other = datasync.New(d2, f.cat, datasync.Config{})
		}
		done := make(chan error, 1)
		go func() {
			_, err := f.sync.RunJob(context.Background(), j.ID, "manual", nil)
			done <- err
		}()
		time.Sleep(150 * time.Millisecond)
		_, err := other.RunJob(context.Background(), j.ID, "manual", nil)
		if !errors.Is(err, datasync.ErrJobBusy) {
			t.Fatalf("second run while the first runs: %v, want ErrJobBusy", err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := other.RunJob(context.Background(), j.ID, "manual", nil); err != nil {
			t.Fatalf("run after the first finished: %v", err)
		}
	})
}
