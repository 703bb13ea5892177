package datasync

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// PostgresConnector reads a PostgreSQL query with pgx. The query may use
// $1 for the incremental lower bound (passed as text; cast it in the query,
// e.g. WHERE updated_at >= $1::timestamptz); it should ORDER BY a unique
// column so a resumed run skips exactly the rows already staged (the
// checkpoint is the number of rows read).
type PostgresConnector struct {
	PageSize int // default 5000
}

// Open connects and starts the query.
func (pc PostgresConnector) Open(ctx context.Context, spec SourceSpec, req Request) (Reader, error) {
	conn, err := pgx.Connect(ctx, spec.DSN)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	skip := int64(0)
	if req.Checkpoint != "" {
		if skip, err = strconv.ParseInt(req.Checkpoint, 10, 64); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("checkpoint %q is not a row count", req.Checkpoint)
		}
	}
	var args []any
	if req.Since != "" || req.CursorField != "" {
		since := req.Since
		if since == "" {
			since = "-infinity"
		}
		args = append(args, since)
	}
	rows, err := conn.Query(ctx, spec.Query, args...)
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("query: %w", err)
	}
	size := pc.PageSize
	if size <= 0 {
		size = 5000
	}
	r := &pgReader{conn: conn, rows: rows, size: size, read: skip}
	for i := int64(0); i < skip && rows.Next(); i++ {
	}
	return r, nil
}

type pgReader struct {
	conn *pgx.Conn
	rows pgx.Rows
	size int
	read int64
	done bool
}

func (r *pgReader) Next(ctx context.Context) (Page, error) {
	if r.done {
		return Page{}, errDone
	}
	pos := "rows from " + strconv.FormatInt(r.read+1, 10)
	names := make([]string, 0)
	for _, f := range r.rows.FieldDescriptions() {
		names = append(names, f.Name)
	}
	var recs []Record
	for len(recs) < r.size && r.rows.Next() {
		vals, err := r.rows.Values()
		if err != nil {
			return Page{}, &SourceError{Position: pos, Err: err}
		}
		rec := make(Record, len(vals))
		for i, v := range vals {
			rec[names[i]] = jsonValue(v)
		}
		recs = append(recs, rec)
	}
	if err := r.rows.Err(); err != nil {
		return Page{}, &SourceError{Position: pos, Err: err}
	}
	if len(recs) < r.size {
		r.done = true
	}
	if len(recs) == 0 {
		return Page{}, errDone
	}
	r.read += int64(len(recs))
	return Page{Records: recs, Checkpoint: strconv.FormatInt(r.read, 10), Position: pos, Total: -1}, nil
}

// jsonValue turns a pgx value into one that encodes stably as JSON.
func jsonValue(v any) any {
	switch x := v.(type) {
	case int16, int32, int64, int, float32, float64:
		b, _ := json.Marshal(x)
		return json.Number(b)
	case fmt.Stringer:
		return x.String()
	}
	return v
}

func (r *pgReader) Close() error {
	r.rows.Close()
	return r.conn.Close(context.Background())
}
