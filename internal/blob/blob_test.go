package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/blob/blobtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestConformance runs the shared suite on every backend. Run the S3 half
// with: eval "$(scripts/versitygw.sh start)"; go test ./internal/blob/...
func TestConformance(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		blobtest.Exercise(t, blobtest.Local())
	})
	t.Run("s3", func(t *testing.T) {
		blobtest.S3Spec(t) // one loud skip (or CI failure) instead of one per case
		blobtest.Exercise(t, blobtest.S3())
	})
}

func BenchmarkLocal(b *testing.B) { blobtest.Benchmark(b, blobtest.Local()) }

func BenchmarkS3(b *testing.B) {
	blobtest.S3Spec(b)
	blobtest.Benchmark(b, blobtest.S3())
}

func TestCheckSpec(t *testing.T) {
	good := []string{
		"file:./data/blobs",
		"file:/var/lib/sharehub/blobs",
		"file:///var/lib/sharehub/blobs",
		"file://localhost/var/blobs",
		"FILE:data",
		"s3://bucket?endpoint=127.0.0.1:7070",
		"s3://sharehub-prod?endpoint=oss-cn-hangzhou.aliyuncs.com&region=cn-hangzhou&prefix=hub/blobs",
		"s3://b.c-d?endpoint=minio:9000&access_key=AK&secret_key=a+b/c%26d&secure=false",
		"s3://bucket?endpoint=[::1]:9000&secure=true&prefix=x/",
	}
	for _, s := range good {
		if err := blob.CheckSpec(s); err != nil {
			t.Errorf("CheckSpec(%q) = %v, want ok", s, err)
		}
	}
	bad := []struct{ spec, msg string }{
		{"", "empty blob store"},
		{"ftp://host/dir", `unknown scheme "ftp"; use file:DIR or s3://bucket?endpoint=host:port`},
		{"./data/blobs", "missing scheme"},
		{"/var/blobs", "missing scheme"},
		{"file:", "needs a directory"},
		{"file://server/share", "with a host"},
		{"file:dir?x=1", "no query"},
		{"s3:bucket", "needs a bucket"},
		{"s3://?endpoint=h:1", "needs a bucket"},
		{"s3://Bucket?endpoint=h:1", "bad bucket name"},
		{"s3://ab?endpoint=h:1", "bad bucket name"},
		{"s3://192.168.1.1?endpoint=h:1", "bad bucket name"},
		{"s3://bucket", "needs an endpoint"},
		{"s3://bucket/some/path?endpoint=h:1", "prefix=some/path"},
		{"s3://bucket?endpoint=http://h:9000", "without \"http://\""},
		{"s3://bucket?endpoint=h:99999", "bad host:port"},
		{"s3://bucket?endpoint=h:1&secure=maybe", "secure="},
		{"s3://bucket?endpoint=h:1&acess_key=x", `unknown s3 parameter "acess_key"`},
		{"s3://bucket?endpoint=h:1&endpoint=h:2", "twice"},
		{"s3://bucket?endpoint=h:1&prefix=/abs", "must be relative"},
		{"s3://bucket?endpoint=h:1&prefix=a/../b", "'..'"},
		{"s3://bucket?endpoint=h:1&access_key=&secret_key=x", "both be non-empty"},
		{"s3://user:pw@bucket?endpoint=h:1", "credentials before the bucket"},
		{"s3://bucket?endpoint=h:1&secret_key=abc%zz", "bad %-escape"},
	}
	for _, c := range bad {
		err := blob.CheckSpec(c.spec)
		if !errs.Is(err, errs.KindInvalid) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CheckSpec(%q) = %v, want invalid containing %q", c.spec, err, c.msg)
		}
	}
	// Secrets never appear in messages.
	err := blob.CheckSpec("s3://bucket?endpoint=h:1&secret_key=TOPSECRET&bogus=1")
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("error leaks or misses: %v", err)
	}
	err = blob.CheckSpec("bucket?endpoint=h:1&secret_key=TOPSECRET")
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") || !strings.Contains(err.Error(), "missing scheme") {
		t.Errorf("error leaks or misses: %v", err)
	}
	err = blob.CheckSpec("s3:?secret_key=TOPSECRET")
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("error leaks or misses: %v", err)
	}
}

func TestRedactSpec(t *testing.T) {
	got := blob.RedactSpec("s3://b?endpoint=h:1&access_key=AK&secret_key=S%2Bx&secure=false")
	want := "s3://b?endpoint=h:1&access_key=AK&secret_key=REDACTED&secure=false"
	if got != want {
		t.Errorf("RedactSpec = %q, want %q", got, want)
	}
	if got := blob.RedactSpec("file:./x"); got != "file:./x" {
		t.Errorf("RedactSpec(file) = %q", got)
	}
}

