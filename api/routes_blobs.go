package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

type linkResponse struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) registerBlobs() {
	writers := []exchange.Role{exchange.RoleAdmin, exchange.RoleImporter, exchange.RoleIssuer}
	s.handle(route{Method: "POST", Path: "/v1/blobs", Tag: "blobs", Upload: true, Roles: writers, Status: http.StatusCreated,
		Summary:  "Store a file (raw request body); its key is its SHA-256. Size-limited.",
		Response: blob.Info{}, Handler: func(c *gin.Context) {
			// The whole header, not c.ContentType(): that drops the
			// parameters, and a GBK CSV without its charset is mojibake.
			mt := c.GetHeader("Content-Type")
			if _, _, err := mime.ParseMediaType(mt); errors.Is(err, mime.ErrInvalidMediaParameter) {
				mt = c.ContentType() // a good type with broken parameters: as before, the type alone
			}
			switch c.ContentType() {
			case "", "application/x-www-form-urlencoded": // curl --data-binary's default
				mt = "application/octet-stream"
			case "multipart/form-data":
				// The body is a form (curl -F), not the file: storing it
				// would keep the boundaries and part headers as its bytes.
				fail(c, errs.InvalidFields("send the file as the raw request body, not as a form",
					errs.FieldError{Pointer: "Content-Type", Reason: "use the file's own type, e.g. curl --data-binary @FILE -H 'Content-Type: application/pdf'", Value: "multipart/form-data"}))
				return
			}
			body := &bodyReader{r: c.Request.Body}
			info, err := s.blobs.Put(c.Request.Context(), body, mt)
			if err != nil {
				fail(c, uploadError(body.cutShort(err), s.cfg.MaxUploadBytes))
				return
			}
			noteResource(c, "blob", info.Key)
			ok(c, http.StatusCreated, info)
		}})
	s.handle(route{Method: "POST", Path: "/v1/blobs/:key/link", Tag: "blobs", Roles: writers,
		Summary:  "A time-limited download link (presigned on S3, HMAC-signed on a local directory).",
		Query:    []queryParam{{Name: "ttl", Description: "seconds, 1–86400, default 300"}, {Name: "name", Description: "file name for the download"}},
		Response: linkResponse{}, Handler: func(c *gin.Context) {
			ttl := 300 * time.Second
			if v := c.Query("ttl"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 86400 {
					fail(c, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?ttl", Reason: "seconds, 1–86400", Value: v}))
					return
				}
				ttl = time.Duration(n) * time.Second
			}
			key := c.Param("key")
			info, err := s.blobs.Stat(c.Request.Context(), key)
			if err != nil {
				fail(c, err)
				return
			}
			name := c.Query("name")
			if name == "" && !inlineType(info.MediaType) {
				// On S3 the file is served by the object store, without
				// downloadHeaders: a name makes the link an attachment
				// there too, so HTML or SVG is not shown (and run) in place.
				name = key
			}
			u, err := s.blobs.Link(c.Request.Context(), key, ttl, name)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "blob", key)
			ok(c, http.StatusOK, linkResponse{URL: u, ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second)})
		}})
	s.handle(route{Method: "GET", Path: "/v1/blobs/:key", Tag: "blobs", Public: true,
		Summary: "Download through a signed link made by /v1/blobs/{key}/link (local directory storage).",
		Query:   []queryParam{{Name: "exp", Required: true}, {Name: "sig", Required: true}, {Name: "name"}},
		Handler: func(c *gin.Context) {
			key := c.Param("key")
			exp, err := strconv.ParseInt(c.Query("exp"), 10, 64)
			if err != nil {
				fail(c, errs.InvalidFields("bad download link", errs.FieldError{Pointer: "?exp", Reason: "unix seconds", Value: c.Query("exp")}))
				return
			}
			noteResource(c, "blob", key)
			if err := blob.VerifyLink(s.cfg.LinkSecret, key, exp, c.Query("name"), c.Query("sig"), time.Now()); err != nil {
				fail(c, err)
				return
			}
			rc, info, err := s.blobs.Get(c.Request.Context(), key)
			if err != nil {
				fail(c, err)
				return
			}
			defer rc.Close()
			if err := s.streamAfterAudit(c, http.StatusOK); err != nil {
				fail(c, err)
				return
			}
			h := c.Writer.Header()
			h.Set("Content-Type", info.MediaType)
			h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
			downloadHeaders(h, info.MediaType, c.Query("name"))
			c.Status(http.StatusOK)
			_, _ = io.Copy(c.Writer, rc)
		}})
}

// bodyReader remembers the error reading a request body failed with.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// cutShort turns err into a bad request when it came from reading the body
// (a malformed chunk, a connection cut mid-upload): the client's fault,
// not a 500. The size limit (http.MaxBytesError) is left to uploadError.
func (b *bodyReader) cutShort(err error) error {
	var mbe *http.MaxBytesError
	if b.err == nil || !errors.Is(err, b.err) || errors.As(err, &mbe) {
		return err
	}
	return &errs.Error{Kind: errs.KindInvalid, Message: "the upload broke off before its end; send it again", Err: err}
}

func uploadError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errs.TooLarge("upload is over the limit of %d bytes", limit)
	}
	return err
}

// inlineTypes are the stored media types a browser may show in place: they
// run nothing. Anything else is sent as an attachment.
var inlineTypes = map[string]bool{
	"application/pdf": true, "image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"text/plain": true, "text/csv": true,
}

// downloadHeaders keep a stored file from acting on the hub's origin,
// where the console lives: an uploader could store text/html or an SVG
// with a script and send an admin its link. Such files are attachments,
// and every file but a PDF (whose viewer a sandbox would block) is served
// in a CSP sandbox: no script, an origin of its own.
func downloadHeaders(h http.Header, mediaType, name string) {
	h.Set("X-Content-Type-Options", "nosniff")
	if baseType(mediaType) != "application/pdf" {
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	}
	if name != "" || !inlineType(mediaType) {
		h.Set("Content-Disposition", blob.ContentDisposition(name))
	}
}

// inlineType reports whether a browser may show a file of mediaType in
// place (inlineTypes).
func inlineType(mediaType string) bool { return inlineTypes[baseType(mediaType)] }

func baseType(mediaType string) string {
	base, _, _ := strings.Cut(mediaType, ";")
	return strings.ToLower(strings.TrimSpace(base))
}
