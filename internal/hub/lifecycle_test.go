package hub_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/testcert"
	"github.com/xiangyang-gov/sharehub/licence"
	"golang.org/x/mod/sumdb/note"
)

// embeddedConfig is a hub on SQLite and local blobs in dir, on a free port.
func embeddedConfig(dir string) hub.Config {
	cfg := hub.Defaults()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.LogLevel = "warn"
	return cfg
}

// running is a hub started with hub.Open and Run, as `sharehub serve` does.
type running struct {
	app    *hub.App
	keys   map[string]string // role → demo key
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg hub.Config) *running {
	t.Helper()
	ctx := context.Background()
	app, err := hub.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("hub.Open: %v", err)
	}
	demo, err := app.SeedDemo(ctx, hubtest.Testdata())
	if err != nil {
		app.Close(ctx)
		t.Fatalf("SeedDemo: %v", err)
	}
	r := &running{app: app, keys: map[string]string{}, done: make(chan error, 1)}
	for _, k := range demo.Keys {
		r.keys[k.Role] = k.Secret
	}
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	go func() { r.done <- app.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("hub did not stop within 30s")
		}
	})
	return r
}

// stop cancels Run's context and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context ending")
		return nil
	}
}

// TestGracefulShutdownFinishesInFlightUpload: Run's context ends while an
// upload's body is still arriving. The upload completes with 201, its audit
// entry is committed (and in the final checkpoint), and Run returns nil.
func TestGracefulShutdownFinishesInFlightUpload(t *testing.T) {
	dir := t.TempDir()
	r := start(t, embeddedConfig(dir))
	app := r.app
	addr := app.Addr()

	part1 := bytes.Repeat([]byte("襄阳"), 20000) // 120 kB
	part2 := bytes.Repeat([]byte{0x5a}, 70000)
	whole := append(slices.Clone(part1), part2...)
	sum := sha256.Sum256(whole)
	wantKey := hex.EncodeToString(sum[:])

	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", app.URL()+"/v1/blobs", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked: the server cannot know the size
	req.Header.Set("Authorization", "Bearer "+r.keys["admin"])
	req.Header.Set("Content-Type", "application/pdf")
	req.Header.Set("X-Request-ID", "slow-upload-1")
	type result struct {
		status int
		body   []byte
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{status: resp.StatusCode, body: b, err: err}
	}()
	if _, err := pw.Write(part1); err != nil {
		t.Fatal(err)
	}
	// The handler is storing the upload once its temp file exists.
	waitFor(t, "the upload to reach the blob store", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "blobs", ".tmp", "put-*"))
		return len(m) > 0
	})

	r.cancel()
	// Shutdown has begun once the listener refuses new connections.
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case res := <-resc:
		t.Fatalf("the upload ended before its body was complete: %d %s %v", res.status, res.body, res.err)
	case err := <-r.done:
		t.Fatalf("Run returned %v while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}

	if _, err := pw.Write(part2); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var res result
	select {
	case res = <-resc:
	case <-time.After(30 * time.Second):
		t.Fatal("the upload did not complete")
	}
	if res.err != nil || res.status != http.StatusCreated {
		t.Fatalf("in-flight upload: %d %s %v; want 201", res.status, res.body, res.err)
	}
	var info struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	}
	if err := json.Unmarshal(res.body, &info); err != nil || info.Key != wantKey || info.Size != int64(len(whole)) {
		t.Fatalf("upload response %s (%v); want key %s size %d", res.body, err, wantKey, len(whole))
	}
	var runErr error
	select {
	case runErr = <-r.done:
		r.done <- runErr
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the last request finished")
	}
	if runErr != nil {
		t.Fatalf("Run returned %v, want nil after a graceful shutdown", runErr)
	}

	// The blob is stored, and the call's entry is committed and verifies.
	if b, err := os.ReadFile(filepath.Join(dir, "blobs", wantKey[0:2], wantKey[2:4], wantKey)); err != nil || !bytes.Equal(b, whole) {
		t.Fatalf("stored blob: %d bytes, %v", len(b), err)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, app.Config.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var (
		status           int
		route, resources string
	)
	err = d.R.QueryRowContext(ctx, `SELECT status, route, resources FROM audit_entries WHERE request_id = $1`, "slow-upload-1").Scan(&status, &route, &resources)
	if err != nil {
		t.Fatalf("audit entry of the in-flight upload: %v", err)
	}
	if status != 201 || route != "/v1/blobs" || !strings.Contains(resources, "blob:"+wantKey) {
		t.Fatalf("audit entry: status %d route %s resources %q", status, route, resources)
	}
	v, err := note.NewVerifier(app.AuditVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, d, note.VerifierList(v), nil)
	if err != nil || !rep.OK {
		t.Fatalf("audit.Verify after shutdown = %+v, %v", rep, err)
	}
	var cpSize int64
	if err := d.R.QueryRowContext(ctx, `SELECT MAX(size) FROM audit_checkpoints`).Scan(&cpSize); err != nil {
		t.Fatal(err)
	}
	if uint64(cpSize) != rep.Entries {
		t.Errorf("final checkpoint covers %d of %d entries", cpSize, rep.Entries)
	}
}

