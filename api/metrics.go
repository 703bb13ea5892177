package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// Metrics holds the hub's Prometheus metrics. The audit log reports its
// batches through ObserveAuditBatch.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	auditBatch prometheus.Histogram
	auditTime  prometheus.Histogram
}

// NewMetrics registers the hub's metrics (and the database pool's) on reg.
func NewMetrics(reg *prometheus.Registry, d *db.DB) *Metrics {
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sharehub_http_requests_total", Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sharehub_http_request_duration_seconds", Help: "HTTP request latency by route template.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		auditBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sharehub_audit_batch_entries", Help: "Audit entries committed per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		auditTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sharehub_audit_commit_seconds", Help: "Time to commit one audit batch (the append latency every call in it waits for).",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .5, 1},
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.auditBatch, m.auditTime)
	if d != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(d.W, "writer"))
		if d.R != d.W {
			reg.MustRegister(collectors.NewDBStatsCollector(d.R, "reader"))
		}
		if d.Log != nil && d.Log != d.W {
			// PostgreSQL: the audit writer's own pool.
			reg.MustRegister(collectors.NewDBStatsCollector(d.Log, "audit"))
		}
	}
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) observeRequest(method, route string, status int, d time.Duration) {
	method = metricMethod(method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method, route).Observe(d.Seconds())
}

// metricMethod keeps the method label to a fixed set: a client may send
// any token as its method, and each would otherwise start new series.
func metricMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// ObserveAuditBatch records one audit group commit.
func (m *Metrics) ObserveAuditBatch(size int, d time.Duration) {
	m.auditBatch.Observe(float64(size))
	m.auditTime.Observe(d.Seconds())
}
