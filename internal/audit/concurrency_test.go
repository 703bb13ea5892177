package audit_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// appendFrom runs goroutines appenders on each log, each appending perG
// entries, and returns every index the logs acknowledged.
func appendFrom(t *testing.T, logs []*audit.Log, goroutines, perG int) []uint64 {
	t.Helper()
	var (
		mu   sync.Mutex
		got  []uint64
		wg   sync.WaitGroup
		errc = make(chan error, goroutines*len(logs))
	)
	for li, l := range logs {
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perG {
					idx, err := l.Append(context.Background(), sampleEntry((li*goroutines+g)*perG+i))
					if err != nil {
						errc <- err
						return
					}
					mu.Lock()
					got = append(got, idx)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("Append: %v", err)
	}
	return got
}

// wantContiguous checks that got holds each of 0..n-1 exactly once.
func wantContiguous(t *testing.T, got []uint64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d indices acknowledged, want %d", len(got), n)
	}
	seen := make([]bool, n)
	for _, i := range got {
		if i >= uint64(n) || seen[i] {
			t.Fatalf("index %d acknowledged twice or out of 0..%d", i, n-1)
		}
		seen[i] = true
	}
}

func TestConcurrentAppends(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		l := mustOpen(t, d)
		got := appendFrom(t, []*audit.Log{l}, 64, 40)
		wantContiguous(t, got, 64*40)
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := mustVerify(t, d); !r.OK || r.Entries != 64*40 {
			t.Fatalf("Verify = %+v", r)
		}
	})
}

// Two Log instances on one database stand for two `serve` replicas: the
// log still has one gapless order, and each replica's tree stays right
// although the other moves it (checked by the checkpoints both write).
func TestTwoReplicasShareOneOrder(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		reloads := &countHandler{msg: "audit tree moved by another writer; reloaded"}
		logs := twoReplicas(t, d, audit.Options{Origin: testOrigin, CheckpointEvery: 5 * time.Millisecond, Logger: slog.New(reloads)})
		got := appendFrom(t, logs, 16, 40)
		wantContiguous(t, got, 2*16*40)
		for _, l := range logs {
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if reloads.n.Load() == 0 {
			t.Error("neither replica saw the other move the tree: the test did not interleave them")
		}
		r := mustVerify(t, d)
		if !r.OK || r.Entries != 2*16*40 || r.Checkpoints < 2 {
			t.Fatalf("Verify = %+v; want OK with checkpoints from both replicas", r)
		}
	})
}

// TestStaleWriterFallsBack has two replicas take turns, one entry at a
// time, so that each finds the log moved by the other at every append. On
// PostgreSQL a batch first goes out in one round trip numbered from the
// writer's own last size; audit_lock_expect must refuse every one of
// these whole, and the writer then takes the locked path, reloads the
// tree and appends after the other replica's entry.
func TestStaleWriterFallsBack(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		moved := &countHandler{msg: "audit log moved by another writer; taking the locked path"}
		reloads := &countHandler{msg: "audit tree moved by another writer; reloaded"}
		// No timed checkpoints: they would reload the tree between turns.
		logs := twoReplicas(t, d, audit.Options{Origin: testOrigin, CheckpointEvery: time.Hour, Logger: slog.New(both{moved, reloads})})
		const turns = 6
		for i := range turns {
			idx, err := logs[i%2].Append(ctx, sampleEntry(i))
			if err != nil {
				t.Fatal(err)
			}
			if idx != uint64(i) {
				t.Fatalf("turn %d: entry %d, want %d", i, idx, i)
			}
		}
		// Every turn after the first finds the log moved (the second
		// replica's first turn too: it opened before the first appended).
		if got := reloads.n.Load(); got != turns-1 {
			t.Errorf("%d reloads, want %d", got, turns-1)
		}
		if d.Dialect == db.Postgres && moved.n.Load() != turns-1 {
			t.Errorf("%d one-round-trip batches refused for a moved log, want %d", moved.n.Load(), turns-1)
		}
		for _, l := range logs {
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if r := mustVerify(t, d); !r.OK || r.Entries != turns {
			t.Fatalf("Verify = %+v; want OK with %d entries", r, turns)
		}
	})
}

// twoReplicas opens two logs with opts on the database of d, each through
// a handle of its own, as two serve replicas would.
func twoReplicas(t *testing.T, d *db.DB, opts audit.Options) []*audit.Log {
	ctx := context.Background()
	d2, err := db.Open(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d2.Close() })
	var logs []*audit.Log
	for _, h := range []*db.DB{d, d2} {
		l, err := audit.Open(ctx, h, mustSigner(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		// Before d2.Close (cleanups run last-in first-out); a second Close
		// of a log is harmless.
		t.Cleanup(func() { l.Close(ctx) })
		logs = append(logs, l)
	}
	return logs
}

// both passes each record to two handlers.
type both [2]slog.Handler

func (b both) Enabled(context.Context, slog.Level) bool { return true }
func (b both) Handle(ctx context.Context, r slog.Record) error {
	b[0].Handle(ctx, r)
	return b[1].Handle(ctx, r)
}
func (b both) WithAttrs([]slog.Attr) slog.Handler { return b }
func (b both) WithGroup(string) slog.Handler      { return b }

// countHandler counts log records with one message.
type countHandler struct {
	msg string
	n   atomic.Int64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
