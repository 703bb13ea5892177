package exchange

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
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
// A grant with a daily quota is served from reservations: a replica takes
// a chunk of the day's remaining quota in one atomic statement (reserved +
// k, only while used + reserved + k stays within the quota) and serves
// calls from it without touching the database; the flush moves the calls
// served from reserved to used. The replicas sharing one database together
// never serve more than the quota. Chunks are an eighth of what remains
// (at most maxQuotaChunk), so they shrink as the quota runs out and the
// last calls of a day are reserved one at a time.
//
// The price is under-use, never overshoot: a replica's unserved chunk is
// handed back when its Service closes and by the first flush after its
// day has passed, but while it holds one another replica may be refused
// calls the quota still has room for (at most the chunks held, each at
// most an eighth of what remained when it was taken), and a replica that
// found the quota used up believes it for quotaFullFor before asking
// again. A replica that stops without Close (a crash) keeps its chunk,
// and the calls it served but had not flushed, in reserved until the day
// ends: they stay counted against the quota, not in used (the audit log
// still has every call). Near the end of a quota every call is one write
// (a chunk of one), as is every call of a quota under 16. Grants without
// a quota are only counted.
type quotaLedger struct {
	db     *db.DB
	today  func() string // the current day in the hub's time zone, YYYY-MM-DD
	mu     sync.Mutex
	counts map[quotaKey]*quotaCount
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	closed bool // Close handed the chunks back: reserve no more
}

type quotaKey struct{ grant, day string }

// quotaCount is one grant's day as this replica knows it. Fields other
// than resMu are guarded by quotaLedger.mu.
type quotaCount struct {
	used    int64 // grant_usage.used when last read or written: calls served and flushed by every replica
	seenRes int64 // grant_usage.reserved when last read or written: with used, sizes the next chunk
	pending int64 // served here, not yet flushed
	chunked int64 // of pending, served from reservations (the flush moves them from reserved to used)
	avail   int64 // reserved here, not yet served
	release int64 // reservations given up (a day over, closing), handed back at the next flush
	// fullUntil: the quota was found used up; refuse without asking the
	// database until then (another replica may hand a chunk back).
	fullUntil time.Time
	resMu     sync.Mutex // one reservation at a time per grant and day
}

// maxQuotaChunk bounds a reservation, so that a replica stopped without
// Close strands at most this many calls of a large quota for the day.
const maxQuotaChunk = 1000

// quotaFullFor is how long a replica trusts that a quota is used up.
const quotaFullFor = time.Second

// quotaChunk is how many calls to reserve when remaining are left.
func quotaChunk(remaining int64) int64 {
	return min(max(remaining/8, 1), maxQuotaChunk, remaining)
}

func newQuotaLedger(d *db.DB, every time.Duration, today func() string) *quotaLedger {
	q := &quotaLedger{db: d, today: today, counts: map[quotaKey]*quotaCount{}, stop: make(chan struct{}), done: make(chan struct{})}
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
			_ = q.flush(context.Background(), false)
		case <-q.stop:
			return
		}
	}
}

// close stops the flushes and writes what is pending, handing every chunk
// not yet served back to the other replicas.
func (q *quotaLedger) close() error {
	q.once.Do(func() { close(q.stop) })
	<-q.done
	// No reservation starts once closed is set; wait for those in flight,
	// so that the last flush hands back what they reserved.
	q.mu.Lock()
	q.closed = true
	cs := make([]*quotaCount, 0, len(q.counts))
	for _, c := range q.counts {
		cs = append(cs, c)
	}
	q.mu.Unlock()
	for _, c := range cs {
		// A reservation in flight holds resMu until it is recorded.
		c.resMu.Lock()
		c.resMu.Unlock()
	}
	return q.flush(context.Background(), true)
}

func (q *quotaLedger) count(ctx context.Context, k quotaKey) (*quotaCount, error) {
	q.mu.Lock()
	c := q.counts[k]
	q.mu.Unlock()
	if c != nil {
		return c, nil
	}
	var used, reserved int64
	err := q.db.R.QueryRowContext(ctx, `SELECT used, reserved FROM grant_usage WHERE grant_id = $1 AND day = $2`, k.grant, k.day).Scan(&used, &reserved)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, db.Interpret(err, "quota usage")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if c := q.counts[k]; c != nil {
		return c, nil
	}
	c = &quotaCount{used: used, seenRes: reserved}
	q.counts[k] = c
	return c, nil
}

// serve takes one call from c's chunk, if it has any left.
func (q *quotaLedger) serve(c *quotaCount) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c.avail == 0 {
		return false
	}
	c.avail--
	c.pending++
	c.chunked++
	return true
}

func (q *quotaLedger) take(ctx context.Context, grant, day string, limit int64) error {
	k := quotaKey{grant, day}
	c, err := q.count(ctx, k)
	if err != nil {
		return err
	}
	if limit <= 0 {
		q.mu.Lock()
		c.pending++
		q.mu.Unlock()
		return nil
	}
	if q.serve(c) {
		return nil
	}
	// The chunk is spent: one caller reserves the next while the others
	// wait for it rather than each reserving one.
	c.resMu.Lock()
	defer c.resMu.Unlock()
	if q.serve(c) {
		return nil
	}
	used := func() error {
		return errs.RateLimited("daily quota of %d calls for grant %s is used up for %s", limit, grant, day)
	}
	q.mu.Lock()
	full, closed := time.Now().Before(c.fullUntil), q.closed
	q.mu.Unlock()
	if full {
		return used()
	}
	if closed {
		return errs.Unavailable(nil, "the exchange is closing")
	}
	got, err := q.reserve(ctx, k, limit, c)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if got == 0 {
		c.fullUntil = time.Now().Add(quotaFullFor)
		return used()
	}
	if err := ctx.Err(); err != nil {
		// The caller has gone: keep the whole chunk for the next calls
		// (or hand it back at the flush), and serve nothing.
		if day != q.today() {
			c.release += got
		} else {
			c.avail += got
		}
		return errs.Unavailable(err, "request ended while its quota was reserved")
	}
	c.pending++
	c.chunked++
	if got--; day != q.today() {
		// Reserved as the day ended: serve this call (it began in the
		// day) and hand the rest back.
		c.release += got
	} else {
		c.avail += got
	}
	return nil
}

