package hub_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
)

// TestShutdownTimeoutCutsSlowRequest: a client whose upload never ends
// cannot hold the hub past --shutdown-timeout. When it runs out, Run cuts
// the connections still in flight, closes the audit log with its final
// checkpoint, and returns a plain error naming the setting, not "context
// deadline exceeded".
func TestShutdownTimeoutCutsSlowRequest(t *testing.T) {
	dir := t.TempDir()
	cfg := embeddedConfig(dir)
	cfg.Shutdown = time.Second
	r := start(t, cfg)
	app := r.app

	// An audited call, so the log has an entry for the final checkpoint.
	req, _ := http.NewRequest("GET", app.URL()+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+r.keys["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/me: %d", resp.StatusCode)
	}

	// A slow client: an upload whose body trickles in and never ends.
	conn, err := net.Dial("tcp", app.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/blobs HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n", app.Addr(), r.keys["admin"])
	fmt.Fprintf(conn, "10\r\n0123456789abcdef\r\n")
	waitFor(t, "the upload to reach the blob store", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "blobs", ".tmp", "put-*"))
		return len(m) > 0
	})

	began := time.Now()
	err = r.stop(t)
	took := time.Since(began)
	if took > cfg.Shutdown+3*time.Second {
		t.Errorf("Run returned %s after its context ended; --shutdown-timeout is %s", took, cfg.Shutdown)
	}
	want := "--shutdown-timeout 1s passed before every request finished; the connections still open were closed"
	if err == nil || err.Error() != want {
		t.Errorf("Run = %v; want %q", err, want)
	}

	// The slow client's connection is closed, not left to the read timeout.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, rerr := io.ReadAll(bufio.NewReader(conn))
	var ne net.Error
	if errors.As(rerr, &ne) && ne.Timeout() {
		t.Errorf("the slow client's connection is still open after Run returned")
	}

	// Every committed entry is in the final checkpoint.
	ctx := context.Background()
	d, err := db.Open(ctx, app.Config.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, err := note.NewVerifier(app.AuditVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, d, note.VerifierList(v), nil)
	if err != nil || !rep.OK {
		t.Fatalf("audit.Verify after shutdown = %+v, %v", rep, err)
	}
	var cpSize int64
	if err := d.R.QueryRowContext(ctx, `SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints`).Scan(&cpSize); err != nil {
		t.Fatal(err)
	}
	if rep.Entries == 0 || uint64(cpSize) != rep.Entries {
		t.Errorf("final checkpoint covers %d of %d entries", cpSize, rep.Entries)
	}
}
