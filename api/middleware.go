package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

const (
	ctxRequestID = "sharehub.request_id"
	ctxPrincipal = "sharehub.principal"
	ctxAudit     = "sharehub.audit"
)

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// principal returns the authenticated caller, nil on public routes.
func principal(c *gin.Context) *exchange.Principal {
	p, _ := c.Get(ctxPrincipal)
	pp, _ := p.(*exchange.Principal)
	return pp
}

// withRequestID accepts a caller's X-Request-ID when it is short and plain,
// otherwise makes one, and echoes it on the response.
func withRequestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !plainID(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

func plainID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// observe records metrics and writes one structured log line per request.
// Only 5xx responses are logged as errors.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	d := time.Since(start)
	s.metrics.observeRequest(c.Request.Method, route, status, d)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if !s.log.Enabled(c, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestID(c)), slog.String("method", c.Request.Method), slog.String("route", route),
		slog.Int("status", status), slog.Duration("latency", d), slog.String("client", c.ClientIP()),
	}
	if p := principal(c); p != nil {
		attrs = append(attrs, slog.String("principal", p.ID))
	}
	if len(c.Errors) > 0 && status >= 500 {
		attrs = append(attrs, slog.String("error", c.Errors.Last().Err.Error()))
	}
	s.log.LogAttrs(c, level, "request", attrs...)
}

// recoverPanic turns a panic into a 500 problem and logs the stack.
func (s *Server) recoverPanic(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if c.Writer.Written() {
				panic(http.ErrAbortHandler) // too late for a problem: cut the connection
			}
			fail(c, errs.Internal(fmt.Errorf("panic: %v", r), "panic"))
		}
	}()
	c.Next()
}

// limitBody caps request bodies; reading past the cap yields 413.
func (s *Server) limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			fail(c, errs.TooLarge("request body of %d bytes is over the limit of %d bytes", c.Request.ContentLength, limit))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}

// auditState collects what a handler says about its call for the audit entry.
type auditState struct {
	resources []string
	rows      int
	purpose   string
	endUser   string
	caseNo    string
	committed bool
}

func auditOf(c *gin.Context) *auditState {
	a, _ := c.Get(ctxAudit)
	st, _ := a.(*auditState)
	if st == nil {
		st = &auditState{}
	}
	return st
}

// noteResource records a resource ("kind:id") the call touched.
func noteResource(c *gin.Context, kind, id string) {
	a := auditOf(c)
	r := kind + ":" + id
	// The route notes the resource its path names before any check
	// (pathResources); a handler noting it again adds nothing.
	if slices.Contains(a.resources, r) {
		return
	}
	a.resources = append(a.resources, r)
}

// noteRows records how many data rows the call returned.
func noteRows(c *gin.Context, n int) { auditOf(c).rows = n }

// notePurpose records the purpose a grant check settled on.
func notePurpose(c *gin.Context, p string) { auditOf(c).purpose = p }

// hashingBody hashes what the handler reads of the request body.
type hashingBody struct {
	io.ReadCloser
	h hash.Hash
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.h.Write(p[:n])
	return n, err
}

// auditWriter holds the response until its audit entry is committed.
type auditWriter struct {
	gin.ResponseWriter
	status      int
	buf         bytes.Buffer
	passthrough bool
}

