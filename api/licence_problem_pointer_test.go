package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// Bad input to the licence routes is refused with a problem that points
// at the input the caller sent: the query parameter or the member of the
// request body, by the name the caller used.
func TestLicenceProblemsPointAtTheInput(t *testing.T) {
	h := newLicenceHub(t, hubtest.Start(t, dbtest.Backends[0]))
	holder := newHolder()
	id := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, holder)).Want(t, 201).Map(t)["id"].(string)
	esc := url.PathEscape(id)
	for _, tc := range []struct {
		name, method, path string
		body               any
		pointer            string
	}{
		// The id type is wrong, not the id.
		{"holder id type", "GET", "/v1/licences?holder_id=" + holder + "&holder_id_type=999", nil, "?holder_id_type"},
		// An amendment names the holder's new name holder_name.
		{"holder name", "POST", "/v1/licences/" + esc + "/events", map[string]any{"event": "amend", "reason": "更名", "holder_name": strings.Repeat("名", 101)}, "/holder_name"},
		// Seconds that overflow a duration are not some other lifetime:
		// 18446744075 s is 1.29 s once wrapped around 2^64 ns.
		{"token lifetime", "POST", "/v1/licences/" + esc + "/qr", map[string]any{"ttl_seconds": 18446744075}, "/ttl_seconds"},
		{"token lifetime, 25 hours", "POST", "/v1/licences/" + esc + "/qr", map[string]any{"ttl_seconds": 90000}, "/ttl_seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := h.Do(t, tc.method, tc.path, h.police, tc.body, "X-Purpose: 核验").Want(t, 400).Problem(t)
			fes, _ := p["errors"].([]any)
			if len(fes) != 1 || fes[0].(map[string]any)["pointer"] != tc.pointer {
				t.Fatalf("problem %v; want one error at %s", p, tc.pointer)
			}
		})
	}
}
