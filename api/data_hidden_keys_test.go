package api_test

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// Records keyed by a personal field (公民身份号码) whose grant shows it
// only masked: the key is a reference that stays the same for the record,
// pages carry sealed cursors, and no lookup by key answers — or the key
// would show, or tell, what the masking hides. A grant that names the
// field sees the keys in clear.
func TestDataHiddenKeys(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			it := registeredItem(t, h, "人口基础信息（按身份证号）", map[string]string{
				"420602199001010002": `{"id":"P1","name":"张三","sfzh":"420602199001010002","address":"襄阳市樊城区1号"}`,
				"420602199001010029": `{"id":"P2","name":"李四","sfzh":"420602199001010029","address":"襄阳市襄城区2号"}`,
			})
			gaj := key(t, h, "xy-gaj", "gaj-keeper", exchange.RoleDataAdmin)
			h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "按身份证号回落", Spec: datasync.Spec{KeyFields: []string{"sfzh"},
				Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/people"}}}).Want(t, http.StatusCreated)
			purpose := "X-Purpose: 户籍核验"
			data := "/v1/data/" + it.Code + "/records"
			secret := []string{"420602199001010002", "420602199001010029", "199001010"}
			hides := func(what string, body []byte) {
				t.Helper()
				for _, s := range secret {
					if strings.Contains(string(body), s) {
						t.Fatalf("%s shows %s: %s", what, s, body)
					}
				}
			}

			// The registration's grant is "*": sfzh is shown masked.
			type pageT struct {
				KeysHidden []string `json:"keys_hidden"`
				Records    []struct {
					Key  string
					Data map[string]any
				}
				NextCursor string `json:"next_cursor"`
			}
			var page pageT
			r := h.Do(t, "GET", data+"?limit=1", h.AppKey, nil, purpose).Want(t, http.StatusOK)
			hides("a page", r.Body)
			r.JSON(t, &page)
			if len(page.KeysHidden) != 1 || page.KeysHidden[0] != "sfzh" || len(page.Records) != 1 || !strings.HasPrefix(page.Records[0].Key, "~") ||
				!strings.HasPrefix(page.NextCursor, "~") {
				t.Fatalf("page: %+v", page)
			}
			first := page.Records[0]
			r = h.Do(t, "GET", data+"?limit=1&cursor="+url.QueryEscape(page.NextCursor), h.AppKey, nil, purpose).Want(t, http.StatusOK)
			hides("the next page", r.Body)
			page = pageT{}
			r.JSON(t, &page)
			if len(page.Records) != 1 || page.Records[0].Key == first.Key || page.Records[0].Data["id"] == first.Data["id"] {
				t.Fatalf("second page: %+v after %+v", page, first)
			}
			// The same record keeps its reference.
			r = h.Do(t, "GET", data+"?f.id="+first.Data["id"].(string), h.AppKey, nil, purpose).Want(t, http.StatusOK)
			page = pageT{}
			r.JSON(t, &page)
			if len(page.Records) != 1 || page.Records[0].Key != first.Key {
				t.Fatalf("reference changed: %+v vs %+v", page.Records, first)
			}
			// No lookup by key, present or absent alike; no cursor of one's own.
			for _, path := range []string{data + "?key=420602199001010002", data + "?key=420602199001010010",
				data + "/420602199001010002/versions", data + "/" + url.PathEscape(first.Key) + "/versions"} {
				p := h.Do(t, "GET", path, h.AppKey, nil, purpose).Want(t, http.StatusForbidden).Problem(t)
				if !strings.Contains(p["detail"].(string), "sfzh") {
					t.Errorf("%s: %v", path, p)
				}
			}
			h.Do(t, "GET", data+"?cursor=420602199001010002", h.AppKey, nil, purpose).Want(t, http.StatusBadRequest).Problem(t)
			// A record is disputed by its reference: the dispute names the
			// record for the provider, and shows the consumer the
			// reference again. A reference altered, or given for another
			// item, names nothing.
			var d exchange.Dispute
			r = h.Do(t, "POST", "/v1/disputes", h.AppKey, exchange.NewDispute{ItemCode: it.Code, RecordKey: first.Key, Reason: "住址有误"}).Want(t, http.StatusCreated)
			hides("the dispute raised", r.Body)
			r.JSON(t, &d)
			if d.RecordKey != first.Key {
				t.Errorf("dispute raised by reference %s shows key %q", first.Key, d.RecordKey)
			}
			r = h.Do(t, "GET", "/v1/disputes", h.AppKey, nil).Want(t, http.StatusOK)
			hides("the consumer's disputes", r.Body)
			gajApp := key(t, h, "xy-gaj", "gaj-app", exchange.RoleApp)
			var provided disputeList
			h.Do(t, "GET", "/v1/disputes?as=provider", gajApp, nil).Want(t, http.StatusOK).JSON(t, &provided)
			keyOfID := map[any]string{"P1": "420602199001010002", "P2": "420602199001010029"}
			if len(provided.Items) != 1 || provided.Items[0].RecordKey != keyOfID[first.Data["id"]] {
				t.Errorf("the provider's view of the dispute: %+v; want the key of record %v", provided.Items, first.Data["id"])
			}
			altered := first.Key[:len(first.Key)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(first.Key, "AA")]
			other := peopleItem(t, h, "人口基础信息（另一项）", catalog.ShareUnconditional)
			for _, bad := range []exchange.NewDispute{{ItemCode: it.Code, RecordKey: altered}, {ItemCode: it.Code, RecordKey: "~x"}, {ItemCode: other.Code, RecordKey: first.Key}} {
				bad.Reason = "住址有误"
				p := h.Do(t, "POST", "/v1/disputes", h.AppKey, bad).Want(t, http.StatusBadRequest).Problem(t)
				if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "/record_key" {
					t.Errorf("dispute by %q of %s: %v; want an error at /record_key", bad.RecordKey, bad.ItemCode, p)
				}
			}
			// The export's key column holds the references.
			r = h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format=csv", h.AppKey, nil, purpose).Want(t, http.StatusOK)
			hides("the export", r.Body)
			rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
			if err != nil || len(rows) != 3 || !strings.HasPrefix(rows[1][0], "~") {
				t.Fatalf("export: %q %v", rows, err)
			}

			// A grant that names sfzh sees the keys, and looks them up.
			wjw := key(t, h, "xy-wjw", "wjw-app", exchange.RoleApp)
			h.Do(t, "POST", "/v1/grants", h.Admin, exchange.NewGrant{ConsumerDepartmentID: "xy-wjw", ResourceKind: exchange.ResourceCatalogItem, ResourceID: it.Code,
				Fields: []string{"id", "sfzh"}, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 1, 0)}).Want(t, http.StatusCreated)
			r = h.Do(t, "GET", data+"?key=420602199001010002", wjw, nil, purpose).Want(t, http.StatusOK)
			page = pageT{}
			r.JSON(t, &page)
			if len(page.KeysHidden) != 0 || len(page.Records) != 1 || page.Records[0].Key != "420602199001010002" {
				t.Fatalf("clear keys: %+v", page)
			}
			h.Do(t, "GET", data+"/420602199001010002/versions", wjw, nil, purpose).Want(t, http.StatusOK)
		})
	}
}
