// Package blob stores immutable, content-addressed objects (licence files,
// seal images, exports) in a local directory or in any S3-compatible store.
//
// An object's key is the lowercase hex SHA-256 of its content, so a Put of
// the same bytes twice yields the same key and one stored object. Keys are
// validated everywhere (exactly 64 lowercase hex characters), so a key can
// never name anything outside the store.
//
// Open takes the --blobs value: "file:DIR" or
// "s3://bucket?endpoint=host:port&access_key=..&secret_key=..&secure=false&region=..&prefix=..
// &public_endpoint=host:port&public_secure=true".
//
// Errors use the hub's vocabulary (internal/errs): NotFound for a missing
// object, Invalid for a bad key, media type, file name or spec, TooLarge for
// content over Options.MaxSize, Forbidden for a bad or expired download link,
// Unavailable when the directory or S3 endpoint cannot be used.
package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"mime"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// DefaultMaxSize is the size limit when Options.MaxSize is zero.
const DefaultMaxSize int64 = 64 << 20

// MaxLinkTTL is the longest lifetime of a download link (S3's presign limit).
const MaxLinkTTL = 7 * 24 * time.Hour

// DefaultMediaType is stored when Put is given an empty media type.
const DefaultMediaType = "application/octet-stream"

// Info describes a stored object.
type Info struct {
	Key       string    `json:"key"`        // hex SHA-256 of the content
	Size      int64     `json:"size"`       // bytes
	MediaType string    `json:"media_type"` // as given to the first Put of this content, normalised
	Created   time.Time `json:"created_at"` // when the object was first stored (UTC)
}

// Store is an object store. Implementations are safe for concurrent use,
// also by several processes sharing one directory or bucket.
type Store interface {
	// Put streams r into the store, computing its SHA-256 on the way, and
	// returns the object's Info. Storing content that is already present is
	// not an error and does not rewrite it: the first Put's media type and
	// created time are kept. Content over MaxSize fails with errs.TooLarge
	// and leaves nothing behind. An empty mediaType means
	// application/octet-stream; a malformed one is errs.Invalid. A read
	// error from r is returned wrapped (errors.Is / errors.As see it).
	Put(ctx context.Context, r io.Reader, mediaType string) (Info, error)
	// Get opens the object for reading; the caller closes it. For the local
	// directory the reader is an *os.File (an io.ReadSeeker, good for
	// http.ServeContent). Missing key: errs.NotFound; a key that is not 64
	// lowercase hex characters: errs.Invalid.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Stat returns the object's Info (errs.NotFound, errs.Invalid as Get).
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object. Deleting a missing key is errs.NotFound, so
	// callers that only want it gone can ignore that kind.
	Delete(ctx context.Context, key string) error
	// Link returns a download URL valid for ttl (at most MaxLinkTTL). A
	// non-empty filename is sent as Content-Disposition: attachment. For the
	// local directory the URL is Options.LinkBaseURL +
	// "/v1/blobs/KEY?exp=UNIX&name=...&sig=HEX", checked with VerifyLink;
	// for S3 it is a presigned GET URL. Missing key: errs.NotFound.
	Link(ctx context.Context, key string, ttl time.Duration, filename string) (string, error)
	// Ping reports whether the store can be used (errs.Unavailable if not).
	Ping(ctx context.Context) error
}

// Options configures Open. The zero value is usable except for local links.
type Options struct {
	// MaxSize is the largest object Put accepts; 0 means DefaultMaxSize.
	MaxSize int64
	// LinkSecret is the HMAC key for local directory links. Link on a local
	// store fails without it. Not used by S3 (links are presigned).
	LinkSecret []byte
	// LinkBaseURL is the hub's external base URL, e.g. "http://127.0.0.1:8080".
	// Local links are LinkBaseURL + "/v1/blobs/KEY?...". Empty means links
	// are relative ("/v1/blobs/KEY?...").
	LinkBaseURL string
	// TempDir is where the S3 backend spools an upload while hashing it,
	// before sending it with its final key; "" means os.TempDir(). The local
	// directory backend always uses DIR/.tmp (same file system as DIR).
	TempDir string
}

func (o Options) maxSize() int64 {
	switch {
	case o.MaxSize <= 0:
		return DefaultMaxSize
	case o.MaxSize == math.MaxInt64:
		return math.MaxInt64 - 1 // Put reads MaxSize+1 bytes to spot an overflow
	}
	return o.MaxSize
}

