package exchange_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
)

// TestQuotaFlushesDoNotDeadlock (review): each replica's flush updates the
// grant_usage rows of many grants in one transaction in map order, which
// differs between replicas: two replicas flushing the same grants lock
// the rows in opposite orders and PostgreSQL aborts one with a deadlock
// (after deadlock_timeout, 1s by default, while every reservation of those
// rows, now in the request path, waits). Counts pg_stat_database.deadlocks.
func TestQuotaFlushesDoNotDeadlock(t *testing.T) {
	f, d2 := twoReplicas(t, db.Postgres)
	ctx := context.Background()
	s2 := exchange.New(d2, exchange.Config{Now: f.clk.Now, QuotaFlush: time.Millisecond})
	t.Cleanup(func() { s2.Close() })
	type gr struct {
		app *exchange.Principal
		res exchange.Resource
	}
	var gs []gr
	for range 40 {
		_, app, res := quotaGrant(f, 0) // no quota: counted and flushed only
		gs = append(gs, gr{app, res})
	}
	deadlocks := func() int64 {
		var n int64
		if err := f.d.R.QueryRowContext(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deadlocks()
	stop := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for _, s := range []*exchange.Service{f.s, s2} {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; time.Now().Before(stop); i++ {
					g := gs[i%len(gs)]
					if _, err := s.Authorize(ctx, g.app, g.res, nil, ""); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // pg_stat is updated asynchronously
	after := deadlocks()
	if after > before {
		t.Errorf("quota flushes of two replicas deadlocked %d times in 3s", after-before)
	}
}
