package audit

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

const entryColumns = `idx, at, request_id, principal_id, department_id, method, route, resources,
	purpose, end_user, case_number, status, row_count, latency_us, request_hash, leaf_hash`

// inserts are the writes of one batch, in order.
type inserts struct {
	entries, resources, nodes insert
}

func newInserts(d *db.DB) inserts {
	return inserts{
		entries:   insert{d: d, table: "audit_entries", columns: entryColumns, cols: 16},
		resources: insert{d: d, table: "audit_resources", columns: "resource, idx", cols: 2, dupsOK: true}, // an entry may name a resource twice
		nodes:     insert{d: d, table: "audit_nodes", columns: "level, idx, hash", cols: 3},
	}
}

// prepare readies the SQLite single-row statements, on the writer
// connection and outside any transaction so that they outlive it.
func (ins *inserts) prepare(ctx context.Context) error {
	for _, i := range []*insert{&ins.entries, &ins.resources, &ins.nodes} {
		if i.d.Dialect != db.SQLite || i.one != nil {
			continue
		}
		q := "INSERT INTO " + i.table + " (" + i.columns + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", i.cols), ", ") + ")"
		if i.dupsOK {
			q += i.d.InsertIgnore()
		}
		st, err := i.d.W.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		i.one = st
	}
	return nil
}

// exec writes a batch's rows: entries, their resources and new stored
// subtree hashes. On PostgreSQL, when the parameters fit one statement, the
// three INSERTs travel as one, the other two as data-modifying WITH
// clauses: one round trip per batch instead of three.
func (ins *inserts) exec(ctx context.Context, tx *sql.Tx, entries, resources, nodes []any) error {
	if q, args, ok := ins.postgresStatement(entries, resources, nodes); ok {
		_, err := tx.ExecContext(ctx, q, args...)
		return db.Interpret(err, "audit entries")
	}
	for _, part := range []struct {
		ins  *insert
		args []any
	}{{&ins.entries, entries}, {&ins.resources, resources}, {&ins.nodes, nodes}} {
		if err := part.ins.exec(ctx, tx, part.args); err != nil {
			return db.Interpret(err, part.ins.table)
		}
	}
	return nil
}

// postgresStatement is a batch's rows as one PostgreSQL statement: the
// entries' INSERT, with those of the resources and nodes as data-modifying
// WITH clauses. ok is false on SQLite and when the parameters do not fit
// one statement.
func (ins *inserts) postgresStatement(entries, resources, nodes []any) (q string, args []any, ok bool) {
	if ins.entries.d.Dialect != db.Postgres || len(entries)+len(resources)+len(nodes) > db.MaxParams {
		return "", nil, false
	}
	args = make([]any, 0, len(entries)+len(resources)+len(nodes))
	for _, part := range []struct {
		ins  *insert
		args []any
	}{{&ins.resources, resources}, {&ins.nodes, nodes}} {
		if len(part.args) == 0 {
			continue
		}
		if q == "" {
			q = "WITH "
		} else {
			q += ", "
		}
		q += "added_" + part.ins.table + " AS (" + part.ins.statement(len(args), len(part.args)/part.ins.cols) + ") "
		args = append(args, part.args...)
	}
	q += ins.entries.statement(len(args), len(entries)/ins.entries.cols)
	return q, append(args, entries...), true
}

func (ins *inserts) close() {
	for _, i := range []*insert{&ins.entries, &ins.resources, &ins.nodes} {
		if i.one != nil {
			i.one.Close()
		}
	}
}

// insert writes rows into one of the log's tables. It is used by the
// writer goroutine only.
type insert struct {
	d              *db.DB
	table, columns string
	cols           int
	dupsOK         bool      // rows whose key exists are skipped, not an error
	one            *sql.Stmt // SQLite: the prepared single-row INSERT
}

// exec inserts args, ins.cols values per row, within tx.
//
// On PostgreSQL it sends multi-row INSERTs of at most db.MaxParams
// parameters: one round trip for up to 2,000 entries.
//
// SQLite runs in process, so a statement costs no round trip, and there a
// multi-row INSERT costs more than it saves: it is parsed anew for each
// batch size, and since it may fail halfway SQLite copies every page it
// changes into a statement journal (which spills to a temp file beyond 64
// KiB). Together that was a quarter of a batch's CPU. A prepared
// single-row INSERT, run once per row in the same transaction, needs
// neither.
func (ins *insert) exec(ctx context.Context, tx *sql.Tx, args []any) error {
	if len(args) == 0 {
		return nil
	}
	if ins.d.Dialect == db.SQLite {
		return ins.execEach(ctx, tx, args)
	}
	per := db.MaxParams / ins.cols * ins.cols
	for len(args) > 0 {
		n := min(len(args), per)
		if _, err := tx.ExecContext(ctx, ins.statement(0, n/ins.cols), args[:n]...); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
}

// statement is the multi-row INSERT of rows rows, its parameters numbered
// from start+1.
func (ins *insert) statement(start, rows int) string {
	q := "INSERT INTO " + ins.table + " (" + ins.columns + ") VALUES " + placeholders(start, rows, ins.cols)
	if ins.dupsOK {
		q += ins.d.InsertIgnore()
	}
	return q
}

func (ins *insert) execEach(ctx context.Context, tx *sql.Tx, args []any) error {
	// The statement was prepared on the writer connection; StmtContext
	// reuses it there (and prepares it again should the pool have replaced
	// the connection).
	st := tx.StmtContext(ctx, ins.one)
	defer st.Close()
	// Each row is inserted under a context that cannot be cancelled: given
	// one that can, the driver starts a goroutine per statement to watch it
	// (modernc's interruptOnDone), which cost more than the insert's own
	// bind. Inserting a row into tables whose write lock this transaction
	// already holds waits for nothing, so there is nothing to interrupt;
	// the commit's deadline is checked between rows instead, and COMMIT
	// itself still runs under it.
	rowCtx := context.WithoutCancel(ctx)
	for ; len(args) > 0; args = args[ins.cols:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := st.ExecContext(rowCtx, args[:ins.cols]...); err != nil {
			return err
		}
	}
	return nil
}

// placeholders is db.Placeholders(start, rows, cols) without fmt: a batch
// of a thousand entries has sixteen thousand of them.
func placeholders(start, rows, cols int) string {
	var b strings.Builder
	b.Grow(rows * cols * 7)
	buf := make([]byte, 0, 8)
	n := start
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
