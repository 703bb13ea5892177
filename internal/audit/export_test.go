package audit

import (
	"context"
	"database/sql"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// RawInserter writes entries with the very statements a batch uses, one
// transaction per call, but without the queue, the lock, the size read or
// any Merkle work (the leaf hash column gets a constant): the baseline the
// benchmarks compare Append with.
type RawInserter struct {
	d    *db.DB
	ins  inserts
	zero []byte
}

func NewRawInserter(d *db.DB) *RawInserter {
	return &RawInserter{d: d, ins: newInserts(d), zero: make([]byte, 32)}
}

// Insert writes es with indices first, first+1, ...
func (r *RawInserter) Insert(ctx context.Context, first uint64, es []Entry) error {
	if err := r.ins.prepare(ctx); err != nil {
		return err
	}
	rows := newRowSet(r.d.Dialect, len(es))
	for i := range es {
		e := es[i]
		normalize(&e)
		e.Index = first + uint64(i)
		rows.addEntry(&e, r.zero)
	}
	return r.d.Tx(ctx, func(tx *sql.Tx) error { return r.ins.exec(ctx, tx, rows) })
}

func (r *RawInserter) Close() { r.ins.close() }

// MaxIndexed is the longest value an indexed field keeps, in bytes.
const MaxIndexed = maxIndexed
