package hub_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/blob/blobtest"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// TestEndToEnd runs the real hub (hub.Open + Run, as `sharehub serve`) on
// SQLite with local blobs, PostgreSQL with local blobs and PostgreSQL with
// S3 blobs: the admin key it made creates a department, a principal, a key
// and a grant; the new key is refused without the grant and served with
// it; a file uploaded through the API comes back byte for byte through its
// time-limited link and is where the blob store keeps it (the bucket, on
// S3); then the audit log verifies and one inclusion proof checks out
// against the signed checkpoint.
//
// The S3 variant needs $SHAREHUB_TEST_S3 (scripts/versitygw.sh start); it
// is skipped loudly without it and fails under CI=true, as blobtest does.
func TestEndToEnd(t *testing.T) {
	variants := []struct {
		name string
		db   db.Dialect
		s3   bool
	}{
		{string(db.SQLite), db.SQLite, false},
		{string(db.Postgres), db.Postgres, false},
		{string(db.Postgres) + "+s3", db.Postgres, true},
	}
	for _, tc := range variants {
		t.Run(tc.name, func(t *testing.T) {
			var opts []hubtest.Option
			stored := localBlob // where the hub's blob store keeps a key
			if tc.s3 {
				opt, conn := hubtest.S3Blobs(t)
				opts = append(opts, opt)
				stored = func(t *testing.T, _ *hubtest.Hub, key string) []byte { return s3Object(t, conn, key) }
			}
			h := hubtest.Start(t, tc.db, opts...)
			ctx := context.Background()

			code := ident.NewCreditCode('1', '1', "420602", 9001)
			dep := h.Do(t, "POST", "/v1/departments", h.Admin, map[string]any{
				"id": "xc-ybj", "code": code, "name": "襄城区医疗保障局", "kind": "office", "parent_id": "xc",
			}).Want(t, 201).Map(t)
			h.Do(t, "POST", "/v1/departments", h.Admin, map[string]any{"id": "xc-ybj2", "code": code, "name": "dup", "kind": "office"}).Want(t, 409)
			prn := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{
				"department_id": dep["id"], "name": "医保结算系统", "roles": []string{"app"},
			}).Want(t, 201).Map(t)
			key := h.Do(t, "POST", "/v1/principals/"+prn["id"].(string)+"/keys", h.Admin, map[string]any{
				"name": "prod", "expires_at": time.Now().Add(24 * time.Hour),
			}).Want(t, 201).Map(t)
			secret := key["secret"].(string)
			if !strings.HasPrefix(secret, "shk_") || len(secret) < 40 {
				t.Fatalf("secret %q", secret)
			}
			me := h.Do(t, "GET", "/v1/me", secret, nil).Want(t, 200).Map(t)
			if me["department_id"] != "xc-ybj" {
				t.Fatalf("/v1/me = %v", me)
			}

			q := "/v1/access?resource_kind=catalog_item&resource_id=hospital-settlement&fields=patient_name,amount"
			h.Do(t, "GET", q, secret, nil, "X-Purpose: 医保报销审核").Want(t, 403)
			grant := h.Do(t, "POST", "/v1/grants", h.Admin, map[string]any{
				"consumer_department_id": "xc-ybj", "resource_kind": "catalog_item", "resource_id": "hospital-settlement",
				"fields": []string{"patient_name", "amount", "hospital"}, "purpose": "医保报销审核",
				"valid_until": time.Now().Add(30 * 24 * time.Hour), "daily_quota": 100,
			}).Want(t, 201).Map(t)
			acc := h.Do(t, "GET", q, secret, nil, "X-Purpose: 医保报销审核", "X-Request-ID: e2e-granted").Want(t, 200).Map(t)
			if acc["grant_id"] != grant["id"] || fmt.Sprint(acc["fields"]) != "[patient_name amount]" || acc["used_today"].(float64) != 1 {
				t.Fatalf("access = %v", acc)
			}
			// Other departments' apps still have no grant.
			h.Do(t, "GET", q, h.AppKey, nil).Want(t, 403)

			// The audit log: the granted call is there, found by the auditor through the API.
			es := h.Do(t, "GET", "/v1/audit/entries?principal_id="+prn["id"].(string)+"&limit=10", h.Auditor, nil).Want(t, 200).Map(t)
			items := es["items"].([]any)
			if len(items) != 3 { // /v1/me, the refused call, the granted call
				t.Fatalf("auditor sees %d entries for the principal, want 3: %v", len(items), items)
			}
			var granted map[string]any
			for _, it := range items {
				if e := it.(map[string]any); e["request_id"] == "e2e-granted" {
					granted = e
				}
			}
			if granted == nil || granted["status"].(float64) != 200 || granted["purpose"] != "医保报销审核" {
				t.Fatalf("granted call's entry = %v", granted)
			}

			// A file through the API and back through its time-limited link.
			blobRoundTrip(t, h, tc.s3, stored)

			// A signed checkpoint and an inclusion proof for that entry.
			cp := h.Do(t, "GET", "/v1/audit/checkpoint", "", nil).Want(t, 200).Map(t)
			v, err := note.NewVerifier(cp["verifier_key"].(string))
			if err != nil {
				t.Fatal(err)
			}
			n, err := note.Open([]byte(cp["note"].(string)), note.VerifierList(v))
			if err != nil {
				t.Fatalf("checkpoint signature: %v", err)
			}
			size := uint64(cp["size"].(float64))
			root, _ := base64.StdEncoding.DecodeString(cp["root"].(string))
			if !strings.Contains(n.Text, fmt.Sprintf("\n%d\n%s\n", size, cp["root"])) {
				t.Fatalf("checkpoint text %q does not carry size and root", n.Text)
			}
			idx := uint64(granted["index"].(float64))
			if idx >= size {
				t.Fatalf("entry %d not yet in checkpoint of size %d", idx, size)
			}
			pr := h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/inclusion?index=%d&size=%d", idx, size), h.Auditor, nil).Want(t, 200).Map(t)
			var hashes [][]byte
			for _, s := range pr["hashes"].([]any) {
				b, _ := base64.StdEncoding.DecodeString(s.(string))
				hashes = append(hashes, b)
			}
			e, err := h.Audit.Entry(ctx, idx)
			if err != nil {
				t.Fatal(err)
			}
			leaf := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(e))
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, size, leaf, hashes, root); err != nil {
				t.Fatalf("inclusion proof: %v", err)
			}

			// The whole log verifies.
			h.Stop(t)
			vk := cp["verifier_key"].(string)
			vv, _ := note.NewVerifier(vk)
			d, err := hubtest.ReopenDB(t, h)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := audit.Verify(ctx, d, note.VerifierList(vv), nil)
			if err != nil || !rep.OK {
				t.Fatalf("audit.Verify = %+v, %v", rep, err)
			}
			if rep.Entries < 8 {
				t.Fatalf("only %d entries verified", rep.Entries)
			}
		})
	}
}

