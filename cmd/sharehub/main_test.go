package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// cli runs the command line as main does and returns its exit code and output.
func cli(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(ctx, args, &out, &errb)
	code = 0
	if err != nil {
		code = exitCode(err)
		fmt.Fprintln(&errb, "sharehub:", err)
	}
	return code, out.String(), errb.String()
}

// clearEnv unsets every SHAREHUB_* variable for the test.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SHAREHUB_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

func TestVersion(t *testing.T) {
	clearEnv(t)
	for _, arg := range []string{"version", "--version", "-v"} {
		code, out, _ := cli(t, context.Background(), arg)
		if code != 0 || !strings.HasPrefix(out, "sharehub "+hub.Version) || !strings.Contains(out, "go1.") {
			t.Errorf("%s: exit %d, output %q", arg, code, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{nil, 2, "no command given"},
		{[]string{"audit"}, 2, "verify"},
		{[]string{"audit", "check"}, 2, "verify"},
		{[]string{"migrate", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"migrate", "extra-arg"}, 2, `unexpected argument "extra-arg"`},
		{[]string{"help"}, 0, ""},
		{[]string{"migrate", "-h"}, 0, "-database"},
	} {
		code, out, errOut := cli(t, ctx, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%q: exit %d, output %q %q; want exit %d saying %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
	if _, out, _ := cli(t, ctx, "help"); !strings.Contains(out, "Commands:") {
		t.Errorf("help prints %q", out)
	}
	if _, _, errOut := cli(t, ctx, "nope"); !strings.Contains(errOut, "Commands:") {
		t.Errorf("unknown command does not print the usage: %q", errOut)
	}
}

// TestConfigValidation: bad settings are refused before anything is opened,
// with exit code 2 and a message naming the flag. Where a row gives exact,
// that is the whole message: nothing that is only a consequence of another
// bad setting, and no raw system error.
func TestConfigValidation(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("not used"), 0o600); err != nil {
		t.Fatal(err)
	}
	goodCert, goodKey := writeTLSPair(t, dir, "hub")
	_, otherKey := writeTLSPair(t, dir, "other")
	notPEM := filepath.Join(dir, "not-pem.txt")
	if err := os.WriteFile(notPEM, []byte("just text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.key")
	if err := os.WriteFile(unreadable, []byte("secret"), 0o000); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "a-directory")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope.pem")
	pg := "postgres://postgres@127.0.0.1:5432/postgres"
	s3 := "s3://sharehub?endpoint=127.0.0.1:9000"
	noKey := "--master-key-file: with PostgreSQL or S3 every replica needs the same master key: set SHAREHUB_MASTER_KEY or point --master-key-file at it (file " + filepath.Join(dir, "master.key") + " not found)"
	base := []string{"--data-dir", dir, "--listen", "127.0.0.1:0"}
	for _, tc := range []struct {
		name     string
		args     []string
		want     []string
		exact    string // the whole message, when set
		needUser bool   // file permissions do not stop root
	}{
		{name: "database scheme", args: []string{"--database", "ftp://x"},
			exact: `--database: unknown scheme "ftp"; use sqlite:PATH or postgres://...`},
		{name: "database scheme with s3 blobs", args: []string{"--database", "ftp://x", "--blobs", s3},
			exact: `--database: unknown scheme "ftp"; use sqlite:PATH or postgres://...` + "\n" + noKey},
		{name: "database empty sqlite path", args: []string{"--database", "sqlite:"}, want: []string{"--database:", "file path"}},
		{name: "blobs scheme", args: []string{"--blobs", "ftp://x"}, want: []string{`--blobs:`, `unknown scheme "ftp"`, "file:DIR"}},
		{name: "blobs scheme with postgres", args: []string{"--blobs", "ftp://x", "--database", pg}, want: []string{`--blobs:`, `unknown scheme "ftp"`, noKey}},
		{name: "blobs s3 without endpoint", args: []string{"--blobs", "s3://bucket"}, want: []string{"--blobs:", "endpoint"}},
		{name: "listen", args: []string{"--listen", "nonsense"}, want: []string{"--listen:", "host:port"}},
		{name: "listen port out of range", args: []string{"--listen", ":99999"},
			exact: "--listen: port 99999 is out of range; want host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080"},
		{name: "listen port not a number", args: []string{"--listen", "127.0.0.1:eighty"},
			exact: `--listen: port "eighty" is neither a number from 0 to 65535 nor a known service name; want host:port, e.g. 127.0.0.1:8080`},
		{name: "listen without port", args: []string{"--listen", "127.0.0.1:"},
			exact: `--listen: want host:port, e.g. 127.0.0.1:8080; "127.0.0.1:" has no port`},
		{name: "listen empty", args: []string{"--listen", ""},
			exact: "--listen: want host:port, e.g. 127.0.0.1:8080"},
		{name: "debug listen port out of range", args: []string{"--debug-listen", "127.0.0.1:65536"},
			exact: "--debug-listen: port 65536 is out of range; want host:port with a port from 0 to 65535, e.g. 127.0.0.1:6060"},
		{name: "debug listen not loopback", args: []string{"--debug-listen", "0.0.0.0:6060"},
			exact: `--debug-listen: a loopback host:port such as 127.0.0.1:6060, got "0.0.0.0:6060"`},
		{name: "tls cert without key", args: []string{"--tls-cert", goodCert},
			exact: "--tls-cert: give both --tls-cert and --tls-key, or neither: HTTPS needs the certificate and its private key"},
		{name: "tls key without cert", args: []string{"--tls-key", goodKey},
			exact: "--tls-key: give both --tls-cert and --tls-key, or neither: HTTPS needs the certificate and its private key"},
		{name: "tls files missing", args: []string{"--tls-cert", missing, "--tls-key", filepath.Join(dir, "nope.key")},
			exact: "--tls-cert: file " + missing + " not found\n--tls-key: file " + filepath.Join(dir, "nope.key") + " not found"},
		{name: "tls cert missing, no key", args: []string{"--tls-cert", missing},
			exact: "--tls-cert: give both --tls-cert and --tls-key, or neither: HTTPS needs the certificate and its private key\n--tls-cert: file " + missing + " not found"},
		{name: "tls cert a directory", args: []string{"--tls-cert", subdir, "--tls-key", goodKey},
			exact: "--tls-cert: " + subdir + " is a directory, not a file"},
		{name: "tls key unreadable", args: []string{"--tls-cert", goodCert, "--tls-key", unreadable}, needUser: true,
			exact: "--tls-key: file " + unreadable + " is not readable: permission denied"},
		{name: "tls cert not PEM", args: []string{"--tls-cert", cert, "--tls-key", goodKey},
			exact: "--tls-cert: " + cert + " holds no PEM certificate (want a -----BEGIN CERTIFICATE----- block)"},
		{name: "tls key not PEM", args: []string{"--tls-cert", goodCert, "--tls-key", notPEM},
			exact: "--tls-key: " + notPEM + " holds no PEM private key (want a -----BEGIN ... PRIVATE KEY----- block)"},
		{name: "tls cert and key swapped", args: []string{"--tls-cert", goodKey, "--tls-key", goodCert},
			exact: "--tls-cert: " + goodKey + " holds no PEM certificate (want a -----BEGIN CERTIFICATE----- block)\n--tls-key: " + goodCert + " holds no PEM private key (want a -----BEGIN ... PRIVATE KEY----- block)"},
		{name: "tls key of another certificate", args: []string{"--tls-cert", goodCert, "--tls-key", otherKey},
			exact: "--tls-key: " + otherKey + " is not the private key of the certificate in " + goodCert},
		// A good pair is accepted: only the other bad setting is reported.
		{name: "tls good pair", args: []string{"--tls-cert", goodCert, "--tls-key", goodKey, "--max-body", "10"},
			exact: "--max-body: at least 1024 bytes, got 10"},
		{name: "max body", args: []string{"--max-body", "10"}, want: []string{"--max-body: at least 1024 bytes, got 10"}},
		{name: "max upload", args: []string{"--max-upload", "0"}, want: []string{"--max-upload:"}},
		{name: "licence file max", args: []string{"--licence-file-max", "0"}, want: []string{"--licence-file-max: at least 1 byte, got 0"}},
		{name: "licence zip max", args: []string{"--licence-zip-max", "-1"}, want: []string{"--licence-zip-max: at least 1 byte, got -1"}},
		{name: "licence zip entries", args: []string{"--licence-zip-entries", "0"}, want: []string{"--licence-zip-entries: at least 1, got 0"}},
		{name: "log level", args: []string{"--log-level", "loud"}, want: []string{"--log-level:", `"loud"`}},
		{name: "log format", args: []string{"--log-format", "xml"}, want: []string{"--log-format:", `"xml"`}},
		{name: "public url", args: []string{"--public-url", "ftp://x"}, want: []string{"--public-url:"}},
		{name: "audit origin", args: []string{"--audit-origin", "has space"}, want: []string{"--audit-origin:"}},
		{name: "postgres without master key", args: []string{"--database", pg}, exact: noKey},
		{name: "s3 without master key", args: []string{"--blobs", s3}, exact: noKey},
		{name: "master key file a directory", args: []string{"--database", pg, "--master-key-file", subdir},
			exact: "--master-key-file: with PostgreSQL or S3 every replica needs the same master key: set SHAREHUB_MASTER_KEY or point --master-key-file at it (" + subdir + " is a directory, not a file)"},
		{name: "several at once", args: []string{"--database", "ftp://x", "--blobs", "ftp://x", "--listen", "nonsense:99999"},
			exact: `--database: unknown scheme "ftp"; use sqlite:PATH or postgres://...` + "\n" +
				`--blobs: unknown scheme "ftp"; use file:DIR or s3://bucket?endpoint=host:port` + "\n" +
				"--listen: port 99999 is out of range; want host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needUser && os.Geteuid() == 0 {
				t.Skip("running as root: file permissions do not apply")
			}
			for _, cmd := range []string{"serve", "migrate"} {
				args := append([]string{cmd}, base...)
				args = append(args, tc.args...)
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				code, _, errOut := cli(t, cctx, args...)
				cancel()
				if code != 2 {
					t.Errorf("%s: exit %d, want 2; stderr %q", cmd, code, errOut)
				}
				if tc.exact != "" {
					if want := "sharehub: " + tc.exact + "\n"; errOut != want {
						t.Errorf("%s: stderr\n%s\nwant exactly\n%s", cmd, errOut, want)
					}
				}
				for _, w := range tc.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("%s: stderr %q does not say %q", cmd, errOut, w)
					}
				}
			}
		})
	}
	// Nothing was created for a refused configuration.
	for _, f := range []string{"sharehub.db", "master.key", "blobs"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a refused configuration created %s", f)
		}
	}
}

