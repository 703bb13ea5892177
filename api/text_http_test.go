package api_test

import (
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// Path parameters, query values, logged headers and JSON strings that are
// not text a database stores (invalid UTF-8, NUL) are a 400 naming the
// part, audited like any call — not a 500 from PostgreSQL — and only after
// the key check.
func TestRequestTextIsChecked(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		for _, tc := range []struct {
			name, method, path, key string
			body                    any
			header, pointer         string
		}{
			{"NUL in a path parameter", "GET", "/v1/departments/x%00y", h.AppKey, nil, "", "{id}"},
			{"invalid UTF-8 in a path parameter", "GET", "/v1/departments/%ff", h.AppKey, nil, "", "{id}"},
			{"NUL in a catalogue filter", "GET", "/v1/catalog/items?department=%00", h.AppKey, nil, "", "?department"},
			{"invalid UTF-8 in an audit filter", "GET", "/v1/audit/entries?principal=%C3%28", h.Auditor, nil, "", "?principal"},
			{"invalid UTF-8 in a query name", "GET", "/v1/departments?%ff=1", h.AppKey, nil, "", "?\uFFFD"},
			{"invalid UTF-8 in X-Purpose", "GET", "/v1/departments", h.AppKey, nil, "X-Purpose: \xff\xfe", "X-Purpose"},
			{"NUL in a JSON string", "POST", "/v1/departments", h.Admin, `{"code":"11420600MB0000000A","name":"a\u0000b","kind":"office"}`, "", "/name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rid := "text-" + strings.ReplaceAll(tc.name, " ", "-")
				hs := []string{"X-Request-ID: " + rid}
				if tc.header != "" {
					hs = append(hs, tc.header)
				}
				p := h.Do(t, tc.method, tc.path, tc.key, tc.body, hs...).Want(t, 400).Problem(t)
				errs, _ := p["errors"].([]any)
				if len(errs) != 1 || errs[0].(map[string]any)["pointer"] != tc.pointer {
					t.Errorf("errors %v, want one at %q", p["errors"], tc.pointer)
				}
				if es := entriesFor(t, h, rid); len(es) != 1 || es[0].Status != 400 {
					t.Errorf("audit entries %+v, want one with status 400", es)
				}
				// Without a key the answer is 401, whatever the text.
				if tc.key != "" {
					h.Do(t, tc.method, tc.path, "", tc.body).Want(t, 401)
				}
			})
		}
		// Text that is fine passes: a non-ASCII id is a plain 404.
		h.Do(t, "GET", "/v1/departments/%E8%A5%84%E9%98%B3", h.AppKey, nil).Want(t, 404)
	})
}
