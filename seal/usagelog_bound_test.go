package seal

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestUsageLogBoundedWhileWritesFail: while the database refuses the
// usage records (a disk full, a primary gone while reads still work, so
// that signing goes on), at most usagePendingMax of them wait in memory;
// past that Sign waits (and gives up with its request) rather than the
// buffer growing without bound, and once the database takes writes again
// every record accepted is written.
func TestUsageLogBoundedWhileWritesFail(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) { testUsageLogBounded(t, d) })
}

func testUsageLogBounded(t *testing.T, d *db.DB) {
	h := newTestHub(t, d)
	org := h.org(t, "襄阳市统计局")
	s := h.seal(t, org, KindOfficial, AlgEd25519)
	restore := dbtest.FailWrites(t, d, "seal_usage_fails", "INSERT ON seal_usage")
	u := newUsageLog(d, 5*time.Millisecond, slog.New(slog.DiscardHandler))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	base := time.Now()
	accepted := 0
	var err error
	for accepted < 3*usagePendingMax {
		at := base.Add(time.Duration(accepted) * time.Microsecond)
		if err = u.add(ctx, UsageRecord{ID: newUsageID(at), SealID: s.ID, Kid: s.Keys[0].Kid, PrincipalID: "p", DepartmentID: org.ID,
			Document: testDoc("统计报表"), Purpose: "报送", SignedAt: at}); err != nil {
			break
		}
		accepted++
	}
	if err == nil || !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("%d records buffered while every write failed (cap %d); last error %v", accepted, usagePendingMax, err)
	}
	if accepted > usagePendingMax {
		t.Errorf("%d records accepted into memory, cap %d", accepted, usagePendingMax)
	}

	restore()
	if err := u.close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.R.QueryRow(`SELECT COUNT(*) FROM seal_usage WHERE seal_id = $1`, s.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != accepted {
		t.Errorf("%d usage records written, %d accepted", n, accepted)
	}
}
