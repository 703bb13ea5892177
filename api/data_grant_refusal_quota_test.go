package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// A call refused for what the grant does not allow — a filter on a field
// it shows masked or does not grant, a lookup by a key it hides, a cursor
// not sealed for a caller who does not see the keys — does not use the
// grant's daily quota: after more such refusals than the quota, every call
// of the quota is still served, and no more.
func TestDataGrantRefusalKeepsQuota(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			it := registeredItem(t, h, "人口基础信息（拒绝不计配额）", map[string]string{
				"420602199001010002": `{"id":"P1","name":"张三","sfzh":"420602199001010002","address":"襄阳市樊城区1号"}`,
			})
			// Keyed by sfzh, which the grant below shows masked: keys hidden.
			gaj := key(t, h, "xy-gaj", "gaj-keeper", exchange.RoleDataAdmin)
			h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "按身份证号", Spec: datasync.Spec{KeyFields: []string{"sfzh"},
				Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/people"}}}).Want(t, http.StatusCreated)
			const quota = 2
			wjw := key(t, h, "xy-wjw", "wjw-quota-app", exchange.RoleApp)
			h.Do(t, "POST", "/v1/grants", h.Admin, exchange.NewGrant{ConsumerDepartmentID: "xy-wjw", ResourceKind: exchange.ResourceCatalogItem, ResourceID: it.Code,
				Fields: []string{exchange.AllFields}, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 1, 0), DailyQuota: quota}).Want(t, http.StatusCreated)
			purpose := "X-Purpose: 户籍核验"
			data := "/v1/data/" + it.Code + "/records"

			served := func() {
				t.Helper()
				var page dataResp
				h.Do(t, "GET", data+"?f.id=P1", wjw, nil, purpose).Want(t, http.StatusOK).JSON(t, &page)
				if len(page.Records) != 1 {
					t.Fatalf("page: %+v", page)
				}
			}

			// As many filters on masked fields as the quota: all refused,
			// and the quota is whole.
			for i := 0; i < quota; i++ {
				q := []string{"?f.sfzh=420602199001010002", "?f.name=张三"}[i%2]
				p := h.Do(t, "GET", data+q, wjw, nil, purpose).Want(t, http.StatusForbidden).Problem(t)
				if !strings.Contains(p["detail"].(string), "masked") {
					t.Fatalf("%s: %v", q, p)
				}
			}
			served()

			// More refusals than the quota has left.
			refused := []struct {
				path, says string
				status     int
			}{
				{data + "?fields=id&f.address=x", "not granted", http.StatusForbidden},
				{data + "?key=420602199001010002", "sfzh", http.StatusForbidden},
				{data + "/420602199001010002/versions", "sfzh", http.StatusForbidden},
				{data + "?cursor=420602199001010002", "cursor", http.StatusBadRequest},
			}
			for _, r := range refused {
				p := h.Do(t, "GET", r.path, wjw, nil, purpose).Want(t, r.status).Problem(t)
				if !strings.Contains(p["detail"].(string)+p["title"].(string), r.says) {
					t.Fatalf("%s: %v", r.path, p)
				}
			}
			for i := 1; i < quota; i++ {
				served()
			}
			h.Do(t, "GET", data+"?f.id=P1", wjw, nil, purpose).Want(t, http.StatusTooManyRequests)
		})
	}
}

// Of two grants covering a call, a filter on a field one shows only
// masked is served under the other, which names the field: the check runs
// on each grant before one is chosen, not on the first one alone.
func TestDataFilterPicksGrantShowingFieldInClear(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			it := registeredItem(t, h, "人口基础信息（两项授权）", map[string]string{
				"P1": `{"id":"P1","name":"张三","sfzh":"420602199001010002","address":"襄阳市樊城区1号"}`,
			})
			wjw := key(t, h, "xy-wjw", "wjw-two-grants-app", exchange.RoleApp)
			grant := func(fields ...string) exchange.Grant {
				var g exchange.Grant
				h.Do(t, "POST", "/v1/grants", h.Admin, exchange.NewGrant{ConsumerDepartmentID: "xy-wjw", ResourceKind: exchange.ResourceCatalogItem, ResourceID: it.Code,
					Fields: fields, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 1, 0)}).Want(t, http.StatusCreated).JSON(t, &g)
				return g
			}
			named := grant("id", "sfzh")
			time.Sleep(2 * time.Millisecond)
			star := grant(exchange.AllFields)
			purpose := "X-Purpose: 户籍核验"
			data := "/v1/data/" + it.Code + "/records"

			// The newer "*" grant is weighed first...
			var page dataResp
			h.Do(t, "GET", data+"?f.id=P1", wjw, nil, purpose).Want(t, http.StatusOK).JSON(t, &page)
			if page.GrantID != star.ID {
				t.Fatalf("plain call under grant %s, want the newer %s", page.GrantID, star.ID)
			}
			// ...but shows sfzh masked: a filter on it is served under the
			// grant that names it.
			page = dataResp{}
			h.Do(t, "GET", data+"?f.sfzh=420602199001010002", wjw, nil, purpose).Want(t, http.StatusOK).JSON(t, &page)
			if page.GrantID != named.ID || len(page.Records) != 1 || page.Records[0].Data["sfzh"] != "420602199001010002" {
				t.Fatalf("filter on sfzh: %+v, want grant %s and sfzh in clear", page, named.ID)
			}
		})
	}
}
