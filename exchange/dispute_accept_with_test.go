package exchange_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestAcceptDisputeWithWritesInTheAcceptance: AcceptDisputeWith runs its
// write in the acceptance's transaction, after the open dispute is
// claimed: the write's error undoes the acceptance, a dispute settled
// since it was checked is a conflict without the write, and a write that
// succeeds is committed with the acceptance.
func TestAcceptDisputeWithWritesInTheAcceptance(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		sh, _, provAdmin := conditionalItem(f)
		raise := func(key string) exchange.Dispute {
			t.Helper()
			dp, err := sh.RaiseDispute(ctx, &provAdmin, exchange.NewDispute{ItemCode: "101001-000001", RecordKey: key, Reason: "有误"})
			if err != nil {
				t.Fatal(err)
			}
			return dp
		}
		// mark changes the dispute's reason through tx, and says what
		// status the dispute has in tx.
		mark := func(ctx context.Context, tx *sql.Tx, id, reason string) (string, error) {
			if _, err := tx.ExecContext(ctx, `UPDATE disputes SET reason = $1 WHERE id = $2`, reason, id); err != nil {
				return "", err
			}
			var status string
			err := tx.QueryRowContext(ctx, `SELECT status FROM disputes WHERE id = $1`, id).Scan(&status)
			return status, err
		}

		// The write fails: the dispute stays open, its reason as it was.
		a := raise("k1")
		boom := errors.New("boom")
		_, err := sh.AcceptDisputeWith(ctx, &provAdmin, a.ID, "已更正", `{"x":1}`, func(tx *sql.Tx) error {
			if _, err := mark(ctx, tx, a.ID, "changed"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("acceptance whose write failed: %v, want the write's error", err)
		}
		if got, err := sh.Dispute(ctx, a.ID); err != nil || got.Status != exchange.DisputeOpen || got.Reason != "有误" || got.Resolution != "" || got.Correction != "" {
			t.Fatalf("dispute after a failed write: %+v %v", got, err)
		}

		// Settled meanwhile (after the check): a conflict, the write not run.
		if _, err := sh.CheckAccept(ctx, &provAdmin, a.ID, "已更正"); err != nil {
			t.Fatal(err)
		}
		if _, err := sh.RejectDispute(ctx, &provAdmin, a.ID, "数据无误"); err != nil {
			t.Fatal(err)
		}
		ran := false
		_, err = sh.AcceptDisputeWith(ctx, &provAdmin, a.ID, "已更正", "", func(*sql.Tx) error { ran = true; return nil })
		if errs.KindOf(err) != errs.KindConflict || !strings.Contains(err.Error(), exchange.DisputeRejected) || ran {
			t.Fatalf("acceptance of a rejected dispute: %v (write ran: %v), want a conflict naming its status, without the write", err, ran)
		}

		// The write succeeds: committed with the acceptance, which it sees.
		b := raise("k2")
		var seen string
		got, err := sh.AcceptDisputeWith(ctx, &provAdmin, b.ID, "已更正", `{"x":1}`, func(tx *sql.Tx) error {
			status, err := mark(ctx, tx, b.ID, "changed")
			seen = status
			return err
		})
		if err != nil || got.Status != exchange.DisputeAccepted || got.Reason != "changed" || got.Correction != `{"x":1}` || seen != exchange.DisputeAccepted {
			t.Fatalf("acceptance with a write: %+v %v (status in the write %q)", got, err, seen)
		}
	})
}