// blobRoundTrip uploads a file through POST /v1/blobs, gets a time-limited
// link for it and downloads it through that link without a key: the bytes
// must match, and stored must find the same bytes where the hub's blob
// store keeps them. On S3 the link is a presigned URL of the S3 server; on
// a local directory it is the hub's own signed /v1/blobs/KEY link. A link
// whose signature is altered is refused.
func blobRoundTrip(t *testing.T, h *hubtest.Hub, onS3 bool, stored func(*testing.T, *hubtest.Hub, string) []byte) {
	t.Helper()
	data := make([]byte, 300<<10+7) // more than one buffer, not a round size
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])

	info := h.Do(t, "POST", "/v1/blobs", h.Admin, data, "Content-Type: application/pdf").Want(t, 201).Map(t)
	if info["key"] != key || info["size"] != float64(len(data)) || info["media_type"] != "application/pdf" {
		t.Fatalf("POST /v1/blobs = %v, want key %s, size %d, application/pdf", info, key, len(data))
	}
	if got := stored(t, h, key); !bytes.Equal(got, data) {
		t.Fatalf("the blob store holds %d bytes under %s, want the %d uploaded", len(got), key, len(data))
	}

	name := "营业执照 (副本).pdf"
	const ttl = 120
	lr := h.Do(t, "POST", fmt.Sprintf("/v1/blobs/%s/link?ttl=%d&name=%s", key, ttl, url.QueryEscape(name)), h.Admin, nil).Want(t, 200).Map(t)
	link := lr["url"].(string)
	exp, err := time.Parse(time.RFC3339, lr["expires_at"].(string))
	if err != nil {
		t.Fatalf("link expires_at %v: %v", lr["expires_at"], err)
	}
	if left := time.Until(exp); left <= 0 || left > (ttl+1)*time.Second {
		t.Fatalf("link expires in %s, want within %ds", left, ttl)
	}
	lu, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q: %v", link, err)
	}
	sigParam := "sig"
	if onS3 {
		sigParam = "X-Amz-Signature"
		if strings.HasPrefix(link, h.URL) || lu.Query().Get("X-Amz-Expires") != fmt.Sprint(ttl) || !strings.Contains(lu.Path, key) {
			t.Fatalf("link %s is not a presigned S3 URL for %s valid %ds", link, key, ttl)
		}
	} else if !strings.HasPrefix(link, h.URL+"/v1/blobs/"+key+"?") {
		t.Fatalf("link %s is not the hub's own /v1/blobs/%s link", link, key)
	}

	get := func(u string) (*http.Response, []byte) {
		t.Helper()
		resp, err := h.Client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		return resp, b
	}
	resp, body := get(link)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("GET link: %s, %d bytes (want 200 and the %d uploaded)", resp.Status, len(body), len(data))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("GET link: Content-Type %q, want application/pdf", ct)
	}
	cd := resp.Header.Get("Content-Disposition")
	if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != name {
		t.Errorf("GET link: Content-Disposition %q, want the file name %q", cd, name)
	}

	q := lu.Query()
	sig := q.Get(sigParam)
	if sig == "" {
		t.Fatalf("link %s has no %s", link, sigParam)
	}
	flip := "0"
	if strings.HasSuffix(sig, "0") {
		flip = "1"
	}
	q.Set(sigParam, sig[:len(sig)-1]+flip)
	bad := *lu
	bad.RawQuery = q.Encode()
	if resp, body := get(bad.String()); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET link with %s altered: %s (%s), want 403", sigParam, resp.Status, bytes.TrimSpace(body))
	}
}

