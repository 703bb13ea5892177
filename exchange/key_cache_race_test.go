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
)

// TestRevokeRacesKeyCache: RevokeKey (and DisablePrincipal) update the
// row, then drop the key from the cache. An Authenticate that read the row
// before the update but put its result into the cache after the drop would
// re-cache the key as valid, and the revoked key would keep working on this
// replica for up to KeyCacheTTL (5s by default), although "revocations made
// by this process apply at once".
// Here the racing Authenticate always misses the cache (its clock jumps past
// the TTL), so a load is nearly always in flight when RevokeKey runs.
func TestRevokeRacesKeyCache(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{KeyCacheTTL: 5 * time.Second})
		ctx := context.Background()
		dep := f.dept(uid("race"), "")
		p := f.principal(dep.ID, "app", exchange.RoleApp)
		const rounds = 200
		accepted := 0
		for i := 0; i < rounds; i++ {
			k, secret := f.key(p, time.Time{})
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					f.clk.Advance(6 * time.Second)
					_, _, _ = f.s.Authenticate(ctx, secret)
				}
			}()
			time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
			if _, err := f.s.RevokeKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			stop.Store(true)
			wg.Wait()
			// This call starts after RevokeKey returned: it must fail.
			if _, _, err := f.s.Authenticate(ctx, secret); err == nil {
				accepted++
			}
		}
		if accepted > 0 {
			t.Fatalf("a key revoked by this service was accepted afterwards in %d of %d rounds", accepted, rounds)
		}
	})
}