// TestShutdownWithoutRequests: Run returns nil promptly when idle.
func TestShutdownWithoutRequests(t *testing.T) {
	r := start(t, embeddedConfig(t.TempDir()))
	resp, err := http.Get(r.app.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	began := time.Now()
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("idle shutdown took %s", d)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	return testcert.Write(t, dir, "cert", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := selfSigned(t, t.TempDir())
	cfg := embeddedConfig(dir)
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	r := start(t, cfg)
	if !strings.HasPrefix(r.app.URL(), "https://") {
		t.Fatalf("URL %q is not https", r.app.URL())
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(r.app.URL() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET /healthz over HTTPS: %d (TLS %v)", resp.StatusCode, resp.TLS != nil)
	}
	// An authenticated call works over TLS too.
	req, _ := http.NewRequest("GET", r.app.URL()+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+r.keys["admin"])
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/me over HTTPS: %d", resp.StatusCode)
	}

	// Plain HTTP to the TLS port does not reach the API.
	plainURL := "http://" + r.app.Addr() + "/healthz"
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(plainURL); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("plain HTTP to the TLS port served %d %s", resp.StatusCode, body)
		}
	}
	// A client that does not trust the certificate is refused.
	if _, err := (&http.Client{Timeout: 10 * time.Second}).Get(r.app.URL() + "/healthz"); err == nil {
		t.Fatal("a client without the self-signed root connected")
	}
	// TLS 1.1 and older are refused.
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(r.app.URL() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client connected")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestSeedDemoTwice: a second demo start on the same data directory adds
// nothing and prints the same keys; the demo's licences are of every one
// of its types.
func TestSeedDemoTwice(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	wantDeps := csvRows(t, filepath.Join(hubtest.Testdata(), "departments.csv"))

	type snapshot struct {
		res        hub.DemoResult
		deps       []exchange.Department
		principals []exchange.Principal
		keys, gr   int
		keyFile    []byte
		perType    map[string]int // licences by type name
	}
	seed := func(times int) snapshot {
		t.Helper()
		app, err := hub.Open(ctx, embeddedConfig(dir), nil)
		if err != nil {
			t.Fatalf("hub.Open: %v", err)
		}
		defer app.Close(ctx)
		var s snapshot
		for i := 0; i < times; i++ {
			if s.res, err = app.SeedDemo(ctx, hubtest.Testdata()); err != nil {
				t.Fatalf("SeedDemo: %v", err)
			}
		}
		if s.deps, err = app.Exchange.Departments(ctx); err != nil {
			t.Fatal(err)
		}
		if s.principals, err = app.Exchange.Principals(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if err := app.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys`).Scan(&s.keys); err != nil {
			t.Fatal(err)
		}
		if err := app.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM grants`).Scan(&s.gr); err != nil {
			t.Fatal(err)
		}
		for _, k := range s.res.Keys {
			p, _, err := app.Exchange.Authenticate(ctx, k.Secret)
			if err != nil || p.ID != k.PrincipalID || !p.Has(exchange.Role(k.Role)) {
				t.Fatalf("demo key for %s: %+v, %v", k.Role, p, err)
			}
		}
		if s.keyFile, err = os.ReadFile(filepath.Join(dir, "demo-keys.json")); err != nil {
			t.Fatal(err)
		}
		s.perType = demoLicencesPerType(t, app)
		return s
	}
	first := seed(1)
	second := seed(2) // a new process, seeding twice

	if first.res.Departments != wantDeps || len(first.deps) != wantDeps || len(second.deps) != wantDeps || second.res.Departments != wantDeps {
		t.Errorf("departments: %d/%d then %d/%d, want %d", first.res.Departments, len(first.deps), second.res.Departments, len(second.deps), wantDeps)
	}
	// One principal and one key per demo key printed (admin, auditor, app, seal users …).
	want := len(first.res.Keys)
	if want < 3 || len(first.principals) != want || len(second.principals) != want {
		t.Errorf("principals: %d then %d, want %d (one per demo key, at least 3)", len(first.principals), len(second.principals), want)
	}
	for i := range min(len(first.principals), len(second.principals)) {
		if first.principals[i].ID != second.principals[i].ID {
			t.Errorf("principal %d: %s then %s", i, first.principals[i].ID, second.principals[i].ID)
		}
	}
	if !slices.Equal(first.res.Keys, second.res.Keys) {
		t.Errorf("keys differ between runs:\n%+v\n%+v", first.res.Keys, second.res.Keys)
	}
	roles := map[string]bool{}
	for _, k := range first.res.Keys {
		roles[k.Role] = true
	}
	if !roles["admin"] || !roles["auditor"] || !roles["app"] {
		t.Errorf("demo keys have roles %v", roles)
	}
	if first.keys != want || second.keys != want {
		t.Errorf("api_keys rows: %d then %d, want %d", first.keys, second.keys, want)
	}
	if !bytes.Equal(first.keyFile, second.keyFile) {
		t.Errorf("demo-keys.json changed:\n%s\n%s", first.keyFile, second.keyFile)
	}
	// Two demo grants: a catalogue item and the demo licence type.
	if first.gr != 2 || second.gr != 2 || first.res.GrantID != second.res.GrantID || first.res.GrantID == "" {
		t.Errorf("grants: %d (%s) then %d (%s), want two", first.gr, first.res.GrantID, second.gr, second.res.GrantID)
	}
	if fi, err := os.Stat(filepath.Join(dir, "demo-keys.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo-keys.json mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	// The demo's licences: every one of its types has some, as the demo
	// says; the second start adds none.
	total := 0
	for _, name := range licence.DemoTypes {
		if first.perType[name] == 0 {
			t.Errorf("the demo issued no %s", name)
		}
		total += first.perType[name]
	}
	if len(first.perType) != len(licence.DemoTypes) || total != hub.DemoLicences || first.res.Licences != total || first.res.LicenceTypes != len(licence.DemoTypes) {
		t.Errorf("demo licences by type %v (%d in all; the demo says %d of %d types), want %d in all, some of each of the %d types %v",
			first.perType, total, first.res.Licences, first.res.LicenceTypes, hub.DemoLicences, len(licence.DemoTypes), licence.DemoTypes)
	}
	if !maps.Equal(first.perType, second.perType) || second.res.Licences != first.res.Licences {
		t.Errorf("demo licences changed between runs: %v then %v", first.perType, second.perType)
	}
}

// demoLicencesPerType counts the registry's licences by type name.
func demoLicencesPerType(t *testing.T, app *hub.App) map[string]int {
	t.Helper()
	rows, err := app.DB.R.QueryContext(context.Background(),
		`SELECT t.name, COUNT(*) FROM licences l JOIN licence_types t ON t.code = l.type_code GROUP BY t.name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		out[name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func csvRows(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return len(recs) - 1
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
