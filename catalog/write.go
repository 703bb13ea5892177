package catalog

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// writer inserts rows in bulk inside one transaction: COPY on PostgreSQL
// (on the transaction's own connection), multi-row INSERTs on SQLite.
type writer struct {
	s    *Service
	tx   *sql.Tx
	conn *sql.Conn
}

// tx runs fn in a write transaction on one connection, so bulk writes can
// use that connection's COPY, and commits it if fn returns nil.
func (s *Service) tx(ctx context.Context, fn func(*sql.Tx, *writer) error) error {
	conn, err := s.db.W.Conn(ctx)
	if err != nil {
		return db.Interpret(err, "begin")
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return db.Interpret(err, "begin")
	}
	if err := fn(tx, &writer{s: s, tx: tx, conn: conn}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return db.Interpret(err, "commit")
	}
	return nil
}

// insert writes n rows of the columns into table.
func (w *writer) insert(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	if w.s.db.Dialect == db.Postgres {
		return w.conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return errors.New("catalog: PostgreSQL connection is not pgx")
			}
			_, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
				return row(i), nil
			}))
			return err
		})
	}
	prefix := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES `
	batch := db.MaxParams / len(cols)
	for i := 0; i < n; i += batch {
		j := min(i+batch, n)
		args := make([]any, 0, (j-i)*len(cols))
		for k := i; k < j; k++ {
			args = append(args, row(k)...)
		}
		if _, err := w.tx.ExecContext(ctx, prefix+w.s.values(j-i, len(cols)), args...); err != nil {
			return err
		}
	}
	return nil
}

// values returns the VALUES list for rows of cols parameters. SQLite gets
// anonymous "?" parameters: it resolves "$N" names by a linear search per
// parameter, which makes a 30,000-parameter statement quadratic.
func (s *Service) values(rows, cols int) string {
	if s.db.Dialect != db.SQLite {
		return db.Placeholders(0, rows, cols)
	}
	one := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return one + strings.Repeat(", "+one, rows-1)
}