// Open opens the store named by spec ("file:DIR" or "s3://bucket?...",
// see CheckSpec). A local directory is created if missing; an S3 bucket is
// created if missing. A malformed spec or missing S3 credentials is
// errs.Invalid; a directory or endpoint that cannot be used is
// errs.Unavailable.
func Open(ctx context.Context, spec string, opts Options) (Store, error) {
	sp, err := parseSpec(spec)
	if err != nil {
		return nil, err
	}
	if opts.LinkBaseURL != "" {
		if err := checkBaseURL(opts.LinkBaseURL); err != nil {
			return nil, err
		}
	}
	switch sp.scheme {
	case "file":
		return openLocal(sp.dir, opts)
	default:
		return openS3(ctx, sp, opts)
	}
}

// CheckSpec validates a --blobs value without touching the store or the
// environment. Its messages are meant for the person who typed the value.
// Accepted forms:
//
//	file:DIR                   a local directory (file:///abs/dir also works)
//	s3://bucket?endpoint=host:port[&access_key=..&secret_key=..][&secure=false][&region=..][&prefix=..]
//	           [&public_endpoint=host:port[&public_secure=true]]
//
// endpoint is where the hub reaches S3 (often an internal address);
// public_endpoint, when given, is where the people who download reach it:
// download links are presigned for that host, and its scheme is https
// unless public_secure=false (default: what secure says). A proxy in front
// of S3 at the public address must pass the Host header through unchanged:
// SigV4 signs it.
//
// Query values are percent-decoded without turning '+' into a space, so
// secret keys containing '+' or '/' may be written as they are ('&', '%'
// and '#' must be written %26, %25, %23). Credentials left out of the spec
// come from SHAREHUB_S3_ACCESS_KEY / SHAREHUB_S3_SECRET_KEY, then
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, when the store is opened.
func CheckSpec(spec string) error {
	_, err := parseSpec(spec)
	return err
}

// RedactSpec returns spec with any secret_key value replaced, for logs.
func RedactSpec(spec string) string {
	i := strings.IndexByte(spec, '?')
	if i < 0 {
		return spec
	}
	parts := strings.Split(spec[i+1:], "&")
	for j, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok && k == "secret_key" {
			parts[j] = "secret_key=REDACTED"
		}
	}
	return spec[:i+1] + strings.Join(parts, "&")
}

const specHelp = "use file:DIR or s3://bucket?endpoint=host:port"

type spec struct {
	scheme string // "file" or "s3"
	dir    string

	bucket   string
	endpoint string
	access   string
	secret   string
	secure   bool
	region   string
	prefix   string // "" or ends in "/"
	// publicEndpoint ("" for endpoint) and publicSecure: the S3 address
	// download links name, as those who follow them reach it.
	publicEndpoint string
	publicSecure   bool
}

