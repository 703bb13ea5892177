package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/seal"
)

// The e-seal routes (电子印章, ARCHITECTURE.md §7).
//
// Creating a seal takes JSON: seal.NewSeal with the picture inline as
// standard base64 in "image" (PNG or SVG, validated), so the whole seal is
// one request under the JSON body limit (--max-body, 1 MiB by default).
//
// Signing (POST /v1/seals/:id/sign) takes either
//
//   - multipart/form-data: a "file" part (the document, up to
//     --max-upload; the hub hashes it and keeps nothing), a "purpose"
//     field, and optionally "existing" (a sealed document, as a field or a
//     file part) to add this seal's signature to; or
//   - application/json: signRequest, the document described by its
//     SHA-256, size, media type and name.
//
// and answers with the sealed document, a JWS in JSON serialization
// (application/jose+json). The call's audit entry names "seal:ID" and the
// document "sha256:HEX" and carries the purpose.
//
// Verifying (POST /v1/signatures/verify) is public and rate-limited per
// client address; it takes application/json (verifyRequest), a bare JWS
// (application/jose+json) or multipart/form-data ("jws" part, optional
// "document" part) and answers seal.Result: each signature valid or not,
// and why.

// signRequest is the JSON form of a signing request.
type signRequest struct {
	// Document describes the document; it may be left out when Existing is given.
	Document *seal.Document `json:"document,omitempty"`
	Purpose  string         `json:"purpose"`
	// Existing is a sealed document (the JWS JSON object, or that JSON as a
	// string) to which this seal adds its signature.
	Existing json.RawMessage `json:"existing,omitempty"`
}

