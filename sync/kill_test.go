package datasync_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// TestKillChild is the process TestSIGKILLResume kills: it runs one job
// and hangs on a slow page. It does nothing unless started by that test.
func TestKillChild(t *testing.T) {
	dsn, job := os.Getenv("SHAREHUB_KILL_DSN"), os.Getenv("SHAREHUB_KILL_JOB")
	if dsn == "" || job == "" {
		return // not a child
	}
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	svc := datasync.New(d, catalog.New(d, catalog.Config{}), datasync.Config{})
	_, err = svc.RunJob(ctx, job, "manual", nil)
	t.Fatalf("the child was meant to be killed, but its run ended: %v", err)
}

// TestSIGKILLResume kills a process in the middle of a run (after some
// pages were staged) and checks that the next run resumes from the last
// checkpoint: no page read twice, nothing lost, nothing applied before
// the run finished.
func TestSIGKILLResume(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		up := synctest.New(t, 6500) // 7 pages of 1000
		up.Set(func(u *synctest.Upstream) { u.Slow, u.SlowAt = time.Minute, 4 })
		spec := httpSpec(up, datasync.ModeIncremental)
		spec.Source.RequestTimeout = datasync.Duration(2 * time.Minute)
		j := f.job(t, spec)
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SHAREHUB_KILL_DSN="+d.URL, "SHAREHUB_KILL_JOB="+j.ID)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		var run datasync.Run
		for deadline := time.Now().Add(30 * time.Second); ; {
			rs, err := f.sync.Runs(ctx, j.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == 1 && rs[0].Counts.Read == 3000 {
				run = rs[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("child did not stage 3 pages: %+v", rs)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // the child now waits on page 4
		if err := cmd.Process.Signal(os.Kill); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 0 {
			t.Fatalf("a killed run applied %d records", n)
		}
		up.Reset()
		before := up.Requests
		var r datasync.Run
		var err error
		for deadline := time.Now().Add(20 * time.Second); ; {
			// On PostgreSQL the server frees the child's advisory lock
			// once it notices the dead connection.
			r, err = f.sync.RunJob(ctx, j.ID, "manual", nil)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.ID != run.ID || r.Cause != "resume" {
			t.Fatalf("resumed %+v, want run %s", r, run.ID)
		}
		wantCounts(t, r, datasync.Counts{Read: 6500, Inserted: 6500})
		if got := up.Requests - before; got != 4 {
			t.Fatalf("resume fetched %d pages, want pages 4–7", got)
		}
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 6500 {
			t.Fatalf("%d records after resume", n)
		}
	})
}
