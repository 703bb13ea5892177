// Package db opens the hub's SQL database, SQLite (embedded default) or
// PostgreSQL, applies the embedded migrations and hides the few places where
// the two engines differ. Queries are written once with $1-style
// placeholders, which both engines accept.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Dialect names a SQL engine.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database. R serves reads; W serves writes. On PostgreSQL both
// are the same pool. On SQLite, W holds exactly one connection: SQLite allows
// one writer at a time, and queueing writers in Go is cheaper and fairer than
// letting them spin on SQLITE_BUSY.
type DB struct {
	Dialect Dialect
	R       *sql.DB
	W       *sql.DB
	// Log is the audit log writer's pool: on PostgreSQL two connections of
	// its own, so that each batch does not queue behind request handlers
	// for one of W's; on SQLite the same pool as W (one writer).
	Log *sql.DB
	// URL is the database address with any password removed, for logs.
	URL string

	locks *lockSet // SQLite only: one process owns the file
	reads stmtCache
}

// Open opens the database at dsn: "sqlite:PATH" or a postgres:// URL.
func Open(ctx context.Context, dsn string) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	default:
		return nil, CheckURL(dsn)
	}
}

// CheckURL validates a --database value without opening it.
func CheckURL(dsn string) error {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		if strings.TrimPrefix(dsn, "sqlite:") == "" {
			return errors.New(`sqlite: needs a file path, as in sqlite:./data/sharehub.db`)
		}
		return nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := pgx.ParseConfig(dsn); err != nil {
			return fmt.Errorf("postgres URL: %v", err)
		}
		return nil
	}
	scheme := dsn
	if i := strings.Index(dsn, ":"); i >= 0 {
		scheme = dsn[:i]
	}
	return fmt.Errorf("unknown scheme %q; use sqlite:PATH or postgres://...", scheme)
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	// WAL lets readers run while the single writer commits. busy_timeout
	// covers the short moments a checkpoint or another process holds the
	// lock. synchronous(FULL) fsyncs each commit: the audit log promises
	// that an entry is durable before its response goes out, and group
	// commit makes that cheap. foreign_keys is off by default in SQLite.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	// The path goes into an SQLite URI, where '%' escapes, '?' starts the
	// parameters and '#' ends the URI: /srv/a#b.db would open /srv/a.
	uri := "file:" + strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	w, err := sql.Open("sqlite", uri+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	// Readers are many; query_only stops a read path from writing by mistake.
	r, err := sql.Open("sqlite", uri+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &DB{Dialect: SQLite, R: r, W: w, Log: w, URL: "sqlite:" + path, locks: &lockSet{held: map[int64]bool{}}}, nil
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres URL: %v", err)
	}
	p := stdlib.OpenDB(*cfg)
	p.SetMaxOpenConns(24)
	p.SetMaxIdleConns(24)
	p.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.PingContext(pctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("postgres %s: %w", Redact(dsn), err)
	}
	lg := stdlib.OpenDB(*cfg)
	lg.SetMaxOpenConns(2)
	lg.SetMaxIdleConns(2)
	lg.SetConnMaxIdleTime(5 * time.Minute)
	// Its first connection now, as for the main pool: otherwise the log's
	// first batch pays for the connection's setup.
	if err := lg.PingContext(pctx); err != nil {
		p.Close()
		lg.Close()
		return nil, fmt.Errorf("postgres %s: %w", Redact(dsn), err)
	}
	return &DB{Dialect: Postgres, R: p, W: p, Log: lg, URL: Redact(dsn)}, nil
}

// Redact removes the passwords from a PostgreSQL URL: the user's, and
// any query parameter naming one (password, sslpassword), which libpq
// and pgx accept as well. An SQLite spec is returned as it is.
func Redact(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	if q := u.Query(); len(q) > 0 {
		hidden := false
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
				hidden = true
			}
		}
		if hidden {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// Close closes both pools.
func (db *DB) Close() error {
	db.reads.mu.Lock()
	for _, st := range db.reads.m {
		st.Close()
	}
	db.reads.m = nil
	db.reads.mu.Unlock()
	err := db.W.Close()
	if db.R != db.W {
		err = errors.Join(err, db.R.Close())
	}
	if db.Log != nil && db.Log != db.W {
		err = errors.Join(err, db.Log.Close())
	}
	return err
}

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.W.PingContext(ctx); err != nil {
		return err
	}
	var one int
	return db.R.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Tx runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		return Interpret(err, "begin")
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return Interpret(err, "commit")
	}
	return nil
}

// Interpret turns a driver error into the hub's vocabulary: no rows becomes
// not found, a unique violation a conflict, a lost connection unavailable.
// what names the thing being read or written, for the message.
func Interpret(err error, what string) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errs.NotFound("%s not found", what)
	case IsUniqueViolation(err):
		return &errs.Error{Kind: errs.KindConflict, Message: what + " already exists", Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errs.Unavailable(err, "%s: request cancelled or timed out", what)
	case isConnectionError(err):
		return errs.Unavailable(err, "database unavailable")
	}
	return errs.Internal(err, "%s", what)
}

// IsUniqueViolation reports whether err is a unique or primary key violation.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func isConnectionError(err error) bool {
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driverBadConn) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01..03: admin shutdown, crash, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "sql: database is closed") ||
		strings.Contains(msg, "conn closed")
}
