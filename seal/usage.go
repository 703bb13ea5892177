package seal

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// UsageRecord is one application of a seal (用印记录).
type UsageRecord struct {
	ID           string    `json:"id"`
	SealID       string    `json:"seal_id"`
	Kid          string    `json:"kid"`
	PrincipalID  string    `json:"principal_id"`
	DepartmentID string    `json:"department_id"`
	Document     Document  `json:"document"`
	Purpose      string    `json:"purpose"`
	SignedAt     time.Time `json:"signed_at"`
}

// newUsageID returns 32 hex digits: microseconds since 1970, then random
// bits, so ids sort by signing time.
func newUsageID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMicro()))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

const (
	usageQueue    = 8192 // records buffered before Sign waits
	usageBatchMax = 500  // rows per INSERT (11 columns: 5,500 parameters)
	// usagePendingMax caps records held while the database is down.
	usagePendingMax = 100_000
)

// usageLog writes usage records in batches from a background goroutine,
// so that signing never waits for a database round trip. When the queue
// is full, Sign waits (back pressure) rather than drop records.
type usageLog struct {
	db      *db.DB
	log     *slog.Logger
	every   time.Duration
	ch      chan UsageRecord
	flush   chan chan error
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run has returned
	once    sync.Once
	err     error
	mu      sync.RWMutex // add holds it shared; close exclusively
	closed  bool
}

func newUsageLog(d *db.DB, every time.Duration, log *slog.Logger) *usageLog {
	u := &usageLog{db: d, log: log, every: every, ch: make(chan UsageRecord, usageQueue),
		flush: make(chan chan error), done: make(chan struct{}), stopped: make(chan struct{})}
	go u.run()
	return u
}

var errUsageClosed = errors.New("seal service is closed")

func (u *usageLog) add(ctx context.Context, r UsageRecord) error {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed {
		return errs.Unavailable(errUsageClosed, "seal service is shutting down")
	}
	select {
	case u.ch <- r:
		return nil
	case <-ctx.Done():
		return errs.Unavailable(ctx.Err(), "usage log is busy")
	}
}

func (u *usageLog) run() {
	defer close(u.stopped)
	t := time.NewTicker(u.every)
	defer t.Stop()
	var pending []UsageRecord
	write := func() error {
		for len(pending) > 0 {
			n := min(len(pending), usageBatchMax)
			if err := u.insert(pending[:n]); err != nil {
				return err
			}
			pending = pending[n:]
		}
		pending = nil
		return nil
	}
	drain := func() {
		for len(pending) < usagePendingMax {
			select {
			case r := <-u.ch:
				pending = append(pending, r)
			default:
				return
			}
		}
	}
	for {
		// While the database is down, stop taking records once usagePendingMax
		// are waiting: the queue fills and Sign waits.
		in := u.ch
		if len(pending) >= usagePendingMax {
			in = nil
		}
		select {
		case r := <-in:
			pending = append(pending, r)
			if len(pending) >= usageBatchMax {
				drain()
				if err := write(); err != nil {
					u.log.Error("seal usage records not written; retrying", "pending", len(pending), "err", err)
				}
			}
		case <-t.C:
			drain()
			if err := write(); err != nil {
				u.log.Error("seal usage records not written; retrying", "pending", len(pending), "err", err)
			}
		case reply := <-u.flush:
			drain()
			reply <- write()
		case <-u.done:
			for {
				drain()
				if len(pending) == 0 {
					return
				}
				if err := write(); err != nil {
					u.err = err
					u.log.Error("seal usage records lost at shutdown", "count", len(pending)+len(u.ch), "err", err)
					return
				}
			}
		}
	}
}

func (u *usageLog) insert(rs []UsageRecord) error {
	const cols = 11
	args := make([]any, 0, len(rs)*cols)
	for _, r := range rs {
		args = append(args, r.ID, r.SealID, r.Kid, r.PrincipalID, r.DepartmentID, r.Document.SHA256, r.Document.Size,
			r.Document.MediaType, r.Document.Name, r.Purpose, r.SignedAt.UnixMicro())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return u.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO seal_usage (id, seal_id, kid, principal_id, department_id, sha256, size, media_type, document_name, purpose, signed_at) VALUES `+
			valuesList(u.db.Dialect, len(rs), cols)+u.db.InsertIgnore(), args...)
		return err
	})
}

// valuesList returns the VALUES rows of a multi-row insert. SQLite treats
// $N as a named parameter and looks each one up in a list, which makes a
// statement with thousands of them quadratic to prepare (it was 90% of
// signing's CPU); anonymous ? parameters are numbered as they are parsed.
func valuesList(d db.Dialect, rows, cols int) string {
	if d != db.SQLite {
		return db.Placeholders(0, rows, cols)
	}
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return strings.Repeat(row+", ", rows-1) + row
}

// flushNow writes everything queued so far.
func (u *usageLog) flushNow(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case u.flush <- reply:
	case <-u.done:
		return errs.Unavailable(errUsageClosed, "seal service is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (u *usageLog) close() error {
	u.once.Do(func() {
		u.mu.Lock() // waits for adds under way; none start after
		u.closed = true
		u.mu.Unlock()
		close(u.done)
		<-u.stopped
	})
	return u.err
}

// FlushUsage writes the usage records buffered so far.
func (s *Service) FlushUsage(ctx context.Context) error {
	if err := s.usage.flushNow(ctx); err != nil {
		return db.Interpret(err, "seal usage")
	}
	return nil
}

// Usage lists a seal's usage records, newest first, a page at a time
// (limit default 50, at most 500); next is the cursor for the following
// page, "" after the last. Administrators and auditors may read any
// seal's records, others only their own organisation's (errs.Forbidden).
// Records still buffered (see Sign) appear after the next flush.
func (s *Service) Usage(ctx context.Context, by *exchange.Principal, sealID, cursor string, limit int) (records []UsageRecord, next string, err error) {
	if by == nil {
		return nil, "", errs.Unauthenticated("sign in to read seal usage")
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		return nil, "", errs.InvalidFields("bad page size", errs.FieldError{Pointer: "?limit", Reason: "at most 500"})
	}
	st, err := s.state(ctx, sealID)
	if err != nil {
		return nil, "", err
	}
	if by.Disabled || !(by.Has(exchange.RoleAdmin, exchange.RoleAuditor) || by.DepartmentID == st.seal.Organisation.ID) {
		return nil, "", errs.Forbidden("seal usage is visible to its organisation, administrators and auditors")
	}
	q := `SELECT id, seal_id, kid, principal_id, department_id, sha256, size, media_type, document_name, purpose, signed_at FROM seal_usage WHERE seal_id = $1`
	args := []any{sealID}
	if cursor != "" {
		q += ` AND id < $2`
		args = append(args, cursor)
	}
	q += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(limit+1)
	rows, err := s.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", db.Interpret(err, "seal usage")
	}
	defer rows.Close()
	for rows.Next() {
		var r UsageRecord
		var at int64
		if err := rows.Scan(&r.ID, &r.SealID, &r.Kid, &r.PrincipalID, &r.DepartmentID, &r.Document.SHA256, &r.Document.Size,
			&r.Document.MediaType, &r.Document.Name, &r.Purpose, &at); err != nil {
			return nil, "", db.Interpret(err, "seal usage")
		}
		r.SignedAt = fromMicros(at)
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", db.Interpret(err, "seal usage")
	}
	if len(records) > limit {
		records = records[:limit]
		next = records[limit-1].ID
	}
	return records, next, nil
}
