package audit_test

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

func TestAppendReadBack(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		for i := range 3 {
			e := sampleEntry(i)
			got, err := l.Append(ctx, e)
			if err != nil || got != uint64(i) {
				t.Fatalf("Append #%d = %d, %v; want %d", i, got, err, i)
			}
			back, err := l.Entry(ctx, got)
			if err != nil {
				t.Fatal(err)
			}
			e.Index = got
			if !reflect.DeepEqual(back, e) {
				t.Errorf("Entry(%d) =\n%+v\nwant\n%+v", got, back, e)
			}
		}
		if n, err := l.Size(ctx); err != nil || n != 3 {
			t.Fatalf("Size = %d, %v; want 3", n, err)
		}
		if _, err := l.Entry(ctx, 3); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("Entry(3) error = %v, want not found", err)
		}
		if _, err := l.Append(ctx, audit.Entry{Route: "/x"}); !errs.Is(err, errs.KindInvalid) {
			t.Errorf("Append without time: %v, want invalid", err)
		}
	})
}

// Hostile input must not fail the batch it shares with other entries:
// PostgreSQL rejects NUL and invalid UTF-8 in TEXT.
func TestAppendNormalisesHostileText(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		e := sampleEntry(0)
		e.Time = time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
		e.EndUser = "bad\x00user\xff"
		e.CaseNumber = strings.Repeat("案", 3000) // 9000 bytes
		e.Resources = []string{"licence:a\nb", "", "grant:g", "grant:g"}
		e.Latency = 1500*time.Microsecond + 7
		idx, err := l.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Entry(ctx, idx)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 3, 1, 1, 0, 0, 123456000, time.UTC); !got.Time.Equal(want) || got.Time.Location() != time.UTC {
			t.Errorf("Time = %v, want %v", got.Time, want)
		}
		if got.EndUser != "bad\uFFFDuser\uFFFD" {
			t.Errorf("EndUser = %q", got.EndUser)
		}
		if len(got.CaseNumber) != 4095 || !strings.HasPrefix(e.CaseNumber, got.CaseNumber) {
			t.Errorf("CaseNumber kept %d bytes, want 4095 (whole characters)", len(got.CaseNumber))
		}
		if want := []string{"licence:a\uFFFDb", "grant:g", "grant:g"}; !reflect.DeepEqual(got.Resources, want) {
			t.Errorf("Resources = %q, want %q", got.Resources, want)
		}
		if got.Latency != 1500*time.Microsecond {
			t.Errorf("Latency = %v", got.Latency)
		}
		if e.Resources[0] != "licence:a\nb" {
			t.Error("Append modified the caller's Resources")
		}
		// Named twice, found once.
		found, _, err := l.Search(ctx, audit.Filter{Resource: "grant:g"})
		if err != nil || len(found) != 1 || found[0].Index != idx {
			t.Errorf("Search by a resource named twice = %d entries, %v", len(found), err)
		}
		if r := mustVerify(t, d); !r.OK {
			t.Fatal(r.Problem)
		}
	})
}

func TestLeafHashIsStored(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		appendN(t, l, 0, 5)
		for i := range uint64(5) {
			e, err := l.Entry(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			var stored []byte
			if err := d.R.QueryRowContext(ctx, "SELECT leaf_hash FROM audit_entries WHERE idx = $1", int64(i)).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if want := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(e)); !bytes.Equal(stored, want) {
				t.Errorf("entry %d: stored leaf hash %x, want %x", i, stored, want)
			}
		}
		// The index is part of the leaf: the same contents elsewhere hash differently.
		e, _ := l.Entry(ctx, 1)
		moved := e
		moved.Index = 2
		if bytes.Equal(audit.LeafData(e), audit.LeafData(moved)) {
			t.Error("LeafData does not depend on Index")
		}
	})
}

func TestCloseFlushesAndReopenContinues(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l, err := audit.Open(ctx, d, mustSigner(t), audit.Options{Origin: testOrigin, CheckpointEvery: time.Hour, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 0, 300)
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, sampleEntry(1)); !errs.Is(err, errs.KindUnavailable) {
			t.Errorf("Append after Close: %v, want unavailable", err)
		}
		cp, err := l.Checkpoint(ctx)
		if err != nil || cp.Size != 300 {
			t.Fatalf("checkpoint after Close = size %d, %v; want the final one at 300", cp.Size, err)
		}
		if _, err := audit.OpenCheckpoint(cp.Note, testOrigin, mustVerifiers(t)); err != nil {
			t.Fatal(err)
		}

		l2 := mustOpen(t, d)
		idx := appendN(t, l2, 300, 10)
		for _, i := range idx {
			if i < 300 || i >= 310 {
				t.Fatalf("reopened log assigned index %d, want 300..309", i)
			}
		}
		cp2, err := l2.Checkpoint(ctx)
		if err != nil || cp2.Size != 310 {
			t.Fatalf("Checkpoint = size %d, %v; want 310", cp2.Size, err)
		}
		if r := mustVerify(t, d); !r.OK || r.Entries != 310 || r.Checkpoints != 2 {
			t.Fatalf("Verify = %+v", r)
		}
	})
}

