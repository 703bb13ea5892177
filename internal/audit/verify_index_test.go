package audit_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// audit_resources drives every search by resource. A row removed from it
// hides an entry from an auditor's search; a row added or repointed shows
// an entry under a resource it never named. Neither changes audit_entries,
// so only a comparison with the entries' resources column catches it.
func TestVerifyNamesTamperedResourceIndex(t *testing.T) {
	for _, tc := range []struct {
		name, tamper string
		problem      string
		firstBad     int64
	}{
		// appendN appends concurrently: which sample lands at an index
		// varies, so the statements pick rows by what the entries hold.
		{"row removed", "DELETE FROM audit_resources WHERE idx = 40",
			"entry 40: search index audit_resources does not list the resources the entry names", 40},
		{"row renamed", "UPDATE audit_resources SET resource = 'licence:elsewhere' WHERE idx = 40 AND resource LIKE 'licence:%'",
			"entry 40: search index audit_resources does not list the resources the entry names", 40},
		{"row repointed", `UPDATE audit_resources SET idx = (SELECT MIN(e.idx) FROM audit_entries e WHERE e.idx > 40 AND NOT EXISTS
			(SELECT 1 FROM audit_resources r WHERE r.idx = e.idx AND r.resource = audit_resources.resource))
			WHERE idx = 40 AND resource LIKE 'licence:%'`,
			"entry 40: search index audit_resources does not list the resources the entry names", 40},
		{"row added", "INSERT INTO audit_resources (resource, idx) VALUES ('licence:never', 701)",
			"entry 701: search index audit_resources does not list the resources the entry names", 701},
		{"row for no entry", "INSERT INTO audit_resources (resource, idx) VALUES ('licence:1.2.156.7', 5000)",
			"entry 5000: search index audit_resources names an entry that is not in the log", 5000},
		{"row below index 0", "INSERT INTO audit_resources (resource, idx) VALUES ('licence:1.2.156.7', -1)",
			"entry -1: search index audit_resources names an entry that is not in the log", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.Run(t, func(t *testing.T, d *db.DB) {
				tamperLog(t, d)
				mustExec(t, d, tc.tamper)
				wantProblem(t, d, tc.problem, tc.firstBad)
			})
		})
	}
}

// Checkpoints are written as the tree grows: one of a larger size stored
// earlier than one of a smaller size was not written by the hub.
func TestVerifyNamesCheckpointOutOfTimeOrder(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "UPDATE audit_checkpoints SET at = (SELECT at FROM audit_checkpoints WHERE size = 300) - 1 WHERE size = 800")
		wantProblem(t, d, "checkpoint at size 800: stored before the checkpoint at size 300", 800)
	})
}

// Replicas share one log but not one clock: a checkpoint written after
// another replica's, by a clock behind it, is stored no earlier than that
// one, so an intact log still verifies.
func TestCheckpointAfterReplicaWithClockAheadVerifies(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		appendN(t, l, 0, 10)
		if _, err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		// As if another replica, an hour ahead, had written it.
		mustExec(t, d, "UPDATE audit_checkpoints SET at = at + 3600000000 WHERE size = 10")
		appendN(t, l, 10, 5)
		if _, err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if r := mustVerify(t, d); !r.OK || r.Checkpoints != 2 {
			t.Fatalf("Verify = %+v", r)
		}
	})
}
