package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// S3 Put design: the upload is streamed into a temp file under
// Options.TempDir while its SHA-256 is computed, then sent with its final
// key and known size. This keeps memory bounded (minio-go reads parts from
// the file), never uploads content over MaxSize, never leaves a temporary
// object in the bucket when the process dies, and lets a Put of content
// that is already stored skip the upload entirely. The cost is local disk
// for at most MaxSize+1 bytes per Put in flight.
//
// Two first Puts of the same content racing each other both upload the
// same bytes to the same key; S3 keeps the last, so its media type and
// time win there (a local directory keeps the first).

const (
	// spoolPrefix names the spool files of Puts in Options.TempDir.
	spoolPrefix = "sharehub-blob-"
	// dataRetries bounds minio-go's retries for data calls (its default is
	// 10, which makes a dead endpoint take many seconds to report).
	dataRetries = 3
	dialTimeout = 10 * time.Second
)

type s3Store struct {
	c     *minio.Client // data calls, a few retries
	pingC *minio.Client // no retries: readiness must answer fast
	// presignC signs download links for the address their users reach S3
	// at: the spec's public_endpoint, or c's endpoint when there is none.
	// SigV4 signs the Host header, so a link signed for the hub's internal
	// address and rewritten afterwards would not verify.
	presignC *minio.Client
	bucket   string
	prefix   string
	endpoint string
	max      int64
	tmpDir   string
}

func openS3(ctx context.Context, sp spec, opts Options) (*s3Store, error) {
	access, secret, token, err := sp.credentials()
	if err != nil {
		return nil, err
	}
	tr, err := minio.DefaultTransport(sp.secure)
	if err != nil {
		return nil, errs.Internal(err, "S3 transport")
	}
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	mk := func(retries int) (*minio.Client, error) {
		return minio.New(sp.endpoint, &minio.Options{
			Creds:      credentials.NewStaticV4(access, secret, token),
			Secure:     sp.secure,
			Region:     sp.region,
			Transport:  tr,
			MaxRetries: retries,
		})
	}
	c, err := mk(dataRetries)
	if err != nil {
		return nil, errs.Invalid("S3 endpoint %q: %v", sp.endpoint, err)
	}
	pc, err := mk(1)
	if err != nil {
		return nil, errs.Invalid("S3 endpoint %q: %v", sp.endpoint, err)
	}
	tmp := opts.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	s := &s3Store{c: c, pingC: pc, presignC: c, bucket: sp.bucket, prefix: sp.prefix, endpoint: sp.endpoint, max: opts.maxSize(), tmpDir: tmp}
	// A process killed during a Put leaves its spool file (up to MaxSize
	// bytes) behind; the deferred remove never ran.
	removeStaleTemps(tmp, spoolPrefix)
	if err := s.ensureBucket(ctx, sp.region); err != nil {
		return nil, err
	}
	if sp.publicEndpoint != "" {
		if s.presignC, err = s.publicClient(ctx, sp, credentials.NewStaticV4(access, secret, token)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// publicClient makes the client that presigns links for the public
// endpoint. Presigning is offline only when the client knows the bucket's
// region: without one, minio-go asks the endpoint for the bucket location
// first (getBucketLocation), and the public address is often one the hub
// itself cannot reach. So the region is the spec's, or else the bucket's
// as the hub's own endpoint reports it, and the client is given a
// transport that refuses every request, so that a presign that would
// still go to the network fails instead of hanging.
func (s *s3Store) publicClient(ctx context.Context, sp spec, creds *credentials.Credentials) (*minio.Client, error) {
	region := sp.region
	if region == "" {
		r, err := s.c.GetBucketLocation(ctx, s.bucket)
		if err != nil {
			return nil, s.unavailable(err)
		}
		region = r
	}
	if region == "" {
		region = "us-east-1" // what S3 and minio-go take an empty location to mean
	}
	pc, err := minio.New(sp.publicEndpoint, &minio.Options{
		Creds:     creds,
		Secure:    sp.publicSecure,
		Region:    region,
		Transport: offline{},
	})
	if err != nil {
		return nil, errs.Invalid("S3 public_endpoint %q: %v", sp.publicEndpoint, err)
	}
	return pc, nil
}

// offline is the presigning client's transport: presigning sends nothing.
type offline struct{}

func (offline) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("S3 presigning client sends no requests (asked for %s %s)", r.Method, r.URL.Redacted())
}

func (s *s3Store) ensureBucket(ctx context.Context, region string) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.unavailable(err)
	}
	if ok {
		return nil
	}
	err = s.c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && (er.Code == "BucketAlreadyOwnedByYou" || er.Code == "BucketAlreadyExists") {
			// Created concurrently (another replica); fine if we can use it.
			if ok, err2 := s.c.BucketExists(ctx, s.bucket); err2 == nil && ok {
				return nil
			}
		}
		return errs.Unavailable(fmt.Errorf("S3 %s: create bucket %s: %w", s.endpoint, s.bucket, err), "blob store bucket cannot be created")
	}
	return nil
}

