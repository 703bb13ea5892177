package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"runtime"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// minForcedGap spaces checkpoints that callers force with Checkpoint: the
// latest checkpoint is public, and a burst of requests for it must not
// become a burst of signed rows. Callers within the gap share the next one.
const minForcedGap = 100 * time.Millisecond

// run is the writer goroutine: it commits queued entries in batches and
// writes checkpoints, until Close closes the queue.
func (l *Log) run() {
	defer close(l.done)
	defer l.inserts.close()
	ticker := time.NewTicker(l.opts.CheckpointEvery)
	defer ticker.Stop()
	gap := time.NewTimer(time.Hour)
	gap.Stop()
	var (
		gapC    <-chan time.Time // non-nil while forced checkpoints wait out the gap
		waiters []chan checkpointResult
		lastCP  time.Time
	)
	forced := func() error {
		cp, err := l.checkpointNow(true)
		lastCP = time.Now()
		for _, w := range waiters {
			w <- checkpointResult{cp, err}
		}
		waiters = waiters[:0]
		return err
	}
	batch := make([]*request, 0, l.opts.MaxBatch)
	for {
		select {
		case r, ok := <-l.queue:
			if !ok {
				if l.dirty || len(waiters) > 0 {
					l.err = forced()
				}
				return
			}
			// Blocked for the first entry; now take whatever else waits.
			batch = l.collect(append(batch[:0], r))
			l.commit(batch)
			clear(batch) // let the requests go
		case <-ticker.C:
			if l.dirty {
				if _, err := l.checkpointNow(false); err == nil {
					lastCP = time.Now()
				}
			}
		case w := <-l.cpReq:
			waiters = append(waiters, w)
			if gapC != nil {
				continue
			}
			if wait := minForcedGap - time.Since(lastCP); wait > 0 {
				gap.Reset(wait)
				gapC = gap.C
				continue
			}
			forced()
		case <-gapC:
			gapC = nil
			forced()
		}
	}
}

// collect adds to batch, which holds the first entry, whatever else is
// queued, up to MaxBatch.
func (l *Log) collect(batch []*request) []*request {
	// Appenders just answered are likely runnable but not yet queued: yield
	// a few times while they keep queueing, so that batches stay full. With
	// one caller this costs one Gosched; it never sleeps.
	for i, n := 0, -1; i < 3 && n != len(l.queue) && len(l.queue) < l.opts.MaxBatch; i++ {
		n = len(l.queue)
		runtime.Gosched()
	}
	for len(batch) < l.opts.MaxBatch {
		select {
		case r, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit writes batch in one transaction and answers every request in it:
// all with their index, or all with the same error.
func (l *Log) commit(batch []*request) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	var (
		first uint64
		next  *compact.Range
	)
	done, err := false, error(nil)
	if l.db.Dialect == db.Postgres {
		done, err = l.commitPipelined(ctx, batch, &first, &next)
	}
	if err == nil && !done {
		err = l.inserts.prepare(ctx)
		if err == nil {
			err = l.db.Tx(ctx, l.batchTx(ctx, batch, &first, &next))
		}
	}
	if err != nil {
		err = errs.Unavailable(err, "audit log: entries not committed")
		l.log.Error("audit batch failed", "entries", len(batch), "err", err)
		for _, r := range batch {
			r.result <- appendResult{err: err}
		}
		if l.opts.OnBatchError != nil {
			l.opts.OnBatchError(len(batch), err)
		}
		return
	}
	l.tree = next
	l.dirty = true
	for i, r := range batch {
		r.result <- appendResult{index: first + uint64(i)}
	}
	if l.opts.OnBatch != nil {
		l.opts.OnBatch(len(batch), time.Since(start))
	}
}

// batchTx is the transaction of one batch: under the log's lock, number
// the entries after the committed ones and insert them.
func (l *Log) batchTx(ctx context.Context, batch []*request, first *uint64, next **compact.Range) func(*sql.Tx) error {
	return func(tx *sql.Tx) error {
		size, err := l.lockAndSize(ctx, tx)
		if err != nil {
			return err
		}
		if err := l.syncTree(ctx, tx, size); err != nil {
			return err
		}
		*first = size
		*next, err = l.appendLeaves(ctx, tx, size, batch)
		return err
	}
}

// lockAndSize takes the log's lock for the rest of tx and reads the
// committed size under it.
//
// On PostgreSQL the two take one round trip: audit_lock_size (migration
// 0002) takes the same transaction-scoped advisory lock as db.LockTx, then,
// being VOLATILE, reads MAX(idx) with a snapshot taken after the lock was
// granted, so it sees every batch committed before. On SQLite LockTx is a
// no-op: the one writer connection already serialises batches.
func (l *Log) lockAndSize(ctx context.Context, tx *sql.Tx) (uint64, error) {
	if l.db.Dialect != db.Postgres {
		if err := l.db.LockTx(ctx, tx, lockKey); err != nil {
			return 0, err
		}
		return storedSize(ctx, tx)
	}
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT audit_lock_size($1)`, int64(lockKey)).Scan(&size); err != nil {
		return 0, db.Interpret(err, "audit lock")
	}
	return uint64(size), nil
}

// syncTree reloads the in-memory tree when the committed size, read under
// the lock, differs from it: another replica (or a batch whose commit
// reported an error but went through) has moved it.
func (l *Log) syncTree(ctx context.Context, tx *sql.Tx, size uint64) error {
	if size == l.tree.End() {
		return nil
	}
	t, err := loadTree(ctx, tx, size)
	if err != nil {
		return errs.Internal(err, "audit: reload tree at size %d", size)
	}
	l.log.Debug("audit tree moved by another writer; reloaded", "from", l.tree.End(), "to", size)
	l.tree = t
	return nil
}

// appendLeaves numbers the batch from size, inserts its rows and the new
// stored nodes, and returns the grown tree. l.tree is left untouched.
func (l *Log) appendLeaves(ctx context.Context, tx *sql.Tx, size uint64, batch []*request) (*compact.Range, error) {
	rows, next, err := l.buildRows(size, batch)
	if err != nil {
		return nil, err
	}
	if err := l.inserts.exec(ctx, tx, rows); err != nil {
		return nil, err
	}
	return next, nil
}

// buildRows numbers the batch from size and computes its leaves, the
// stored subtree hashes they complete, the rows to insert and the tree
// that results.
func (l *Log) buildRows(size uint64, batch []*request) (*rowSet, *compact.Range, error) {
	next, err := cloneRange(l.tree)
	if err != nil {
		return nil, nil, err
	}
	rows := newRowSet(l.db.Dialect, len(batch))
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level >= tileLevel {
			rows.addNode(id.Level, id.Index, hash)
		}
	}
	for i, r := range batch {
		e := &r.e
		e.Index = size + uint64(i)
		l.leafBuf = appendLeaf(l.leafBuf[:0], e)
		leaf := leafHash(l.leafBuf)
		if err := next.Append(leaf[:], visit); err != nil {
			return nil, nil, errs.Internal(err, "audit: append leaf %d", e.Index)
		}
		rows.addEntry(e, leaf[:])
	}
	return rows, next, nil
}

// leafHash is the RFC 6962 leaf hash, SHA-256(0x00 || data).
func leafHash(data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// storedSize is the number of committed entries: the highest index plus one.
func storedSize(ctx context.Context, q querier) (uint64, error) {
	var max sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(idx) FROM audit_entries`).Scan(&max); err != nil {
		return 0, db.Interpret(err, "audit log size")
	}
	if !max.Valid {
		return 0, nil
	}
	return uint64(max.Int64) + 1, nil
}