var appliedRE = regexp.MustCompile(`applied (\d+) migration\(s\); (\S+) is at schema version (\d+)`)

func migrateOut(t *testing.T, out string) (applied int, url string, version int) {
	t.Helper()
	m := appliedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("migrate printed %q", out)
	}
	a, _ := strconv.Atoi(m[1])
	v, _ := strconv.Atoi(m[3])
	return a, m[2], v
}

func TestMigrate(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "hub.db")
	code, out, errOut := cli(t, ctx, "migrate", "--data-dir", dir, "--database", "sqlite:"+path)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}
	n, url, v := migrateOut(t, out)
	d, err := db.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	known := d.KnownVersion()
	ms, _ := d.Migrations()
	var rows int
	if err := d.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if n != len(ms) || n == 0 || v != known || rows != n || url != "sqlite:"+path {
		t.Fatalf("first migrate: applied %d at version %d on %s (%d rows); want %d at %d on sqlite:%s", n, v, url, rows, len(ms), known, path)
	}
	code, out, errOut = cli(t, ctx, "migrate", "--data-dir", dir, "--database", "sqlite:"+path)
	if code != 0 {
		t.Fatalf("second migrate: exit %d: %s", code, errOut)
	}
	if n, _, v := migrateOut(t, out); n != 0 || v != known {
		t.Fatalf("second migrate applied %d at version %d; want 0 at %d", n, v, known)
	}
	// Without --database, the database lives in the data directory.
	dir2 := t.TempDir()
	code, out, errOut = cli(t, ctx, "migrate", "--data-dir", dir2)
	if code != 0 {
		t.Fatalf("migrate --data-dir: exit %d: %s", code, errOut)
	}
	if _, url, _ := migrateOut(t, out); url != "sqlite:"+filepath.Join(dir2, "sharehub.db") {
		t.Errorf("migrate --data-dir used %s", url)
	}
}

