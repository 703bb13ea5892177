package catalog_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// benchItems is the scale of the city's directory.
const benchItems = 18000

// loadDepartments inserts testdata/departments.csv and returns them.
func loadDepartments(tb testing.TB, d *db.DB) []catalog.GenDepartment {
	tb.Helper()
	fh, err := os.Open(filepath.Join("..", "testdata", "departments.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	var out []catalog.GenDepartment
	for _, r := range recs[1:] {
		var parent any
		if r[4] != "" {
			parent = r[4]
		}
		if _, err := d.W.ExecContext(context.Background(), `INSERT INTO departments (id, code, name, kind, parent_id, created_at) VALUES ($1, $2, $3, $4, $5, 0)`,
			r[0], r[1], r[2], r[3], parent); err != nil {
			tb.Fatal(err)
		}
		out = append(out, catalog.GenDepartment{Name: r[2], Code: r[1]})
	}
	return out
}

var (
	genOnce sync.Once
	genPath string
)

// generatedFile writes the generator's 18,000 items as an xlsx once.
func generatedFile(tb testing.TB, deps []catalog.GenDepartment) string {
	genOnce.Do(func() {
		items := catalog.Generate(benchItems, 1, deps)
		w, err := sheet.NewWriter(catalog.SpecFor(catalog.LibraryNames), sheet.WriterOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		for i := range items {
			w.Append(catalog.SheetItems, items[i].Row())
			for _, fr := range items[i].FieldRows() {
				w.Append(catalog.SheetFields, fr)
			}
		}
		dir, _ := os.MkdirTemp("", "catalog-bench")
		genPath = filepath.Join(dir, "catalog18k.xlsx")
		fh, _ := os.Create(genPath)
		if _, err := w.WriteTo(fh); err != nil {
			tb.Fatal(err)
		}
		fh.Close()
	})
	return genPath
}

// BenchmarkImport18k imports 18,000 items with about ten fields each from
// xlsx into an empty directory, in one transaction. Reported: seconds per
// import and the Go heap's peak during it.
func BenchmarkImport18k(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d := dbtest.Open(b, backend)
				deps := loadDepartments(b, d)
				path := generatedFile(b, deps)
				s := catalog.New(d, catalog.Config{})
				runtime.GC()
				stop := watchHeap()
				b.StartTimer()
				rep, err := s.Import(context.Background(), path, catalog.ImportOptions{By: admin, Commit: true, Publish: true})
				b.StopTimer()
				peak := stop()
				if err != nil || !rep.Committed || rep.Created != benchItems {
					b.Fatalf("import: %v %+v", err, rep)
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			}
		})
	}
}

// watchHeap samples the heap in use until stopped and returns its peak.
func watchHeap() func() uint64 {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse+m.StackInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak }
}

// searchQueries mix one-, two-, three- and four-character queries and a
// two-word one, as people type them.
var searchQueries = []string{"户籍", "登记", "婚姻登记", "不动产", "社保", "户", "证", "信息", "参保", "营业", "许可", "学籍",
	"医保结算", "公积金", "不动产 抵押", "gmsfhm", "出生医学证明", "排污", "景区", "纳税信用"}

// BenchmarkSearch18k runs the query mix over 18,000 published items and
// reports the p50 and p99 latency of single searches.
func BenchmarkSearch18k(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			d := dbtest.Open(b, backend)
			deps := loadDepartments(b, d)
			s := catalog.New(d, catalog.Config{})
			if _, err := s.Import(context.Background(), generatedFile(b, deps), catalog.ImportOptions{By: admin, Commit: true, Publish: true}); err != nil {
				b.Fatal(err)
			}
			if backend == db.Postgres {
				d.W.ExecContext(context.Background(), "ANALYZE")
			}
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q := searchQueries[i%len(searchQueries)]
				t := time.Now()
				if _, err := s.Search(ctx, catalog.SearchQuery{Q: q}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