// localBlob reads key from the hub's local blob directory.
func localBlob(t *testing.T, h *hubtest.Hub, key string) []byte {
	t.Helper()
	dir, ok := strings.CutPrefix(h.Config.Blobs, "file:")
	if !ok {
		t.Fatalf("the hub's blobs %q are not a local directory", h.Config.Blobs)
	}
	b, err := os.ReadFile(filepath.Join(dir, key[0:2], key[2:4], key))
	if err != nil {
		t.Fatalf("local blob %s: %v", key, err)
	}
	return b
}

// s3Object checks that key is an object in the bucket and reads it
// straight from the S3 server.
func s3Object(t *testing.T, conn blobtest.S3Conn, key string) []byte {
	t.Helper()
	if names := blobtest.ListBucket(t, conn); !slices.Contains(names, key) {
		t.Fatalf("bucket %s holds %q, not %s", conn.Bucket, names, key)
	}
	obj, err := conn.Client.GetObject(context.Background(), conn.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("S3 get %s/%s: %v", conn.Bucket, key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("S3 get %s/%s: %v", conn.Bucket, key, err)
	}
	return b
}

// TestServeCLIOnPostgresAndS3 runs the sharehub command itself, built from
// ./cmd/sharehub, as
//
//	sharehub serve --database postgres://… --blobs s3://… --listen 127.0.0.1:0
//
// so the CLI's flag parsing and `serve` are covered on PostgreSQL and S3,
// not only hub.Open: the hub says it serves that database and bucket,
// migrates the schema, makes the bucket, answers /readyz with both ok, and
// exits 0 on SIGTERM. It is a subprocess because `run` lives in package
// main. Without PostgreSQL or S3 it is skipped loudly; under CI=true it
// fails.
func TestServeCLIOnPostgresAndS3(t *testing.T) {
	spec, conn := blobtest.FreshBucketSpec(t, blobtest.S3Spec(t))
	pg := dbtest.URL(t, db.Postgres)
	bin := buildSharehub(t)

	env := append(serveEnv(), "SHAREHUB_MASTER_KEY="+strings.Repeat("cd", 32))
	srv := startServe(t, bin, []string{"--database", pg, "--blobs", spec, "--data-dir", t.TempDir()}, env)
	serving, logs := srv.serving, srv.logs
	base, _ := serving["url"].(string)
	if dsn, _ := serving["database"].(string); !strings.HasPrefix(dsn, "postgres://") {
		t.Errorf("serve runs on database %q, want the postgres:// one given", dsn)
	}
	if b, _ := serving["blobs"].(string); !strings.HasPrefix(b, "s3://"+conn.Bucket+"?") {
		t.Errorf("serve stores blobs in %q, want s3://%s", b, conn.Bucket)
	}
	if u, err := url.Parse(spec); err == nil {
		if secret := u.Query().Get("secret_key"); secret != "" && strings.Contains(logs.String(), secret) {
			t.Error("serve logged the S3 secret key")
		}
	}

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	var ready struct {
		Status string
		Checks map[string]string
	}
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || ready.Status != "ok" || ready.Checks["database"] != "ok" || ready.Checks["blobs"] != "ok" {
		t.Fatalf("GET /readyz: %d %+v (%v), want 200 with database and blobs ok", resp.StatusCode, ready, err)
	}
	ctx := context.Background()
	if ok, err := conn.Client.BucketExists(ctx, conn.Bucket); err != nil || !ok {
		t.Errorf("serve did not make bucket %s: exists %v, %v", conn.Bucket, ok, err)
	}
	d, err := db.Open(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, err := d.SchemaVersion(ctx); err != nil || v == 0 {
		t.Errorf("serve left the PostgreSQL schema at version %d (%v), want it migrated", v, err)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("sharehub serve after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sharehub serve did not stop within 30s of SIGTERM")
	}
}

// served is a `sharehub serve` process started by startServe.
type served struct {
	cmd     *exec.Cmd
	done    chan error     // Wait's result, sent once when the process ends
	url     string         // where it serves
	serving map[string]any // its "sharehub serving" log record
	logs    *syncBuffer    // everything it printed
}

// wait waits for the process to end and returns how it ended.
func (s *served) wait() error { return <-s.done }

// startServe runs `sharehub serve --listen 127.0.0.1:0` (JSON logs) with
// args and env, and returns once it says where it serves (port 0 is only
// known from its log). It fails the test if the process ends first or
// says nothing within 60 s. At cleanup the process is killed if still
// running, and its output is shown if the test failed.
func startServe(t *testing.T, bin string, args, env []string) *served {
	t.Helper()
	s := &served{done: make(chan error, 1), logs: &syncBuffer{}}
	s.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-level", "info", "--log-format", "json"}, args...)...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() {
		err := s.cmd.Wait()
		exited <- err
		s.done <- err
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = s.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("sharehub serve output:\n%s", s.logs.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(s.logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "sharehub serving" {
				if u, _ := m["url"].(string); u != "" {
					s.url, s.serving = u, m
					return s
				}
			}
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("sharehub serve exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("sharehub serve did not say it serves within 60s")
		}
	}
}

// buildSharehub builds ./cmd/sharehub into the test's temp directory.
func buildSharehub(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("the go command is needed to build sharehub: %v", err)
	}
	out := filepath.Join(t.TempDir(), "sharehub")
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/sharehub")
	cmd.Dir = filepath.Join(hubtest.Testdata(), "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sharehub: %v\n%s", err, b)
	}
	return out
}

// serveEnv is this process's environment without SHAREHUB_* settings, so
// only the flags configure the hub; S3 credentials may still come from
// SHAREHUB_S3_* or AWS_*, as blobtest reads them.
func serveEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SHAREHUB_") && !strings.HasPrefix(kv, "SHAREHUB_S3_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// syncBuffer is a bytes.Buffer safe for a subprocess's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
