package api_test

import (
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// A holder lookup checks the caller's grant once per licence type, and so
// takes one call off its quota, however many other departments issued the
// holder's licences of that type.
func TestLicenceLookupChargesOncePerType(t *testing.T) {
	h := newLicenceHub(t, hubtest.Start(t, db.SQLite))
	// 公安局 issues 结婚证 too, for this test.
	types := h.Do(t, "GET", "/v1/licence-types", h.Admin, nil).Want(t, 200).Map(t)["items"].([]any)
	var marriage map[string]any
	for _, it := range types {
		if m := it.(map[string]any); m["code"] == h.marriageType {
			marriage = m
		}
	}
	marriage["issuer_ids"] = append(marriage["issuer_ids"].([]any), "xy-gaj")
	h.Do(t, "PUT", "/v1/licence-types/"+h.marriageType, h.Admin, marriage).Want(t, 200)

	holder := newHolder()
	h.Do(t, "POST", "/v1/licences", h.civilIssuer, marriageCert(h, holder)).Want(t, 201)
	second := marriageCert(h, holder)
	second["number"] = "GA" + holder[12:]
	h.Do(t, "POST", "/v1/licences", h.police, second).Want(t, 201)

	// An issuer of a third department (卫健委, which issues no 结婚证) with
	// a grant for the type.
	p := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": "xy-wjw", "name": "health-issuer", "roles": []string{"issuer"}}).Want(t, 201).Map(t)
	key := h.Do(t, "POST", "/v1/principals/"+p["id"].(string)+"/keys", h.Admin, map[string]any{"name": "t"}).Want(t, 201).Map(t)["secret"].(string)
	got := h.Do(t, "GET", "/v1/licences?holder_id="+holder, key, nil, "X-Purpose: 婚姻状况核验", "X-Request-ID: quota-once").Want(t, 200).Map(t)
	if n := len(got["items"].([]any)); n != 2 {
		t.Fatalf("lookup found %d licences, want the two 结婚证", n)
	}
	es := entriesFor(t, h.Hub, "quota-once")
	if len(es) != 1 {
		t.Fatalf("audit entries %+v", es)
	}
	if n := strings.Count(strings.Join(es[0].Resources, " "), "grant:"); n != 1 {
		t.Fatalf("the lookup checked a grant %d times (resources %v), want once for the one type", n, es[0].Resources)
	}
}
