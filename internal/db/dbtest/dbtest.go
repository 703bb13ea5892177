// Package dbtest gives tests a fresh, migrated database on each backend.
//
// SQLite always runs (a file in t.TempDir()). PostgreSQL runs at
// $SHAREHUB_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres):
// each test gets its own schema, dropped in t.Cleanup. When PostgreSQL cannot
// be reached the PostgreSQL half is skipped loudly, unless CI=true, where it
// fails: CI must run both backends.
//
// Write a store's tests once as func(t *testing.T, d *db.DB) and call
// dbtest.Run(t, thatFunc): the riverdrivertest pattern.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// PostgresURL is the server tests use.
func PostgresURL() string {
	if u := os.Getenv("SHAREHUB_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Backends lists the backends every store test runs on.
var Backends = []db.Dialect{db.SQLite, db.Postgres}

// Run calls fn once per backend as a subtest with a fresh migrated database.
func Run(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			fn(t, Open(t, b))
		})
	}
}

// Open returns a fresh, migrated database of the given dialect, closed and
// removed when the test ends.
func Open(tb testing.TB, d db.Dialect) *db.DB {
	tb.Helper()
	dsn := URL(tb, d)
	ctx := context.Background()
	h, err := db.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", d, err)
	}
	tb.Cleanup(func() { h.Close() })
	if _, err := h.Migrate(ctx); err != nil {
		tb.Fatalf("migrate %s: %v", d, err)
	}
	return h
}

// URL returns the address of a fresh, empty database of the dialect (not
// migrated), removed when the test ends.
func URL(tb testing.TB, d db.Dialect) string {
	tb.Helper()
	switch d {
	case db.SQLite:
		return "sqlite:" + filepath.Join(tb.TempDir(), "hub.db")
	case db.Postgres:
		return postgresSchema(tb)
	}
	tb.Fatalf("unknown dialect %q", d)
	return ""
}

var pgOnce sync.Once
var pgErr error

// RequirePostgres skips the test loudly when the PostgreSQL server at
// PostgresURL cannot be reached, or fails it when CI=true. It returns that
// URL.
func RequirePostgres(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL()
	pgOnce.Do(func() {
		var h *db.DB
		h, pgErr = db.Open(context.Background(), base)
		if pgErr == nil {
			h.Close()
		}
	})
	if pgErr != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL at %s is required in CI: %v", base, pgErr)
		}
		tb.Skipf("SKIPPED: PostgreSQL backend not reachable at %s (%v); set SHAREHUB_TEST_POSTGRES or run `make test`", base, pgErr)
	}
	return base
}

// PostgresAddr returns the host:port of the test PostgreSQL server, for
// tests that reach it over TCP themselves (a proxy that cuts connections).
// It skips or fails like RequirePostgres when the server is unreachable,
// and the same way when SHAREHUB_TEST_POSTGRES names no TCP host (a Unix
// socket): such a test cannot run there. The port defaults to 5432.
func PostgresAddr(tb testing.TB) string {
	tb.Helper()
	base := RequirePostgres(tb)
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("SHAREHUB_TEST_POSTGRES: %v", err)
	}
	host := u.Hostname()
	if host == "" || strings.HasPrefix(host, "/") || u.Query().Get("host") != "" || strings.Contains(u.Host, ",") {
		msg := fmt.Sprintf("SHAREHUB_TEST_POSTGRES %s names no single TCP host:port to connect to", redact(u))
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s; this test needs one in CI", msg)
		}
		tb.Skipf("SKIPPED: %s; give it as postgres://user@HOST:PORT/db to run this test", msg)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(host, port)
}

// WithAddr returns the PostgreSQL URL dsn with its host:port replaced by
// addr, keeping user, database and parameters (the test's schema).
func WithAddr(tb testing.TB, dsn, addr string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("PostgreSQL URL: %v", err)
	}
	u.Host = addr
	return u.String()
}

func redact(u *url.URL) string {
	r := *u
	r.RawQuery = ""
	return r.Redacted()
}

func postgresSchema(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	base := RequirePostgres(tb)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "t_" + hex.EncodeToString(rnd[:])
	admin, err := db.Open(ctx, base)
	if err != nil {
		tb.Fatalf("postgres: %v", err)
	}
	if _, err := admin.W.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = admin.W.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("SHAREHUB_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return fmt.Sprint(u)
}
