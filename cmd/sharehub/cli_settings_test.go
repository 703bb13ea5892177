package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// The help, and the usage every mistyped flag prints, show each flag's
// default: for --database and --blobs that is the SHAREHUB_* value, with
// the PostgreSQL password and the S3 secret key in it. Both end up in
// terminals, CI logs and the journal.
func TestHelpHidesSecretsFromEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("SHAREHUB_DATABASE", "postgres://hub:PgPassw0rd@db.internal:5432/hub?sslmode=verify-full&sslpassword=KeyPassw0rd")
	t.Setenv("SHAREHUB_BLOBS", "s3://sharehub?endpoint=minio:9000&access_key=hub&secret_key=S3Secr3t")
	ctx := context.Background()
	for _, args := range [][]string{
		{"serve", "-h"},
		{"serve", "--no-such-flag"},
		{"migrate", "--help"},
		{"import", "licences", "x.csv", "--bogus"},
		{"audit", "verify", "-h"},
	} {
		_, out, errOut := cli(t, ctx, args...)
		all := out + errOut
		for _, secret := range []string{"PgPassw0rd", "KeyPassw0rd", "S3Secr3t"} {
			for _, line := range strings.Split(all, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("%v prints %s: %s", args, secret, strings.TrimSpace(line))
				}
			}
		}
		// What is not secret is still shown, so the operator sees which
		// database and bucket the environment points at.
		if !strings.Contains(all, "db.internal:5432") || !strings.Contains(all, "endpoint=minio:9000") {
			t.Errorf("%v no longer shows the database and bucket:\n%s", args, all)
		}
	}
}

// SHAREHUB_MIGRATE=false (or --migrate=false) keeps serve from migrating;
// the other commands that open the database must not migrate it either.
func TestMigrateFalseHonouredByEveryCommand(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	csv := filepath.Join(dir, "items.csv")
	if err := os.WriteFile(csv, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHAREHUB_MIGRATE", "false")
	for _, args := range [][]string{
		{"export", "template", "--out", filepath.Join(dir, "t.xlsx")},
		{"export", "catalog", "--out", filepath.Join(dir, "c.xlsx")},
		{"import", "catalog", csv, "--quiet"},
		{"import", "licences", csv, "--quiet"},
		{"import", "seals", csv, "--quiet"},
		{"licence", "generate", "--count", "1", "--out", filepath.Join(dir, "l.csv")},
		{"licence", "setup"},
		{"sync", "jobs"},
		{"bootstrap", "--department-code", "11420600MB1234562B"},
	} {
		data := t.TempDir()
		dsn := "sqlite:" + filepath.Join(data, "sharehub.db")
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		code, _, errOut := cli(t, cctx, append(args, "--data-dir", data, "--log-level", "error")...)
		cancel()
		if code == 0 || !strings.Contains(errOut, "sharehub migrate") {
			t.Errorf("%v with SHAREHUB_MIGRATE=false on an unmigrated database: exit %d, %q; want a refusal saying to run sharehub migrate", args, code, errOut)
		}
		if v := schemaVersion(t, dsn); v != 0 {
			t.Errorf("%v with SHAREHUB_MIGRATE=false migrated the database to version %d", args, v)
		}
	}
	// The flag wins over the variable, as for serve.
	data := t.TempDir()
	if code, _, errOut := cli(t, ctx, "export", "template", "--out", filepath.Join(dir, "t.xlsx"), "--data-dir", data, "--migrate"); code != 0 {
		t.Fatalf("export --migrate over SHAREHUB_MIGRATE=false: exit %d, %s", code, errOut)
	}
	if v := schemaVersion(t, "sqlite:"+filepath.Join(data, "sharehub.db")); v == 0 {
		t.Error("export --migrate did not migrate")
	}
}

func schemaVersion(t *testing.T, dsn string) int {
	t.Helper()
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, err := d.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// An auditor verifies the log with read access to the database and the
// hub's verifier key; the master key decrypts every seal and signing key
// and is no part of that, with PostgreSQL or S3 as with SQLite.
func TestAuditVerifyNeedsNoMasterKey(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	t.Run("postgres", func(t *testing.T) {
		h := hubtest.Start(t, db.Postgres)
		vkey := h.AuditVerifierKey
		dsn := h.Config.Database
		h.Stop(t)
		code, out, errOut := cli(t, ctx, "audit", "verify", "--database", dsn, "--data-dir", t.TempDir(), "--verifier-key", vkey, "--quiet")
		if code != 0 || !strings.Contains(out, "audit log verifies") {
			t.Fatalf("audit verify without the master key: exit %d\n%s\n%s", code, out, errOut)
		}
		// A master key that is given is still checked.
		t.Setenv("SHAREHUB_MASTER_KEY", "short")
		if code, _, errOut := cli(t, ctx, "audit", "verify", "--database", dsn, "--data-dir", t.TempDir(), "--verifier-key", vkey, "--quiet"); code != 2 || !strings.Contains(errOut, "SHAREHUB_MASTER_KEY") {
			t.Errorf("audit verify with a malformed SHAREHUB_MASTER_KEY: exit %d, %q", code, errOut)
		}
	})
	t.Run("s3 blobs in the environment", func(t *testing.T) {
		dir, vkey := demoDataDir(t)
		// The hub's environment file, copied for the auditor without the key.
		t.Setenv("SHAREHUB_BLOBS", "s3://sharehub?endpoint=127.0.0.1:9&access_key=a&secret_key=b")
		code, out, errOut := cli(t, ctx, "audit", "verify", "--data-dir", dir, "--master-key-file", filepath.Join(t.TempDir(), "none"), "--verifier-key", vkey, "--quiet")
		if code != 0 || !strings.Contains(out, "audit log verifies") {
			t.Fatalf("audit verify without the master key: exit %d\n%s\n%s", code, out, errOut)
		}
	})
}
