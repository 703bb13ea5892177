package datasync_test

import (
	"context"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// TestScheduleKeptWhileOtherJobsChange: every change of any job (a
// create, an edit, a pause) rebuilt the whole schedule, and an "@every"
// entry added anew counts its interval from then: an "@every 6h" job
// never ran while admins changed some job at least every six hours.
// Entries of unchanged jobs stay as they are.
func TestScheduleKeptWhileOtherJobsChange(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		up := synctest.New(t, 10)
		spec := httpSpec(up, datasync.ModeFull)
		spec.Schedule = "@every 2s"
		j := f.job(t, spec)
		other := f.job(t, httpSpec(up, datasync.ModeFull))
		if err := f.sync.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer f.sync.Stop()
		paused := false
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			paused = !paused
			if _, err := f.sync.SetPaused(ctx, gajAdmin, other.ID, paused); err != nil {
				t.Fatal(err)
			}
		}
		f.sync.Stop()
		rs, err := f.sync.Runs(ctx, j.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			t.Fatalf("no run of an \"@every 2s\" job in 5s while another job was paused and resumed every 250ms")
		}
	})
}

// TestScheduleThatNeverFiresRefused: "0 0 30 2 *" (30 February) was
// accepted and the job silently never ran; "@every -1h" and "@every
// 10ms" ran every second (the cron library rounds them up to 1s).
func TestScheduleThatNeverFiresRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		for _, sched := range []string{"0 0 30 2 *", "0 3 31 4,6 *", "@every -1h", "@every 0s", "@every 10ms"} {
			spec := datasync.Spec{Schedule: sched, KeyFields: []string{"id"}, Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/"}}
			_, err := f.sync.CreateJob(ctx, gajAdmin, datasync.NewJob{ItemCode: f.item.Code, Name: "回落", Spec: spec})
			wantFields(t, err, "/spec/schedule")
		}
		for _, sched := range []string{"0 2 * * *", "@daily", "@every 1h30m", "0 0 29 2 *"} {
			spec := datasync.Spec{Schedule: sched, KeyFields: []string{"id"}, Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/"}}
			if _, err := f.sync.CreateJob(ctx, gajAdmin, datasync.NewJob{ItemCode: f.item.Code, Name: "回落", Spec: spec}); err != nil {
				t.Errorf("%q: %v", sched, err)
			}
		}
	})
}

// TestScheduledTickRunsOnceAcrossReplicas: every replica fires a job's
// schedule; the job lock kept their runs from overlapping but not from
// following each other, so with clocks a little apart a short job ran
// once per replica per tick. A tick runs on the replica that claims it,
// and "@every" jobs, whose entries count from each replica's start, run
// once per interval.
func TestScheduledTickRunsOnceAcrossReplicas(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		other := datasync.New(d, f.cat, datasync.Config{}) // a second replica on the same database
		up := synctest.New(t, 10)
		day := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
		for _, c := range []struct {
			spec  string
			fires []struct {
				replica *datasync.Service
				at      time.Time
			}
			runs int
		}{
			{"0 2 * * *", []struct {
				replica *datasync.Service
				at      time.Time
			}{{f.sync, day}, {other, day}, {other, day}, {other, day.AddDate(0, 0, 1)}, {f.sync, day.AddDate(0, 0, 1)}}, 2},
			{"@every 1h", []struct {
				replica *datasync.Service
				at      time.Time
			}{{f.sync, day.Add(13 * time.Minute)}, {other, day.Add(40 * time.Minute)}, {other, day.Add(65 * time.Minute)}, {f.sync, day.Add(73 * time.Minute)}}, 2},
		} {
			spec := httpSpec(up, datasync.ModeFull)
			spec.Schedule = c.spec
			j := f.job(t, spec)
			for _, fire := range c.fires {
				if err := fire.replica.FireTick(j.ID, c.spec, fire.at); err != nil {
					t.Fatal(err)
				}
			}
			rs, err := f.sync.Runs(ctx, j.ID, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != c.runs {
				t.Errorf("%q fired %d times on two replicas over %d ticks: %d runs, want %d", c.spec, len(c.fires), c.runs, len(rs), c.runs)
			}
		}
	})
}

// TestTickMissedWhileDownIsCaughtUp: a job whose tick fell while no
// replica ran the schedule (a daily job across a restart at its hour, a
// monthly one across a maintenance night) waited for its next tick — a
// month, for a monthly job. Starting the schedule runs it once, with
// cause "catch-up", on one of the replicas starting together; a job whose
// interval has not passed since it last ran is left alone.
func TestTickMissedWhileDownIsCaughtUp(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		other := datasync.New(d, f.cat, datasync.Config{})
		up := synctest.New(t, 10)
		daily := httpSpec(up, datasync.ModeFull)
		daily.Schedule = "0 2 * * *"
		missed := f.job(t, daily)
		hourly := httpSpec(up, datasync.ModeFull)
		hourly.Schedule = "@every 1h"
		recent := f.job(t, hourly)
		// The daily job was last changed three days ago and never ran; the
		// hourly one was changed just now.
		old := time.Now().AddDate(0, 0, -3).UnixMicro()
		if _, err := d.W.ExecContext(ctx, `UPDATE sync_jobs SET created_at = $1, updated_at = $1 WHERE id = $2`, old, missed.ID); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*datasync.Service{f.sync, other} {
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var rs []datasync.Run
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			var err error
			if rs, err = f.sync.Runs(ctx, missed.ID, 10); err != nil {
				t.Fatal(err)
			}
			if len(rs) > 0 && rs[0].FinishedAt != nil {
				break
			}
		}
		f.sync.Stop()
		other.Stop()
		if len(rs) != 1 || rs[0].Cause != "catch-up" || rs[0].Status != datasync.StatusSucceeded {
			t.Fatalf("runs of a daily job whose last three ticks were missed, two replicas starting: %+v; want one catch-up run", rs)
		}
		if rs, _ := f.sync.Runs(ctx, recent.ID, 10); len(rs) != 0 {
			t.Errorf("an hourly job changed just now ran at start: %+v", rs)
		}
		// A restart now has nothing to catch up.
		if err := f.sync.Start(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		f.sync.Stop()
		if rs, _ := f.sync.Runs(ctx, missed.ID, 10); len(rs) != 1 {
			t.Errorf("a second start ran the caught-up job again: %d runs", len(rs))
		}
	})
}