func (s *s3Store) name(key string) string { return s.prefix + key }

// unavailable keeps endpoint and bucket in the logged cause, not in the
// message callers see.
func (s *s3Store) unavailable(err error) error {
	return errs.Unavailable(fmt.Errorf("S3 %s bucket %s: %w", s.endpoint, s.bucket, err), "blob store is unavailable")
}

// noSuchKey reports whether err is S3's 404 for an object.
func noSuchKey(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && (er.Code == "NoSuchKey" || (er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket"))
}

// objErr maps an error about one object: 404 for the key is NotFound,
// anything else (network, credentials, missing bucket, 5xx) is Unavailable.
// A 404 to a HEAD has no body, and minio-go calls it NoSuchKey even when
// the bucket is missing, so a 404 is only NotFound once the bucket answers.
func (s *s3Store) objErr(ctx context.Context, key string, err error) error {
	if noSuchKey(err) {
		ok, berr := s.c.BucketExists(ctx, s.bucket)
		if berr != nil {
			return s.unavailable(berr)
		}
		if !ok {
			return errs.Unavailable(fmt.Errorf("S3 %s: bucket %s does not exist", s.endpoint, s.bucket), "blob store is unavailable")
		}
		return errs.NotFound("blob %s not found", key)
	}
	return s.unavailable(err)
}

func (s *s3Store) Put(ctx context.Context, r io.Reader, mediaType string) (Info, error) {
	mt, err := normMediaType(mediaType)
	if err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, errs.Unavailable(err, "blob upload cancelled")
	}
	f, err := os.CreateTemp(s.tmpDir, spoolPrefix+"*")
	if err != nil {
		return Info{}, errs.Unavailable(err, "blob spool directory is not writable")
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()

	h := sha256.New()
	bp := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, s.max+1), *bp)
	copyBufs.Put(bp)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == f.Name() {
			return Info{}, errs.Unavailable(err, "spooling blob upload failed")
		}
		return Info{}, readErr(ctx, err)
	}
	if n > s.max {
		return Info{}, errs.TooLarge("blob larger than the limit of %d bytes", s.max)
	}
	key := hexKey(h.Sum(nil))

	// Already stored: keep the first copy, its media type and created time.
	// (A missing bucket fails the upload below, so no bucket check here.)
	oi, err := s.c.StatObject(ctx, s.bucket, s.name(key), minio.StatObjectOptions{})
	if err == nil {
		return s.info(key, oi), nil
	}
	if !noSuchKey(err) {
		return Info{}, s.unavailable(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Info{}, errs.Unavailable(err, "spooling blob upload failed")
	}
	_, err = s.c.PutObject(ctx, s.bucket, s.name(key), f, n, minio.PutObjectOptions{ContentType: mt})
	if err != nil {
		return Info{}, s.unavailable(err)
	}
	return s.Stat(ctx, key)
}

func (s *s3Store) info(key string, oi minio.ObjectInfo) Info {
	mt := oi.ContentType
	if mt == "" {
		mt = DefaultMediaType
	}
	return Info{Key: key, Size: oi.Size, MediaType: mt, Created: oi.LastModified.UTC()}
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, err
	}
	obj, err := s.c.GetObject(ctx, s.bucket, s.name(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, s.objErr(ctx, key, err)
	}
	// Stat sends the GET and reads the response headers.
	oi, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, Info{}, s.objErr(ctx, key, err)
	}
	return obj, s.info(key, oi), nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, s.name(key), minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s.objErr(ctx, key, err)
	}
	return s.info(key, oi), nil
}

// Delete checks that the object exists first: S3 itself reports success for
// a missing key, and the Store contract says errs.NotFound.
func (s *s3Store) Delete(ctx context.Context, key string) error {
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, s.name(key), minio.RemoveObjectOptions{}); err != nil {
		return s.objErr(ctx, key, err)
	}
	return nil
}

func (s *s3Store) Link(ctx context.Context, key string, ttl time.Duration, filename string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	if err := checkFilename(filename); err != nil {
		return "", err
	}
	if _, err := s.Stat(ctx, key); err != nil {
		return "", err
	}
	// Presigned URLs count whole seconds; round up.
	if rem := ttl % time.Second; rem != 0 {
		ttl += time.Second - rem
	}
	params := url.Values{}
	if filename != "" {
		params.Set("response-content-disposition", ContentDisposition(filename))
	}
	u, err := s.presignC.PresignedGetObject(ctx, s.bucket, s.name(key), ttl, params)
	if err != nil {
		return "", s.unavailable(err)
	}
	return u.String(), nil
}

// Ping checks that the bucket answers, without retries.
func (s *s3Store) Ping(ctx context.Context) error {
	ok, err := s.pingC.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.unavailable(err)
	}
	if !ok {
		return errs.Unavailable(fmt.Errorf("S3 %s: bucket %s does not exist", s.endpoint, s.bucket), "blob store is unavailable")
	}
	return nil
}
