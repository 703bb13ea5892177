package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestProviderListsFollowTheItem: after a catalogue edit hands an item to
// another department, that department's provider lists of applications
// and disputes show the work on the item it now decides (page by page),
// and it may read each application; the department that provided it
// before no longer lists or reads them. The lists went by the provider
// stored when the application or dispute was filed, so the new provider
// never saw the pending work it alone may decide, and the former one kept
// seeing work (and data) no longer its own. The stored provider is still
// shown beside the current one.
func TestProviderListsFollowTheItem(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			gaj := key(t, h, "xy-gaj", "gaj-move-admin", exchange.RoleDataAdmin)
			wjw := key(t, h, "xy-wjw", "wjw-move-admin", exchange.RoleDataAdmin)
			rsj := key(t, h, "xy-rsj", "rsj-move-admin", exchange.RoleDataAdmin)
			rsjApp := key(t, h, "xy-rsj", "rsj-move-app", exchange.RoleApp)
			mzj := h.AppKey
			moved := peopleItem(t, h, "人口基础信息（移交）", catalog.ShareConditional)
			stays := peopleItem(t, h, "人口基础信息（不移交）", catalog.ShareConditional)
			until := time.Now().AddDate(0, 6, 0)
			apply := func(k, code, purpose string) exchange.Application {
				t.Helper()
				var a exchange.Application
				h.Do(t, "POST", "/v1/applications", k, exchange.NewApplication{ItemCode: code, Purpose: purpose, Scenario: "窗口核验",
					Fields: []string{"id"}, ValidUntil: until}).Want(t, http.StatusCreated).JSON(t, &a)
				return a
			}
			onMoved := []string{apply(mzj, moved.Code, "核验一").ID, apply(mzj, moved.Code, "核验二").ID, apply(rsjApp, moved.Code, "核验三").ID}
			onStays := apply(mzj, stays.Code, "核验四").ID

			// 民政局 holds a grant on the item and disputes a record.
			h.Do(t, "POST", "/v1/grants", h.Admin, exchange.NewGrant{ConsumerDepartmentID: "xy-mzj", ResourceKind: exchange.ResourceCatalogItem,
				ResourceID: moved.Code, Fields: []string{"id"}, Purpose: "核验", ValidUntil: until}).Want(t, http.StatusCreated)
			var dsp exchange.Dispute
			h.Do(t, "POST", "/v1/disputes", mzj, exchange.NewDispute{ItemCode: moved.Code, RecordKey: "P0000001", Reason: "姓名有误"}).
				Want(t, http.StatusCreated).JSON(t, &dsp)

			// A catalogue edit hands the item from 公安局 to 卫健委.
			cur := h.Do(t, "GET", "/v1/catalog/items/"+moved.Code, h.Admin, nil).Want(t, http.StatusOK).Map(t)
			body := contentOf(cur)
			body["version"], body["provider_id"] = cur["version"], "xy-wjw"
			h.Do(t, "PUT", "/v1/catalog/items/"+moved.Code, h.Admin, body).Want(t, http.StatusOK)

			// Every page of a list, limit at a time.
			pages := func(k, path string, limit int) []map[string]any {
				t.Helper()
				var all []map[string]any
				cursor := ""
				for range 20 {
					q := url.Values{"as": {"provider"}, "limit": {strconv.Itoa(limit)}}
					if cursor != "" {
						q.Set("cursor", cursor)
					}
					var l struct {
						Items      []map[string]any `json:"items"`
						NextCursor string           `json:"next_cursor"`
					}
					h.Do(t, "GET", path+"?"+q.Encode(), k, nil).Want(t, http.StatusOK).JSON(t, &l)
					all = append(all, l.Items...)
					if cursor = l.NextCursor; cursor == "" {
						return all
					}
				}
				t.Fatalf("%s: more than 20 pages", path)
				return nil
			}
			ids := func(items []map[string]any) []string {
				var out []string
				for _, it := range items {
					out = append(out, it["id"].(string))
				}
				slices.Sort(out)
				return out
			}
			sorted := func(ss ...string) []string { ss = slices.Clone(ss); slices.Sort(ss); return ss }

			got := pages(wjw, "/v1/applications", 2)
			if !slices.Equal(ids(got), sorted(onMoved...)) {
				t.Fatalf("卫健委's provider list of applications: %v, want %v", ids(got), sorted(onMoved...))
			}
			for _, a := range got {
				if a["provider_department_id"] != "xy-gaj" || a["current_provider_department_id"] != "xy-wjw" {
					t.Errorf("application %v: want provider_department_id xy-gaj (when applied) and current_provider_department_id xy-wjw", a)
				}
			}
			if got := ids(pages(gaj, "/v1/applications", 1)); !slices.Equal(got, []string{onStays}) {
				t.Fatalf("公安局's provider list of applications: %v, want only %s on the item it still provides", got, onStays)
			}
			if got := ids(pages(rsj, "/v1/applications", 100)); len(got) != 0 {
				t.Fatalf("人社局 provides nothing yet lists applications %v", got)
			}
			// The filters still apply beside the provider's.
			var l struct {
				Items []map[string]any `json:"items"`
			}
			h.Do(t, "GET", "/v1/applications?as=provider&status=pending&item_code="+moved.Code, wjw, nil).Want(t, http.StatusOK).JSON(t, &l)
			if len(l.Items) != 3 {
				t.Fatalf("卫健委's pending applications on %s: %d, want 3", moved.Code, len(l.Items))
			}

			// Reading one: its consumer and its provider now; not the former provider.
			for _, c := range []struct {
				who, key string
				want     int
			}{{"卫健委 (provider now)", wjw, http.StatusOK}, {"民政局 (consumer)", mzj, http.StatusOK}, {"admin", h.Admin, http.StatusOK},
				{"auditor", h.Auditor, http.StatusOK}, {"公安局 (provider before)", gaj, http.StatusNotFound}, {"人社局 (neither)", rsj, http.StatusNotFound}} {
				if r := h.Do(t, "GET", "/v1/applications/"+onMoved[0], c.key, nil); r.Status != c.want {
					t.Errorf("%s reading application %s: %d, want %d", c.who, onMoved[0], r.Status, c.want)
				}
			}
			// The new provider decides what it lists; the former may not.
			h.Do(t, "POST", "/v1/applications/"+onMoved[2]+"/approve", gaj, exchange.Decision{}).Want(t, http.StatusForbidden)
			var a exchange.Application
			h.Do(t, "POST", "/v1/applications/"+onMoved[2]+"/approve", wjw, exchange.Decision{}).Want(t, http.StatusOK).JSON(t, &a)
			if a.Status != exchange.AppApproved || a.CurrentProviderDepartmentID != "xy-wjw" || a.ProviderDepartmentID != "xy-gaj" {
				t.Fatalf("approved by the new provider: %+v", a)
			}

			// Disputes: the new provider lists the dispute and sees it as
			// written (the record's key, not a reference); the former does not list it.
			ds := pages(wjw, "/v1/disputes", 1)
			if len(ds) != 1 || ds[0]["id"] != dsp.ID {
				t.Fatalf("卫健委's provider list of disputes: %v, want %s", ds, dsp.ID)
			}
			if ds[0]["record_key"] != "P0000001" || ds[0]["provider_department_id"] != "xy-gaj" || ds[0]["current_provider_department_id"] != "xy-wjw" {
				t.Errorf("dispute as its provider now sees it: %v", ds[0])
			}
			if ds := pages(gaj, "/v1/disputes", 10); len(ds) != 0 {
				t.Fatalf("公安局's provider list of disputes: %v, want none (it no longer provides %s)", ds, moved.Code)
			}
			// The consumer's own list is unchanged.
			h.Do(t, "GET", "/v1/disputes", mzj, nil).Want(t, http.StatusOK).JSON(t, &l)
			if len(l.Items) != 1 || l.Items[0]["id"] != dsp.ID {
				t.Fatalf("民政局's disputes: %v", l.Items)
			}
			// Handing it back moves the lists back.
			cur = h.Do(t, "GET", "/v1/catalog/items/"+moved.Code, h.Admin, nil).Want(t, http.StatusOK).Map(t)
			body = contentOf(cur)
			body["version"], body["provider_id"] = cur["version"], "xy-gaj"
			h.Do(t, "PUT", "/v1/catalog/items/"+moved.Code, h.Admin, body).Want(t, http.StatusOK)
			if got := ids(pages(gaj, "/v1/applications", 3)); !slices.Equal(got, sorted(append(slices.Clone(onMoved), onStays)...)) {
				t.Fatalf("公安局's applications after the item came back: %v", got)
			}
			if ds := pages(wjw, "/v1/disputes", 10); len(ds) != 0 {
				t.Fatalf("卫健委's disputes after handing the item back: %v", ds)
			}
			h.Do(t, "GET", "/v1/applications/"+onMoved[0], wjw, nil).Want(t, http.StatusNotFound)
		})
	}
}

// TestProviderListsBadInput: the provider lists say what is wrong with
// their paging.
func TestProviderListsBadInput(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	gaj := key(t, h, "xy-gaj", "gaj-list-admin", exchange.RoleDataAdmin)
	for _, path := range []string{"/v1/applications", "/v1/disputes"} {
		for q, ptr := range map[string]string{"&limit=0": "?limit", "&cursor=nonsense": "?cursor", "&cursor=12.": "?cursor"} {
			p := h.Do(t, "GET", path+"?as=provider"+q, gaj, nil).Want(t, http.StatusBadRequest).Problem(t)
			if es, _ := p["errors"].([]any); len(es) != 1 || es[0].(map[string]any)["pointer"] != ptr {
				t.Errorf("%s?as=provider%s: %v", path, q, p)
			}
		}
	}
	// Without a key, nothing.
	if r := h.Do(t, "GET", "/v1/applications?as=provider", "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("no key: %d", r.Status)
	}
}
