package datasync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// TestPostgresSource reads an upstream PostgreSQL table (a fresh schema on
// the test server) into datasets on both backends, incrementally.
func TestPostgresSource(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		upURL := dbtest.URL(t, db.Postgres)
		up, err := db.Open(ctx, upURL)
		if err != nil {
			t.Fatal(err)
		}
		defer up.Close()
		if _, err := up.W.ExecContext(ctx, `CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, sfzh TEXT, address TEXT, updated_at TIMESTAMPTZ NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := up.W.ExecContext(ctx, `INSERT INTO people SELECT 'P' || lpad(i::text, 7, '0'), '居民' || i, '420602199001' || lpad(i::text, 6, '0'),
			'樊城区' || i || '号', $1::timestamptz + i * interval '1 second' FROM generate_series(1, 12000) i`, base); err != nil {
			t.Fatal(err)
		}
		spec := datasync.Spec{Mode: datasync.ModeIncremental, CursorField: "updated_at", KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourcePostgres, DSN: upURL,
				Query: `SELECT id, name, sfzh, address, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at
					FROM people WHERE updated_at >= $1::timestamptz ORDER BY updated_at, id`}}
		j := f.job(t, spec)
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 12000, Inserted: 12000})
		if _, err := up.W.ExecContext(ctx, `UPDATE people SET address = address || '（新）', updated_at = $1 WHERE id <= 'P0000050'`, base.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		r := f.run(t, j.ID)
		if r.Counts != (datasync.Counts{Read: 51, Updated: 50, Unchanged: 1}) { // the cursor bound is inclusive: the last record comes again
			t.Fatalf("incremental: %+v (from %s)", r.Counts, r.CursorFrom)
		}
		rec, err := f.sync.Record(ctx, f.item.Code, "P0000007")
		if err != nil || !strings.Contains(string(rec.Data), "樊城区7号（新）") {
			t.Fatalf("record %s %v", rec.Data, err)
		}
	})
}

// TestSchedule runs a job from its cron schedule and stops cleanly.
func TestSchedule(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		up := synctest.New(t, 100)
		spec := httpSpec(up, datasync.ModeFull)
		spec.Schedule = "@every 1s"
		j := f.job(t, spec)
		if err := f.sync.Start(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			rs, err := f.sync.Runs(ctx, j.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) > 0 && rs[len(rs)-1].Status == datasync.StatusSucceeded {
				if rs[len(rs)-1].Cause != "schedule" {
					t.Fatalf("cause %q", rs[len(rs)-1].Cause)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no scheduled run in 10s: %+v", rs)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := f.sync.SetPaused(ctx, gajAdmin, j.ID, true); err != nil {
			t.Fatal(err)
		}
		f.sync.Stop()
		rs, _ := f.sync.Runs(ctx, j.ID, 100)
		time.Sleep(1500 * time.Millisecond)
		rs2, _ := f.sync.Runs(ctx, j.ID, 100)
		if len(rs2) != len(rs) {
			t.Fatalf("runs after Stop: %d → %d", len(rs), len(rs2))
		}
	})
}
