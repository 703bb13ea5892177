// Package hubtest starts a real hub for tests: the same hub.Open and Run
// that `sharehub serve` uses, on port 0 with a temporary directory, seeded
// with the demo departments, principals and keys.
package hubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/blob/blobtest"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// Hub is a running hub and the demo keys it made.
type Hub struct {
	*hub.App
	URL     string
	Admin   string // admin key
	Auditor string // auditor key
	AppKey  string // 民政局 app key
	Demo    hub.DemoResult
	Client  *http.Client
	// BrokenOnPurpose silences the shutdown error of a test that broke the
	// hub's database on purpose.
	BrokenOnPurpose bool
	cancel          context.CancelFunc
	done            chan error
}

// Testdata is the repository's testdata directory.
func Testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata")
}

// Option adjusts the hub's config before it starts.
type Option func(*hub.Config)

// S3Blobs makes the hub store its blobs in a fresh bucket on the test S3
// server ($SHAREHUB_TEST_S3, with the credentials in it or in the
// environment, as blobtest reads them), emptied and removed when the test
// ends. Without that server the test is skipped loudly, or fails under
// CI=true, as the S3 half of blobtest is. The S3Conn reaches the bucket
// directly, to check what the hub stored there.
func S3Blobs(tb testing.TB) (Option, blobtest.S3Conn) {
	tb.Helper()
	spec, conn := blobtest.FreshBucketSpec(tb, blobtest.S3Spec(tb))
	return func(c *hub.Config) { c.Blobs = spec }, conn
}

// Start runs a hub on the dialect's database and local blobs (see S3Blobs
// for S3), stopped when the test ends.
func Start(t testing.TB, d db.Dialect, opts ...Option) *Hub {
	t.Helper()
	dir := t.TempDir()
	cfg := hub.Defaults()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = dbtest.URL(t, d)
	cfg.LogLevel = "warn"
	if d != db.SQLite {
		cfg.MasterKeyFile = filepath.Join(dir, "master.key")
		if err := os.WriteFile(cfg.MasterKeyFile, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	app, err := hub.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("hub.Open: %v", err)
	}
	demo, err := app.SeedDemo(ctx, Testdata())
	if err != nil {
		app.Close(ctx)
		t.Fatalf("SeedDemo: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	h := &Hub{App: app, URL: app.URL(), Demo: demo, Client: &http.Client{Timeout: clientTimeoutScale * 30 * time.Second}, cancel: cancel, done: make(chan error, 1)}
	for _, k := range demo.Keys {
		switch k.Role {
		case "admin":
			h.Admin = k.Secret
		case "auditor":
			h.Auditor = k.Secret
		case "app":
			h.AppKey = k.Secret
		}
	}
	go func() { h.done <- app.Run(rctx) }()
	t.Cleanup(func() { h.Stop(t) })
	return h
}

// Stop shuts the hub down gracefully (idempotent).
func (h *Hub) Stop(t testing.TB) {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil && !h.BrokenOnPurpose {
			t.Errorf("hub Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("hub did not stop within 30s")
	}
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request with an optional bearer key, body (string, []byte or a
// value to encode as JSON) and extra headers ("Name: value").
func (h *Hub) Do(t testing.TB, method, path, key string, body any, headers ...string) *Response {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for _, hv := range headers {
		k, v, _ := strings.Cut(hv, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Want fails the test unless the response has the status; it returns r.
func (r *Response) Want(t testing.TB, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Body)
	}
	return r
}

// Problem decodes an RFC 9457 problem body, checking its content type.
func (r *Response) Problem(t testing.TB) map[string]any {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json; body %s", ct, r.Body)
	}
	return r.Map(t)
}

// ReopenDB opens the stopped hub's database again, closed at test end.
func ReopenDB(t testing.TB, h *Hub) (*db.DB, error) {
	d, err := db.Open(context.Background(), h.Config.Database)
	if err == nil {
		t.Cleanup(func() { d.Close() })
	}
	return d, err
}