func TestValidKey(t *testing.T) {
	h := sha256.Sum256(nil)
	k := hex.EncodeToString(h[:])
	if !blob.ValidKey(k) {
		t.Errorf("ValidKey(%s) = false", k)
	}
	for _, bad := range []string{"", "ABC", strings.ToUpper(k), k[:63], k + "a", "../etc/passwd", k[:63] + "/"} {
		if blob.ValidKey(bad) {
			t.Errorf("ValidKey(%q) = true", bad)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	for name, want := range map[string]string{
		"":             "attachment",
		"report.pdf":   "attachment; filename=report.pdf",
		"a b.pdf":      `attachment; filename="a b.pdf"`,
		"营业执照.pdf":     "attachment; filename*=utf-8''%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7.pdf",
		`say "hi".txt`: `attachment; filename="say \"hi\".txt"`,
	} {
		if got := blob.ContentDisposition(name); got != want {
			t.Errorf("ContentDisposition(%q) = %q, want %q", name, got, want)
		}
	}
}

func openLocal(t *testing.T, opts blob.Options) (blob.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := blob.Open(context.Background(), "file:"+dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, dir
}

func TestVerifyLink(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	s, _ := openLocal(t, blob.Options{LinkSecret: secret, LinkBaseURL: "http://hub.example:8080/"})
	ctx := context.Background()
	info, err := s.Put(ctx, strings.NewReader("licence scan"), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	link, err := s.Link(ctx, info.Key, 10*time.Minute, "扫描件.png")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" || u.Host != "hub.example:8080" || u.Path != "/v1/blobs/"+info.Key {
		t.Fatalf("link %s: want http://hub.example:8080/v1/blobs/%s?...", link, info.Key)
	}
	q := u.Query()
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil {
		t.Fatalf("link %s: exp: %v", link, err)
	}
	if d := time.Until(time.Unix(exp, 0)); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("exp is %s from now, want about 10m", d)
	}
	name, sig := q.Get("name"), q.Get("sig")
	if name != "扫描件.png" {
		t.Errorf("name = %q", name)
	}
	now := time.Now()
	if err := blob.VerifyLink(secret, info.Key, exp, name, sig, now); err != nil {
		t.Errorf("VerifyLink(valid) = %v", err)
	}
	if err := blob.VerifyLink(secret, info.Key, exp, name, sig, time.Unix(exp, 0)); err != nil {
		t.Errorf("VerifyLink(at the expiry second) = %v", err)
	}
	other := sha256.Sum256([]byte("x"))
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == '0' {
			b[0] = '1'
		} else {
			b[0] = '0'
		}
		return string(b)
	}
	forbidden := []struct {
		what   string
		secret []byte
		key    string
		exp    int64
		name   string
		sig    string
		now    time.Time
	}{
		{"expired", secret, info.Key, exp, name, sig, time.Unix(exp, 0).Add(time.Second)},
		{"later exp", secret, info.Key, exp + 3600, name, sig, now},
		{"other name", secret, info.Key, exp, "other.png", sig, now},
		{"no name", secret, info.Key, exp, "", sig, now},
		{"other key", secret, hex.EncodeToString(other[:]), exp, name, sig, now},
		{"altered sig", secret, info.Key, exp, name, flip(sig), now},
		{"short sig", secret, info.Key, exp, name, sig[:32], now},
		{"non-hex sig", secret, info.Key, exp, name, "zz" + sig[2:], now},
		{"empty sig", secret, info.Key, exp, name, "", now},
		{"wrong secret", []byte("another secret, same length....."), info.Key, exp, name, sig, now},
		{"no secret", nil, info.Key, exp, name, sig, now},
	}
	for _, c := range forbidden {
		err := blob.VerifyLink(c.secret, c.key, c.exp, c.name, c.sig, c.now)
		if !errs.Is(err, errs.KindForbidden) {
			t.Errorf("VerifyLink(%s) = %v, want forbidden", c.what, err)
		}
	}
	if err := blob.VerifyLink(secret, "../etc/passwd", exp, name, sig, now); !errs.Is(err, errs.KindInvalid) {
		t.Errorf("VerifyLink(bad key) = %v, want invalid", err)
	}
}

func TestLocalLinkConfig(t *testing.T) {
	ctx := context.Background()
	s, _ := openLocal(t, blob.Options{})
	info, err := s.Put(ctx, strings.NewReader("x"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Link(ctx, info.Key, time.Minute, ""); err == nil {
		t.Error("Link without LinkSecret succeeded")
	}
	rel, _ := openLocal(t, blob.Options{LinkSecret: []byte("k")})
	info, _ = rel.Put(ctx, strings.NewReader("x"), "")
	link, err := rel.Link(ctx, info.Key, time.Minute, "")
	if err != nil || !strings.HasPrefix(link, "/v1/blobs/"+info.Key+"?") {
		t.Errorf("Link without base URL = %q, %v; want a relative /v1/blobs/ link", link, err)
	}
	for _, base := range []string{"hub.example", "ftp://x", "http://x/?a=b", "http:///p"} {
		_, err := blob.Open(ctx, "file:"+t.TempDir(), blob.Options{LinkBaseURL: base})
		if !errs.Is(err, errs.KindInvalid) {
			t.Errorf("Open with LinkBaseURL %q = %v, want invalid", base, err)
		}
	}
}

func TestLocalLayout(t *testing.T) {
	ctx := context.Background()
	s, dir := openLocal(t, blob.Options{})
	data := []byte("sharded")
	info, err := s.Put(ctx, bytes.NewReader(data), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	k := info.Key
	p := filepath.Join(dir, k[:2], k[2:4], k)
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content not at %s: %v", p, err)
	}
	if _, err := os.Stat(p + ".json"); err != nil {
		t.Errorf("no sidecar: %v", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, ".tmp"))
	if err != nil || len(ents) != 0 {
		t.Errorf(".tmp holds %v (%v), want empty", ents, err)
	}
	// A lost sidecar falls back to defaults rather than failing reads.
	if err := os.Remove(p + ".json"); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(ctx, k)
	if err != nil || st.MediaType != blob.DefaultMediaType || st.Size != int64(len(data)) {
		t.Errorf("Stat without sidecar = %+v, %v", st, err)
	}
	rc, _, err := s.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.(io.ReadSeeker); !ok {
		t.Error("local Get does not return an io.ReadSeeker")
	}
	rc.Close()

	// Reopening keeps everything; stale temp files are swept, fresh ones kept.
	stale := filepath.Join(dir, ".tmp", "put-stale")
	fresh := filepath.Join(dir, ".tmp", "put-fresh")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	s2, err := blob.Open(ctx, "file:"+dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Stat(ctx, k); err != nil {
		t.Errorf("after reopen: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file survived reopen: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("recent temp file removed on reopen (may belong to a running Put): %v", err)
	}
}

func TestLocalUnavailable(t *testing.T) {
	ctx := context.Background()
	s, dir := openLocal(t, blob.Options{})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Ping with the directory gone = %v, want unavailable", err)
	}
	if _, err := s.Put(ctx, strings.NewReader("x"), ""); !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Put with the directory gone = %v, want unavailable", err)
	}
	// A directory that cannot be created.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.Open(ctx, "file:"+file+"/blobs", blob.Options{}); !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Open under a regular file = %v, want unavailable", err)
	}
}

func TestOpenInvalid(t *testing.T) {
	_, err := blob.Open(context.Background(), "ftp://x", blob.Options{})
	if !errs.Is(err, errs.KindInvalid) {
		t.Errorf("Open(ftp) = %v, want invalid", err)
	}
}

// TestS3Credentials checks where the key pair comes from. Missing
// credentials fail before any network call.
func TestS3Credentials(t *testing.T) {
	for _, v := range []string{"SHAREHUB_S3_ACCESS_KEY", "SHAREHUB_S3_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(v, "")
	}
	ctx := context.Background()
	_, err := blob.Open(ctx, "s3://bucket?endpoint=127.0.0.1:1&secure=false", blob.Options{})
	if !errs.Is(err, errs.KindInvalid) || !strings.Contains(err.Error(), "SHAREHUB_S3_ACCESS_KEY") {
		t.Errorf("Open without credentials = %v, want invalid naming the variables", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AK")
	_, err = blob.Open(ctx, "s3://bucket?endpoint=127.0.0.1:1&secure=false", blob.Options{})
	if !errs.Is(err, errs.KindInvalid) || !strings.Contains(err.Error(), "secret key") {
		t.Errorf("Open with only an access key = %v, want invalid about the secret key", err)
	}

	// With a real server: credentials from each source work.
	spec := os.Getenv(blobtest.EnvS3)
	if spec == "" {
		return
	}
	fresh, conn := blobtest.FreshBucketSpec(t, spec)
	q := map[string]string{}
	base, raw, _ := strings.Cut(fresh, "?")
	var keep []string
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "access_key" || k == "secret_key" {
			q[k], _ = url.PathUnescape(v)
			continue
		}
		keep = append(keep, kv)
	}
	if q["access_key"] == "" {
		t.Skip("SHAREHUB_TEST_S3 has no access_key/secret_key to move into the environment")
	}
	bare := base + "?" + strings.Join(keep, "&")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	for _, pair := range [][2]string{
		{"SHAREHUB_S3_ACCESS_KEY", "SHAREHUB_S3_SECRET_KEY"},
		{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
	} {
		t.Setenv(pair[0], q["access_key"])
		t.Setenv(pair[1], q["secret_key"])
		s, err := blob.Open(ctx, bare, blob.Options{TempDir: t.TempDir()})
		if err != nil {
			t.Errorf("Open with credentials from %s: %v", pair[0], err)
		} else if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping with credentials from %s: %v", pair[0], err)
		}
		t.Setenv(pair[0], "")
		t.Setenv(pair[1], "")
	}
	// Spec values win over the environment.
	t.Setenv("SHAREHUB_S3_ACCESS_KEY", "wrong")
	t.Setenv("SHAREHUB_S3_SECRET_KEY", "wrong-secret")
	if _, err := blob.Open(ctx, fresh, blob.Options{TempDir: t.TempDir()}); err != nil {
		t.Errorf("Open with keys in the spec and wrong ones in the environment: %v", err)
	}
	// Wrong keys: the store is unusable, so Open reports unavailable.
	if _, err := blob.Open(ctx, bare, blob.Options{TempDir: t.TempDir()}); !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Open with wrong credentials = %v, want unavailable", err)
	}
	_ = conn
}

// proxy forwards TCP connections to target until stopped, so a test can
// take an S3 endpoint away from a store that is already open.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// TestS3Unavailable: Ping (and data calls) on an S3 endpoint that went away
// fail with errs.Unavailable, quickly; Open on a dead endpoint too.
func TestS3Unavailable(t *testing.T) {
	spec := blobtest.S3Spec(t)
	fresh, conn := blobtest.FreshBucketSpec(t, spec)
	p := startProxy(t, conn.Endpoint)
	viaProxy := strings.Replace(fresh, "endpoint="+conn.Endpoint, "endpoint="+p.addr(), 1)
	ctx := context.Background()
	s, err := blob.Open(ctx, viaProxy, blob.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open via proxy: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping via proxy: %v", err)
	}
	info, err := s.Put(ctx, strings.NewReader("before the outage"), "text/plain")
	if err != nil {
		t.Fatalf("Put via proxy: %v", err)
	}

	p.stop()
	start := time.Now()
	err = s.Ping(ctx)
	if !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Ping on a stopped endpoint = %v, want unavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Ping on a stopped endpoint took %s", d)
	}
	if _, err := s.Stat(ctx, info.Key); !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Stat on a stopped endpoint = %v, want unavailable", err)
	}
	if _, _, err := s.Get(ctx, info.Key); !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Get on a stopped endpoint = %v, want unavailable", err)
	}
	if _, err := s.Put(ctx, strings.NewReader("during the outage"), ""); !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Put on a stopped endpoint = %v, want unavailable", err)
	}

	// Open against an address nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	deadSpec := strings.Replace(fresh, "endpoint="+conn.Endpoint, "endpoint="+dead, 1)
	if _, err := blob.Open(ctx, deadSpec, blob.Options{}); !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("Open on a dead endpoint = %v, want unavailable", err)
	}
}

