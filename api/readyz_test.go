package api_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/api"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestReadinessProblem: /readyz answers 200 JSON with each check's state
// while the database and the blob store answer; when either does not, it
// answers like every other error, a 503 RFC 9457 problem from the error
// table whose detail names the failed checks and whose checks member keeps
// every check's state. It recovers when the failed service comes back.
func TestReadinessProblem(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ready := func() {
			t.Helper()
			r := h.Do(t, "GET", "/readyz", "", nil).Want(t, 200)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("ready: content type %q, want application/json", ct)
			}
			want := map[string]any{"status": "ok", "checks": map[string]any{"database": "ok", "blobs": "ok"}}
			if got := r.Map(t); !reflect.DeepEqual(got, want) {
				t.Errorf("ready body\n%s\nwant\n%s", jsonText(got), jsonText(want))
			}
		}
		notReady := func(detail string, checks map[string]any) {
			t.Helper()
			r := h.Do(t, "GET", "/readyz", "", nil).Want(t, 503)
			p := r.Problem(t)
			if p["request_id"] == nil || p["request_id"] == "" {
				t.Errorf("problem has no request_id: %s", r.Body)
			}
			delete(p, "request_id")
			want := map[string]any{
				"type":     api.ProblemTypeBase + "unavailable",
				"title":    "Service unavailable",
				"status":   float64(503),
				"detail":   detail,
				"instance": "/readyz",
				"checks":   checks,
			}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("503 problem\n%s\nwant\n%s", jsonText(p), jsonText(want))
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("503 Cache-Control %q, want no-store", cc)
			}
		}
		ready()

		// The blob directory goes away: blobs fail, the database does not.
		dir := strings.TrimPrefix(h.Config.Blobs, "file:")
		if dir == h.Config.Blobs {
			t.Fatalf("blobs %q are not a local directory", h.Config.Blobs)
		}
		if err := os.Rename(dir, dir+".away"); err != nil {
			t.Fatal(err)
		}
		notReady("not ready: blobs unavailable", map[string]any{"database": "ok", "blobs": "unavailable"})
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Fatal(err)
		}
		ready()

		// The database goes away (as in TestFailClosedWhenDatabaseGoesAway).
		h.BrokenOnPurpose = true
		if err := h.DB.Close(); err != nil {
			t.Fatal(err)
		}
		notReady("not ready: database unavailable", map[string]any{"database": "unavailable", "blobs": "ok"})

		// Both.
		if err := os.Rename(dir, dir+".away"); err != nil {
			t.Fatal(err)
		}
		notReady("not ready: blobs and database unavailable", map[string]any{"database": "unavailable", "blobs": "unavailable"})
		h.Do(t, "GET", "/healthz", "", nil).Want(t, 200)
	})
}

func jsonText(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
