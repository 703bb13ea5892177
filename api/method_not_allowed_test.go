package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestMethodNotAllowedNamesTheAllowedMethods: a method a path does not
// have is 405 with an Allow header listing those it has (RFC 9110
// 15.5.6), as problem+json naming them, and audited like any call. It was
// a 400 "invalid request", which told a client its request body was wrong.
func TestMethodNotAllowedNamesTheAllowedMethods(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	r := h.Do(t, "DELETE", "/v1/me", h.AppKey, nil, "X-Request-ID: method-1").Want(t, http.StatusMethodNotAllowed)
	p := r.Problem(t)
	if allow := r.Header.Get("Allow"); allow != "GET" {
		t.Errorf("Allow %q; want GET", allow)
	}
	if d, _ := p["detail"].(string); !strings.Contains(d, "DELETE") || !strings.Contains(d, "allows GET") {
		t.Errorf("detail %q does not name the method and what is allowed", d)
	}
	if es := entriesFor(t, h, "method-1"); len(es) != 1 || es[0].Status != http.StatusMethodNotAllowed {
		t.Errorf("audit entries for DELETE /v1/me: %+v; want one 405", es)
	}

	// A path with several methods lists each once, whatever the key.
	r = h.Do(t, "PATCH", "/v1/grants", "", nil).Want(t, http.StatusMethodNotAllowed)
	r.Problem(t)
	got := strings.Split(r.Header.Get("Allow"), ", ")
	if len(got) < 2 || !contains(got, "GET") || !contains(got, "POST") {
		t.Errorf("Allow for /v1/grants %q; want GET and POST", r.Header.Get("Allow"))
	}
}
