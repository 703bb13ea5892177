package exchange_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// twoReplicas opens the same fresh database twice, as two replicas of the
// hub would: the first handle is migrated and carries the fixture (whose
// Service is the first replica); the second is for another Service.
func twoReplicas(t *testing.T, b db.Dialect) (*fixture, *db.DB) {
	t.Helper()
	ctx := context.Background()
	url := dbtest.URL(t, b)
	open := func() *db.DB {
		h, err := db.Open(ctx, url)
		if err != nil {
			t.Fatalf("open %s: %v", b, err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	d1 := open()
	if _, err := d1.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return newFixture(t, d1, exchange.Config{QuotaFlush: 5 * time.Millisecond}), open()
}

func usageRow(t *testing.T, d *db.DB, grantID, day string) (used, reserved int64) {
	t.Helper()
	err := d.R.QueryRowContext(context.Background(), `SELECT used, reserved FROM grant_usage WHERE grant_id = $1 AND day = $2`, grantID, day).Scan(&used, &reserved)
	if err != nil {
		t.Fatalf("grant_usage %s %s: %v", grantID, day, err)
	}
	return used, reserved
}

// TestQuotaHoldsAcrossReplicas: two Services on one database (two
// replicas) calling at once under one grant serve exactly its daily quota
// between them. Each used to count only its own calls and served up to
// the whole quota itself.
func TestQuotaHoldsAcrossReplicas(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			const quota, workers, calls = 137, 6, 30 // 2 × 6 × 30 = 360 attempts
			f, d2 := twoReplicas(t, b)
			ctx := context.Background()
			s2 := exchange.New(d2, exchange.Config{Now: f.clk.Now, QuotaFlush: 5 * time.Millisecond})
			t.Cleanup(func() { s2.Close() })
			g, app, res := quotaGrant(f, quota)

			var served, limited [2]atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for r, s := range []*exchange.Service{f.s, s2} {
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						for range calls {
							_, err := s.Authorize(ctx, app, res, []string{"name"}, "")
							switch {
							case err == nil:
								served[r].Add(1)
							case errs.Is(err, errs.KindRateLimited):
								limited[r].Add(1)
							default:
								t.Errorf("replica %d: Authorize: %v", r, err)
								return
							}
						}
					}()
				}
			}
			close(start)
			wg.Wait()
			total := served[0].Load() + served[1].Load()
			t.Logf("served %d + %d, refused %d + %d", served[0].Load(), served[1].Load(), limited[0].Load(), limited[1].Load())
			if total != quota {
				t.Fatalf("the replicas served %d calls together (%d + %d), want the quota %d", total, served[0].Load(), served[1].Load(), quota)
			}
			if err := f.s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			day := t0.In(shanghai).Format(time.DateOnly)
			if used, reserved := usageRow(t, f.d, g.ID, day); used != quota || reserved != 0 {
				t.Fatalf("grant_usage after both closed: used %d, reserved %d; want %d and 0", used, reserved, quota)
			}
		})
	}
}

// TestQuotaReservationsHandedBack: a replica's unserved chunk keeps the
// other from it (under-use, never overshoot) until the replica closes or
// its day ends; then the other may serve it.
func TestQuotaReservationsHandedBack(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			const quota = 100
			f, d2 := twoReplicas(t, b)
			ctx := context.Background()
			s2 := exchange.New(d2, exchange.Config{Now: f.clk.Now, QuotaFlush: 5 * time.Millisecond})
			t.Cleanup(func() { s2.Close() })
			g, app, res := quotaGrant(f, quota)
			day := t0.In(shanghai).Format(time.DateOnly)

			// One call on the first replica reserves a chunk of 100/8.
			if _, err := f.s.Authorize(ctx, app, res, nil, ""); err != nil {
				t.Fatal(err)
			}
			drain := func(s *exchange.Service) int {
				n := 0
				for {
					_, err := s.Authorize(ctx, app, res, nil, "")
					if errs.Is(err, errs.KindRateLimited) {
						return n
					}
					if err != nil {
						t.Fatal(err)
					}
					n++
				}
			}
			if n := drain(s2); n != quota-12 {
				t.Fatalf("the second replica served %d calls beside the first's chunk of 12, want %d", n, quota-12)
			}
			if err := f.s.Close(); err != nil {
				t.Fatal(err)
			}
			// The second replica's calls are in used or still in reserved
			// (not yet flushed); the first's chunk is back.
			if used, reserved := usageRow(t, f.d, g.ID, day); used+reserved != quota-11 {
				t.Fatalf("after the first replica closed: used %d + reserved %d, want %d", used, reserved, quota-11)
			}
			time.Sleep(1100 * time.Millisecond) // the second replica trusts "used up" for a second
			if n := drain(s2); n != 11 {
				t.Fatalf("after the first replica closed, the second served %d more calls, want the 11 handed back", n)
			}
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			if used, reserved := usageRow(t, f.d, g.ID, day); used != quota || reserved != 0 {
				t.Fatalf("grant_usage: used %d, reserved %d; want %d and 0", used, reserved, quota)
			}
		})
	}
}

// TestQuotaChunkOfPastDayHandedBack: a chunk reserved late in the day
// (China time) is handed back by the next flush once the day is over, so
// the day's row ends with what was served.
func TestQuotaChunkOfPastDayHandedBack(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d, exchange.Config{QuotaFlush: 5 * time.Millisecond})
		last := time.Date(2031, 5, 20, 23, 59, 59, 0, shanghai)
		f.clk.Set(last.Add(-time.Hour))
		g, app, res := quotaGrant(f, 80)
		f.clk.Set(last)
		if _, err := f.s.Authorize(ctx, app, res, nil, ""); err != nil {
			t.Fatal(err)
		}
		f.clk.Set(time.Date(2031, 5, 21, 0, 0, 1, 0, shanghai))
		deadline := time.Now().Add(10 * time.Second)
		for {
			var used, reserved int64
			err := d.R.QueryRowContext(ctx, `SELECT used, reserved FROM grant_usage WHERE grant_id = $1 AND day = $2`, g.ID, "2031-05-20").Scan(&used, &reserved)
			if err == nil && used == 1 && reserved == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("2031-05-20 after midnight: used %d, reserved %d (%v); want 1 and 0", used, reserved, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if used, err := f.s.QuotaUsedToday(ctx, g.ID); err != nil || used != 0 {
			t.Fatalf("QuotaUsedToday on 2031-05-21 = %d, %v; want 0", used, err)
		}
	})
}
