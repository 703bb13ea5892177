package api_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestEveryCallIsAudited: every route appends an audit entry except
// health, readiness and metrics, as /openapi.json's x-audited says route
// by route.
func TestEveryCallIsAudited(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	doc := h.Do(t, "GET", "/openapi.json", "", nil).Want(t, 200).Map(t)
	var unaudited []string
	n := 0
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			n++
			audited, ok := op.(map[string]any)["x-audited"].(bool)
			if !ok {
				t.Errorf("%s %s: no x-audited", method, path)
			}
			if !audited {
				unaudited = append(unaudited, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(unaudited)
	want := []string{"GET /healthz", "GET /metrics", "GET /readyz"}
	if !slices.Equal(unaudited, want) {
		t.Errorf("unaudited routes %v, want only %v", unaudited, want)
	}
	if n < 50 {
		t.Fatalf("only %d operations in /openapi.json", n)
	}
}

// The public key documents are audited too, their entry committed before
// the body is written; a conditional request answered 304 is logged as
// such.
func TestPublicKeyDocumentsAreAudited(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	for _, path := range []string{"/.well-known/jwks.json", "/v1/ca.pem", "/.well-known/licence-token-jwks.json"} {
		t.Run(path, func(t *testing.T) {
			id := "keys-" + strings.NewReplacer("/", "-", ".", "-").Replace(path)
			r := h.Do(t, "GET", path, "", nil, "X-Request-ID: "+id, "X-End-User: 验证App").Want(t, 200)
			if len(r.Body) == 0 {
				t.Fatal("empty body")
			}
			es := entriesFor(t, h, id)
			if len(es) != 1 || es[0].Status != 200 || es[0].Route != path || es[0].EndUser != "验证App" {
				t.Fatalf("audit entries for %s: %+v", path, es)
			}
		})
	}
	etag := h.Do(t, "GET", "/.well-known/jwks.json", "", nil).Want(t, 200).Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on the seal JWKS")
	}
	h.Do(t, "GET", "/.well-known/jwks.json", "", nil, "If-None-Match: "+etag, "X-Request-ID: keys-304").Want(t, 304)
	if es := entriesFor(t, h, "keys-304"); len(es) != 1 || es[0].Status != 304 {
		t.Fatalf("audit entries for the 304: %+v", es)
	}
}