// reserve takes a chunk of what remains of quota limit for k and returns
// its size, 0 when nothing remains. It refreshes c.used and c.seenRes.
// The caller holds c.resMu.
func (q *quotaLedger) reserve(ctx context.Context, k quotaKey, limit int64, c *quotaCount) (int64, error) {
	// What remains is a guess from the last read (other replicas reserve
	// and hand back meanwhile), and at least one call is always asked
	// for: a chunk too big for what really remains is refused by the
	// statement, and the next is sized by what the refusal read.
	q.mu.Lock()
	remaining := max(limit-c.used-c.seenRes, 1)
	q.mu.Unlock()
	// Not on the caller's context: a call that gives up while the
	// statement runs must not leave a committed chunk nobody records
	// (it would be held until the day ends, serving no one). The chunk
	// this returns is kept (avail) whether or not the caller still waits.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for remaining > 0 {
		n := quotaChunk(remaining)
		var used, reserved int64
		err := q.db.W.QueryRowContext(ctx, `INSERT INTO grant_usage (grant_id, day, used, reserved) VALUES ($1, $2, 0, $3)
			ON CONFLICT (grant_id, day) DO UPDATE SET reserved = grant_usage.reserved + excluded.reserved
			WHERE grant_usage.used + grant_usage.reserved + excluded.reserved <= $4 RETURNING used, reserved`,
			k.grant, k.day, n, limit).Scan(&used, &reserved)
		if err == nil {
			q.seen(c, used, reserved)
			return n, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, db.Interpret(err, "quota reservation")
		}
		// Less than n remains: ask again for a chunk of what does.
		err = q.db.W.QueryRowContext(ctx, `SELECT used, reserved FROM grant_usage WHERE grant_id = $1 AND day = $2`, k.grant, k.day).Scan(&used, &reserved)
		if err != nil {
			return 0, db.Interpret(err, "quota usage")
		}
		q.seen(c, used, reserved)
		remaining = limit - used - reserved
	}
	return 0, nil
}

// seen records c's grant_usage row as read or written at some moment
// (used only grows: a read overtaken by a later one does not lower it).
func (q *quotaLedger) seen(c *quotaCount, used, reserved int64) {
	q.mu.Lock()
	c.used = max(c.used, used)
	c.seenRes = reserved
	q.mu.Unlock()
}

func (q *quotaLedger) used(ctx context.Context, grant, day string) (int64, error) {
	c, err := q.count(ctx, quotaKey{grant, day})
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return c.used + c.pending, nil
}

// flush writes the calls served since the last flush and hands back the
// chunks given up: those of days gone by and, when closing, all of them.
func (q *quotaLedger) flush(ctx context.Context, closing bool) error {
	type delta struct {
		k                  quotaKey
		served, fromChunks int64 // added to used; taken off reserved
		released           int64 // taken off reserved
	}
	var ds []delta
	q.mu.Lock()
	today := ""
	if q.today != nil {
		today = q.today()
	}
	for k, c := range q.counts {
		if closing || k.day != today {
			c.release += c.avail
			c.avail = 0
		}
		if c.pending > 0 || c.release > 0 {
			ds = append(ds, delta{k, c.pending, c.chunked, c.release})
		}
	}
	q.mu.Unlock()
	if len(ds) == 0 {
		return nil
	}
	// Rows in one order on every replica: two flushes of the same grants
	// in map order deadlocked on PostgreSQL (one aborted after 1 s, and
	// calls refilling their chunks waited behind it).
	slices.SortFunc(ds, func(a, b delta) int {
		return cmp.Or(strings.Compare(a.k.grant, b.k.grant), strings.Compare(a.k.day, b.k.day))
	})
	type row struct{ used, reserved int64 }
	totals := make([]row, len(ds))
	err := q.db.Tx(ctx, func(tx *sql.Tx) error {
		for i, d := range ds {
			err := tx.QueryRowContext(ctx, `INSERT INTO grant_usage (grant_id, day, used, reserved) VALUES ($1, $2, $3, 0)
				ON CONFLICT (grant_id, day) DO UPDATE SET used = grant_usage.used + excluded.used, reserved = grant_usage.reserved - $4
				RETURNING used, reserved`,
				d.k.grant, d.k.day, d.served, d.fromChunks+d.released).Scan(&totals[i].used, &totals[i].reserved)
			if err != nil {
				return db.Interpret(err, "quota usage")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, d := range ds {
		c := q.counts[d.k]
		c.pending -= d.served
		c.chunked -= d.fromChunks
		c.release -= d.released
		c.used = max(c.used, totals[i].used)
		c.seenRes = totals[i].reserved
	}
	// Forget days before yesterday once settled: a call that began
	// yesterday may still be counting.
	cutoff := today
	if t, err := time.Parse(time.DateOnly, today); err == nil {
		cutoff = t.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	for k, c := range q.counts {
		if k.day < cutoff && c.pending == 0 && c.avail == 0 && c.release == 0 {
			delete(q.counts, k)
		}
	}
	return nil
}
