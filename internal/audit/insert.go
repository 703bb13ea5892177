package audit

import (
	"context"
	"database/sql"
	"strings"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

const entryColumns = `idx, at, request_id, principal_id, department_id, method, route, resources,
	purpose, end_user, case_number, status, row_count, latency_us, request_hash, leaf_hash`

// entryCols is the number of columns in entryColumns.
const entryCols = 16

// postgresInsert writes a batch on PostgreSQL in one statement of fixed
// text: the rows travel as one array per column and unnest turns them back
// into rows; the resource and node INSERTs ride along as data-modifying
// WITH clauses. One round trip per batch, and since the text never
// changes, pgx prepares it once per connection.
//
// It replaced multi-row INSERT ... VALUES statements, whose text (and so
// prepared statement) differed with every batch size and which carried 16
// parameters per entry: encoding those cost the hub 13.5 CPU µs per entry
// against 8.7 for the arrays (BENCHMARKS.md, Audit log, session 7). The
// server's work is the same either way: about 30 µs per entry, nearly all
// of it the row and its six index entries, and a fixed cost per commit.
const postgresInsert = `WITH added_resources AS (
	INSERT INTO audit_resources (resource, idx)
	SELECT * FROM unnest($1::text[], $2::bigint[])
	ON CONFLICT DO NOTHING -- an entry may name a resource twice
), added_nodes AS (
	INSERT INTO audit_nodes (level, idx, hash)
	SELECT * FROM unnest($3::integer[], $4::bigint[], $5::bytea[])
)
INSERT INTO audit_entries (` + entryColumns + `)
SELECT * FROM unnest($6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[],
	$12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::integer[], $18::bigint[],
	$19::bigint[], $20::bytea[], $21::bytea[])`

// rowSet holds a batch's rows for the three tables: row by row for
// SQLite's prepared single-row INSERTs, column by column for PostgreSQL's
// unnest.
type rowSet struct {
	columnar bool

	// SQLite: the arguments of each table's single-row INSERT, one row after
	// another.
	entries, resources, nodes []any

	// PostgreSQL: one slice per column.
	idx, at, status, rowCount, latency                                     []int64
	requestID, principal, department, method, route, resourceList, purpose []string
	endUser, caseNumber                                                    []string
	requestHash, leaf                                                      [][]byte
	resource                                                               []string
	resourceIdx                                                            []int64
	nodeLevel                                                              []int32
	nodeIdx                                                                []int64
	nodeHash                                                               [][]byte
}

func newRowSet(dialect db.Dialect, n int) *rowSet {
	if dialect != db.Postgres {
		return &rowSet{entries: make([]any, 0, n*entryCols)}
	}
	// Every slice is non-nil, even when empty: pgx sends a nil slice as
	// NULL, and unnest of NULL is no rows today but is not what is meant.
	return &rowSet{
		columnar: true,
		idx:      make([]int64, 0, n), at: make([]int64, 0, n), status: make([]int64, 0, n),
		rowCount: make([]int64, 0, n), latency: make([]int64, 0, n),
		requestID: make([]string, 0, n), principal: make([]string, 0, n), department: make([]string, 0, n),
		method: make([]string, 0, n), route: make([]string, 0, n), resourceList: make([]string, 0, n),
		purpose: make([]string, 0, n), endUser: make([]string, 0, n), caseNumber: make([]string, 0, n),
		requestHash: make([][]byte, 0, n), leaf: make([][]byte, 0, n),
		resource: make([]string, 0, n), resourceIdx: make([]int64, 0, n),
		nodeLevel: []int32{}, nodeIdx: []int64{}, nodeHash: [][]byte{},
	}
}

// addEntry adds e's audit_entries row and its audit_resources rows.
func (s *rowSet) addEntry(e *Entry, leaf []byte) {
	i := int64(e.Index)
	if !s.columnar {
		s.entries = append(s.entries, i, e.Time.UnixMicro(), e.RequestID, e.PrincipalID, e.DepartmentID,
			e.Method, e.Route, storedResources(e.Resources), e.Purpose, e.EndUser, e.CaseNumber,
			int64(e.Status), int64(e.Rows), e.Latency.Microseconds(), e.RequestHash[:], leaf)
		for _, res := range e.Resources {
			s.resources = append(s.resources, res, i)
		}
		return
	}
	s.idx = append(s.idx, i)
	s.at = append(s.at, e.Time.UnixMicro())
	s.requestID = append(s.requestID, e.RequestID)
	s.principal = append(s.principal, e.PrincipalID)
	s.department = append(s.department, e.DepartmentID)
	s.method = append(s.method, e.Method)
	s.route = append(s.route, e.Route)
	s.resourceList = append(s.resourceList, storedResources(e.Resources))
	s.purpose = append(s.purpose, e.Purpose)
	s.endUser = append(s.endUser, e.EndUser)
	s.caseNumber = append(s.caseNumber, e.CaseNumber)
	s.status = append(s.status, int64(e.Status))
	s.rowCount = append(s.rowCount, int64(e.Rows))
	s.latency = append(s.latency, e.Latency.Microseconds())
	s.requestHash = append(s.requestHash, e.RequestHash[:])
	s.leaf = append(s.leaf, leaf)
	for _, res := range e.Resources {
		s.resource = append(s.resource, res)
		s.resourceIdx = append(s.resourceIdx, i)
	}
}

// addNode adds a stored subtree hash.
func (s *rowSet) addNode(level uint, index uint64, hash []byte) {
	if !s.columnar {
		s.nodes = append(s.nodes, int64(level), int64(index), hash)
		return
	}
	s.nodeLevel = append(s.nodeLevel, int32(level))
	s.nodeIdx = append(s.nodeIdx, int64(index))
	s.nodeHash = append(s.nodeHash, hash)
}

// postgresArgs are the parameters of postgresInsert.
func (s *rowSet) postgresArgs() []any {
	return []any{s.resource, s.resourceIdx, s.nodeLevel, s.nodeIdx, s.nodeHash,
		s.idx, s.at, s.requestID, s.principal, s.department, s.method, s.route, s.resourceList,
		s.purpose, s.endUser, s.caseNumber, s.status, s.rowCount, s.latency, s.requestHash, s.leaf}
}

// inserts are SQLite's prepared single-row INSERTs, one per table.
type inserts struct {
	d                         *db.DB
	entries, resources, nodes insert
}

func newInserts(d *db.DB) inserts {
	return inserts{
		d:         d,
		entries:   insert{table: "audit_entries", columns: entryColumns, cols: entryCols},
		resources: insert{table: "audit_resources", columns: "resource, idx", cols: 2, dupsOK: true}, // an entry may name a resource twice
		nodes:     insert{table: "audit_nodes", columns: "level, idx, hash", cols: 3},
	}
}

// prepare readies the SQLite single-row statements, on the writer
// connection and outside any transaction so that they outlive it.
func (ins *inserts) prepare(ctx context.Context) error {
	if ins.d.Dialect != db.SQLite {
		return nil
	}
	for _, i := range []*insert{&ins.entries, &ins.resources, &ins.nodes} {
		if i.one != nil {
			continue
		}
		q := "INSERT INTO " + i.table + " (" + i.columns + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", i.cols), ", ") + ")"
		if i.dupsOK {
			q += ins.d.InsertIgnore()
		}
		st, err := ins.d.W.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		i.one = st
	}
	return nil
}

