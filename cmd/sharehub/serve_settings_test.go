package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/testcert"
)

// TestServeRefusesBadSettings: settings that used to be accepted at start
// and then failed later (or never) are refused by serve with exit code 2
// and a message naming the setting, before anything is created.
func TestServeRefusesBadSettings(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	expiredCert, expiredKey := writeExpiredTLSPair(t, dir)
	badKeyFile := filepath.Join(dir, "bad-master.key")
	if err := os.WriteFile(badKeyFile, []byte("0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		exact string
	}{
		{name: "shutdown timeout zero", args: []string{"--shutdown-timeout", "0s"},
			exact: "--shutdown-timeout: want a positive duration such as 20s, got 0s"},
		{name: "shutdown timeout negative", args: []string{"--shutdown-timeout", "-5s"},
			exact: "--shutdown-timeout: want a positive duration such as 20s, got -5s"},
		{name: "shutdown timeout zero from env", env: map[string]string{"SHAREHUB_SHUTDOWN_TIMEOUT": "0"},
			exact: "--shutdown-timeout: want a positive duration such as 20s, got 0s"},
		{name: "public url with query", args: []string{"--public-url", "https://hub.example.gov.cn/?a=1"},
			exact: `--public-url: want an absolute http(s) URL without query or fragment, got "https://hub.example.gov.cn/?a=1"`},
		{name: "malformed master key in env", env: map[string]string{"SHAREHUB_MASTER_KEY": "0123"},
			exact: "SHAREHUB_MASTER_KEY: want 32 bytes written as 64 hex digits or base64"},
		{name: "malformed master key file", args: []string{"--master-key-file", badKeyFile},
			exact: "--master-key-file: " + badKeyFile + " does not hold a master key: want 32 bytes written as 64 hex digits or base64"},
		{name: "audit origin with a tab", args: []string{"--audit-origin", "sharehub\taudit"},
			exact: "--audit-origin: a name without spaces, control characters or '+', e.g. sharehub.example.gov.cn/audit"},
		{name: "expired certificate", args: []string{"--tls-cert", expiredCert, "--tls-key", expiredKey},
			exact: "--tls-cert: the certificate in " + expiredCert + " expired on 2024-03-01 12:00 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			args := append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "error"}, tc.args...)
			code, _, errOut := cli(t, ctx, args...)
			if want := "sharehub: " + tc.exact + "\n"; code != 2 || errOut != want {
				t.Errorf("exit %d, stderr\n%s\nwant exit 2 and exactly\n%s", code, errOut, want)
			}
		})
	}
	for _, f := range []string{"sharehub.db", "master.key", "blobs"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a refused configuration created %s", f)
		}
	}
}

// writeExpiredTLSPair writes a self-signed certificate for 127.0.0.1 that
// expired at noon UTC on 1 March 2024, and its key.
func writeExpiredTLSPair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	notAfter := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	certFile, keyFile, _ = testcert.Write(t, dir, "expired", notAfter.AddDate(-1, 0, 0), notAfter)
	return certFile, keyFile
}

// TestOpenFailureNamesDatabase: a --database that passes the checks but
// cannot be opened (here a path under a regular file) stops serve and
// migrate with a message naming --database, as --listen and --blobs are
// named when they fail to open.
func TestOpenFailureNamesDatabase(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "migrate"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, _, errOut := cli(t, ctx, cmd, "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "error",
			"--database", "sqlite:"+filepath.Join(blocker, "hub.db"))
		cancel()
		if code != 1 || !strings.HasPrefix(errOut, "sharehub: --database: ") || !strings.Contains(errOut, blocker) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and a message naming --database and %s", cmd, code, errOut, blocker)
		}
	}
}