var s3Params = []string{"endpoint", "access_key", "secret_key", "secure", "region", "prefix", "public_endpoint", "public_secure"}

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+-]*$`)

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func parseSpec(s string) (spec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return spec{}, errs.Invalid("empty blob store; %s", specHelp)
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || !schemeRE.MatchString(scheme) {
		red := RedactSpec(s)
		return spec{}, errs.Invalid("missing scheme in %q; %s (for a directory: file:%s)", red, specHelp, red)
	}
	switch strings.ToLower(scheme) {
	case "file":
		return parseFile(rest)
	case "s3":
		return parseS3(rest)
	}
	return spec{}, errs.Invalid("unknown scheme %q; %s", scheme, specHelp)
}

func parseFile(rest string) (spec, error) {
	dir := rest
	if strings.HasPrefix(rest, "//") {
		u, err := url.Parse("file:" + rest)
		if err != nil {
			return spec{}, errs.Invalid("bad file URL %q: %v; %s", "file:"+rest, err, specHelp)
		}
		if u.Host != "" && u.Host != "localhost" {
			return spec{}, errs.Invalid("file URL with a host (%q) is not supported; use file:/path/to/dir", u.Host)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return spec{}, errs.Invalid("file: takes no query or fragment; use file:DIR")
		}
		dir = u.Path
	} else if strings.ContainsAny(rest, "?#") {
		return spec{}, errs.Invalid("file: takes no query or fragment (%q); use file:DIR", rest)
	}
	if dir == "" {
		return spec{}, errs.Invalid("file: needs a directory, e.g. file:./data/blobs")
	}
	return spec{scheme: "file", dir: filepath.Clean(dir)}, nil
}

func parseS3(rest string) (spec, error) {
	if !strings.HasPrefix(rest, "//") {
		return spec{}, errs.Invalid("s3 needs a bucket: s3://bucket?endpoint=host:port")
	}
	rest = rest[2:]
	if strings.Contains(rest, "#") {
		// Not echoed: what follows '#' is often the rest of a secret key.
		return spec{}, errs.Invalid("s3 spec has a '#' (a fragment); write '#' in values as %%23")
	}
	hostPath, rawQuery, _ := strings.Cut(rest, "?")
	if strings.Contains(hostPath, "@") {
		return spec{}, errs.Invalid("credentials before the bucket are not supported; use ?access_key=..&secret_key=.. or the environment")
	}
	bucket, path, _ := strings.Cut(hostPath, "/")
	if path != "" {
		return spec{}, errs.Invalid("s3 spec has a path %q after the bucket; use &prefix=%s", "/"+path, path)
	}
	if bucket == "" {
		return spec{}, errs.Invalid("s3 needs a bucket: s3://bucket?endpoint=host:port")
	}
	if !bucketRE.MatchString(bucket) || strings.Contains(bucket, "..") || net.ParseIP(bucket) != nil {
		return spec{}, errs.Invalid("bad bucket name %q: 3-63 characters of a-z, 0-9, '.', '-', starting and ending with a letter or digit", bucket)
	}
	sp := spec{scheme: "s3", bucket: bucket, secure: true}
	seen := map[string]bool{}
	prev := ""
	for _, kv := range strings.Split(rawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		after := prev
		prev = k
		// PathUnescape keeps '+' as '+': secrets often contain it.
		dv, err := url.PathUnescape(v)
		if err != nil {
			return spec{}, errs.Invalid("bad %%-escape in s3 parameter %q", k)
		}
		known := false
		for _, p := range s3Params {
			known = known || p == k
		}
		if !known && after == "secret_key" {
			// Likely the rest of a secret with an '&' in it: not echoed.
			return spec{}, errs.Invalid("the part after secret_key is no s3 parameter (known: %s); write '&' in values as %%26", strings.Join(s3Params, ", "))
		}
		if !known {
			return spec{}, errs.Invalid("unknown s3 parameter %q; known: %s", k, strings.Join(s3Params, ", "))
		}
		if seen[k] {
			return spec{}, errs.Invalid("s3 parameter %q given twice", k)
		}
		seen[k] = true
		switch k {
		case "endpoint":
			sp.endpoint = dv
		case "access_key":
			sp.access = dv
		case "secret_key":
			sp.secret = dv
		case "region":
			sp.region = dv
		case "public_endpoint":
			sp.publicEndpoint = dv
		case "prefix":
			sp.prefix = dv
		case "secure":
			b, err := strconv.ParseBool(dv)
			if err != nil {
				return spec{}, errs.Invalid("secure=%q: use secure=true (https) or secure=false (http)", dv)
			}
			sp.secure = b
		case "public_secure":
			b, err := strconv.ParseBool(dv)
			if err != nil {
				return spec{}, errs.Invalid("public_secure=%q: use public_secure=true (https) or public_secure=false (http)", dv)
			}
			sp.publicSecure = b
		}
	}
	if sp.endpoint == "" {
		return spec{}, errs.Invalid("s3 needs an endpoint: s3://%s?endpoint=host:port", bucket)
	}
	if err := checkEndpoint("endpoint", "secure", sp.endpoint); err != nil {
		return spec{}, err
	}
	switch {
	case seen["public_endpoint"]:
		if sp.publicEndpoint == "" {
			return spec{}, errs.Invalid("public_endpoint is empty: give the host:port that those who download reach S3 at, or leave it out to use endpoint")
		}
		if err := checkEndpoint("public_endpoint", "public_secure", sp.publicEndpoint); err != nil {
			return spec{}, err
		}
		if !seen["public_secure"] {
			sp.publicSecure = sp.secure
		}
	case seen["public_secure"]:
		return spec{}, errs.Invalid("public_secure needs public_endpoint (the address download links name)")
	}
	if (sp.access == "") != (sp.secret == "") && seen["access_key"] && seen["secret_key"] {
		return spec{}, errs.Invalid("s3 access_key and secret_key must both be non-empty")
	}
	if p := sp.prefix; p != "" {
		if strings.HasPrefix(p, "/") || !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") {
			return spec{}, errs.Invalid("prefix %q must be relative, like prefix=sharehub/blobs", p)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." {
				return spec{}, errs.Invalid("prefix %q has an empty, '.' or '..' segment", p)
			}
		}
		if !strings.HasSuffix(p, "/") {
			sp.prefix = p + "/"
		}
	}
	return sp, nil
}

// checkEndpoint checks the value of the s3 parameter name, a host or
// host:port; secureParam is the parameter that picks its scheme.
func checkEndpoint(name, secureParam, v string) error {
	if i := strings.Index(v, "://"); i >= 0 {
		return errs.Invalid("%s %q must be host:port without %q; use %s=false for plain http", name, v, v[:i+3], secureParam)
	}
	if strings.ContainsAny(v, "/?# @") {
		return errs.Invalid("%s %q must be host or host:port", name, v)
	}
	if h, p, err := net.SplitHostPort(v); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || h == "" {
			return errs.Invalid("%s %q: bad host:port", name, v)
		}
	}
	return nil
}

// credentials resolves the S3 key pair: spec, then SHAREHUB_S3_*, then AWS_*.
// Each half is looked up separately, so the secret can stay out of the spec.
func (sp spec) credentials() (access, secret, token string, err error) {
	access, secret = sp.access, sp.secret
	fromAWS := false
	if access == "" {
		access = os.Getenv("SHAREHUB_S3_ACCESS_KEY")
	}
	if access == "" {
		access = os.Getenv("AWS_ACCESS_KEY_ID")
		fromAWS = access != ""
	}
	if secret == "" {
		secret = os.Getenv("SHAREHUB_S3_SECRET_KEY")
	}
	if secret == "" {
		secret = os.Getenv("AWS_SECRET_ACCESS_KEY")
		fromAWS = fromAWS && secret != ""
	}
	if access == "" || secret == "" {
		missing := "access key"
		if access != "" {
			missing = "secret key"
		}
		return "", "", "", errs.Invalid("no S3 %s: give access_key= and secret_key= in the s3:// spec, or set SHAREHUB_S3_ACCESS_KEY and SHAREHUB_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", missing)
	}
	if fromAWS {
		token = os.Getenv("AWS_SESSION_TOKEN")
	}
	return access, secret, token, nil
}

func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errs.Invalid("link base URL %q must be an absolute http(s) URL without query, like http://127.0.0.1:8080", base)
	}
	return nil
}

// ValidKey reports whether key is 64 lowercase hex characters.
func ValidKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkKey(key string) error {
	if !ValidKey(key) {
		if len(key) > 80 {
			key = key[:80] + "..."
		}
		return errs.Invalid("bad blob key %q: want 64 lowercase hex characters (a SHA-256)", key)
	}
	return nil
}

// normMediaType parses and re-formats a media type ("" means the default).
func normMediaType(mt string) (string, error) {
	mt = strings.TrimSpace(mt)
	if mt == "" {
		return DefaultMediaType, nil
	}
	if len(mt) > 255 {
		return "", errs.Invalid("media type longer than 255 bytes")
	}
	t, params, err := mime.ParseMediaType(mt)
	if err != nil || !strings.Contains(t, "/") {
		return "", errs.Invalid("bad media type %q: want type/subtype, like application/pdf", mt)
	}
	out := mime.FormatMediaType(t, params)
	if out == "" {
		return "", errs.Invalid("bad media type %q", mt)
	}
	return out, nil
}

func checkFilename(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > 255 || !utf8.ValidString(name) || name == "." || name == ".." {
		return errs.Invalid("bad file name %q: want a plain name of at most 255 bytes", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == utf8.RuneError {
			return errs.Invalid("bad file name %q: no path separators or control characters", name)
		}
	}
	return nil
}

// ContentDisposition returns the Content-Disposition header value for a
// download named filename ("attachment" alone when filename is empty).
// Non-ASCII names use the RFC 5987 filename* form (RFC 6266).
// The HTTP handler that serves local links sets this header.
func ContentDisposition(filename string) string {
	if filename == "" {
		return "attachment"
	}
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": filename}); v != "" {
		return v
	}
	return "attachment"
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxLinkTTL {
		return errs.Invalid("link lifetime %s out of range: want more than 0 and at most %s", ttl, MaxLinkTTL)
	}
	return nil
}

// hexKey returns the key for a SHA-256 sum.
func hexKey(sum []byte) string { return hex.EncodeToString(sum) }

// ctxReader fails reads once ctx is done, so a long upload stops promptly.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// readErr classifies an error from copying the caller's reader.
func readErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return errs.Unavailable(err, "blob upload cancelled")
	}
	return &readError{err}
}

// readError wraps a failure of the caller's reader (not the store's fault).
type readError struct{ err error }

func (e *readError) Error() string { return "blob: reading upload: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }
