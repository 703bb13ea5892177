package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestRefusedCallsNameTheirResource: a call refused before its handler
// ran (no key, or a role the route does not allow) names in its audit
// entry the resource its path identifies, like a call that got through:
// an auditor searching the log for a seal or a grant finds the attempts
// to revoke it. Handlers noted their resource only once they had found
// it, so these entries named nothing.
func TestRefusedCallsNameTheirResource(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	for i, c := range []struct {
		method, path, key string
		status            int
		resource          string
	}{
		{"POST", "/v1/seals/seal_x1/revoke", h.AppKey, http.StatusForbidden, "seal:seal_x1"},
		{"POST", "/v1/seals/seal_x1/rotate", "", http.StatusUnauthorized, "seal:seal_x1"},
		{"POST", "/v1/grants/grt_x2/revoke", h.AppKey, http.StatusForbidden, "grant:grt_x2"},
		{"POST", "/v1/disputes/dsp_x3/accept", h.AppKey, http.StatusForbidden, "dispute:dsp_x3"},
		{"PUT", "/v1/sync/jobs/job_x4", h.AppKey, http.StatusForbidden, "sync_job:job_x4"},
		{"GET", "/v1/sync/runs/run_x5", "", http.StatusUnauthorized, "sync_run:run_x5"},
		{"POST", "/v1/keys/key_x6/revoke", h.AppKey, http.StatusForbidden, "api_key:key_x6"},
		{"POST", "/v1/principals/prn_x7/disable", h.AppKey, http.StatusForbidden, "principal:prn_x7"},
		{"PUT", "/v1/catalog/items/101001-000001", h.AppKey, http.StatusForbidden, "catalog_item:101001-000001"},
		{"GET", "/v1/audit/entries/3", h.AppKey, http.StatusForbidden, "audit_entry:3"},
	} {
		id := fmt.Sprintf("refused-%d", i)
		h.Do(t, c.method, c.path, c.key, map[string]any{}, "X-Request-ID: "+id).Want(t, c.status)
		es := entriesFor(t, h, id)
		if len(es) != 1 {
			t.Fatalf("%s %s: %d audit entries", c.method, c.path, len(es))
		}
		if !slices.Contains(es[0].Resources, c.resource) || len(es[0].Resources) != 1 {
			t.Errorf("%s %s refused %d: audit entry names %q; want %q once", c.method, c.path, c.status, es[0].Resources, c.resource)
		}
	}
}
