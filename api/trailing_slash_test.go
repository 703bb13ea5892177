package api_test

import (
	"net/http"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestTrailingSlashIsAudited: a path with a trailing slash too many is a
// 404 problem like any unknown path, with its request ID and audit entry
// (gin answered it with a redirect before any middleware ran: no request
// ID, no audit entry). /console still leads to /console/, as a route.
func TestTrailingSlashIsAudited(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	r := h.Do(t, "GET", "/v1/me/", h.AppKey, nil, "X-Request-ID: slash-1").Want(t, http.StatusNotFound)
	r.Problem(t)
	if r.Header.Get("X-Request-ID") != "slash-1" {
		t.Errorf("404 for /v1/me/ has request ID %q", r.Header.Get("X-Request-ID"))
	}
	if es := entriesFor(t, h, "slash-1"); len(es) != 1 || es[0].Status != http.StatusNotFound {
		t.Errorf("audit entries for GET /v1/me/: %+v; want one 404", es)
	}

	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", h.URL+"/console", nil)
	req.Header.Set("X-Request-ID", "slash-2")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("GET /console: %d to %q; want 301 to /console/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if es := entriesFor(t, h, "slash-2"); len(es) != 1 || es[0].Route != "/console" {
		t.Errorf("audit entries for GET /console: %+v; want one", es)
	}
}
