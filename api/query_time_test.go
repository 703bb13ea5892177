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

// TestDataChangedSinceWithUnescapedPlus: changed_since takes an RFC 3339
// time with a zone offset also when its '+' was not escaped (a query
// string decodes it into a space, which no RFC 3339 time holds); what is
// not a time is still a 400 at ?changed_since.
func TestDataChangedSinceWithUnescapedPlus(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
	it := syncedItem(t, h, gaj, "人口基础信息（变更时间）")
	purpose := "X-Purpose: 户籍核验"
	since := time.Now().Add(-time.Hour).In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339)
	data := "/v1/data/" + it.Code + "/records?changed_since="
	var escaped, unescaped struct{ Records []any }
	h.Do(t, "GET", data+url.QueryEscape(since), h.AppKey, nil, purpose).Want(t, http.StatusOK).JSON(t, &escaped)
	h.Do(t, "GET", data+since, h.AppKey, nil, purpose).Want(t, http.StatusOK).JSON(t, &unescaped)
	if len(escaped.Records) == 0 || len(unescaped.Records) != len(escaped.Records) {
		t.Fatalf("changed_since=%s: %d records escaped, %d unescaped; want the same, some", since, len(escaped.Records), len(unescaped.Records))
	}
	p := h.Do(t, "GET", data+"2026-11-25%2008:00", h.AppKey, nil, purpose).Want(t, http.StatusBadRequest).Problem(t)
	if es, _ := p["errors"].([]any); len(es) != 1 || es[0].(map[string]any)["pointer"] != "?changed_since" {
		t.Errorf("bad changed_since: %v", p)
	}
}
