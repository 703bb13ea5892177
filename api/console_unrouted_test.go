package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestConsoleUnroutedPagesAreChineseHTML: a console address no route
// takes (a mistyped page, GET on the sign-out form's address) answered
// the API's English problem+json in the browser; it is a console page in
// Chinese, with the same status. Elsewhere it stays problem+json.
func TestConsoleUnroutedPagesAreChineseHTML(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	for _, c := range []struct {
		method, path string
		status       int
		words        string
	}{
		{"GET", "/console/no-such-page", http.StatusNotFound, "不存在"},
		{"GET", "/console/logout", http.StatusMethodNotAllowed, "不支持"},
	} {
		r := h.Do(t, c.method, c.path, "", nil).Want(t, c.status)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(r.Body), c.words) {
			t.Errorf("%s %s: %s %q; want a console page saying %s", c.method, c.path, ct, r.Body, c.words)
		}
	}
	h.Do(t, "GET", "/v1/no-such-route", "", nil).Want(t, http.StatusNotFound).Problem(t)
}