// exec writes a batch's rows within tx: entries, their resources and new
// stored subtree hashes.
//
// On PostgreSQL that is postgresInsert, one round trip.
//
// SQLite runs in process, so a statement costs no round trip, and there a
// multi-row INSERT costs more than it saves: it is parsed anew for each
// batch size, and since it may fail halfway SQLite copies every page it
// changes into a statement journal (which spills to a temp file beyond 64
// KiB). Together that was a quarter of a batch's CPU. A prepared
// single-row INSERT, run once per row in the same transaction, needs
// neither.
func (ins *inserts) exec(ctx context.Context, tx *sql.Tx, rows *rowSet) error {
	if rows.columnar {
		_, err := tx.ExecContext(ctx, postgresInsert, rows.postgresArgs()...)
		return db.Interpret(err, "audit entries")
	}
	for _, part := range []struct {
		ins  *insert
		args []any
	}{{&ins.entries, rows.entries}, {&ins.resources, rows.resources}, {&ins.nodes, rows.nodes}} {
		if err := part.ins.execEach(ctx, tx, part.args); err != nil {
			return db.Interpret(err, part.ins.table)
		}
	}
	return nil
}

func (ins *inserts) close() {
	for _, i := range []*insert{&ins.entries, &ins.resources, &ins.nodes} {
		if i.one != nil {
			i.one.Close()
		}
	}
}

// insert is SQLite's prepared single-row INSERT into one of the log's
// tables. It is used by the writer goroutine only.
type insert struct {
	table, columns string
	cols           int
	dupsOK         bool      // rows whose key exists are skipped, not an error
	one            *sql.Stmt // the prepared statement
}

// execEach runs the prepared statement once per row of args, ins.cols
// values each, within tx.
func (ins *insert) execEach(ctx context.Context, tx *sql.Tx, args []any) error {
	if len(args) == 0 {
		return nil
	}
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
