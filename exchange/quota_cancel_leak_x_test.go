package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestQuotaReservationLeaksOnCancelledCall (review): a call whose context
// ends while its reservation statement is in flight gets an error, but the
// statement still commits on the server: grant_usage.reserved grows by a
// chunk no replica holds, and nothing hands it back (not Close, not the
// day's end: only the next day's row starts afresh). Cancelled calls
// (client timeouts, dropped connections) use up the day's quota with no
// call served.
//
// PostgreSQL only: another session's uncommitted write holds the day's
// row so that the caller's context ends mid-statement; it commits right
// after the call gave up, so the abandoned statement completes before the
// server notices the client went away (if it commits ~10ms later the
// server aborts the statement and nothing leaks: the window is narrow but
// real, and each leak is a whole chunk, up to 1000 calls).
func TestQuotaReservationLeaksOnCancelledCall(t *testing.T) {
	f, d2 := twoReplicas(t, db.Postgres)
	const quota = 8 // chunks of one: every call is one reservation
	g, app, res := quotaGrant(f, quota)
	day := t0.In(shanghai).Format(time.DateOnly)
	bg := context.Background()

	served := int64(0)
	for i := 0; i < quota; i++ {
		tx, err := d2.W.BeginTx(bg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			_, err = tx.ExecContext(bg, `INSERT INTO grant_usage (grant_id, day, used, reserved) VALUES ($1, $2, 0, 0)`, g.ID, day)
		} else {
			_, err = tx.ExecContext(bg, `UPDATE grant_usage SET used = used WHERE grant_id = $1 AND day = $2`, g.ID, day)
		}
		if err != nil {
			t.Fatal(err)
		}
		// The blocker commits as the caller gives up (from a goroutine,
		// so that a fix that lets the statement finish does not hang).
		committed := make(chan error, 1)
		time.AfterFunc(300*time.Millisecond, func() { committed <- tx.Commit() })
		ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
		_, err = f.s.Authorize(ctx, app, res, nil, "")
		cancel()
		if cerr := <-committed; cerr != nil {
			t.Fatal(cerr)
		}
		if err == nil {
			served++
		}
		time.Sleep(300 * time.Millisecond)
		{
			var u, r int64
			d2.R.QueryRowContext(bg, `SELECT used, reserved FROM grant_usage WHERE grant_id = $1 AND day = $2`, g.ID, day).Scan(&u, &r)
			t.Logf("call %d: err %v; used %d reserved %d", i, err, u, r)
		}
	}
	if err := f.s.Close(); err != nil { // hands back all this replica holds
		t.Fatal(err)
	}
	var used, reserved int64
	if err := d2.R.QueryRowContext(bg, `SELECT used, reserved FROM grant_usage WHERE grant_id = $1 AND day = $2`, g.ID, day).Scan(&used, &reserved); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls, %d served; after Close: used %d, reserved %d", quota, served, used, reserved)
	if used != served || reserved != 0 {
		t.Errorf("after Close grant_usage holds used %d, reserved %d; want used %d (the calls served), reserved 0", used, reserved, served)
	}
	s2 := exchange.New(d2, exchange.Config{Now: f.clk.Now})
	defer s2.Close()
	if served < quota {
		if _, err := s2.Authorize(bg, app, res, nil, ""); errs.Is(err, errs.KindRateLimited) {
			t.Errorf("%d of %d calls of the day served, yet another replica is refused: %v", served, quota, err)
		}
	}
}
