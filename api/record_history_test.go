package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

type versionsResp struct {
	ItemCode string   `json:"item_code"`
	Key      string   `json:"key"`
	GrantID  string   `json:"grant_id"`
	Fields   []string `json:"fields"`
	Masked   []string `json:"masked"`
	Disputed string   `json:"disputed"`
	Versions []struct {
		Version   int64          `json:"version"`
		ChangedAt time.Time      `json:"changed_at"`
		Deleted   bool           `json:"deleted"`
		Corrected bool           `json:"corrected"`
		Data      map[string]any `json:"data"`
	} `json:"versions"`
	NextCursor string `json:"next_cursor"`
}

// TestRecordVersionsAPI: a record changed twice and then gone from a full
// refresh reads back as four versions through GET
// /v1/data/{code}/records/{key}/versions, under the same rules as reading
// the record (purpose, grant, granted fields, masking), audited; a
// dispute's correction is a version too.
func TestRecordVersionsAPI(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			ctx := context.Background()
			gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			wjw := key(t, h, "xy-wjw", "wjw-app", exchange.RoleApp)
			mzj := h.AppKey
			it := peopleItem(t, h, "人口基础信息（历史）", catalog.ShareUnconditional)
			up := synctest.New(t, 20)
			var job datasync.Job
			h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "全量", Spec: datasync.Spec{Mode: "full", KeyFields: []string{"id"},
				IgnoreFields: []string{"updated_at"}, Source: datasync.SourceSpec{Kind: "http", URL: up.RecordsURL(), Auth: "bearer", Token: synctest.Token}}}).
				Want(t, http.StatusCreated).JSON(t, &job)
			run := func() datasync.Run {
				t.Helper()
				var r datasync.Run
				h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(t, http.StatusOK).JSON(t, &r)
				if r.Status != datasync.StatusSucceeded {
					t.Fatalf("run: %+v", r)
				}
				return r
			}
			const rec = "P0000005"
			var addrs []string
			run()
			addrs = append(addrs, up.Get(rec).Address)
			up.Change(2, 5)
			run()
			addrs = append(addrs, up.Get(rec).Address)
			up.Change(2, 5)
			run()
			addrs = append(addrs, up.Get(rec).Address)
			up.Delete(1, 5)
			if r := run(); r.Counts.Deleted != 1 {
				t.Fatalf("deleting run: %+v", r.Counts)
			}

			path := "/v1/data/" + it.Code + "/records/" + rec + "/versions"
			purpose := "X-Purpose: 户籍核验"
			// No grant yet: 403; no purpose: 400 before anything else.
			h.Do(t, "GET", path, mzj, nil, purpose).Want(t, http.StatusForbidden)
			h.Do(t, "GET", path, mzj, nil).Want(t, http.StatusBadRequest).Problem(t)
			// 无条件共享: registering grants every field, personal ones masked.
			h.Do(t, "POST", "/v1/applications", mzj, exchange.NewApplication{ItemCode: it.Code, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 6, 0)}).
				Want(t, http.StatusCreated)
			h.Do(t, "GET", path, mzj, nil).Want(t, http.StatusBadRequest).Problem(t)

			// versions decodes a fresh response (decoding into a used one would merge maps).
			versions := func(r *hubtest.Response) (vr versionsResp) {
				t.Helper()
				r.Want(t, http.StatusOK).JSON(t, &vr)
				return vr
			}
			vr := versions(h.Do(t, "GET", path, mzj, nil, purpose, "X-Request-ID: history-1"))
			if vr.ItemCode != it.Code || vr.Key != rec || vr.GrantID == "" || len(vr.Versions) != 4 || vr.NextCursor != "" {
				t.Fatalf("versions: %+v", vr)
			}
			if !slices.Equal(vr.Fields, []string{"id", "name", "sfzh", "address"}) || !slices.Equal(vr.Masked, []string{"name", "sfzh"}) {
				t.Fatalf("fields %v masked %v", vr.Fields, vr.Masked)
			}
			for i, v := range vr.Versions {
				want := addrs[min(i, 2)]
				if v.Version != int64(i+1) || v.Deleted != (i == 3) || v.Corrected || v.Data["address"] != want || v.Data["id"] != rec {
					t.Errorf("version %d: %+v, want address %q deleted %v", i+1, v, want, i == 3)
				}
				if v.Data["name"] != "***" || v.Data["sfzh"] != "420602********0005" {
					t.Errorf("version %d shows personal fields in clear: %v", i+1, v.Data)
				}
			}
			es := entriesFor(t, h, "history-1")
			if len(es) != 1 || es[0].Rows != 4 || es[0].Route != "/v1/data/:code/records/:key/versions" || es[0].Purpose != "户籍核验" ||
				!contains(es[0].Resources, "catalog_item:"+it.Code) || !contains(es[0].Resources, "grant:"+vr.GrantID) {
				t.Fatalf("audit entry: %+v", es)
			}
			// Asking for fewer fields; paging.
			vr = versions(h.Do(t, "GET", path+"?fields=id,address&limit=3", mzj, nil, purpose))
			if len(vr.Versions) != 3 || vr.NextCursor != "3" || len(vr.Versions[0].Data) != 2 || vr.Versions[0].Data["address"] != addrs[0] {
				t.Fatalf("first page: %+v", vr)
			}
			vr = versions(h.Do(t, "GET", path+"?fields=id,address&limit=3&cursor=3", mzj, nil, purpose))
			if len(vr.Versions) != 1 || vr.Versions[0].Version != 4 || vr.NextCursor != "" {
				t.Fatalf("second page: %+v", vr)
			}
			h.Do(t, "GET", path+"?cursor=x", mzj, nil, purpose).Want(t, http.StatusBadRequest)
			h.Do(t, "GET", path+"?limit=0", mzj, nil, purpose).Want(t, http.StatusBadRequest)
			h.Do(t, "GET", "/v1/data/"+it.Code+"/records/P9999999/versions", mzj, nil, purpose).Want(t, http.StatusNotFound)

			// A grant of some fields: the others are left out, and asking for them is refused.
			admin := &exchange.Principal{ID: "prn_test_admin", DepartmentID: "xy-sjj", Roles: []exchange.Role{exchange.RoleAdmin}}
			if _, err := h.Exchange.CreateGrant(ctx, admin, exchange.NewGrant{ConsumerDepartmentID: "xy-wjw", ResourceKind: exchange.ResourceCatalogItem,
				ResourceID: it.Code, Fields: []string{"id", "address"}, Purpose: "健康档案核验", ValidUntil: time.Now().AddDate(0, 1, 0)}); err != nil {
				t.Fatal(err)
			}
			vr = versions(h.Do(t, "GET", path, wjw, nil, "X-Purpose: 健康档案核验"))
			if len(vr.Versions) != 4 || !slices.Equal(vr.Fields, []string{"id", "address"}) || len(vr.Masked) != 0 {
				t.Fatalf("narrow grant: %+v", vr)
			}
			for _, v := range vr.Versions {
				if _, ok := v.Data["name"]; ok || len(v.Data) != 2 {
					t.Fatalf("version %d shows fields outside the grant: %v", v.Version, v.Data)
				}
			}
			h.Do(t, "GET", path+"?fields=id,sfzh", wjw, nil, "X-Purpose: 健康档案核验").Want(t, http.StatusForbidden).Problem(t)

			// A dispute's correction is a new version, marked as such.
			var d exchange.Dispute
			h.Do(t, "POST", "/v1/disputes", mzj, exchange.NewDispute{ItemCode: it.Code, RecordKey: "P0000009", Reason: "住址有误"}).
				Want(t, http.StatusCreated).JSON(t, &d)
			h.Do(t, "POST", "/v1/disputes/"+d.ID+"/accept", gaj, map[string]any{"resolution": "已核实更正", "correction": map[string]any{"address": "襄阳市襄州区更正地址9号"}}).
				Want(t, http.StatusOK)
			vr = versions(h.Do(t, "GET", "/v1/data/"+it.Code+"/records/P0000009/versions", mzj, nil, purpose))
			if len(vr.Versions) != 2 || vr.Disputed != d.ID || vr.Versions[0].Corrected || !vr.Versions[1].Corrected ||
				vr.Versions[1].Data["address"] != "襄阳市襄州区更正地址9号" || vr.Versions[0].Data["address"] != up.Get("P0000009").Address {
				t.Fatalf("corrected record: %+v", vr)
			}
		})
	}
}
