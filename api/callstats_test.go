package api_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestCallStats: GET /v1/stats/calls counts every data call,
// reading a record's versions included (it is audited and charged to the
// grant's quota like a read of the record, but was left out of the
// statistics), and a bad period names the parameter that is wrong (a bad
// "to" was reported at ?from); a time whose zone's '+' was not escaped
// is read.
func TestCallStats(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			it := syncedItem(t, h, gaj, "人口基础信息（调用统计）")
			purpose := "X-Purpose: 户籍核验"
			h.Do(t, "GET", "/v1/data/"+it.Code+"/records?key=P0000001", h.AppKey, nil, purpose).Want(t, http.StatusOK)
			h.Do(t, "GET", "/v1/data/"+it.Code+"/records/P0000001/versions", h.AppKey, nil, purpose).Want(t, http.StatusOK)
			h.Do(t, "GET", "/v1/data/"+it.Code+"/records/P0000002/versions", h.AppKey, nil, purpose).Want(t, http.StatusOK)

			now := time.Now()
			q := url.Values{"from": {now.Add(-time.Hour).Format(time.RFC3339)}, "to": {now.Add(time.Hour).Format(time.RFC3339)}, "item_code": {it.Code}}
			var stats struct{ Items []exchange.CallStat }
			h.Do(t, "GET", "/v1/stats/calls?"+q.Encode(), h.Auditor, nil).Want(t, http.StatusOK).JSON(t, &stats)
			if len(stats.Items) != 1 || stats.Items[0].Calls != 3 || stats.Items[0].ConsumerDepartmentID != "xy-mzj" || stats.Items[0].ProviderDepartmentID != "xy-gaj" {
				t.Errorf("stats %+v, want 3 calls of xy-mzj on the item of xy-gaj", stats.Items)
			}
			// The provider sees the same calls as provider.
			q.Set("as", "provider")
			stats.Items = nil
			h.Do(t, "GET", "/v1/stats/calls?"+q.Encode(), gaj, nil).Want(t, http.StatusOK).JSON(t, &stats)
			if len(stats.Items) != 1 || stats.Items[0].Calls != 3 {
				t.Errorf("provider's stats %+v, want 3 calls", stats.Items)
			}

			// Times as a caller types them, the zone's '+' unescaped
			// (the query string makes it a space).
			cst := time.FixedZone("CST", 8*3600)
			stats.Items = nil
			h.Do(t, "GET", "/v1/stats/calls?from="+now.Add(-time.Hour).In(cst).Format(time.RFC3339)+"&to="+now.Add(time.Hour).In(cst).Format(time.RFC3339)+
				"&item_code="+it.Code, h.Auditor, nil).Want(t, http.StatusOK).JSON(t, &stats)
			if len(stats.Items) != 1 || stats.Items[0].Calls != 3 {
				t.Errorf("stats with an unescaped zone: %+v, want 3 calls", stats.Items)
			}

			for _, c := range []struct{ from, to, pointer string }{
				{"x", now.Format(time.RFC3339), "?from"},
				{now.Format(time.RFC3339), "tomorrow", "?to"},
			} {
				q := url.Values{"from": {c.from}, "to": {c.to}}
				p := h.Do(t, "GET", "/v1/stats/calls?"+q.Encode(), h.Auditor, nil).Want(t, http.StatusBadRequest).Problem(t)
				if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != c.pointer {
					t.Errorf("from %q to %q: problem %v, want one error at %s", c.from, c.to, p, c.pointer)
				}
			}
		})
	}
}
