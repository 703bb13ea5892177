package seal

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

const (
	usageCols     = 10
	usageBatchMax = 2000 // rows per INSERT: 20,000 parameters, under both engines' limits
	// usagePendingMax caps the records buffered (while the database is
	// slow or down); past it Sign waits rather than drop records.
	usagePendingMax = 100_000
)

const usageInsert = `INSERT INTO seal_usage (seal_id, id, kid, principal_id, sha256, size, media_type, document_name, purpose, signed_at) VALUES `

// usageLog writes usage records in batches from a background goroutine,
// so that signing never waits for a database round trip. Sign appends to
// a buffer under a mutex; the writer swaps the buffer out every flush
// interval, or as soon as a full batch is waiting, and writes it in one
// transaction.
type usageLog struct {
	db    *db.DB
	log   *slog.Logger
	every time.Duration

	mu    sync.Mutex
	buf   []UsageRecord
	spare []UsageRecord
	// held counts the records the writer has taken and not yet written
	// (a batch in flight, or one that failed and waits to be retried):
	// with buf, what is in memory.
	held    int
	drained chan struct{} // closed (and replaced) each time the writer takes buf
	closed  bool

	kick    chan struct{} // wakes the writer for a full batch
	flush   chan chan error
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run has returned
	once    sync.Once
	err     error
	full    *sql.Stmt // the INSERT of usageBatchMax rows, prepared once
}

func newUsageLog(d *db.DB, every time.Duration, log *slog.Logger) *usageLog {
	u := &usageLog{db: d, log: log, every: every, drained: make(chan struct{}),
		kick: make(chan struct{}, 1), flush: make(chan chan error),
		done: make(chan struct{}), stopped: make(chan struct{})}
	go u.run()
	return u
}

var errUsageClosed = errors.New("seal service is closed")

func (u *usageLog) add(ctx context.Context, r UsageRecord) error {
	u.mu.Lock()
	// A failed batch stays in memory with the writer, so it counts: else
	// the writer, taking buf every interval, would let records pile up
	// without bound while the database refuses them.
	for len(u.buf)+u.held >= usagePendingMax && !u.closed {
		wait := u.drained
		u.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return errs.Unavailable(ctx.Err(), "the seal usage log is behind")
		}
		u.mu.Lock()
	}
	if u.closed {
		u.mu.Unlock()
		return errs.Unavailable(errUsageClosed, "seal service is shutting down")
	}
	u.buf = append(u.buf, r)
	n := len(u.buf)
	u.mu.Unlock()
	if n == usageBatchMax {
		select {
		case u.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// take swaps out the buffered records.
func (u *usageLog) take(pending []UsageRecord) []UsageRecord {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.buf) == 0 {
		return pending
	}
	if len(pending) == 0 {
		pending, u.buf, u.spare = u.buf, u.spare[:0], nil
	} else { // a failed batch is still waiting: keep both
		pending = append(pending, u.buf...)
		u.buf = u.buf[:0]
	}
	u.held = len(pending)
	close(u.drained)
	u.drained = make(chan struct{})
	return pending
}

// written notes that the records the writer held are in the database, and
// wakes adders waiting for room.
func (u *usageLog) written() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.held == 0 {
		return
	}
	u.held = 0
	close(u.drained)
	u.drained = make(chan struct{})
}

func (u *usageLog) run() {
	defer close(u.stopped)
	t := time.NewTicker(u.every)
	defer t.Stop()
	var pending []UsageRecord
	write := func() error {
		pending = u.take(pending)
		if err := u.insert(pending); err != nil {
			return err
		}
		u.written()
		if u.spare == nil {
			u.spare = pending[:0]
		}
		pending = nil
		return nil
	}
	for {
		select {
		case <-t.C:
		case <-u.kick:
		case reply := <-u.flush:
			reply <- write()
			continue
		case <-u.done:
			if err := write(); err != nil {
				u.err = err
				u.log.Error("seal usage records lost at shutdown", "count", len(pending), "err", err)
			}
			if u.full != nil {
				u.full.Close()
			}
			return
		}
		if err := write(); err != nil {
			u.log.Error("seal usage records not written; retrying", "pending", len(pending), "err", err)
		}
	}
}

// insert writes rs in one transaction, usageBatchMax rows per statement.
func (u *usageLog) insert(rs []UsageRecord) error {
	if len(rs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if u.full == nil && len(rs) >= usageBatchMax {
		st, err := u.db.W.PrepareContext(ctx, usageInsert+valuesList(u.db.Dialect, usageBatchMax, usageCols)+u.db.InsertIgnore())
		if err != nil {
			return err
		}
		u.full = st
	}
	args := make([]any, 0, min(len(rs), usageBatchMax)*usageCols)
	return u.db.Tx(ctx, func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(rs, usageBatchMax) {
			args = args[:0]
			for _, r := range chunk {
				args = append(args, r.SealID, r.ID, r.Kid, r.PrincipalID, r.Document.SHA256, r.Document.Size,
					r.Document.MediaType, r.Document.Name, r.Purpose, r.SignedAt.UnixMicro())
			}
			var err error
			if len(chunk) == usageBatchMax {
				_, err = tx.StmtContext(ctx, u.full).ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, usageInsert+valuesList(u.db.Dialect, len(chunk), usageCols)+u.db.InsertIgnore(), args...)
			}
			if err != nil {
				return err
			}
		}
		return nil
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

// flushNow writes everything buffered so far.
func (u *usageLog) flushNow(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case u.flush <- reply:
	case <-u.stopped:
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

// close stops taking records, writes what is buffered and stops the writer.
func (u *usageLog) close() error {
	u.once.Do(func() {
		u.mu.Lock()
		u.closed = true
		close(u.drained) // release adders waiting for room
		u.drained = make(chan struct{})
		u.mu.Unlock()
		close(u.done)
		<-u.stopped
	})
	return u.err
}
