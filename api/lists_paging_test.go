package api_test

import (
	"net/http"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// Application and dispute lists take limit and cursor, and say what is
// wrong with them.
func TestSharingListsPage(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	for _, path := range []string{"/v1/applications", "/v1/disputes"} {
		var l struct {
			Items      []map[string]any
			NextCursor string `json:"next_cursor"`
		}
		h.Do(t, "GET", path+"?limit=1000", h.AppKey, nil).Want(t, http.StatusOK).JSON(t, &l)
		if l.NextCursor != "" {
			t.Errorf("%s: a cursor after the last page: %q", path, l.NextCursor)
		}
		for q, ptr := range map[string]string{"?limit=0": "?limit", "?limit=1001": "?limit", "?cursor=nonsense": "?cursor"} {
			p := h.Do(t, "GET", path+q, h.AppKey, nil).Want(t, http.StatusBadRequest).Problem(t)
			if es, _ := p["errors"].([]any); len(es) != 1 || es[0].(map[string]any)["pointer"] != ptr {
				t.Errorf("%s%s: %v", path, q, p)
			}
		}
	}
}