func (w *auditWriter) WriteHeader(code int) {
	if w.passthrough {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if code > 0 {
		w.status = code
	}
}
func (w *auditWriter) WriteHeaderNow() {
	if w.passthrough {
		w.ResponseWriter.WriteHeaderNow()
	}
}
func (w *auditWriter) Write(b []byte) (int, error) {
	if w.passthrough {
		return w.ResponseWriter.Write(b)
	}
	return w.buf.Write(b)
}
func (w *auditWriter) WriteString(s string) (int, error) {
	if w.passthrough {
		return w.ResponseWriter.WriteString(s)
	}
	return w.buf.WriteString(s)
}
func (w *auditWriter) Status() int {
	if w.passthrough {
		return w.ResponseWriter.Status()
	}
	return w.status
}
func (w *auditWriter) Size() int {
	if w.passthrough {
		return w.ResponseWriter.Size()
	}
	return w.buf.Len()
}
func (w *auditWriter) Written() bool {
	if w.passthrough {
		return w.ResponseWriter.Written()
	}
	return w.buf.Len() > 0 || w.status != http.StatusOK
}
func (w *auditWriter) Flush() {
	if w.passthrough {
		w.ResponseWriter.Flush()
	}
}

// audited appends one audit entry per call and sends nothing until that
// entry is committed: if the log cannot take it, the caller gets 503 and
// the handler's response is dropped (fail closed).
func (s *Server) audited(c *gin.Context) {
	start := time.Now()
	st := &auditState{endUser: clip(c.GetHeader("X-End-User"), 100), caseNo: clip(c.GetHeader("X-Case-Number"), 100), purpose: clip(c.GetHeader("X-Purpose"), 200)}
	c.Set(ctxAudit, st)
	h := sha256.New()
	h.Write([]byte(c.Request.Method + " " + c.Request.URL.RequestURI() + "\n"))
	c.Request.Body = &hashingBody{ReadCloser: c.Request.Body, h: h}
	orig := c.Writer
	w := &auditWriter{ResponseWriter: orig, status: http.StatusOK}
	c.Writer = w
	s.nextRecovering(c, w)
	c.Writer = orig
	if st.committed {
		return
	}
	if err := s.commitAudit(c, st, w.status, h, start); err != nil {
		for k := range orig.Header() {
			if k != "X-Request-Id" {
				orig.Header().Del(k)
			}
		}
		p := problemFor(err)
		p.Instance, p.RequestID = c.Request.URL.Path, requestID(c)
		writeProblem(orig, p)
		return
	}
	orig.WriteHeader(w.status)
	_, _ = orig.Write(w.buf.Bytes())
}

// nextRecovering runs the rest of the chain; a panic in it becomes a 500
// problem in w, so that the call is audited (status 500) and answered like
// any failure. Without it the panic would unwind past audited, whose
// buffered response would never be sent: the client got an empty 200 and
// the log no entry. A handler already streaming after its entry was
// committed cannot be answered any more: its connection is cut.
func (s *Server) nextRecovering(c *gin.Context, w *auditWriter) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		if w.passthrough {
			// Headers and part of the body are out: cut the connection,
			// so the client sees a broken download, not a problem glued
			// to a truncated file.
			s.log.Error("panic while streaming; connection cut", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			panic(http.ErrAbortHandler)
		}
		s.log.Error("panic", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		w.buf.Reset()
		for k := range w.Header() {
			if k != "X-Request-Id" {
				w.Header().Del(k)
			}
		}
		fail(c, errs.Internal(fmt.Errorf("panic: %v", r), "panic"))
	}()
	c.Next()
}

// streamAfterAudit commits the call's audit entry now, with the status the
// handler is about to send, and lets the handler stream its body directly:
// for downloads too large to hold. It fails closed like every audited call.
func (s *Server) streamAfterAudit(c *gin.Context, status int) error {
	w, ok := c.Writer.(*auditWriter)
	if !ok {
		return nil
	}
	st := auditOf(c)
	var h hash.Hash = sha256.New()
	if hb, ok := c.Request.Body.(*hashingBody); ok {
		h = hb.h
	}
	if err := s.commitAudit(c, st, status, h, time.Now()); err != nil {
		return err
	}
	st.committed = true
	w.passthrough = true
	return nil
}

func (s *Server) commitAudit(c *gin.Context, st *auditState, status int, h hash.Hash, start time.Time) error {
	e := audit.Entry{
		Time:       start.UTC().Truncate(time.Microsecond),
		RequestID:  requestID(c),
		Method:     c.Request.Method,
		Route:      c.FullPath(),
		Resources:  st.resources,
		Purpose:    st.purpose,
		EndUser:    st.endUser,
		CaseNumber: st.caseNo,
		Status:     status,
		Rows:       st.rows,
		Latency:    time.Since(start),
	}
	if e.Route == "" {
		e.Route = "unmatched"
	}
	if p := principal(c); p != nil {
		e.PrincipalID, e.DepartmentID = p.ID, p.DepartmentID
	}
	copy(e.RequestHash[:], h.Sum(nil))
	// The audit commit must finish even if the client goes away: the
	// handler may already have changed data.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), s.cfg.AuditTimeout)
	defer cancel()
	if _, err := s.audit.Append(ctx, e); err != nil {
		s.log.Error("audit append failed; response withheld", "request_id", e.RequestID, "error", err)
		return errs.Unavailable(err, "the audit log cannot record this call, so it was not served; try again shortly")
	}
	return nil
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len([]rune(s)) > n {
		return string([]rune(s)[:n])
	}
	return s
}

// authenticate requires a valid bearer key.
func (s *Server) authenticate(c *gin.Context) {
	token := ""
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			fail(c, errs.Unauthenticated("Authorization must use the Bearer scheme"))
			return
		}
		token = strings.TrimSpace(rest)
	}
	p, _, err := s.ex.Authenticate(c.Request.Context(), token)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxPrincipal, p)
	c.Next()
}

// requireRole lets a call through when the principal holds one of roles.
func requireRole(roles ...exchange.Role) gin.HandlerFunc {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return func(c *gin.Context) {
		if !principal(c).Has(roles...) {
			fail(c, errs.Forbidden("this needs the role %s", strings.Join(names, " or ")))
			return
		}
		c.Next()
	}
}

// loggedHeaders are the request headers that go into the audit log and
// the grant check.
var loggedHeaders = [...]string{"X-Purpose", "X-End-User", "X-Case-Number"}

// requireText refuses a request whose path parameters or query values
// are not text a database can compare — invalid UTF-8 or a NUL character,
// which PostgreSQL refuses with an error (a 500 where a 400 is due) — or
// whose logged headers are not valid UTF-8. One check here instead of one
// in every handler; it runs after the key and role checks, so a caller
// without them learns nothing from it.
func requireText(c *gin.Context) {
	var fe []errs.FieldError
	for _, p := range c.Params {
		if !isText(p.Value) {
			fe = append(fe, errs.FieldError{Pointer: "{" + p.Key + "}", Reason: "not text: invalid UTF-8 or a NUL character"})
		}
	}
	if raw := c.Request.URL.RawQuery; raw != "" && (strings.Contains(raw, "%") || !isText(raw)) {
		for name, vs := range c.Request.URL.Query() {
			bad := !isText(name)
			for _, v := range vs {
				bad = bad || !isText(v)
			}
			if bad {
				fe = append(fe, errs.FieldError{Pointer: "?" + strings.ToValidUTF8(name, "\uFFFD"), Reason: "not text: invalid UTF-8 or a NUL character"})
			}
		}
	}
	for _, h := range loggedHeaders {
		if v := c.GetHeader(h); !utf8.ValidString(v) {
			fe = append(fe, errs.FieldError{Pointer: h, Reason: "not valid UTF-8"})
		}
	}
	if len(fe) > 0 {
		slices.SortFunc(fe, func(a, b errs.FieldError) int { return strings.Compare(a.Pointer, b.Pointer) })
		fail(c, errs.InvalidFields("request is not valid text", fe...))
		return
	}
	c.Next()
}

// isText reports whether s is valid UTF-8 without NUL characters.
func isText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
