package datasync_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// memSource serves n generated person records in pages; records whose
// index i satisfies i%changeEvery == 0 carry generation gen in their address.
type memSource struct {
	n, page, changeEvery, gen int
}

func (m *memSource) Open(_ context.Context, _ datasync.SourceSpec, req datasync.Request) (datasync.Reader, error) {
	start := 0
	if req.Checkpoint != "" {
		start, _ = strconv.Atoi(req.Checkpoint)
	}
	return &memReader{m: m, next: start}, nil
}

type memReader struct {
	m    *memSource
	next int
}

func (r *memReader) Close() error { return nil }

func (r *memReader) Next(context.Context) (datasync.Page, error) {
	if r.next >= r.m.n {
		return datasync.Page{}, errDoneForTest
	}
	hi := min(r.next+r.m.page, r.m.n)
	recs := make([]datasync.Record, 0, hi-r.next)
	for i := r.next; i < hi; i++ {
		addr := "襄阳市樊城区长征路" + strconv.Itoa(i%977) + "号"
		if r.m.changeEvery > 0 && i%r.m.changeEvery == 0 {
			addr += "（" + strconv.Itoa(r.m.gen) + "）"
		}
		recs = append(recs, datasync.Record{"id": fmt.Sprintf("P%08d", i), "name": "居民" + strconv.Itoa(i),
			"sfzh": fmt.Sprintf("4206021990%08d", i), "address": addr})
	}
	p := datasync.Page{Records: recs, Checkpoint: strconv.Itoa(hi), Position: "rows from " + strconv.Itoa(r.next+1), Total: int64(r.m.n)}
	r.next = hi
	return p, nil
}

var errDoneForTest = io.EOF

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRecords() int {
	if v, err := strconv.Atoi(os.Getenv("SHAREHUB_BENCH_RECORDS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// BenchmarkFullRefresh loads SHAREHUB_BENCH_RECORDS (default 1,000,000)
// records into an empty dataset (the insert path), then runs a full
// refresh in which 1% of them changed (the change-detection path), on each
// backend. It reports records per second for both and the refresh time.
//
//	go test ./sync -run '^$' -bench FullRefresh -benchtime 1x
func BenchmarkFullRefresh(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchFullRefresh(b, dbtest.Open(b, backend))
			}
		})
	}
}

func benchFullRefresh(b *testing.B, d *db.DB) {
	n := benchRecords()
	src := &memSource{n: n, page: 10_000, changeEvery: 100}
	ctx := context.Background()
	f := setup(b, d)
	svc := datasync.New(d, f.cat, datasync.Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})), Connectors: map[string]datasync.Connector{datasync.SourceHTTP: src}})
	j, err := svc.CreateJob(ctx, gajAdmin, datasync.NewJob{ItemCode: f.item.Code, Name: "bench", Spec: datasync.Spec{
		Mode: datasync.ModeFull, KeyFields: []string{"id"}, Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/"}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	r, err := svc.RunJob(ctx, j.ID, "bench", nil)
	if err != nil || r.Counts.Inserted != int64(n) {
		b.Fatalf("load: %+v %v", r, err)
	}
	load := time.Since(start)
	cpu1 := processCPU()
	src.gen = 1
	start = time.Now()
	r, err = svc.RunJob(ctx, j.ID, "bench", nil)
	refresh := time.Since(start)
	cpu2 := processCPU()
	b.StopTimer()
	if err != nil || r.Counts.Updated != int64(n/100) || r.Counts.Unchanged != int64(n-n/100) {
		b.Fatalf("refresh: %+v %v", r, err)
	}
	b.ReportMetric(float64(n)/load.Seconds(), "load-rec/s")
	b.ReportMetric(float64(n)/refresh.Seconds(), "refresh-rec/s")
	b.ReportMetric(refresh.Seconds(), "refresh-s")
	b.Logf("%s: %d records: load %s (%.0f rec/s, this process's CPU %s), full refresh with 1%% changed %s (%.0f rec/s, CPU %s); CPU excludes a PostgreSQL server",
		d.Dialect, n, load.Round(time.Millisecond), float64(n)/load.Seconds(), (cpu1 - cpu0).Round(time.Millisecond),
		refresh.Round(time.Millisecond), float64(n)/refresh.Seconds(), (cpu2 - cpu1).Round(time.Millisecond))
}
