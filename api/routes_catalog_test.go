package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// dataAdminKey makes a data admin of the department and returns its key.
func dataAdminKey(t *testing.T, h *hubtest.Hub, dept string) string {
	t.Helper()
	ctx := context.Background()
	p, err := h.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: dept, Name: "data-admin-" + dept, Roles: []exchange.Role{exchange.RoleDataAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := h.Exchange.CreateKey(ctx, p.ID, "test", timeZero)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestCatalogDemo(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		if h.Demo.CatalogItems < 300 {
			t.Fatalf("demo catalogue has %d items", h.Demo.CatalogItems)
		}
		var tree []catalog.TreeNode
		h.Do(t, "GET", "/v1/catalog/tree", h.AppKey, nil).Want(t, 200).JSON(t, &tree)
		if len(tree[0].Children) != 6 || len(tree[1].Children) != 12 {
			t.Fatalf("tree %+v", tree)
		}
		for _, g := range tree[:2] {
			for _, l := range g.Children {
				if l.Items == 0 {
					t.Errorf("library %s has no demo items", l.Name)
				}
			}
		}
		if tree[2].Items != h.Demo.CatalogItems {
			t.Errorf("department catalogues hold %d items, demo %d", tree[2].Items, h.Demo.CatalogItems)
		}
		// Seeding again changes nothing.
		again, err := h.SeedDemo(context.Background(), hubtest.Testdata())
		if err != nil || again.CatalogItems != h.Demo.CatalogItems {
			t.Fatalf("second seed: %v, %d items", err, again.CatalogItems)
		}
		vs := h.Do(t, "GET", "/v1/catalog/items/"+catalog.DemoPopulationCode+"/versions", h.AppKey, nil).Want(t, 200).Map(t)
		if n := len(vs["items"].([]any)); n != 1 {
			t.Errorf("demo item has %d versions after a second seed", n)
		}
		// The demo grant names a real item and still works.
		it := h.Do(t, "GET", "/v1/catalog/items/"+catalog.DemoPopulationCode, h.AppKey, nil).Want(t, 200).Map(t)
		if it["name"] != "户籍人口基本信息" || it["status"] != "published" {
			t.Fatalf("demo item %v", it)
		}
		h.Do(t, "GET", "/v1/access?resource_kind=catalog_item&resource_id="+catalog.DemoPopulationCode+"&fields=name,birth_date", h.AppKey, nil, "X-Purpose: 婚姻登记核验").Want(t, 200)
	})
}

func TestCatalogSearchHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		r := h.Do(t, "GET", "/v1/catalog/search?q="+url.QueryEscape("户籍"), h.AppKey, nil, "X-Request-ID: cat-search-1").Want(t, 200).Map(t)
		items := r["items"].([]any)
		if len(items) == 0 || !strings.Contains(items[0].(map[string]any)["name_marked"].(string), "<mark>户籍</mark>") {
			t.Fatalf("search 户籍: %v", r)
		}
		if es := entriesFor(t, h, "cat-search-1"); len(es) != 1 || es[0].Route != "/v1/catalog/search" || es[0].Rows != len(items) {
			t.Fatalf("audit entries %+v", es)
		}
		for _, q := range []string{"户", "婚姻登记", "%", "_", "'", `\`, "%_'\\", "登记' OR '1'='1"} {
			h.Do(t, "GET", "/v1/catalog/search?q="+url.QueryEscape(q), h.AppKey, nil).Want(t, 200)
		}
		pb := h.Do(t, "GET", "/v1/catalog/search?q="+url.QueryEscape(strings.Repeat("登", 1000)), h.AppKey, nil).Want(t, 400).Problem(t)
		if errs := pb["errors"].([]any); errs[0].(map[string]any)["pointer"] != "?q" {
			t.Fatalf("1000-character query: %v", pb)
		}
		h.Do(t, "GET", "/v1/catalog/search", h.AppKey, nil).Want(t, 400)
		h.Do(t, "GET", "/v1/catalog/search?q=x&limit=0", h.AppKey, nil).Want(t, 400)
		h.Do(t, "GET", "/v1/catalog/search?q=x&status=draft", h.AppKey, nil).Want(t, 403)
		h.Do(t, "GET", "/v1/catalog/search?q=x&status=nope", h.Admin, nil).Want(t, 400)
		h.Do(t, "GET", "/v1/catalog/search?q=x", "", nil).Want(t, 401)
	})
}

func TestCatalogItemsHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		gaj := dataAdminKey(t, h, "xy-gaj")
		mzj := dataAdminKey(t, h, "xy-mzj")
		body := map[string]any{"name": "测试人口信息", "lei": "3", "xiang": "02", "mu": "001", "provider_id": "xy-gaj",
			"summary": "测试", "format": "数据库", "share_type": "有条件共享", "share_condition": "仅限测试",
			"share_method": "接口服务", "open_type": "不予开放", "update_cycle": "每日", "libraries": []string{"base-population"},
			"fields": []map[string]any{{"name": "姓名", "code": "xm", "data_type": "字符型"}}}
		// No legal basis for 有条件共享: 400 naming the field.
		pb := h.Do(t, "POST", "/v1/catalog/items", gaj, body).Want(t, 400).Problem(t)
		if !strings.Contains(string(mustJSON(pb["errors"])), "/legal_basis") {
			t.Fatalf("problem %v", pb)
		}
		body["legal_basis"] = "《测试条例》"
		h.Do(t, "POST", "/v1/catalog/items", h.AppKey, body).Want(t, 403)    // apps do not edit
		h.Do(t, "POST", "/v1/catalog/items", mzj, body).Want(t, 403)         // another department's data admin
		h.Do(t, "POST", "/v1/catalog/items", h.Auditor, body).Want(t, 403)   // auditors only read
		h.Do(t, "POST", "/v1/catalog/items", gaj, `{"name":1}`).Want(t, 400) // wrong JSON type
		h.Do(t, "POST", "/v1/catalog/items", gaj, `{"nonsense":true}`).Want(t, 400)
		it := h.Do(t, "POST", "/v1/catalog/items", gaj, body, "X-Request-ID: cat-create-1").Want(t, 201).Map(t)
		code := it["code"].(string)
		if code != "302001-000001" {
			t.Fatalf("code %s", code)
		}
		if es := entriesFor(t, h, "cat-create-1"); len(es) != 1 || es[0].Status != 201 || !strings.Contains(strings.Join(es[0].Resources, ","), "catalog_item:"+code) {
			t.Fatalf("audit %+v", es)
		}
		// A draft is hidden from apps, visible to data admins.
		h.Do(t, "GET", "/v1/catalog/items/"+code, h.AppKey, nil).Want(t, 404)
		h.Do(t, "GET", "/v1/catalog/items/"+code, mzj, nil).Want(t, 200)
		h.Do(t, "GET", "/v1/catalog/items?status=draft", h.AppKey, nil).Want(t, 403)
		drafts := h.Do(t, "GET", "/v1/catalog/items?status=draft&department=xy-gaj", gaj, nil).Want(t, 200).Map(t)
		if len(drafts["items"].([]any)) != 1 {
			t.Fatalf("drafts %v", drafts)
		}
		// Update: version check, then a version with the changes.
		body["version"] = 1
		body["summary"] = "改过的摘要"
		h.Do(t, "PUT", "/v1/catalog/items/"+code, mzj, body).Want(t, 403)
		h.Do(t, "PUT", "/v1/catalog/items/"+code, gaj, body).Want(t, 200)
		h.Do(t, "PUT", "/v1/catalog/items/"+code, gaj, body).Want(t, 409) // stale version
		h.Do(t, "POST", "/v1/catalog/items/"+code+"/publish", mzj, nil).Want(t, 403)
		h.Do(t, "POST", "/v1/catalog/items/"+code+"/publish", gaj, nil).Want(t, 200)
		h.Do(t, "POST", "/v1/catalog/items/"+code+"/publish", gaj, nil).Want(t, 409)
		h.Do(t, "POST", "/v1/catalog/items/"+code+"/withdraw", gaj, `{}`).Want(t, 400)
		h.Do(t, "POST", "/v1/catalog/items/"+code+"/withdraw", h.Admin, `{"reason":"测试结束"}`).Want(t, 200)
		vs := h.Do(t, "GET", "/v1/catalog/items/"+code+"/versions", gaj, nil).Want(t, 200).Map(t)
		if n := len(vs["items"].([]any)); n != 4 {
			t.Fatalf("%d versions", n)
		}
		d := h.Do(t, "GET", "/v1/catalog/items/"+code+"/diff?from=1&to=2", gaj, nil).Want(t, 200).Map(t)
		ch := d["changes"].([]any)
		if len(ch) != 1 || ch[0].(map[string]any)["field"] != "summary" || ch[0].(map[string]any)["new"] != "改过的摘要" {
			t.Fatalf("diff %v", d)
		}
		h.Do(t, "GET", "/v1/catalog/items/"+code+"/versions/2", gaj, nil).Want(t, 200)
		h.Do(t, "GET", "/v1/catalog/items/"+code+"/versions/x", gaj, nil).Want(t, 400)
		h.Do(t, "GET", "/v1/catalog/items/"+code+"/diff?from=1", gaj, nil).Want(t, 400)
		h.Do(t, "GET", "/v1/catalog/items/"+code+"/diff?from=1&to=99", gaj, nil).Want(t, 404)
		h.Do(t, "GET", "/v1/catalog/items/999999-000001", h.Admin, nil).Want(t, 404)
		h.Do(t, "GET", "/v1/catalog/items?limit=9999", h.AppKey, nil).Want(t, 400)
		// Pages of the published demo catalogue for an app.
		page := h.Do(t, "GET", "/v1/catalog/items?limit=100", h.AppKey, nil).Want(t, 200).Map(t)
		if page["next_cursor"] == nil || len(page["items"].([]any)) != 100 {
			t.Fatalf("page %v", len(page["items"].([]any)))
		}
	})
}

func TestCatalogImportHTTP(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b, func(c *hub.Config) { c.MaxUpload = 256 << 10 })
			gaj := dataAdminKey(t, h, "xy-gaj")
			tmpl := h.Do(t, "GET", "/v1/catalog/template", h.AppKey, nil).Want(t, 200)
			if !strings.Contains(tmpl.Header.Get("Content-Type"), "spreadsheetml") || len(tmpl.Body) < 1000 {
				t.Fatalf("template: %s, %d bytes", tmpl.Header.Get("Content-Type"), len(tmpl.Body))
			}
			// The template's example row is a 公安局 item: a dry run passes.
			rep := h.Do(t, "POST", "/v1/catalog/import", gaj, tmpl.Body).Want(t, 200).Map(t)
			if rep["dry_run"] != true || rep["created"] != 1.0 || rep["committed"] != false {
				t.Fatalf("dry run %v", rep)
			}
			// A bad row, committed: 400 naming the cell; nothing written.
			f, _ := excelize.OpenReader(strings.NewReader(string(tmpl.Body)))
			f.SetCellValue(catalog.SheetItems, "M2", "")
			p := filepath.Join(t.TempDir(), "bad.xlsx")
			f.SaveAs(p)
			f.Close()
			bad, _ := os.ReadFile(p)
			pb := h.Do(t, "POST", "/v1/catalog/import?commit=true", gaj, bad).Want(t, 400).Problem(t)
			if e := pb["errors"].([]any)[0].(map[string]any); e["pointer"] != "信息资源!M2" || !strings.Contains(e["reason"].(string), "legal basis") {
				t.Fatalf("problem %v", pb)
			}
			h.Do(t, "POST", "/v1/catalog/import?commit=true", h.AppKey, tmpl.Body).Want(t, 403)
			h.Do(t, "POST", "/v1/catalog/import", gaj, []byte("not a spreadsheet\x00\x01")).Want(t, 400)
			h.Do(t, "POST", "/v1/catalog/import", gaj, make([]byte, 257<<10)).Want(t, 413)
			// Commit; then the export re-imports with nothing to do.
			rep = h.Do(t, "POST", "/v1/catalog/import?commit=true&publish=true", gaj, tmpl.Body).Want(t, 200).Map(t)
			if rep["committed"] != true || rep["created"] != 1.0 {
				t.Fatalf("commit %v", rep)
			}
			h.Do(t, "GET", "/v1/catalog/export", h.AppKey, nil).Want(t, 403)
			exp := h.Do(t, "GET", "/v1/catalog/export?department=xy-gaj", gaj, nil).Want(t, 200)
			rep = h.Do(t, "POST", "/v1/catalog/import?commit=true&publish=true", gaj, exp.Body).Want(t, 200).Map(t)
			if rep["created"] != 0.0 || rep["updated"] != 0.0 || rep["unchanged"].(float64) < 1 {
				t.Fatalf("re-import of export %v", rep)
			}
		})
	}
}

var timeZero time.Time

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
