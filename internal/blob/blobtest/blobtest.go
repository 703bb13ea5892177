// Package blobtest is the blob stores' shared conformance suite and gives
// other packages' tests a fresh store on each backend.
//
// The local directory backend always runs (a t.TempDir()). The S3 backend
// runs against $SHAREHUB_TEST_S3, e.g.
//
//	s3://sharehub-test?endpoint=127.0.0.1:7070&access_key=KEY&secret_key=SECRET&secure=false
//
// (scripts/versitygw.sh start prints one). Each test gets its own fresh
// bucket, named after the spec's bucket plus a random suffix, emptied and
// removed in t.Cleanup. When SHAREHUB_TEST_S3 is unset the S3 half is
// skipped loudly, unless CI=true, where it fails: CI must run both.
//
// Write a test once as func(t *testing.T, s blob.Store) and call
// blobtest.Run(t, thatFunc): the same pattern as internal/db/dbtest.
package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/xiangyang-gov/sharehub/internal/blob"
)

// EnvS3 names the environment variable holding the test S3 spec.
const EnvS3 = "SHAREHUB_TEST_S3"

// Backend is one store implementation under test.
type Backend struct {
	Name string
	// New opens a fresh, empty store with opts, removed when the test ends.
	// List returns the names of everything the store has written in its
	// space, including metadata and temporary files, sorted: the suite uses
	// it to check that failed Puts leave nothing behind.
	New func(t testing.TB, opts blob.Options) (s blob.Store, list func() []string)
}

// Local is the local directory backend.
func Local() Backend {
	return Backend{Name: "file", New: newLocal}
}

// S3 is the S3 backend at $SHAREHUB_TEST_S3 (skipped or fatal when unset).
func S3() Backend {
	return Backend{Name: "s3", New: newS3}
}

// Backends lists the backends every blob test runs on.
func Backends() []Backend { return []Backend{Local(), S3()} }

// Run calls fn once per backend as a subtest with a fresh store.
func Run(t *testing.T, fn func(t *testing.T, s blob.Store)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s, _ := b.New(t, blob.Options{})
			fn(t, s)
		})
	}
}

func newLocal(tb testing.TB, opts blob.Options) (blob.Store, func() []string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "blobs")
	s, err := blob.Open(context.Background(), "file:"+dir, opts)
	if err != nil {
		tb.Fatalf("open local blob store: %v", err)
	}
	return s, func() []string { return listDir(tb, dir) }
}

// listDir returns the relative names of all files under dir.
func listDir(tb testing.TB, dir string) []string {
	tb.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("list %s: %v", dir, err)
	}
	sort.Strings(names)
	return names
}

// S3Spec returns $SHAREHUB_TEST_S3, skipping the test loudly when it is
// unset, or failing it when CI=true.
func S3Spec(tb testing.TB) string {
	tb.Helper()
	spec := os.Getenv(EnvS3)
	if spec == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("S3 backend is required in CI: set %s (eval \"$(scripts/versitygw.sh start)\")", EnvS3)
		}
		tb.Skipf("SKIPPED: S3 backend not configured: set %s, e.g. eval \"$(scripts/versitygw.sh start)\", or run `make test`", EnvS3)
	}
	if err := blob.CheckSpec(spec); err != nil {
		tb.Fatalf("%s: %v", EnvS3, err)
	}
	return spec
}

// S3Conn is what the tests need to reach the test S3 server directly.
type S3Conn struct {
	Spec     string // the spec as given
	Bucket   string
	Endpoint string
	Client   *minio.Client
}

// ParseS3 builds a direct client from an s3:// spec (credentials may come
// from the same environment variables blob.Open reads).
func ParseS3(tb testing.TB, spec string) S3Conn {
	tb.Helper()
	u, err := url.Parse(spec)
	if err != nil {
		tb.Fatalf("%s: %v", EnvS3, err)
	}
	q := map[string]string{}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if dv, err := url.PathUnescape(v); err == nil {
			q[k] = dv
		}
	}
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	access := first(q["access_key"], os.Getenv("SHAREHUB_S3_ACCESS_KEY"), os.Getenv("AWS_ACCESS_KEY_ID"))
	secret := first(q["secret_key"], os.Getenv("SHAREHUB_S3_SECRET_KEY"), os.Getenv("AWS_SECRET_ACCESS_KEY"))
	secure := true
	if v, ok := q["secure"]; ok {
		secure, _ = strconv.ParseBool(v)
	}
	c, err := minio.New(q["endpoint"], &minio.Options{
		Creds:  credentials.NewStaticV4(access, secret, ""),
		Secure: secure,
		Region: q["region"],
	})
	if err != nil {
		tb.Fatalf("%s: %v", EnvS3, err)
	}
	return S3Conn{Spec: spec, Bucket: u.Host, Endpoint: q["endpoint"], Client: c}
}

// FreshBucketSpec returns spec with its bucket replaced by a new, unique
// name. The bucket is emptied and removed when the test ends; blob.Open
// creates it.
func FreshBucketSpec(tb testing.TB, spec string) (string, S3Conn) {
	tb.Helper()
	conn := ParseS3(tb, spec)
	var rnd [5]byte
	_, _ = rand.Read(rnd[:])
	base := conn.Bucket
	if len(base) > 50 {
		base = base[:50]
	}
	bucket := strings.TrimRight(base, ".-") + "-" + hex.EncodeToString(rnd[:])
	fresh := "s3://" + bucket
	if i := strings.IndexByte(spec, '?'); i >= 0 {
		fresh += spec[i:]
	}
	conn.Bucket = bucket
	conn.Spec = fresh
	tb.Cleanup(func() { RemoveBucket(tb, conn) })
	return fresh, conn
}

// RemoveBucket deletes every object in the bucket and then the bucket.
func RemoveBucket(tb testing.TB, conn S3Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ok, err := conn.Client.BucketExists(ctx, conn.Bucket); err != nil || !ok {
		return
	}
	for o := range conn.Client.ListObjects(ctx, conn.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			tb.Logf("cleanup: list %s: %v", conn.Bucket, o.Err)
			break
		}
		if err := conn.Client.RemoveObject(ctx, conn.Bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			tb.Logf("cleanup: remove %s/%s: %v", conn.Bucket, o.Key, err)
		}
	}
	if err := conn.Client.RemoveBucket(ctx, conn.Bucket); err != nil {
		tb.Logf("cleanup: remove bucket %s: %v", conn.Bucket, err)
	}
}

// ListBucket returns the sorted names of all objects in the bucket.
func ListBucket(tb testing.TB, conn S3Conn) []string {
	tb.Helper()
	var names []string
	for o := range conn.Client.ListObjects(context.Background(), conn.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			tb.Fatalf("list bucket %s: %v", conn.Bucket, o.Err)
		}
		names = append(names, o.Key)
	}
	sort.Strings(names)
	return names
}

func newS3(tb testing.TB, opts blob.Options) (blob.Store, func() []string) {
	tb.Helper()
	spec, conn := FreshBucketSpec(tb, S3Spec(tb))
	spool := opts.TempDir
	if spool == "" {
		spool = tb.TempDir()
		opts.TempDir = spool
	}
	s, err := blob.Open(context.Background(), spec, opts)
	if err != nil {
		tb.Fatalf("open S3 blob store %s: %v", blob.RedactSpec(spec), err)
	}
	return s, func() []string {
		names := ListBucket(tb, conn)
		for _, n := range listDir(tb, spool) {
			names = append(names, "spool:"+n)
		}
		sort.Strings(names)
		return names
	}
}
