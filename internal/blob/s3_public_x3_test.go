package blob_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/blob/blobtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// otherName returns the test gateway's endpoint under another name for the
// same socket (127.0.0.1:P ↔ localhost:P): a "public" address that reaches
// the same gateway but is a different Host to SigV4.
func otherName(t *testing.T, endpoint string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		t.Fatalf("test S3 endpoint %q: %v", endpoint, err)
	}
	switch host {
	case "127.0.0.1":
		return net.JoinHostPort("localhost", port)
	case "localhost":
		return net.JoinHostPort("127.0.0.1", port)
	}
	t.Skipf("test S3 endpoint %s is not on 127.0.0.1 or localhost", endpoint)
	return ""
}

func fetch(t *testing.T, link string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// A download link goes to whoever the hub hands it to (a department, a
// citizen), who cannot reach the address the hub talks to S3 at. With
// public_endpoint the link names the public host, is signed for it (SigV4
// signs Host), and downloads the bytes from there.
func TestS3LinkUsesPublicEndpoint(t *testing.T) {
	ctx := context.Background()
	fresh, conn := blobtest.FreshBucketSpec(t, blobtest.S3Spec(t))
	internal := conn.Client.EndpointURL().Host
	public := otherName(t, internal)

	s, err := blob.Open(ctx, fresh+"&public_endpoint="+public, blob.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("证照文件 for the public link")
	info, err := s.Put(ctx, bytes.NewReader(content), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	link, err := s.Link(ctx, info.Key, time.Minute, "证照.txt")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != public || u.Scheme != conn.Client.EndpointURL().Scheme {
		t.Errorf("link %s: host %s scheme %s, want %s %s", link, u.Host, u.Scheme, public, conn.Client.EndpointURL().Scheme)
	}
	status, body, h := fetch(t, link)
	if status != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("GET public link: %d %q, want 200 and the content", status, body)
	}
	if cd := h.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
		t.Errorf("Content-Disposition %q, want an attachment", cd)
	}

	// The same link with the internal host is not valid: the signature
	// covers the host, which is why the link cannot be rewritten after
	// presigning and must be signed for the public one.
	u.Host = internal
	if status, body, _ := fetch(t, u.String()); status != http.StatusForbidden {
		t.Errorf("public link sent to the internal host: %d %s, want 403 (signature bound to the host)", status, body)
	}

	// Without public_endpoint links keep naming the endpoint.
	plain, err := blob.Open(ctx, fresh, blob.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := plain.Link(ctx, info.Key, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	if u2, _ := url.Parse(l2); u2.Host != internal {
		t.Errorf("link without public_endpoint names %s, want %s", u2.Host, internal)
	}
}

// Presigning for the public endpoint sends nothing there: the hub often
// cannot reach its own public S3 address (no hairpin NAT, a proxy only
// outside). Without a region in the spec minio-go would first ask the
// public endpoint for the bucket's region; the region comes from the
// hub's own endpoint instead.
func TestS3PublicLinkIsSignedOffline(t *testing.T) {
	ctx := context.Background()
	fresh, _ := blobtest.FreshBucketSpec(t, blobtest.S3Spec(t))
	// Port 1 on loopback: nothing listens, a request there fails at once.
	unreachable := "127.0.0.1:1"
	s, err := blob.Open(ctx, fresh+"&public_endpoint="+unreachable+"&public_secure=true", blob.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Put(ctx, strings.NewReader("offline presign"), "")
	if err != nil {
		t.Fatal(err)
	}
	link, err := s.Link(ctx, info.Key, time.Hour, "")
	if err != nil {
		t.Fatalf("Link with an unreachable public endpoint: %v", err)
	}
	u, _ := url.Parse(link)
	if u.Scheme != "https" || u.Host != unreachable || u.Query().Get("X-Amz-Signature") == "" {
		t.Errorf("link %s: want an https presigned URL for %s", link, unreachable)
	}
}

func TestCheckSpecPublicEndpoint(t *testing.T) {
	good := []string{
		"s3://bucket?endpoint=10.0.0.5:9000&secure=false&public_endpoint=s3.xiangyang.gov.cn",
		"s3://bucket?endpoint=10.0.0.5:9000&public_endpoint=s3.xiangyang.gov.cn:8443&public_secure=true",
		"s3://bucket?endpoint=10.0.0.5:9000&public_endpoint=[2001:db8::1]:9000&public_secure=false",
	}
	for _, spec := range good {
		if err := blob.CheckSpec(spec); err != nil {
			t.Errorf("CheckSpec(%q) = %v, want ok", spec, err)
		}
	}
	bad := []struct{ spec, msg string }{
		{"s3://bucket?endpoint=h:1&public_endpoint=", "public_endpoint is empty"},
		{"s3://bucket?endpoint=h:1&public_endpoint=https://s3.example.gov.cn", `public_endpoint "https://s3.example.gov.cn" must be host:port without "https://"; use public_secure=false`},
		{"s3://bucket?endpoint=h:1&public_endpoint=s3.example.gov.cn/blobs", "public_endpoint \"s3.example.gov.cn/blobs\" must be host or host:port"},
		{"s3://bucket?endpoint=h:1&public_endpoint=s3.example.gov.cn:99999", "public_endpoint \"s3.example.gov.cn:99999\": bad host:port"},
		{"s3://bucket?endpoint=h:1&public_endpoint=:9000", "bad host:port"},
		{"s3://bucket?endpoint=h:1&public_endpoint=user@s3.example.gov.cn", "must be host or host:port"},
		{"s3://bucket?endpoint=h:1&public_endpoint=a:1&public_secure=maybe", `public_secure="maybe"`},
		{"s3://bucket?endpoint=h:1&public_secure=true", "public_secure needs public_endpoint"},
		{"s3://bucket?endpoint=h:1&public_endpoint=a:1&public_endpoint=b:2", "twice"},
		{"s3://bucket?endpoint=h:1&public_url=https://a", `unknown s3 parameter "public_url"; known: endpoint, access_key, secret_key, secure, region, prefix, public_endpoint, public_secure`},
	}
	for _, c := range bad {
		err := blob.CheckSpec(c.spec)
		if !errs.Is(err, errs.KindInvalid) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CheckSpec(%q) = %v, want invalid containing %q", c.spec, err, c.msg)
		}
	}
}
