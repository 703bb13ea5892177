package api

import (
	"context"
	"crypto/rand"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// A handler that panics is answered with a 500 problem and audited as
// such: before, the panic unwound past the audit middleware, whose buffered
// response was never sent (an empty 200) and whose entry was never
// appended.
func TestPanicIsAnsweredAndAudited(t *testing.T) {
	ctx := context.Background()
	s, l := auditedServer(t)
	s.handle(route{Method: "GET", Path: "/test/panic", Public: true, Handler: func(c *gin.Context) {
		c.Header("X-Secret", "half-made")
		c.String(http.StatusOK, "partial body")
		panic("boom")
	}})

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/test/panic", nil)
	req.Header.Set("X-Request-ID", "panic-1")
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q, want application/problem+json", ct)
	}
	if rec.Header().Get("X-Secret") != "" || strings.Contains(rec.Body.String(), "partial body") {
		t.Errorf("the half-made response leaked: %v %q", rec.Header(), rec.Body.String())
	}
	if !strings.Contains(rec.Body.String(), `"status":500`) || strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("body %s: want a 500 problem that does not show the panic", rec.Body.String())
	}
	es, _, err := l.Search(ctx, audit.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].RequestID != "panic-1" || es[0].Status != 500 || es[0].Route != "/test/panic" {
		t.Fatalf("audit entries %+v, want one for panic-1 with status 500", es)
	}
}

// A panic after the body has started (a download streamed after its entry
// was committed) cuts the connection: the client sees a broken transfer,
// never a problem document glued to the end of a truncated file.
func TestPanicWhileStreamingCutsTheConnection(t *testing.T) {
	ctx := context.Background()
	s, l := auditedServer(t)
	s.handle(route{Method: "GET", Path: "/test/stream-panic", Public: true, Handler: func(c *gin.Context) {
		if err := s.streamAfterAudit(c, http.StatusOK); err != nil {
			fail(c, err)
			return
		}
		c.Header("Content-Type", "application/octet-stream")
		c.Writer.WriteHeader(http.StatusOK)
		_, _ = c.Writer.Write([]byte("PARTIAL-DOWNLOAD;"))
		c.Writer.Flush()
		panic("disk read failed")
	}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	resp, err := http.Get(srv.URL + "/test/stream-panic")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("the download ended cleanly (%q); want the connection cut", body)
	}
	if strings.Contains(string(body), "problem") {
		t.Errorf("a problem document was written into the download: %q", body)
	}
	es, _, err := l.Search(ctx, audit.Filter{Limit: 10})
	if err != nil || len(es) != 1 || es[0].Status != 200 {
		t.Fatalf("audit entries %+v (%v): want the one committed before streaming", es, err)
	}
}

// auditedServer is a Server with no services but a real audit log on
// SQLite, for tests of the middleware with routes of their own.
func auditedServer(t *testing.T) (*Server, *audit.Log) {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, db.SQLite)
	skey, _, err := note.GenerateKey(rand.Reader, "sharehub.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, d, signer, audit.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(ctx) })
	return New(Deps{DB: d, Audit: l, Logger: slog.New(slog.DiscardHandler)}, Config{}), l
}
