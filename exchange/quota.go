package exchange

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// quotaLedger counts grant calls per day. Counting in the request path with
// a database write per call would put every data call behind SQLite's one
// writer; instead calls are counted in memory and added to grant_usage in
// one transaction every flush interval.
//
// Within one process the quota is exact. With several replicas on
// PostgreSQL, each flush reads back the shared total, so the overshoot is at
// most what the other replicas served in one flush interval. A crash loses
// at most one interval of counts (the audit log still has every call).
type quotaLedger struct {
	db     *db.DB
	mu     sync.Mutex
	counts map[quotaKey]*quotaCount
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

type quotaKey struct{ grant, day string }

type quotaCount struct {
	base    int64 // total in the database when last read or flushed
	pending int64 // taken here, not yet flushed
}

func newQuotaLedger(d *db.DB, every time.Duration) *quotaLedger {
	q := &quotaLedger{db: d, counts: map[quotaKey]*quotaCount{}, stop: make(chan struct{}), done: make(chan struct{})}
	go q.loop(every)
	return q
}

func (q *quotaLedger) loop(every time.Duration) {
	defer close(q.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = q.flush(context.Background())
		case <-q.stop:
			return
		}
	}
}

func (q *quotaLedger) close() error {
	q.once.Do(func() { close(q.stop) })
	<-q.done
	return q.flush(context.Background())
}

func (q *quotaLedger) count(ctx context.Context, k quotaKey) (*quotaCount, error) {
	q.mu.Lock()
	c := q.counts[k]
	q.mu.Unlock()
	if c != nil {
		return c, nil
	}
	var used int64
	err := q.db.R.QueryRowContext(ctx, `SELECT used FROM grant_usage WHERE grant_id = $1 AND day = $2`, k.grant, k.day).Scan(&used)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, db.Interpret(err, "quota usage")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if c := q.counts[k]; c != nil {
		return c, nil
	}
	c = &quotaCount{base: used}
	q.counts[k] = c
	return c, nil
}

func (q *quotaLedger) take(ctx context.Context, grant, day string, limit int64) error {
	c, err := q.count(ctx, quotaKey{grant, day})
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if limit > 0 && c.base+c.pending >= limit {
		return errs.RateLimited("daily quota of %d calls for grant %s is used up for %s", limit, grant, day)
	}
	c.pending++
	return nil
}

func (q *quotaLedger) used(ctx context.Context, grant, day string) (int64, error) {
	c, err := q.count(ctx, quotaKey{grant, day})
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return c.base + c.pending, nil
}

func (q *quotaLedger) flush(ctx context.Context) error {
	q.mu.Lock()
	type delta struct {
		k quotaKey
		n int64
	}
	var ds []delta
	for k, c := range q.counts {
		if c.pending > 0 {
			ds = append(ds, delta{k, c.pending})
		}
	}
	q.mu.Unlock()
	if len(ds) == 0 {
		return nil
	}
	totals := make([]int64, len(ds))
	err := q.db.Tx(ctx, func(tx *sql.Tx) error {
		for i, d := range ds {
			err := tx.QueryRowContext(ctx, `INSERT INTO grant_usage (grant_id, day, used) VALUES ($1, $2, $3)
				ON CONFLICT (grant_id, day) DO UPDATE SET used = grant_usage.used + excluded.used RETURNING used`,
				d.k.grant, d.k.day, d.n).Scan(&totals[i])
			if err != nil {
				return db.Interpret(err, "quota usage")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	today := time.Now().UTC().Add(-48 * time.Hour).Format(time.DateOnly)
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, d := range ds {
		c := q.counts[d.k]
		c.pending -= d.n
		c.base = totals[i]
	}
	for k, c := range q.counts {
		if k.day < today && c.pending == 0 {
			delete(q.counts, k)
		}
	}
	return nil
}