// verifyRequest is the JSON form of a verification request.
type verifyRequest struct {
	// JWS is the sealed document: the JWS JSON object, or that JSON as a string.
	JWS json.RawMessage `json:"jws"`
	// Document, when given, is the document's content (standard base64);
	// its digest and size are then checked against the signed statement.
	Document []byte `json:"document,omitempty"`
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

// sealJSONLimit caps JSON bodies that may carry a sealed document.
func (s *Server) sealJSONLimit() int64 {
	return max(s.cfg.MaxBodyBytes, seal.MaxJWSSize+64<<10)
}

func (s *Server) registerSeals() {
	if s.seals == nil {
		return
	}
	admin := []exchange.Role{exchange.RoleAdmin}
	s.verifyLimit = newRateLimiter(s.cfg.VerifyRate, s.cfg.VerifyBurst)

	s.handle(route{Method: "POST", Path: "/v1/seals", Tag: "seals", Summary: "Create a seal (电子印章): key pair, hub-CA certificate; image as base64 PNG or SVG.", Roles: admin,
		Request: seal.NewSeal{}, Response: seal.Seal{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var n seal.NewSeal
			if err := bindJSON(c, &n); err != nil {
				fail(c, err)
				return
			}
			sl, err := s.seals.CreateSeal(c.Request.Context(), principal(c), n)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "seal", sl.ID)
			ok(c, http.StatusCreated, sl)
		}})
	s.handle(route{Method: "GET", Path: "/v1/seals", Tag: "seals", Summary: "List seals, a page at a time.",
		Query: []queryParam{
			{Name: "organisation_id", Description: "only this organisation's seals"},
			{Name: "status", Description: "active, suspended or revoked"},
			{Name: "kind", Description: "公章, 合同专用章, 财务专用章, 发票专用章, 业务专用章 or 法定名称章"},
			{Name: "cursor", Description: "next_cursor of the previous page"},
			{Name: "limit", Description: "page size, default 50, at most 500"},
		},
		Response: list[seal.Seal]{}, Handler: func(c *gin.Context) {
			limit, err := intQuery(c, "limit")
			if err != nil {
				fail(c, err)
				return
			}
			f := seal.ListFilter{OrganisationID: c.Query("organisation_id"), Status: seal.Status(c.Query("status")),
				Kind: seal.Kind(c.Query("kind")), After: c.Query("cursor"), Limit: limit}
			if f.Status != "" && f.Status != seal.StatusActive && f.Status != seal.StatusSuspended && f.Status != seal.StatusRevoked {
				fail(c, errs.InvalidFields("bad filter", errs.FieldError{Pointer: "?status", Reason: "active, suspended or revoked", Value: string(f.Status)}))
				return
			}
			if f.Kind != "" && !seal.ValidKind(f.Kind) {
				fail(c, errs.InvalidFields("bad filter", errs.FieldError{Pointer: "?kind", Reason: "not a seal kind", Value: string(f.Kind)}))
				return
			}
			ss, next, err := s.seals.List(c.Request.Context(), f)
			if err != nil {
				fail(c, err)
				return
			}
			if ss == nil {
				ss = []seal.Seal{}
			}
			noteRows(c, len(ss))
			ok(c, http.StatusOK, list[seal.Seal]{Items: ss, NextCursor: next})
		}})
	s.handle(route{Method: "GET", Path: "/v1/seals/:id", Tag: "seals", Summary: "One seal with its keys, certificates and status history.",
		Response: seal.Seal{}, Handler: func(c *gin.Context) {
			noteSeal(c)
			sl, err := s.seals.Get(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, 1)
			ok(c, http.StatusOK, sl)
		}})
	s.handle(route{Method: "GET", Path: "/v1/seals/:id/image", Tag: "seals", Summary: "The seal's picture (PNG or SVG).",
		Handler: func(c *gin.Context) {
			noteSeal(c)
			rc, mt, err := s.seals.Image(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			defer rc.Close()
			b, err := io.ReadAll(io.LimitReader(rc, 16<<20))
			if err != nil {
				fail(c, errs.Unavailable(err, "reading the seal image"))
				return
			}
			c.Header("X-Content-Type-Options", "nosniff")
			// An SVG is served as an image only, never as a document that runs.
			c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
			c.Data(http.StatusOK, mt, b)
		}})
	for _, st := range []struct {
		verb, summary string
		do            func(*gin.Context, string, string) (seal.Seal, error)
	}{
		{"suspend", "Suspend a seal: it signs nothing until reinstated.", func(c *gin.Context, id, r string) (seal.Seal, error) {
			return s.seals.Suspend(c.Request.Context(), principal(c), id, r)
		}},
		{"reinstate", "Reinstate a suspended seal.", func(c *gin.Context, id, r string) (seal.Seal, error) {
			return s.seals.Reinstate(c.Request.Context(), principal(c), id, r)
		}},
		{"revoke", "Revoke a seal for good; what it signed before stays valid.", func(c *gin.Context, id, r string) (seal.Seal, error) {
			return s.seals.Revoke(c.Request.Context(), principal(c), id, r)
		}},
	} {
		s.handle(route{Method: "POST", Path: "/v1/seals/:id/" + st.verb, Tag: "seals", Summary: st.summary, Roles: admin,
			Request: reasonRequest{}, Response: seal.Seal{}, Handler: func(c *gin.Context) {
				noteSeal(c)
				var r reasonRequest
				if err := bindJSON(c, &r); err != nil {
					fail(c, err)
					return
				}
				sl, err := st.do(c, c.Param("id"), r.Reason)
				if err != nil {
					fail(c, err)
					return
				}
				ok(c, http.StatusOK, sl)
			}})
	}
	s.handle(route{Method: "POST", Path: "/v1/seals/:id/rotate", Tag: "seals", Summary: "Give a seal a new key and certificate; the old key's signatures stay verifiable.", Roles: admin,
		Response: seal.Seal{}, Handler: func(c *gin.Context) {
			noteSeal(c)
			sl, err := s.seals.RotateKey(c.Request.Context(), principal(c), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, sl)
		}})
	s.handle(route{Method: "POST", Path: "/v1/seals/:id/sign", Tag: "seals",
		Summary: "Apply a seal (用印): multipart document upload, or JSON with the document's SHA-256, size, name and media type; optionally add to an existing sealed document. Returns the JWS (JSON serialization).",
		Roles:   []exchange.Role{exchange.RoleSealUser, exchange.RoleAdmin}, Upload: true,
		Request: signRequest{}, Handler: s.signHandler})
	s.handle(route{Method: "GET", Path: "/v1/seals/:id/usage", Tag: "seals", Summary: "The seal's usage records (用印记录), newest first.",
		Query:    []queryParam{{Name: "cursor", Description: "next_cursor of the previous page"}, {Name: "limit", Description: "page size, default 50, at most 500"}},
		Response: list[seal.UsageRecord]{}, Handler: func(c *gin.Context) {
			noteSeal(c)
			limit, err := intQuery(c, "limit")
			if err != nil {
				fail(c, err)
				return
			}
			ctx := c.Request.Context()
			if err := s.seals.FlushUsage(ctx); err != nil {
				fail(c, err)
				return
			}
			rs, next, err := s.seals.Usage(ctx, principal(c), c.Param("id"), c.Query("cursor"), limit)
			if err != nil {
				fail(c, err)
				return
			}
			if rs == nil {
				rs = []seal.UsageRecord{}
			}
			noteRows(c, len(rs))
			ok(c, http.StatusOK, list[seal.UsageRecord]{Items: rs, NextCursor: next})
		}})

	s.handle(route{Method: "POST", Path: "/v1/signatures/verify", Tag: "seals", Public: true, Upload: true,
		Summary: "Verify a sealed document (public, rate-limited per client address): each signature valid or not, and why. JSON, a bare JWS (application/jose+json) or multipart (jws, document).",
		Request: verifyRequest{}, Response: seal.Result{}, Handler: s.verifyHandler})
	// The key set and the CA are public, the same for everyone and large
	// (about 1.7 KB per seal key: 10 MB for 6,000 seals). Like every call
	// they are audited, but the entry is committed before the body is
	// written (streamAfterAudit), so that the audit middleware does not
	// hold a copy of each response until its entry commits; they carry an
	// ETag for conditional requests.
	s.handle(route{Method: "GET", Path: "/.well-known/jwks.json", Tag: "seals", Public: true,
		Summary:  "Every seal key the hub ever had (JWK Set with x5c and seal status history) and the seal CA: all an offline verifier needs.",
		Response: seal.JWKS{}, Handler: func(c *gin.Context) {
			b, err := s.seals.JWKS(c.Request.Context())
			if err != nil {
				fail(c, err)
				return
			}
			c.Header("Cache-Control", "public, max-age=60")
			s.serveETagged(c, &s.jwksTag, "application/jwk-set+json", b)
		}})
	s.handle(route{Method: "GET", Path: "/v1/ca.pem", Tag: "seals", Public: true, Summary: "The hub's seal CA certificates (PEM).",
		Handler: func(c *gin.Context) {
			b, err := s.seals.CACertificatesPEM(c.Request.Context())
			if err != nil {
				fail(c, err)
				return
			}
			c.Header("Cache-Control", "public, max-age=300")
			s.writeAfterAudit(c, "application/x-pem-file", b)
		}})
}

// etagged remembers the ETag of the last body served, by its backing array
// (seal.Service.JWKS returns the same slice while its cache holds).
type etagged struct {
	p    *byte
	n    int
	etag string
}

// serveETagged writes b with a strong ETag, or 304 when the client has it.
func (s *Server) serveETagged(c *gin.Context, cache *atomic.Pointer[etagged], mediaType string, b []byte) {
	var tag string
	if e := cache.Load(); e != nil && len(b) > 0 && e.p == &b[0] && e.n == len(b) {
		tag = e.etag
	} else {
		sum := sha256.Sum256(b)
		tag = `"` + hex.EncodeToString(sum[:16]) + `"`
		if len(b) > 0 {
			cache.Store(&etagged{p: &b[0], n: len(b), etag: tag})
		}
	}
	c.Header("ETag", tag)
	for _, t := range strings.Split(c.GetHeader("If-None-Match"), ",") {
		if t = strings.TrimSpace(t); t == tag || t == "W/"+tag || t == "*" {
			if err := s.streamAfterAudit(c, http.StatusNotModified); err != nil {
				fail(c, err)
				return
			}
			c.Status(http.StatusNotModified)
			return
		}
	}
	s.writeAfterAudit(c, mediaType, b)
}

// writeAfterAudit commits the call's audit entry, then writes b (200)
// straight to the client: for large public documents that would otherwise
// be copied into the audit middleware's buffer. It fails closed.
func (s *Server) writeAfterAudit(c *gin.Context, mediaType string, b []byte) {
	if err := s.streamAfterAudit(c, http.StatusOK); err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, mediaType, b)
}

