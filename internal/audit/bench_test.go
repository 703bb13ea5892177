package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// appenders is how many goroutines append at once in BenchmarkAppend: the
// number of requests in flight on a busy hub.
const appenders = 64

// BenchmarkAppend measures Append throughput with 64 concurrent appenders,
// group-committed, durable (SQLite synchronous=FULL; PostgreSQL
// synchronous_commit=on). Reports entries/s and the mean batch size.
func BenchmarkAppend(b *testing.B) {
	for _, dialect := range dbtest.Backends {
		b.Run(string(dialect), func(b *testing.B) {
			d := dbtest.Open(b, dialect)
			var batches, entries atomic.Int64
			l, err := audit.Open(context.Background(), d, mustSigner(b), audit.Options{
				Origin: testOrigin, Logger: quiet,
				OnBatch: func(size int, _ time.Duration) { batches.Add(1); entries.Add(int64(size)) },
			})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(context.Background())
			// Entries are made before the clock starts: the benchmark measures
			// the log, not fmt.Sprintf.
			sample := make([]audit.Entry, 4096)
			for i := range sample {
				sample[i] = sampleEntry(i)
			}
			var next atomic.Int64
			b.ResetTimer()
			cpu0 := processCPU()
			var wg sync.WaitGroup
			for range appenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if _, err := l.Append(context.Background(), sample[i%int64(len(sample))]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/entry")
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(entries.Load())/float64(n), "entries/batch")
			}
		})
	}
}

// BenchmarkRawInsert is what Append is measured against: the same rows
// (with a constant where the leaf hash goes) inserted by one goroutine as
// multi-row INSERTs into audit_entries and audit_resources, one
// transaction per batch of the given size, with no Merkle work, no lock,
// no queue. Compare its entries/s with BenchmarkAppend's.
func BenchmarkRawInsert(b *testing.B) {
	for _, dialect := range dbtest.Backends {
		for _, batch := range []int{50, 1024} {
			b.Run(fmt.Sprintf("%s/batch=%d", dialect, batch), func(b *testing.B) {
				d := dbtest.Open(b, dialect)
				ctx := context.Background()
				sample := make([]audit.Entry, 4096)
				for i := range sample {
					sample[i] = sampleEntry(i)
				}
				zero := make([]byte, 32)
				b.ResetTimer()
				for done := 0; done < b.N; done += batch {
					n := min(batch, b.N-done)
					var rows, res []any
					for i := done; i < done+n; i++ {
						e := &sample[i%len(sample)]
						rows = append(rows, int64(i), e.Time.UnixMicro(), e.RequestID, e.PrincipalID, e.DepartmentID, e.Method,
							e.Route, strings.Join(e.Resources, "\n"), e.Purpose, e.EndUser, e.CaseNumber, int64(e.Status),
							int64(e.Rows), e.Latency.Microseconds(), e.RequestHash[:], zero)
						for _, r := range e.Resources {
							res = append(res, r, int64(i))
						}
					}
					err := d.Tx(ctx, func(tx *sql.Tx) error {
						if _, err := tx.ExecContext(ctx, `INSERT INTO audit_entries (idx, at, request_id, principal_id, department_id,
							method, route, resources, purpose, end_user, case_number, status, row_count, latency_us, request_hash, leaf_hash)
							VALUES `+rawPlaceholders(d.Dialect, n, 16), rows...); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `INSERT INTO audit_resources (resource, idx) VALUES `+rawPlaceholders(d.Dialect, len(res)/2, 2), res...)
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// rawPlaceholders is db.Placeholders, but with anonymous "?" on SQLite,
// where thousands of named "$N" make parsing quadratic.
func rawPlaceholders(dialect db.Dialect, rows, cols int) string {
	if dialect == db.Postgres {
		return db.Placeholders(0, rows, cols)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// BenchmarkVerify verifies a log of $AUDIT_BENCH_VERIFY_N entries (default
// 1,000,000) on each backend. Building the log takes a while, so it runs
// only when AUDIT_BENCH_VERIFY=1:
//
//	AUDIT_BENCH_VERIFY=1 go test ./internal/audit -run '^$' -bench BenchmarkVerify -benchtime 1x -timeout 30m
func BenchmarkVerify(b *testing.B) {
	if os.Getenv("AUDIT_BENCH_VERIFY") != "1" {
		b.Skip("set AUDIT_BENCH_VERIFY=1 to build a large log and verify it")
	}
	n := 1_000_000
	if s := os.Getenv("AUDIT_BENCH_VERIFY_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	for _, dialect := range dbtest.Backends {
		b.Run(string(dialect), func(b *testing.B) {
			d := dbtest.Open(b, dialect)
			fill(b, d, n)
			verifiers := mustVerifiers(b)
			b.ResetTimer()
			for range b.N {
				r, err := audit.Verify(context.Background(), d, verifiers, nil)
				if err != nil || !r.OK || r.Entries != uint64(n) {
					b.Fatalf("Verify = %+v, %v", r, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// fill appends n entries through the log with enough appenders to fill
// whole batches, with a checkpoint every 100,000 entries.
func fill(b *testing.B, d *db.DB, n int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	l, err := audit.Open(ctx, d, mustSigner(b), audit.Options{Origin: testOrigin, Logger: quiet, CheckpointEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	const step = 100_000
	for done := 0; done < n; done += step {
		m := min(step, n-done)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 1024 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= m {
						return
					}
					if _, err := l.Append(ctx, sampleEntry(done+i)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if _, err := l.Checkpoint(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a log of %d entries in %s", n, time.Since(start).Round(time.Second))
}

// processCPU is the user and system CPU time this process has used: on a
// shared machine, a steadier measure of cost than wall time. PostgreSQL's
// own CPU is not included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
