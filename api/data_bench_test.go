package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// BenchmarkDataQueryHTTP drives GET /v1/data/{code}/records?key=K (granted,
// quota-checked, masked, audited with its row count) with wrk on 127.0.0.1
// against a hub holding 100,000 synced records, random keys per request.
// Needs wrk (apt-get install wrk). CONNS (default 64) and WRK_DURATION
// (default 10s) tune it.
//
//	go test ./api -run '^$' -bench DataQueryHTTP -benchtime 1x
func BenchmarkDataQueryHTTP(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Fatal("wrk is required: apt-get install wrk")
	}
	for _, backend := range dbtest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			h := hubtest.Start(b, backend)
			gaj := key(b, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			it := peopleItem(b, h, "人口基础信息", catalog.ShareUnconditional)
			up := synctest.New(b, 100_000)
			var job datasync.Job
			h.Do(b, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "bench", Spec: datasync.Spec{Mode: "full", KeyFields: []string{"id"},
				IgnoreFields: []string{"updated_at"}, Source: datasync.SourceSpec{Kind: "http", URL: up.RecordsURL(), PageSize: 10000, Auth: "bearer", Token: synctest.Token}}}).
				Want(b, http.StatusCreated).JSON(b, &job)
			h.Do(b, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(b, http.StatusOK)
			h.Do(b, "POST", "/v1/applications", h.AppKey, exchange.NewApplication{ItemCode: it.Code, Purpose: "核验", Fields: []string{"id", "address", "sfzh"},
				ValidUntil: time.Now().AddDate(1, 0, 0)}).Want(b, http.StatusCreated)
			h.Do(b, "GET", "/v1/data/"+it.Code+"/records?key=P0000042", h.AppKey, nil, "X-Purpose: 核验").Want(b, http.StatusOK)
			script := filepath.Join(b.TempDir(), "keys.lua")
			lua := fmt.Sprintf(`math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/v1/data/%s/records?key=P%%07d", math.random(1, 100000)),
    {["Authorization"] = "Bearer %s", ["X-Purpose"] = "核验"})
end
done = function(summary, latency, requests)
  io.write(string.format("non2xx=%%d\n", summary.errors.status))
end
`, it.Code, h.AppKey)
			if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
				b.Fatal(err)
			}
			conns, dur := envOr("CONNS", "64"), envOr("WRK_DURATION", "10s")
			before, _ := h.Audit.Size(context.Background())
			cpu0 := processCPU()
			b.ResetTimer()
			out, err := exec.Command("wrk", "-t2", "-c"+conns, "-d"+dur, "--latency", "-s", script, h.URL).CombinedOutput()
			b.StopTimer()
			cpu := processCPU() - cpu0
			if err != nil {
				b.Fatalf("wrk: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
			bad := regexp.MustCompile(`non2xx=(\d+)`).FindSubmatch(out)
			if m == nil || bad == nil || string(bad[1]) != "0" {
				b.Fatalf("wrk output:\n%s", out)
			}
			rate, _ := strconv.ParseFloat(string(m[1]), 64)
			after, _ := h.Audit.Size(context.Background())
			b.ReportMetric(rate, "req/s")
			secs, _ := time.ParseDuration(dur)
			perReq := cpu / time.Duration(rate*secs.Seconds())
			b.ReportMetric(float64(perReq.Microseconds()), "hub-cpu-µs/req")
			b.Logf("%s: %.0f req/s, %d audit entries written, hub CPU %s per request (the hub runs in this process; wrk and PostgreSQL not counted)\n%s",
				backend, rate, after-before, perReq, out)
		})
	}
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