func TestMigratePostgres(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	u := pgURL(t)
	t.Setenv("SHAREHUB_MASTER_KEY", strings.Repeat("ab", 32))
	code, out, errOut := cli(t, ctx, "migrate", "--data-dir", t.TempDir(), "--database", u)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}
	if n, _, _ := migrateOut(t, out); n == 0 {
		t.Fatalf("migrate on an empty schema applied nothing: %s", out)
	}
	_, out, _ = cli(t, ctx, "migrate", "--data-dir", t.TempDir(), "--database", u)
	if n, _, _ := migrateOut(t, out); n != 0 {
		t.Fatalf("second migrate applied %d", n)
	}
}

func TestEnvironment(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	envDB := filepath.Join(dir, "from-env.db")
	flagDB := filepath.Join(dir, "from-flag.db")

	// SHAREHUB_DATABASE is used when there is no --database flag.
	t.Setenv("SHAREHUB_DATABASE", "sqlite:"+envDB)
	code, out, errOut := cli(t, ctx, "migrate", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}
	if _, url, _ := migrateOut(t, out); url != "sqlite:"+envDB {
		t.Fatalf("with SHAREHUB_DATABASE migrate used %s", url)
	}
	if _, err := os.Stat(envDB); err != nil {
		t.Fatalf("the env database was not created: %v", err)
	}

	// A flag wins over the environment.
	code, out, errOut = cli(t, ctx, "migrate", "--data-dir", dir, "--database", "sqlite:"+flagDB)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}
	if _, url, _ := migrateOut(t, out); url != "sqlite:"+flagDB {
		t.Fatalf("--database lost to SHAREHUB_DATABASE: migrate used %s", url)
	}

	// A bad environment value is reported like a bad flag, naming the flag.
	t.Setenv("SHAREHUB_DATABASE", "ftp://x")
	code, _, errOut = cli(t, ctx, "migrate", "--data-dir", dir)
	if code != 2 || !strings.Contains(errOut, `--database: unknown scheme "ftp"`) {
		t.Fatalf("bad SHAREHUB_DATABASE: exit %d, %q", code, errOut)
	}
	// ... but a good flag overrides it.
	if code, _, errOut := cli(t, ctx, "migrate", "--data-dir", dir, "--database", "sqlite:"+flagDB); code != 0 {
		t.Fatalf("--database with a bad SHAREHUB_DATABASE: exit %d: %s", code, errOut)
	}
	os.Unsetenv("SHAREHUB_DATABASE")

	// SHAREHUB_DATA_DIR places the default database.
	dataDir := t.TempDir()
	t.Setenv("SHAREHUB_DATA_DIR", dataDir)
	_, out, _ = cli(t, ctx, "migrate")
	if _, url, _ := migrateOut(t, out); url != "sqlite:"+filepath.Join(dataDir, "sharehub.db") {
		t.Fatalf("with SHAREHUB_DATA_DIR migrate used %s", url)
	}

	// Numbers from the environment are checked.
	t.Setenv("SHAREHUB_MAX_BODY", "lots")
	code, _, errOut = cli(t, ctx, "migrate")
	if code != 2 || !strings.Contains(errOut, "SHAREHUB_MAX_BODY") || !strings.Contains(errOut, `"lots"`) {
		t.Fatalf("bad SHAREHUB_MAX_BODY: exit %d, %q", code, errOut)
	}
	t.Setenv("SHAREHUB_MAX_BODY", "10")
	code, _, errOut = cli(t, ctx, "migrate")
	if code != 2 || !strings.Contains(errOut, "--max-body: at least 1024 bytes, got 10") {
		t.Fatalf("small SHAREHUB_MAX_BODY: exit %d, %q", code, errOut)
	}
	if code, _, errOut := cli(t, ctx, "migrate", "--max-body", "4096"); code != 0 {
		t.Fatalf("--max-body over a bad SHAREHUB_MAX_BODY: exit %d: %s", code, errOut)
	}
}

