package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
)

var driverBadConn = driver.ErrBadConn

// InsertIgnore returns the statement suffix that makes an INSERT skip rows
// whose unique key already exists. Both engines spell it the same way today;
// it stays here so a third engine has one place to change.
func (db *DB) InsertIgnore() string { return " ON CONFLICT DO NOTHING" }

// TryLock takes a named exclusive lock held until unlock is called, used so
// that a scheduled job runs on one replica at a time. On PostgreSQL it is a
// session advisory lock on a dedicated connection; on SQLite (one process
// owns the file) an in-process lock. ok is false when someone else holds it.
func (db *DB) TryLock(ctx context.Context, key int64) (unlock func(), ok bool, err error) {
	if db.Dialect == SQLite {
		return db.locks.try(key)
	}
	conn, err := db.W.Conn(ctx)
	if err != nil {
		return nil, false, Interpret(err, "lock")
	}
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, Interpret(err, "lock")
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key)
		conn.Close()
	}, true, nil
}

// LockTx serialises transactions on key until tx ends: a transaction-scoped
// advisory lock on PostgreSQL. SQLite needs nothing: its single writer
// connection already serialises every write transaction.
func (db *DB) LockTx(ctx context.Context, tx *sql.Tx, key int64) error {
	if db.Dialect == SQLite {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", key)
	return Interpret(err, "lock")
}

// Placeholders returns "($n+1, $n+2, ...), (...)" for rows of width cols,
// numbered from start+1, for multi-row VALUES lists.
func Placeholders(start, rows, cols int) string {
	var b strings.Builder
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
			fmt.Fprintf(&b, "$%d", n)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// MaxParams is the most bind parameters one statement may carry on both
// engines (SQLite's default limit is 32766, PostgreSQL's 65535).
const MaxParams = 32000