// TestS3Layout: objects are stored as PREFIX + key with their media type,
// and a Put leaves nothing but the object.
func TestS3Layout(t *testing.T) {
	spec := blobtest.S3Spec(t)
	fresh, conn := blobtest.FreshBucketSpec(t, spec)
	ctx := context.Background()
	spool := t.TempDir()
	s, err := blob.Open(ctx, fresh+"&prefix=hub/blobs", blob.Options{TempDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Put(ctx, strings.NewReader("%PDF-1.7"), "application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	names := blobtest.ListBucket(t, conn)
	if len(names) != 1 || names[0] != "hub/blobs/"+info.Key {
		t.Errorf("bucket holds %q, want [hub/blobs/%s]", names, info.Key)
	}
	oi, err := conn.Client.StatObject(ctx, conn.Bucket, "hub/blobs/"+info.Key, minio.StatObjectOptions{})
	if err != nil || oi.ContentType != "application/pdf" {
		t.Errorf("object content type %q (%v), want application/pdf", oi.ContentType, err)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("spool dir not empty after Put: %v", ents)
	}
	// A second store on the same bucket without the prefix does not see it.
	other, err := blob.Open(ctx, fresh, blob.Options{TempDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Stat(ctx, info.Key); !errs.Is(err, errs.KindNotFound) {
		t.Errorf("Stat outside the prefix = %v, want not found", err)
	}
}
