package blob_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/blob/blobtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestEdgeS3BucketGone: when the bucket itself is gone, object calls are
// errs.Unavailable (the store cannot be used), not errs.NotFound. minio-go
// names every 404 to a HEAD on an object NoSuchKey, a missing bucket too.
func TestEdgeS3BucketGone(t *testing.T) {
	spec := blobtest.S3Spec(t)
	fresh, conn := blobtest.FreshBucketSpec(t, spec)
	ctx := context.Background()
	s, err := blob.Open(ctx, fresh, blob.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Put(ctx, strings.NewReader("stored before the bucket went"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	missing := sha("never stored")
	// A missing object in a bucket that exists is still not found.
	if _, err := s.Stat(ctx, missing); !errs.Is(err, errs.KindNotFound) {
		t.Errorf("Stat(missing) = %v, want not found", err)
	}
	if err := conn.Client.RemoveObject(ctx, conn.Bucket, info.Key, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Client.RemoveBucket(ctx, conn.Bucket); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{info.Key, missing} {
		_, err := s.Stat(ctx, key)
		wantUnavailable(t, "Stat", err)
		_, _, err = s.Get(ctx, key)
		wantUnavailable(t, "Get", err)
		wantUnavailable(t, "Delete", s.Delete(ctx, key))
		_, err = s.Link(ctx, key, time.Minute, "")
		wantUnavailable(t, "Link", err)
	}
	_, err = s.Put(ctx, strings.NewReader("after"), "")
	wantUnavailable(t, "Put", err)
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !errs.Is(err, errs.KindUnavailable) {
		t.Errorf("%s with the bucket gone = %v (kind %s), want unavailable", what, err, errs.KindOf(err))
	}
}
