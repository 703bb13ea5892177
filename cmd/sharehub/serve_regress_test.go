package main

// Regression tests for defects once found in cmd/sharehub and internal/hub.Open.

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// Was: hub.Open panics (nil *App in its deferred cleanup) whenever opening
// fails after validation, e.g. a schema newer than this binary knows.
func TestServeRefusesNewerSchema(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "sharehub.db")
	if code, _, errOut := cli(t, ctx, "migrate", "--data-dir", dir); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	known := d.KnownVersion()
	future := known + 1000
	if _, err := d.W.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", future, "from_the_future", time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	d.Close()
	for _, extra := range [][]string{nil, {"--migrate=false"}} {
		args := append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, extra...)
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		code, _, errOut := cli(t, cctx, args...)
		cancel()
		want := fmt.Sprintf("database schema is at version %d, newer than this sharehub knows (%d)", future, known)
		if code == 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "upgrade sharehub") {
			t.Errorf("serve %v on a newer schema: exit %d, stderr %q; want an error saying %q", extra, code, errOut, want)
		}
	}
}

// Was: same panic, for a database that was never migrated with --migrate=false.
func TestServeRefusesOlderSchemaWithoutMigrate(t *testing.T) {
	clearEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code, _, errOut := cli(t, ctx, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--migrate=false")
	if code == 0 || !strings.Contains(errOut, "sharehub migrate") {
		t.Fatalf("serve --migrate=false on an empty database: exit %d, %q", code, errOut)
	}
}

// Was: --migrate has no SHAREHUB_MIGRATE fallback, although the usage says
// every flag can be set with a SHAREHUB_* variable. With SHAREHUB_MIGRATE=false
// serve should refuse an unmigrated database; it migrates it and serves.
func TestMigrateEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("SHAREHUB_MIGRATE", "false")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code, _, errOut := cli(t, ctx, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "error")
	if code == 0 {
		t.Fatalf("SHAREHUB_MIGRATE=false ignored: serve migrated an empty database and ran (stderr %q)", errOut)
	}
}

// Was: a malformed SHAREHUB_SHUTDOWN_TIMEOUT is silently ignored
// (durationFlag drops the parse error), while a malformed SHAREHUB_MAX_BODY
// is reported. It should exit 2 naming the variable.
func TestShutdownTimeoutEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("SHAREHUB_SHUTDOWN_TIMEOUT", "banana")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code, _, errOut := cli(t, ctx, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "error")
	if code != 2 || !strings.Contains(errOut, "SHAREHUB_SHUTDOWN_TIMEOUT") {
		t.Fatalf("bad SHAREHUB_SHUTDOWN_TIMEOUT: exit %d, %q; want 2 naming the variable", code, errOut)
	}
}

// BUG (minor): errs.Error.Error() drops Fields, so the CLI prints invalid
// input as a bare "department is not valid". bootstrap on a new database
// without --department-code should say that flag is required (its help says
// "required when the department does not exist yet").
func TestBootstrapWithoutCodeSaysWhy(t *testing.T) {
	clearEnv(t)
	code, _, errOut := cli(t, context.Background(), "bootstrap", "--data-dir", t.TempDir(), "--log-level", "error")
	if code == 0 || !strings.Contains(errOut, "--department-code") {
		t.Fatalf("bootstrap without --department-code: exit %d, %q; want it to name --department-code", code, errOut)
	}
}
