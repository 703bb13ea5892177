package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFS embed.FS

// Migration is one embedded schema step. Both dialects have the same numbers.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// migrationLockKey serialises migrations across replicas on PostgreSQL.
const migrationLockKey = 0x5348_4d49_4752 // "SHMIGR"

// Migrations lists the embedded migrations of the dialect, in order.
func (db *DB) Migrations() ([]Migration, error) {
	dir := path.Join("migrations", string(db.Dialect))
	ents, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, rest, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(rest, ".sql"), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := range ms {
		if i > 0 && ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("two migrations numbered %d", ms[i].Version)
		}
	}
	return ms, nil
}

// KnownVersion is the newest schema version this binary knows.
func (db *DB) KnownVersion() int {
	ms, err := db.Migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`

// SchemaVersion returns the newest applied migration, 0 for an empty database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	if _, err := db.W.ExecContext(ctx, createMigrationsTable); err != nil {
		return 0, Interpret(err, "schema_migrations")
	}
	var v sql.NullInt64
	if err := db.R.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, Interpret(err, "schema version")
	}
	return int(v.Int64), nil
}

// Migrate applies every migration not yet applied, each in its own
// transaction, and returns how many it applied. It refuses to touch a
// database whose schema is newer than this binary knows.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	ms, err := db.Migrations()
	if err != nil {
		return 0, err
	}
	cur, err := db.SchemaVersion(ctx)
	if err != nil {
		return 0, err
	}
	if err := db.checkNotNewer(cur); err != nil {
		return 0, err
	}
	done, err := db.appliedVersions(ctx)
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, m := range ms {
		// Every migration not recorded, not only those above the newest
		// recorded one: a migration numbered below one already applied
		// (merged later from another branch) still runs.
		if done[m.Version] {
			continue
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := db.LockTx(ctx, tx, migrationLockKey); err != nil {
				return err
			}
			// Another replica may have applied it while we waited for the lock.
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = $1", m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.Version, m.Name, time.Now().UnixMicro())
			if err == nil {
				applied++
			}
			return err
		})
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// CheckSchema fails unless the database is at exactly the version this
// binary knows: newer means a newer sharehub migrated it; older means
// `sharehub migrate` has not been run.
func (db *DB) CheckSchema(ctx context.Context) error {
	cur, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if err := db.checkNotNewer(cur); err != nil {
		return err
	}
	if known := db.KnownVersion(); cur < known {
		return fmt.Errorf("database schema is at version %d but this sharehub needs %d: run `sharehub migrate`", cur, known)
	}
	done, err := db.appliedVersions(ctx)
	if err != nil {
		return err
	}
	ms, err := db.Migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !done[m.Version] {
			return fmt.Errorf("database schema lacks migration %04d_%s: run `sharehub migrate`", m.Version, m.Name)
		}
	}
	return nil
}

// appliedVersions is the set of migrations recorded as applied.
func (db *DB) appliedVersions(ctx context.Context) (map[int]bool, error) {
	rows, err := db.R.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, Interpret(err, "schema_migrations")
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, Interpret(err, "schema_migrations")
		}
		done[v] = true
	}
	return done, Interpret(rows.Err(), "schema_migrations")
}

func (db *DB) checkNotNewer(cur int) error {
	if known := db.KnownVersion(); cur > known {
		return fmt.Errorf("database schema is at version %d, newer than this sharehub knows (%d): upgrade sharehub instead of running an older one", cur, known)
	}
	return nil
}
