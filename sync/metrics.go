package datasync

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descAge = prometheus.NewDesc("sharehub_sync_job_age_seconds",
		"Seconds since the job's last successful run (-1: never).", []string{"job", "item"}, nil)
	descMaxAge = prometheus.NewDesc("sharehub_sync_job_max_age_seconds",
		"How old the item's data may be for its update cycle (0: no deadline).", []string{"job", "item"}, nil)
	descOverdue = prometheus.NewDesc("sharehub_sync_job_overdue",
		"1 when the job's data is older than its update cycle allows.", []string{"job", "item"}, nil)
	descRecords = prometheus.NewDesc("sharehub_sync_dataset_records",
		"Live records in the job's dataset.", []string{"job", "item"}, nil)
	descCompleteness = prometheus.NewDesc("sharehub_sync_job_completeness_ratio",
		"Dataset records over the source's last reported count (full-refresh jobs whose source gives one).", []string{"job", "item"}, nil)
)

// Collector exports every job's freshness and completeness to Prometheus,
// computed at scrape time.
func (s *Service) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Service }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAge, descMaxAge, descOverdue, descRecords, descCompleteness} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs, err := c.s.Health(ctx)
	if err != nil {
		c.s.log.Warn("sync metrics", "error", logText(err))
		return
	}
	for _, h := range hs {
		l := []string{h.JobID, h.ItemCode}
		ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, h.AgeSeconds, l...)
		ch <- prometheus.MustNewConstMetric(descMaxAge, prometheus.GaugeValue, h.MaxAge, l...)
		overdue := 0.0
		if h.Overdue {
			overdue = 1
		}
		ch <- prometheus.MustNewConstMetric(descOverdue, prometheus.GaugeValue, overdue, l...)
		ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(h.Records), l...)
		if h.Completeness >= 0 {
			ch <- prometheus.MustNewConstMetric(descCompleteness, prometheus.GaugeValue, h.Completeness, l...)
		}
	}
}
