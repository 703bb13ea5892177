package audit_test

import (
	"context"
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
			sample := sampleEntries()
			b.ResetTimer()
			cpu0 := processCPU()
			pg0, pgOK := postgresCPU()
			appendConcurrently(b, l, sample, 0, b.N)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/entry")
			if pg1, ok := postgresCPU(); dialect == db.Postgres && pgOK && ok {
				b.ReportMetric(float64(pg1-pg0)/float64(time.Microsecond)/float64(b.N), "pg-cpu-µs/entry")
			}
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(entries.Load())/float64(n), "entries/batch")
			}
		})
	}
}

// BenchmarkRawInsert is the baseline for Append: the same rows written with
// the same statements, one transaction per batch of the given size, from
// one goroutine, with no queue, no lock, no size read and no Merkle work.
func BenchmarkRawInsert(b *testing.B) {
	for _, dialect := range dbtest.Backends {
		for _, batch := range []int{50, 1024} {
			b.Run(fmt.Sprintf("%s/batch=%d", dialect, batch), func(b *testing.B) {
				raw := audit.NewRawInserter(dbtest.Open(b, dialect))
				defer raw.Close()
				sample := sampleEntries()
				b.ResetTimer()
				cpu0 := processCPU()
				for done := 0; done < b.N; done += batch {
					n := min(batch, b.N-done)
					if err := raw.Insert(context.Background(), uint64(done), sampleRange(sample, done, n)); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
				b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/entry")
			})
		}
	}
}

// BenchmarkAppendVsRaw alternates blocks of 4,096 entries appended by 64
// goroutines with the same entries written by RawInserter in batches of
// the size Append just achieved, so that both see the same machine (which
// is shared), and reports the rate of each and append/raw.
//
//	go test ./internal/audit -run '^$' -bench BenchmarkAppendVsRaw -benchtime 100000x
func BenchmarkAppendVsRaw(b *testing.B) {
	for _, dialect := range dbtest.Backends {
		b.Run(string(dialect), func(b *testing.B) {
			ctx := context.Background()
			var batches, batched atomic.Int64
			l, err := audit.Open(ctx, dbtest.Open(b, dialect), mustSigner(b), audit.Options{
				Origin: testOrigin, Logger: quiet,
				OnBatch: func(size int, _ time.Duration) { batches.Add(1); batched.Add(int64(size)) },
			})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(ctx)
			raw := audit.NewRawInserter(dbtest.Open(b, dialect))
			defer raw.Close()
			sample := sampleEntries()
			const block = 4096
			var appendTime, rawTime time.Duration
			b.ResetTimer()
			for done := 0; done < b.N; done += block {
				n := min(block, b.N-done)
				batches.Store(0)
				batched.Store(0)
				start := time.Now()
				appendConcurrently(b, l, sample, done, n)
				appendTime += time.Since(start)
				size := max(1, int(batched.Load()/max(1, batches.Load())))
				start = time.Now()
				for i := 0; i < n; i += size {
					if err := raw.Insert(ctx, uint64(done+i), sampleRange(sample, done+i, min(size, n-i))); err != nil {
						b.Fatal(err)
					}
				}
				rawTime += time.Since(start)
			}
			b.StopTimer()
			appendRate, rawRate := float64(b.N)/appendTime.Seconds(), float64(b.N)/rawTime.Seconds()
			b.ReportMetric(appendRate, "append-entries/s")
			b.ReportMetric(rawRate, "raw-entries/s")
			b.ReportMetric(appendRate/rawRate, "append/raw")
		})
	}
}

// sampleEntries are made before any clock starts: the benchmarks measure
// the log, not fmt.Sprintf.
func sampleEntries() []audit.Entry {
	s := make([]audit.Entry, 4096)
	for i := range s {
		s[i] = sampleEntry(i)
	}
	return s
}

func sampleRange(sample []audit.Entry, from, n int) []audit.Entry {
	out := make([]audit.Entry, n)
	for i := range out {
		out[i] = sample[(from+i)%len(sample)]
	}
	return out
}

// appendConcurrently appends n sample entries from 64 goroutines.
func appendConcurrently(b *testing.B, l *audit.Log, sample []audit.Entry, from, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if _, err := l.Append(context.Background(), sample[(from+i)%len(sample)]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
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

// postgresCPU is the user and system CPU time used so far by every process
// of this machine named postgres, children waited for included: the
// server's side of the cost when PostgreSQL runs on the same host (ok is
// false when none is visible). It counts every database of the cluster,
// so it is only meaningful on an otherwise quiet cluster.
func postgresCPU() (total time.Duration, ok bool) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	tick := 10 * time.Millisecond // USER_HZ is 100 on Linux
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		// After "pid (comm) ": state, ppid, ..., utime (14th field) is
		// the 12th, then stime, cutime, cstime.
		f := strings.Fields(s[end+1:])
		if len(f) < 15 {
			continue
		}
		for _, v := range f[11:15] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += time.Duration(n) * tick
		}
		ok = true
	}
	return total, ok
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
