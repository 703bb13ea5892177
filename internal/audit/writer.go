package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// run is the writer goroutine: it commits queued entries in batches and
// writes checkpoints, until Close closes the queue.
func (l *Log) run() {
	defer close(l.done)
	ticker := time.NewTicker(l.opts.CheckpointEvery)
	defer ticker.Stop()
	batch := make([]*request, 0, l.opts.MaxBatch)
	for {
		select {
		case r, ok := <-l.queue:
			if !ok {
				l.err = l.finalCheckpoint()
				return
			}
			// Block for the first entry, then take whatever else is waiting.
			batch = append(batch[:0], r)
		drain:
			for len(batch) < l.opts.MaxBatch {
				select {
				case r, ok := <-l.queue:
					if !ok {
						break drain
					}
					batch = append(batch, r)
				default:
					break drain
				}
			}
			l.commit(batch)
			clear(batch) // let the requests go
		case <-ticker.C:
			if l.dirty {
				l.checkpointNow(false)
			}
		case reply := <-l.cpReq:
			cp, err := l.checkpointNow(true)
			reply <- checkpointResult{cp, err}
		}
	}
}

func (l *Log) finalCheckpoint() error {
	if !l.dirty {
		return nil
	}
	_, err := l.checkpointNow(true)
	return err
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
	err := l.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := l.db.LockTx(ctx, tx, lockKey); err != nil {
			return err
		}
		size, err := l.syncTree(ctx, tx)
		if err != nil {
			return err
		}
		first = size
		next, err = l.appendLeaves(ctx, tx, size, batch)
		return err
	})
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

// syncTree returns the committed size, read under the lock, and reloads the
// in-memory tree when another replica (or a batch whose commit reported an
// error but went through) has moved it.
func (l *Log) syncTree(ctx context.Context, tx *sql.Tx) (uint64, error) {
	size, err := storedSize(ctx, tx)
	if err != nil {
		return 0, err
	}
	if size != l.tree.End() {
		t, err := loadTree(ctx, tx, size)
		if err != nil {
			return 0, errs.Internal(err, "audit: reload tree at size %d", size)
		}
		l.tree = t
	}
	return size, nil
}

// appendLeaves numbers the batch from size, inserts its rows and the new
// stored nodes, and returns the grown tree. l.tree is left untouched.
func (l *Log) appendLeaves(ctx context.Context, tx *sql.Tx, size uint64, batch []*request) (*compact.Range, error) {
	next, err := cloneRange(l.tree)
	if err != nil {
		return nil, err
	}
	var nodes []any
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level >= tileLevel {
			nodes = append(nodes, int64(id.Level), int64(id.Index), hash)
		}
	}
	entries := make([]any, 0, len(batch)*entryCols)
	var resources []any
	for i, r := range batch {
		e := &r.e
		e.Index = size + uint64(i)
		l.leafBuf = appendLeaf(l.leafBuf[:0], e)
		leaf := leafHash(l.leafBuf)
		if err := next.Append(leaf[:], visit); err != nil {
			return nil, errs.Internal(err, "audit: append leaf %d", e.Index)
		}
		entries = append(entries, int64(e.Index), e.Time.UnixMicro(), e.RequestID, e.PrincipalID, e.DepartmentID,
			e.Method, e.Route, storedResources(e.Resources), e.Purpose, e.EndUser, e.CaseNumber,
			int64(e.Status), int64(e.Rows), e.Latency.Microseconds(), e.RequestHash[:], leaf[:])
		for _, res := range e.Resources {
			resources = append(resources, res, int64(e.Index))
		}
	}
	if err := insertRows(ctx, tx, insertEntries, entryCols, entries, ""); err != nil {
		return nil, db.Interpret(err, "audit entries")
	}
	// An entry may name a resource twice; the index needs it once.
	if err := insertRows(ctx, tx, insertResources, 2, resources, l.db.InsertIgnore()); err != nil {
		return nil, db.Interpret(err, "audit resources")
	}
	if err := insertRows(ctx, tx, insertNodes, 3, nodes, ""); err != nil {
		return nil, db.Interpret(err, "audit nodes")
	}
	return next, nil
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

const (
	entryColumns = `idx, at, request_id, principal_id, department_id, method, route, resources,
		purpose, end_user, case_number, status, row_count, latency_us, request_hash, leaf_hash`
	entryCols       = 16
	insertEntries   = `INSERT INTO audit_entries (` + entryColumns + `) VALUES `
	insertResources = `INSERT INTO audit_resources (resource, idx) VALUES `
	insertNodes     = `INSERT INTO audit_nodes (level, idx, hash) VALUES `
)

// insertRows inserts args, cols values per row, with multi-row INSERTs of at
// most db.MaxParams parameters each.
func insertRows(ctx context.Context, tx *sql.Tx, prefix string, cols int, args []any, suffix string) error {
	per := db.MaxParams / cols * cols
	for len(args) > 0 {
		n := min(len(args), per)
		q := prefix + placeholders(n/cols, cols) + suffix
		if _, err := tx.ExecContext(ctx, q, args[:n]...); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
}

// placeholders is db.Placeholders(0, rows, cols) without fmt: a batch of a
// thousand entries has sixteen thousand of them.
func placeholders(rows, cols int) string {
	var b strings.Builder
	b.Grow(rows * cols * 7)
	buf := make([]byte, 0, 8)
	n := 0
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				b.WriteString(", ")
			}
			n++
			b.WriteByte('$')
			b.Write(strconv.AppendInt(buf[:0], int64(n), 10))
		}
		b.WriteByte(')')
	}
	return b.String()
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
