package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// tamperLog builds the log every tamper test starts from: 1000 entries,
// signed checkpoints at sizes 300, 800 and (on Close) 1000. Stored subtree
// hashes exist for entries 0..255, 256..511, 512..767, 0..511 and so on.
func tamperLog(t *testing.T, d *db.DB) {
	t.Helper()
	ctx := context.Background()
	l := mustOpen(t, d)
	n := 0
	for _, size := range []int{300, 800, 1000} {
		appendN(t, l, n, size-n)
		n = size
		if size < 1000 {
			if _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r := mustVerify(t, d); !r.OK || r.Entries != 1000 || r.Checkpoints != 3 || r.FirstBad != -1 {
		t.Fatalf("untouched log: Verify = %+v", r)
	}
}

func wantProblem(t *testing.T, d *db.DB, problem string, firstBad int64) {
	t.Helper()
	r := mustVerify(t, d)
	if r.OK || r.Problem != problem || r.FirstBad != firstBad {
		t.Fatalf("Verify = %+v\nwant problem %q, first bad %d", r, problem, firstBad)
	}
}

func TestVerifyCleanLog(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		var calls, last uint64
		r, err := audit.Verify(context.Background(), d, mustVerifiers(t), func(done, total uint64) {
			calls++
			if total != 1000 || done < last {
				t.Errorf("progress(%d, %d) after %d", done, total, last)
			}
			last = done
		})
		if err != nil || !r.OK || r.Problem != "" {
			t.Fatalf("Verify = %+v, %v", r, err)
		}
		if calls == 0 || last != 1000 {
			t.Errorf("progress called %d times, last at %d; want it to reach 1000", calls, last)
		}
	})
}

func TestVerifyEmptyLog(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		if r := mustVerify(t, d); !r.OK || r.Entries != 0 {
			t.Fatalf("Verify of an empty log = %+v", r)
		}
		if _, err := audit.Verify(context.Background(), d, nil, nil); !errs.Is(err, errs.KindInvalid) {
			t.Errorf("Verify without verifiers: %v", err)
		}
	})
}

func TestVerifyNamesChangedEntry(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "UPDATE audit_entries SET principal_id = 'prn_mallory' WHERE idx = 123")
		wantProblem(t, d, "entry 123: stored leaf hash does not match its contents", 123)
	})
}

func TestVerifyNamesChangedResources(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "UPDATE audit_entries SET resources = 'licence:other' WHERE idx = 5")
		wantProblem(t, d, "entry 5: stored leaf hash does not match its contents", 5)
	})
}

// An editor who also recomputes the leaf hash is caught by the signed
// checkpoint over the entry; the stored subtree hashes narrow it down.
func TestVerifyNamesRangeOfRehashedEntry(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		ctx := context.Background()
		l := mustOpen(t, d)
		e, err := l.Entry(ctx, 600)
		if err != nil {
			t.Fatal(err)
		}
		e.Status = 200
		e.PrincipalID = "prn_mallory"
		leaf := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(e))
		mustExec(t, d, "UPDATE audit_entries SET principal_id = $1, status = 200, leaf_hash = $2 WHERE idx = 600", e.PrincipalID, leaf)
		wantProblem(t, d, "checkpoint at size 800: root does not match entries 0..799 (first differing stored node covers entries 512..767)", 800)
	})
}

// Changed within the last, partial tile: no stored subtree covers it, the
// final checkpoint does.
func TestVerifyNamesRehashedEntryInLastTile(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		ctx := context.Background()
		l := mustOpen(t, d)
		e, err := l.Entry(ctx, 990)
		if err != nil {
			t.Fatal(err)
		}
		e.Rows = 1_000_000
		leaf := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(e))
		mustExec(t, d, "UPDATE audit_entries SET row_count = 1000000, leaf_hash = $1 WHERE idx = 990", leaf)
		wantProblem(t, d, "checkpoint at size 1000: root does not match entries 0..999", 1000)
	})
}

func TestVerifyNamesDeletedEntry(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "DELETE FROM audit_entries WHERE idx = 500")
		wantProblem(t, d, "entry 500 is missing", 500)
	})
}

// Deleting the newest entries leaves no gap, but a checkpoint covers them.
func TestVerifyNamesDeletedNewestEntries(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "DELETE FROM audit_entries WHERE idx >= 997")
		wantProblem(t, d, "entry 997 is missing", 997)
	})
}

func TestVerifyNamesSwappedEntries(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "UPDATE audit_entries SET idx = -1 WHERE idx = 10")
		mustExec(t, d, "UPDATE audit_entries SET idx = 10 WHERE idx = 20")
		mustExec(t, d, "UPDATE audit_entries SET idx = 20 WHERE idx = -1")
		wantProblem(t, d, "entry 10: stored leaf hash does not match its contents", 10)
	})
}

func TestVerifyNamesEntryMovedOutOfTheLog(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "UPDATE audit_entries SET idx = -5 WHERE idx = 999")
		wantProblem(t, d, "entry 999 is missing", 999)
		mustExec(t, d, "UPDATE audit_entries SET idx = 999 WHERE idx = -5")
		mustExec(t, d, "INSERT INTO audit_entries SELECT -5, at, request_id, principal_id, department_id, method, route, resources, purpose, end_user, case_number, status, row_count, latency_us, request_hash, leaf_hash FROM audit_entries WHERE idx = 7")
		wantProblem(t, d, "entry -5: a row with an index below 0 is outside the log", -5)
	})
}

func TestVerifyNamesEditedCheckpointNote(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "UPDATE audit_checkpoints SET note = replace(note, $1, $2) WHERE size = 800", "\n800\n", "\n801\n")
		r := mustVerify(t, d)
		if r.OK || !strings.HasPrefix(r.Problem, "checkpoint at size 800: signature does not verify") || r.FirstBad != 800 {
			t.Fatalf("Verify = %+v", r)
		}
	})
}

func TestVerifyNamesEditedCheckpointRoot(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "UPDATE audit_checkpoints SET root = (SELECT root FROM audit_checkpoints WHERE size = 300) WHERE size = 800")
		wantProblem(t, d, "checkpoint at size 800: stored size and root do not match its signed note (size 800)", 800)
	})
}

// A checkpoint signed by a key the auditor does not trust does not verify.
func TestVerifyRejectsUnknownSigner(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		other, _ := otherVerifiers(t)
		r, err := audit.Verify(context.Background(), d, other, nil)
		if err != nil || r.OK || !strings.HasPrefix(r.Problem, "checkpoint at size 300: signature does not verify") {
			t.Fatalf("Verify with another key = %+v, %v", r, err)
		}
	})
}

// A stored subtree hash serves proofs; a wrong one is reported even when
// every entry and checkpoint is intact.
func TestVerifyNamesEditedNode(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		tamperLog(t, d)
		mustExec(t, d, "UPDATE audit_nodes SET hash = (SELECT hash FROM audit_nodes WHERE level = 8 AND idx = 0) WHERE level = 8 AND idx = 1")
		wantProblem(t, d, "stored subtree hash of entries 256..511 does not match them", 256)
		mustExec(t, d, "DELETE FROM audit_nodes WHERE level = 8 AND idx = 1")
		wantProblem(t, d, "stored subtree hash of entries 256..511 is missing", 256)
	})
}
