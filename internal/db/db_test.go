package db_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sqlite:./x.db", ""},
		{"postgres://u@h:5432/db", ""},
		{"ftp://x", `unknown scheme "ftp"; use sqlite:PATH or postgres://...`},
		{"sqlite:", "needs a file path"},
		{"", `unknown scheme ""`},
	} {
		err := db.CheckURL(tc.in)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckURL(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestStore(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		t.Run("migrate is idempotent", func(t *testing.T) {
			n, err := d.Migrate(ctx)
			if err != nil || n != 0 {
				t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
			}
			if err := d.CheckSchema(ctx); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("applies a migration numbered below the newest applied", func(t *testing.T) {
			// 0009 landed after 0010 on main: a database migrated in
			// between has 0010 but not 0009. Simulate it: forget 0009's
			// record and drop the table it made.
			if _, err := d.W.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = 9"); err != nil {
				t.Fatal(err)
			}
			if _, err := d.W.ExecContext(ctx, "DROP TABLE dataset_record_versions"); err != nil {
				t.Fatal(err)
			}
			if err := d.CheckSchema(ctx); err == nil || !strings.Contains(err.Error(), "lacks migration 0009") {
				t.Fatalf("CheckSchema without 0009 = %v", err)
			}
			n, err := d.Migrate(ctx)
			if err != nil || n != 1 {
				t.Fatalf("Migrate = %d, %v; want 1 (0009 again)", n, err)
			}
			if err := d.CheckSchema(ctx); err != nil {
				t.Fatal(err)
			}
			var c int
			if err := d.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM dataset_record_versions").Scan(&c); err != nil {
				t.Fatalf("dataset_record_versions after Migrate: %v", err)
			}
		})
		t.Run("refuses newer schema", func(t *testing.T) {
			known := d.KnownVersion()
			if _, err := d.W.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)", known+1); err != nil {
				t.Fatal(err)
			}
			defer d.W.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = $1", known+1)
			if err := d.CheckSchema(ctx); err == nil || !strings.Contains(err.Error(), "newer than this sharehub knows") {
				t.Fatalf("CheckSchema on newer schema = %v", err)
			}
			if _, err := d.Migrate(ctx); err == nil {
				t.Fatal("Migrate on newer schema succeeded")
			}
		})
		t.Run("errors are interpreted", func(t *testing.T) {
			ins := "INSERT INTO departments (id, code, name, kind, created_at) VALUES ($1, $2, $3, 'city', 0)"
			if _, err := d.W.ExecContext(ctx, ins, "d1", "c1", "n"); err != nil {
				t.Fatal(err)
			}
			_, err := d.W.ExecContext(ctx, ins, "d2", "c1", "n")
			if got := errs.KindOf(db.Interpret(err, "department")); got != errs.KindConflict {
				t.Fatalf("duplicate code: kind %s (%v)", got, err)
			}
			err = d.R.QueryRowContext(ctx, "SELECT name FROM departments WHERE id = $1", "nope").Scan(new(string))
			if got := errs.KindOf(db.Interpret(err, "department")); got != errs.KindNotFound {
				t.Fatalf("no rows: kind %s", got)
			}
		})
		t.Run("try lock excludes", func(t *testing.T) {
			unlock, ok, err := d.TryLock(ctx, 42)
			if err != nil || !ok {
				t.Fatalf("first TryLock = %v, %v", ok, err)
			}
			if _, ok2, err := d.TryLock(ctx, 42); err != nil || ok2 {
				t.Fatalf("second TryLock = %v, %v; want false", ok2, err)
			}
			unlock()
			unlock2, ok, err := d.TryLock(ctx, 42)
			if err != nil || !ok {
				t.Fatalf("TryLock after unlock = %v, %v", ok, err)
			}
			unlock2()
		})
	})
}

// TestKey64 checks that Go, SQLite's sharehub_key64 and the PostgreSQL
// expression of migration 0011 compute the same key.
func TestKey64(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		expr := "sharehub_key64($1)"
		if d.Dialect == db.Postgres {
			expr = "('x' || substr(md5($1), 1, 16))::bit(64)::bigint"
		}
		for _, s := range []string{"111:420602198001010011", "001:91420600MA4F0XXXX1", "", "身份证:张三", "x"} {
			var got int64
			if err := d.R.QueryRowContext(context.Background(), "SELECT "+expr, s).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := db.Key64(s); got != want {
				t.Errorf("%q: SQL %d, Go %d", s, got, want)
			}
		}
		if db.Key64("a") == db.Key64("b") {
			t.Error("Key64 does not depend on its input")
		}
	})
}

// TestSQLitePathIsTheFileName: a path holding characters an SQLite URI
// reads otherwise ('#' ends it, '?' starts its parameters, '%' escapes)
// opens the file of exactly that name (sqlite:/srv/a#b.db opened /srv/a).
func TestSQLitePathIsTheFileName(t *testing.T) {
	dir := t.TempDir()
	name := "a#b%41?c.db"
	d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.W.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Contains(names, name) || slices.Contains(names, "a") || slices.Contains(names, "a#bA") {
		t.Fatalf("files in the directory: %q; want %q", names, name)
	}
}

// TestPostgresPasswordNotShown: a password given as a URL parameter is
// kept out of the error of a failed open, as the user's password is.
func TestPostgresPasswordNotShown(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:userpw-9f2@127.0.0.1:1/db?connect_timeout=2",
		"postgres://u@127.0.0.1:1/db?password=querypw-7c1&connect_timeout=2",
		"postgres://u@127.0.0.1:1/db?sslpassword=querypw-7c1&sslmode=disable&connect_timeout=2",
	} {
		_, err := db.Open(context.Background(), dsn)
		if err == nil {
			t.Fatalf("open %s: no error", dsn)
		}
		if strings.Contains(err.Error(), "userpw-9f2") || strings.Contains(err.Error(), "querypw-7c1") {
			t.Errorf("open error shows the password: %v", err)
		}
	}
}
