package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// A log's checkpoints all name it by one origin, and Verify holds them to
// it. Reopening the log under another origin (a changed --audit-origin)
// would sign the next checkpoints with the new name and leave the log
// failing Verify from then on; Open refuses instead, naming both, and the
// log stays as it was.
func TestReopenUnderAnotherOriginIsRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l, err := audit.Open(ctx, d, mustSigner(t), audit.Options{Origin: testOrigin, CheckpointEvery: time.Hour, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 0, 5)
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}

		other, err := audit.Open(ctx, d, mustSigner(t), audit.Options{Origin: "sharehub.elsewhere/audit", CheckpointEvery: time.Hour, Logger: quiet})
		if err == nil {
			appendN(t, other, 5, 5)
			other.Close(ctx)
			t.Fatalf("Open under another origin succeeded; Verify now says %+v", mustVerify(t, d))
		}
		if !strings.Contains(err.Error(), testOrigin) || !strings.Contains(err.Error(), "sharehub.elsewhere/audit") {
			t.Errorf("Open under another origin: %v; want both origins named", err)
		}
		// Under its own origin it opens and goes on.
		l2 := mustOpen(t, d)
		appendN(t, l2, 5, 5)
		if _, err := l2.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if r := mustVerify(t, d); !r.OK || r.Entries != 10 {
			t.Fatalf("Verify = %+v", r)
		}
	})
}

// A checkpoint is a signed note: UTF-8 text with no control characters
// but its line breaks. Open refuses an origin that would make checkpoints
// no note verifier accepts, before anything is written.
func TestOpenRefusesAnOriginNoNoteCanCarry(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		for _, origin := range []string{"sharehub.example/audit\n", "sharehub.example/audit\r", "sharehub\x01example/audit", "sharehub\x7fexample", "sharehub.\xffexample"} {
			l, err := audit.Open(ctx, d, mustSigner(t), audit.Options{Origin: origin, CheckpointEvery: time.Hour, Logger: quiet})
			if err == nil {
				l.Close(ctx)
				t.Errorf("Open with origin %q succeeded", origin)
				continue
			}
			if !strings.Contains(err.Error(), "origin") {
				t.Errorf("Open with origin %q: %v; want the origin named", origin, err)
			}
		}
		if o, err := audit.StoredOrigin(ctx, d); err != nil || o != "" {
			t.Errorf("after refused opens the log names origin %q (%v); want none stored", o, err)
		}
	})
}
