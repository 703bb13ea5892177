package hub_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/testcert"
)

// validConfig is the embedded default configuration in a fresh directory.
func validConfig(t *testing.T) hub.Config {
	c := hub.Defaults()
	c.DataDir = t.TempDir()
	c.Fill()
	return c
}

// TestValidateShutdownTimeout: a shutdown timeout of zero or less would
// cut every in-flight request at the first SIGTERM and end the audit log
// without its final batch; it is refused at start naming the flag.
func TestValidateShutdownTimeout(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, ""},
		{20 * time.Second, ""},
		{0, "--shutdown-timeout: want a positive duration such as 20s, got 0s"},
		{-5 * time.Second, "--shutdown-timeout: want a positive duration such as 20s, got -5s"},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			c := validConfig(t)
			c.Shutdown = tc.d
			checkValidate(t, c, tc.want)
		})
	}
}

// TestValidatePublicURL: --public-url is the base of blob links and QR
// codes, so a query or fragment is refused at start naming --public-url
// (it was accepted, and the hub then failed to open its blob store with
// a message about --blobs).
func TestValidatePublicURL(t *testing.T) {
	for i, tc := range []struct {
		url, want string
	}{
		{"https://hub.example.gov.cn", ""},
		{"https://hub.example.gov.cn/", ""},
		{"http://127.0.0.1:8080/sharehub", ""},
		{"https://hub.example.gov.cn/?x=1", `--public-url: want an absolute http(s) URL without query or fragment, got "https://hub.example.gov.cn/?x=1"`},
		{"https://hub.example.gov.cn?", `--public-url: want an absolute http(s) URL without query or fragment, got "https://hub.example.gov.cn?"`},
		{"https://hub.example.gov.cn/#top", `--public-url: want an absolute http(s) URL without query or fragment, got "https://hub.example.gov.cn/#top"`},
		{"ftp://hub.example.gov.cn", `--public-url: want an absolute http(s) URL without query or fragment, got "ftp://hub.example.gov.cn"`},
		{"/relative", `--public-url: want an absolute http(s) URL without query or fragment, got "/relative"`},
	} {
		// The test's directory is named after it: no '#' or '?' in it.
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			c := validConfig(t)
			c.PublicURL = tc.url
			checkValidate(t, c, tc.want)
		})
	}
}

// TestValidateMasterKey: a master key that is not 32 bytes in hex or
// base64, from SHAREHUB_MASTER_KEY or from the file --master-key-file
// names, is a bad setting like any other: refused by Validate naming
// where it came from, not found later when the hub opens its keys.
func TestValidateMasterKey(t *testing.T) {
	good := strings.Repeat("ab", 32)
	dir := t.TempDir()
	goodFile := filepath.Join(dir, "good.key")
	badFile := filepath.Join(dir, "bad.key")
	for f, text := range map[string]string{goodFile: good + "\n", badFile: "not a key\n"} {
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pg := "postgres://postgres@127.0.0.1:5432/postgres"
	for _, tc := range []struct {
		name             string
		env, file, dbURL string
		want             string
	}{
		{name: "env hex", env: good},
		{name: "env too short", env: "abcd",
			want: "SHAREHUB_MASTER_KEY: want 32 bytes written as 64 hex digits or base64"},
		{name: "env too short with postgres", env: "abcd", dbURL: pg,
			want: "SHAREHUB_MASTER_KEY: want 32 bytes written as 64 hex digits or base64"},
		{name: "file good", file: goodFile, dbURL: pg},
		{name: "file bad", file: badFile,
			want: "--master-key-file: " + badFile + " does not hold a master key: want 32 bytes written as 64 hex digits or base64"},
		{name: "file bad with postgres", file: badFile, dbURL: pg,
			want: "--master-key-file: " + badFile + " does not hold a master key: want 32 bytes written as 64 hex digits or base64"},
		{name: "file a directory", file: dir, want: "--master-key-file: " + dir + " is a directory, not a file"},
		// Embedded: a missing file is made at start.
		{name: "file missing", file: filepath.Join(dir, "new.key")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			c.MasterKey = tc.env
			if tc.file != "" {
				c.MasterKeyFile = tc.file
			}
			if tc.dbURL != "" {
				c.Database = tc.dbURL
			}
			checkValidate(t, c, tc.want)
		})
	}
}

// TestValidateTLSExpired: an expired certificate is refused at start
// naming --tls-cert and the date, rather than served to clients that
// will all refuse it.
func TestValidateTLSExpired(t *testing.T) {
	dir := t.TempDir()
	notAfter := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	cert, key := writeCert(t, dir, "expired", notAfter.Add(-365*24*time.Hour), notAfter)
	c := validConfig(t)
	c.TLSCert, c.TLSKey = cert, key
	checkValidate(t, c, "--tls-cert: the certificate in "+cert+" expired on 2024-03-01 12:00 UTC")

	cert, key = writeCert(t, dir, "current", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	c.TLSCert, c.TLSKey = cert, key
	checkValidate(t, c, "")
}

// writeCert writes a self-signed certificate for 127.0.0.1 valid from
// notBefore to notAfter, and its key, as NAME.pem and NAME.key in dir.
func writeCert(t *testing.T, dir, name string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, _ = testcert.Write(t, dir, name, notBefore, notAfter)
	return certFile, keyFile
}

// TestValidateAuditOrigin: the checkpoint origin is a signed-note key name:
// valid UTF-8 with no white space of any kind and no '+'. A tab, carriage
// return, no-break space or invalid UTF-8 was accepted here and the hub,
// having created its database, then stopped with "malformed verifier id".
func TestValidateAuditOrigin(t *testing.T) {
	const want = "--audit-origin: a name without spaces, control characters or '+', e.g. sharehub.example.gov.cn/audit"
	for i, tc := range []struct {
		origin, want string
	}{
		{"sharehub.xiangyang.gov.cn/audit", ""},
		{"襄阳/audit", ""},
		{"", want},
		{"has space", want},
		{"a+b", want},
		{"a\tb", want},
		{"a\rb", want},
		{"a\u00a0b", want},
		{"a\u3000b", want},
		{"a\xffb", want},
		{"a\x00b", want}, // NUL and other control characters: audit.Open refuses
		{"a\u200bb", ""}, // a zero-width space is neither white space nor control to the note format
		{"a\x7fb", want},
		{"a\u0085b", want},
	} {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			c := validConfig(t)
			c.AuditOrigin = tc.origin
			checkValidate(t, c, tc.want)
		})
	}
}

// TestValidateInMemoryDatabase: sqlite::memory: cannot hold a hub (its
// readers and its writer are separate connections, each with its own
// empty in-memory database); it is refused naming --database rather than
// failing at start on "no such table: schema_migrations".
func TestValidateInMemoryDatabase(t *testing.T) {
	c := validConfig(t)
	c.Database = "sqlite::memory:"
	checkValidate(t, c, "--database: sqlite::memory: cannot hold the hub's data (its connections would each see their own empty database); give a file, as in sqlite:./data/sharehub.db")
}
