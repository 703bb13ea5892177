package api_test

import (
	"net/http"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestDataFilterOnUnknownField: a filter on a field the item does not
// have is the request's fault, a 400 naming the parameter, not a 403
// saying the field is not granted (which sends the caller to ask for a
// grant of a field that does not exist).
func TestDataFilterOnUnknownField(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	it := registeredItem(t, h, "人口基础信息（未知过滤）", map[string]string{"P1": `{"id":"P1","address":"樊城区"}`})
	for q, pointer := range map[string]string{"?f.nosuch=1": "?f.nosuch", "?f.=1": "?f.", "?fields=id&f.Address=1": "?f.Address"} {
		p := h.Do(t, "GET", "/v1/data/"+it.Code+"/records"+q, h.AppKey, nil, "X-Purpose: 户籍核验").Want(t, http.StatusBadRequest).Problem(t)
		if es, _ := p["errors"].([]any); len(es) != 1 || es[0].(map[string]any)["pointer"] != pointer {
			t.Errorf("%s: %v", q, p)
		}
	}
}