// intQuery reads an optional whole-number query parameter (0 when absent).
func intQuery(c *gin.Context, name string) (int, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?" + name, Reason: "a whole number", Value: v})
	}
	return n, nil
}

// noteSeal names in the call's audit entry the seal the path gives, as
// soon as it is known, so that a call refused or failing (another
// organisation reading its usage records, revoking a seal already
// revoked, an unknown seal) names it too, as noteLicence does.
func noteSeal(c *gin.Context) {
	noteResource(c, "seal", c.Param("id"))
}

// jwsBytes accepts a sealed document given as a JSON object or as a JSON
// string holding it.
func jwsBytes(raw json.RawMessage, pointer string) ([]byte, error) {
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errs.InvalidFields("bad sealed document", errs.FieldError{Pointer: pointer, Reason: err.Error()})
		}
		return []byte(s), nil
	}
	return raw, nil
}

// capJSON limits a JSON body on an Upload route to the sealed-document limit.
func (s *Server) capJSON(c *gin.Context) error {
	limit := s.sealJSONLimit()
	if c.Request.ContentLength > limit {
		return errs.TooLarge("request body of %d bytes is over the limit of %d bytes", c.Request.ContentLength, limit)
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	return nil
}

// readPart reads a small multipart value (a field or a file part).
func readPart(fh *multipart.FileHeader, limit int64, what string) ([]byte, error) {
	if fh.Size > limit {
		return nil, errs.TooLarge("%s is over %d bytes", what, limit)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, errs.Invalid("reading %s: %v", what, err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// multipartErr translates a multipart parsing error.
func multipartErr(err error) error {
	var maxb *http.MaxBytesError
	if errors.As(err, &maxb) {
		return errs.TooLarge("request body is over the limit of %d bytes", maxb.Limit)
	}
	if errors.Is(err, multipart.ErrMessageTooLarge) {
		// Form fields beyond what is held in memory, or too many parts.
		return errs.TooLarge("multipart body has too many parts or too much in its fields (send large content as file parts)")
	}
	return errs.InvalidFields("bad multipart body", errs.FieldError{Reason: err.Error()})
}

// multipartMemory is how much of a multipart body is held in memory; the
// rest is spooled to temporary files, removed after the call.
const multipartMemory = 8 << 20

func (s *Server) signHandler(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	noteSeal(c)
	var req seal.SignRequest
	switch ct := c.ContentType(); ct {
	case "multipart/form-data":
		if err := c.Request.ParseMultipartForm(multipartMemory); err != nil {
			fail(c, multipartErr(err))
			return
		}
		form := c.Request.MultipartForm
		defer form.RemoveAll()
		req.Purpose = formValue(form, "purpose")
		// An empty field is no sealed document: it is what a form sends
		// for an "existing" input left empty (a file input with no file
		// comes as an empty value, not as a file part).
		if v := form.Value["existing"]; len(v) > 0 && strings.TrimSpace(v[0]) != "" {
			req.Existing = []byte(v[0])
		} else if fhs := form.File["existing"]; len(fhs) > 0 {
			b, err := readPart(fhs[0], seal.MaxJWSSize, "existing")
			if err != nil {
				fail(c, err)
				return
			}
			req.Existing = b
		}
		fhs := form.File["file"]
		switch {
		case len(fhs) == 1:
			f, err := fhs[0].Open()
			if err != nil {
				fail(c, errs.Invalid("reading the document: %v", err))
				return
			}
			mt := formValue(form, "media_type")
			if mt == "" {
				mt = fhs[0].Header.Get("Content-Type")
			}
			if mt == "" {
				mt = "application/octet-stream"
			}
			name := formValue(form, "name")
			if name == "" {
				name = fhs[0].Filename
			}
			req.Document, err = seal.DigestDocument(f, name, mt)
			f.Close()
			if err != nil {
				fail(c, err)
				return
			}
		case len(fhs) > 1:
			fail(c, errs.InvalidFields("one document at a time", errs.FieldError{Pointer: "file", Reason: "send one file part"}))
			return
		case req.Existing == nil:
			fail(c, errs.InvalidFields("no document", errs.FieldError{Pointer: "file", Reason: "send the document as a file part named file"}))
			return
		}
	case "application/json", "":
		if err := s.capJSON(c); err != nil {
			fail(c, err)
			return
		}
		var r signRequest
		if err := bindJSON(c, &r); err != nil {
			fail(c, err)
			return
		}
		req.Purpose = r.Purpose
		if r.Document != nil {
			req.Document = *r.Document
		}
		if len(r.Existing) > 0 && string(r.Existing) != "null" {
			b, err := jwsBytes(r.Existing, "/existing")
			if err != nil {
				fail(c, err)
				return
			}
			req.Existing = b
		} else if r.Document == nil {
			fail(c, errs.InvalidFields("no document", errs.FieldError{Pointer: "/document", Reason: "required: sha256, size, media_type and name (or existing)"}))
			return
		}
	default:
		fail(c, errs.InvalidFields("unsupported body", errs.FieldError{Pointer: "Content-Type", Reason: "use multipart/form-data or application/json", Value: ct}))
		return
	}
	notePurpose(c, clip(req.Purpose, 200))
	jws, err := s.seals.Sign(ctx, principal(c), id, req)
	if err != nil {
		fail(c, err)
		return
	}
	if d := strings.ToLower(strings.TrimSpace(req.Document.SHA256)); d != "" {
		noteResource(c, "sha256", d) // as the signed statement has it
	} else if d := statementDigest(jws); d != "" {
		noteResource(c, "sha256", d)
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/jose+json", jws)
}

// statementDigest reads the document digest from a sealed document the hub
// has just made (for the audit entry); "" if it cannot.
func statementDigest(jws []byte) string {
	var j struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(jws, &j) != nil {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(j.Payload)
	if err != nil {
		return ""
	}
	var d seal.Document
	if json.Unmarshal(b, &d) != nil {
		return ""
	}
	return d.SHA256
}

func formValue(f *multipart.Form, key string) string {
	if v := f.Value[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *Server) verifyHandler(c *gin.Context) {
	if wait, allowed := s.verifyLimit.allow(s.clientAddr(c), time.Now()); !allowed {
		fail(c, errs.RateLimited("too many verification requests from this address; try again in %s", wait.Round(time.Millisecond)))
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return
	}
	ctx := c.Request.Context()
	var (
		jws []byte
		doc io.Reader
		at  string // where the request carries the JWS, for problems with it
	)
	switch ct := c.ContentType(); ct {
	case "multipart/form-data":
		if err := c.Request.ParseMultipartForm(multipartMemory); err != nil {
			fail(c, multipartErr(err))
			return
		}
		form := c.Request.MultipartForm
		defer form.RemoveAll()
		at = "jws"
		if v := form.Value["jws"]; len(v) > 0 {
			jws = []byte(v[0])
		} else if fhs := form.File["jws"]; len(fhs) > 0 {
			b, err := readPart(fhs[0], seal.MaxJWSSize, "the sealed document")
			if err != nil {
				fail(c, err)
				return
			}
			jws = b
		} else {
			fail(c, errs.InvalidFields("no sealed document", errs.FieldError{Pointer: "jws", Reason: "send the JWS as a part named jws"}))
			return
		}
		if fhs := form.File["document"]; len(fhs) > 0 {
			f, err := fhs[0].Open()
			if err != nil {
				fail(c, errs.Invalid("reading the document: %v", err))
				return
			}
			defer f.Close()
			doc = f
		} else if v := form.Value["document"]; len(v) > 0 && v[0] != "" {
			// An empty value is a document input left empty, not an
			// empty document: checking it would call every seal's
			// digest wrong.
			doc = strings.NewReader(v[0])
		}
	case "application/jose+json", "application/jose":
		if err := s.capJSON(c); err != nil {
			fail(c, err)
			return
		}
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			fail(c, jsonError(err))
			return
		}
		jws = b
	case "application/json", "":
		if err := s.capJSON(c); err != nil {
			fail(c, err)
			return
		}
		var r verifyRequest
		if err := bindJSON(c, &r); err != nil {
			fail(c, err)
			return
		}
		at = "/jws"
		if len(r.JWS) == 0 || string(r.JWS) == "null" {
			fail(c, errs.InvalidFields("no sealed document", errs.FieldError{Pointer: "/jws", Reason: "required"}))
			return
		}
		b, err := jwsBytes(r.JWS, "/jws")
		if err != nil {
			fail(c, err)
			return
		}
		jws = b
		if r.Document != nil {
			doc = strings.NewReader(string(r.Document))
		}
	default:
		fail(c, errs.InvalidFields("unsupported body", errs.FieldError{Pointer: "Content-Type", Reason: "use application/json, application/jose+json or multipart/form-data", Value: ct}))
		return
	}
	res, err := s.seals.Verify(ctx, jws, doc)
	if err != nil {
		fail(c, errs.Under(at, err))
		return
	}
	for _, sr := range res.Signatures {
		if sr.SealID != "" {
			noteResource(c, "seal", sr.SealID)
		}
	}
	noteRows(c, len(res.Signatures))
	c.Header("Cache-Control", "no-store")
	ok(c, http.StatusOK, res)
}