func TestCheckpoint(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		empty, err := l.Checkpoint(ctx)
		if err != nil || empty.Size != 0 {
			t.Fatalf("Checkpoint of empty log = %+v, %v", empty, err)
		}
		appendN(t, l, 0, 10)
		cp, err := l.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		again, err := l.Checkpoint(ctx)
		if err != nil || !reflect.DeepEqual(again, cp) {
			t.Fatalf("second Checkpoint = %+v, %v; want the stored %+v", again, err, cp)
		}
		lines := strings.Split(string(cp.Note), "\n")
		if lines[0] != testOrigin || lines[1] != "10" || lines[3] != "" || !strings.HasPrefix(lines[4], "— "+testOrigin+" ") {
			t.Errorf("note is not a C2SP checkpoint:\n%s", cp.Note)
		}
		opened, err := audit.OpenCheckpoint(cp.Note, testOrigin, mustVerifiers(t))
		if err != nil || opened.Size != 10 || !bytes.Equal(opened.Root, cp.Root) {
			t.Fatalf("OpenCheckpoint = %+v, %v", opened, err)
		}
		if _, err := audit.OpenCheckpoint(cp.Note, "other.example/log", mustVerifiers(t)); !errs.Is(err, errs.KindInvalid) {
			t.Errorf("OpenCheckpoint with the wrong origin: %v", err)
		}
		forged := bytes.Replace(cp.Note, []byte("\n10\n"), []byte("\n11\n"), 1)
		if _, err := audit.OpenCheckpoint(forged, testOrigin, mustVerifiers(t)); !errs.Is(err, errs.KindInvalid) {
			t.Errorf("OpenCheckpoint of an edited note: %v", err)
		}
	})
}

// Checkpoints are written on their own while the tree grows.
func TestCheckpointEvery(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		got := make(chan audit.Checkpoint, 10)
		l, err := audit.Open(ctx, d, mustSigner(t), audit.Options{
			Origin: testOrigin, CheckpointEvery: 20 * time.Millisecond, Logger: quiet,
			OnCheckpoint: func(cp audit.Checkpoint) { got <- cp },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close(ctx)
		appendN(t, l, 0, 3)
		// The three appends may commit in more than one batch, and a tick
		// may fall between them: a timed checkpoint of a prefix is right
		// too. One must come to cover all three, and none may claim more.
		deadline := time.After(5 * time.Second)
		for last := uint64(0); last != 3; {
			select {
			case cp := <-got:
				if cp.Size < last || cp.Size > 3 {
					t.Fatalf("timed checkpoint at size %d after one at %d; 3 entries appended", cp.Size, last)
				}
				last = cp.Size
			case <-deadline:
				t.Fatalf("no checkpoint of all 3 entries within 5s (last at size %d)", last)
			}
		}
	})
}

// A batch that cannot commit fails every Append in it, leaves nothing
// behind, and the log carries on without a gap once the database recovers.
func TestFailedBatchFailsClosed(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var failed atomic.Int64
		l, err := audit.Open(ctx, d, mustSigner(t), audit.Options{
			Origin: testOrigin, CheckpointEvery: time.Hour, Logger: quiet,
			OnBatchError: func(size int, err error) { failed.Add(int64(size)) },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close(ctx)
		appendN(t, l, 0, 10)

		// The entries insert succeeds, the resources insert cannot.
		mustExec(t, d, "ALTER TABLE audit_resources RENAME TO audit_resources_away")
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if idx, err := l.Append(ctx, sampleEntry(10+i)); !errs.Is(err, errs.KindUnavailable) {
					t.Errorf("Append while the database fails = %d, %v; want unavailable", idx, err)
				}
			}()
		}
		wg.Wait()
		if n := failed.Load(); n != 20 {
			t.Errorf("OnBatchError saw %d failed entries, want 20", n)
		}
		if n, err := l.Size(ctx); err != nil || n != 10 {
			t.Fatalf("Size after failed batches = %d, %v; want 10 (nothing partial)", n, err)
		}
		var rows int
		if err := d.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_entries").Scan(&rows); err != nil || rows != 10 {
			t.Fatalf("%d entry rows after failed batches, %v; want 10", rows, err)
		}

		mustExec(t, d, "ALTER TABLE audit_resources_away RENAME TO audit_resources")
		got := appendN(t, l, 30, 5)
		slices.Sort(got)
		if !slices.Equal(got, []uint64{10, 11, 12, 13, 14}) {
			t.Fatalf("indices after recovery = %v, want 10..14", got)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if r := mustVerify(t, d); !r.OK || r.Entries != 15 {
			t.Fatalf("Verify = %+v", r)
		}
	})
}