// TestServeStartsAndStops: serve on port 0 answers /healthz and returns 0
// when its context ends (SIGTERM in main).
func TestServeStartsAndStops(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	// Pick a free port: serve prints its URL only in its log.
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var errb syncBuffer
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dir, "--listen", port, "--log-level", "warn"}, io.Discard, &errb)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + port + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/healthz: %d", resp.StatusCode)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer within 20s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after its context ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s")
	}
	for _, f := range []string{"sharehub.db", "master.key", "blobs"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("data dir lacks %s: %v", f, err)
		}
	}
}

// TestAuditVerify: a clean log verifies (exit 0); one changed entry fails
// (exit 1) naming it; a deleted entry too; checkpoints are checked against
// --verifier-key when given.
func TestAuditVerify(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir, vkey := demoDataDir(t)
	dsn := "sqlite:" + filepath.Join(dir, "sharehub.db")

	code, out, errOut := cli(t, ctx, "audit", "verify", "--data-dir", dir, "--quiet")
	if code != 0 {
		t.Fatalf("verify of a clean log: exit %d\n%s\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`audit log verifies: (\d+) entries, (\d+) signed checkpoints`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("verify printed %q", out)
	}
	if n, _ := strconv.Atoi(m[1]); n < 5 {
		t.Fatalf("only %d entries verified", n)
	}
	if n, _ := strconv.Atoi(m[2]); n < 1 {
		t.Fatalf("no checkpoint verified")
	}
	// With the trusted key given explicitly.
	if code, out, errOut := cli(t, ctx, "audit", "verify", "--data-dir", dir, "--quiet", "--verifier-key", vkey); code != 0 {
		t.Fatalf("verify with --verifier-key: exit %d\n%s\n%s", code, out, errOut)
	}
	// With someone else's key the checkpoints do not verify.
	_, otherKey, err := note.GenerateKey(rand.Reader, hub.Defaults().AuditOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, _ := cli(t, ctx, "audit", "verify", "--data-dir", dir, "--quiet", "--verifier-key", otherKey); code != 1 || !strings.Contains(out, "checkpoint") {
		t.Fatalf("verify with a stranger's key: exit %d, %q; want 1 naming a checkpoint", code, out)
	}
	if code, _, errOut := cli(t, ctx, "audit", "verify", "--data-dir", dir, "--verifier-key", "garbage"); code != 2 || !strings.Contains(errOut, "--verifier-key") {
		t.Fatalf("verify with a malformed key: exit %d, %q", code, errOut)
	}

	// Change one stored entry.
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.W.ExecContext(ctx, "UPDATE audit_entries SET purpose = $1 WHERE idx = 2", "篡改的事由")
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("tamper: %v (%d rows)", err, n)
	}
	d.Close()
	code, out, errOut = cli(t, ctx, "audit", "verify", "--data-dir", dir, "--quiet")
	if code != 1 {
		t.Fatalf("verify of a tampered log: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "does NOT verify") || !strings.Contains(out, "entry 2:") || !strings.Contains(errOut, "first bad: 2") {
		t.Fatalf("tampered log: stdout %q stderr %q do not name entry 2", out, errOut)
	}

	// Delete the tampered entry: now it is missing.
	d, err = db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.W.ExecContext(ctx, "DELETE FROM audit_entries WHERE idx = 2"); err != nil {
		t.Fatal(err)
	}
	code, out, _ = cli(t, ctx, "audit", "verify", "--data-dir", dir, "--quiet")
	if code != 1 || !strings.Contains(out, "entry 2 is missing") {
		t.Fatalf("log with entry 2 deleted: exit %d, %q", code, out)
	}
}

// demoDataDir runs a hub on a fresh data directory (SQLite default path),
// seeds the demo, makes a few calls and stops it. It returns the directory
// and the checkpoint verifier key.
func demoDataDir(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := hub.Defaults()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.LogLevel = "warn"
	ctx := context.Background()
	app, err := hub.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := app.SeedDemo(ctx, hubtest.Testdata())
	if err != nil {
		app.Close(ctx)
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, k := range demo.Keys {
		keys[k.Role] = k.Secret
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(rctx) }()
	get := func(path, key string, want int, headers ...string) {
		req, _ := http.NewRequest("GET", app.URL()+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	get("/v1/me", keys["admin"], 200)
	get("/v1/departments", keys["app"], 200)
	get("/v1/me", "", 401)
	access := "/v1/access?resource_kind=" + demo.Resource.Kind + "&resource_id=" + demo.Resource.ID + "&fields=name"
	get(access, keys["app"], 200, "X-Purpose: 婚姻登记核验", "X-Case-Number: MZ-1")
	get(access+",id_number", keys["app"], 403)
	get("/v1/audit/entries?limit=5", keys["auditor"], 200)
	get("/v1/me", keys["auditor"], 200)
	vkey := app.AuditVerifierKey
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hub did not stop")
	}
	return dir, vkey
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// pgURL returns a PostgreSQL URL with a fresh schema (skipped loudly, or
// failed with CI=true, when PostgreSQL is not reachable).
func pgURL(t *testing.T) string {
	t.Helper()
	return dbtest.URL(t, db.Postgres)
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

var bootstrapRE = regexp.MustCompile(`admin (\S+) \((prn_\S+)\) key (key_\S+):\n(shk_\S+)\n`)

// TestBootstrap: the first admin is made once; each run prints a new key
// for the same principal, which authenticates and expires as asked.
func TestBootstrap(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	code := ident.NewCreditCode('1', '1', "420600", 424242)
	args := []string{"bootstrap", "--data-dir", dir, "--log-level", "error", "--department-code", code}
	c, out1, errOut := cli(t, ctx, args...)
	if c != 0 {
		t.Fatalf("bootstrap: exit %d: %s", c, errOut)
	}
	m1 := bootstrapRE.FindStringSubmatch(out1)
	if m1 == nil || m1[1] != "hub-admin" {
		t.Fatalf("bootstrap printed %q", out1)
	}
	c, out2, errOut := cli(t, ctx, append(args, "--expires", "0")...)
	if c != 0 {
		t.Fatalf("second bootstrap: exit %d: %s", c, errOut)
	}
	m2 := bootstrapRE.FindStringSubmatch(out2)
	if m2 == nil || m2[2] != m1[2] || m2[3] == m1[3] || m2[4] == m1[4] {
		t.Fatalf("second bootstrap printed %q after %q; want a new key for the same principal", out2, out1)
	}

	d, err := db.Open(ctx, "sqlite:"+filepath.Join(dir, "sharehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ex := exchange.New(d, exchange.Config{})
	defer ex.Close()
	for _, m := range [][]string{m1, m2} {
		p, keyID, err := ex.Authenticate(ctx, m[4])
		if err != nil || p.ID != m1[2] || keyID != m[3] || !p.Has(exchange.RoleAdmin) || p.DepartmentID != "xy-sjj" {
			t.Fatalf("bootstrap key %s: %+v %s %v", m[3], p, keyID, err)
		}
	}
	k1, err := ex.Key(ctx, m1[3])
	if err != nil || k1.ExpiresAt == nil || k1.ExpiresAt.Sub(time.Now()) < 89*24*time.Hour || k1.ExpiresAt.Sub(time.Now()) > 91*24*time.Hour {
		t.Fatalf("first key expires at %v (%v); want in 90 days", k1.ExpiresAt, err)
	}
	if k2, err := ex.Key(ctx, m2[3]); err != nil || k2.ExpiresAt != nil {
		t.Fatalf("--expires 0 key expires at %v (%v); want never", k2.ExpiresAt, err)
	}
	dep, err := ex.Department(ctx, "xy-sjj")
	if err != nil || dep.Code != code {
		t.Fatalf("operator department %+v, %v", dep, err)
	}
	ps, err := ex.Principals(ctx, "xy-sjj")
	if err != nil || len(ps) != 1 {
		t.Fatalf("principals after two bootstraps: %+v, %v", ps, err)
	}

	// A principal of that name that is no admin, or is disabled, gets no
	// key: bootstrap says which flag to change.
	if _, err := ex.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: "xy-sjj", Name: "ops-app", Roles: []exchange.Role{exchange.RoleApp}}); err != nil {
		t.Fatal(err)
	}
	if c, _, errOut := cli(t, ctx, append(args, "--admin-name", "ops-app")...); c != 2 || !strings.Contains(errOut, "--admin-name: principal ops-app") || !strings.Contains(errOut, "is not an admin") {
		t.Fatalf("bootstrap for an app principal: exit %d: %s", c, errOut)
	}
	if _, err := ex.DisablePrincipal(ctx, m1[2]); err != nil {
		t.Fatal(err)
	}
	if c, _, errOut := cli(t, ctx, args...); c != 2 || !strings.Contains(errOut, "--admin-name: principal hub-admin") || !strings.Contains(errOut, "is disabled") {
		t.Fatalf("bootstrap for a disabled admin: exit %d: %s", c, errOut)
	}
	if c, out, errOut := cli(t, ctx, append(args, "--admin-name", "hub-admin-2")...); c != 0 || !strings.Contains(out, "admin hub-admin-2 (") {
		t.Fatalf("bootstrap with a new admin name: exit %d: %s %s", c, out, errOut)
	}
}
