package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestDataSealedCursorUnderGrantShowingKeys: a department paging under
// a grant that hides the keys gets sealed cursors; when its next page is
// served under another grant that shows the keys (the first one's quota
// used up, or a grant changed mid-way), the sealed cursor still carries
// on from where the page ended — not read as a key "~…", which sorts
// after every record and ends the listing with records left unread.
func TestDataSealedCursorUnderGrantShowingKeys(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	it := registeredItem(t, h, "人口基础信息（换授权翻页）", map[string]string{
		"420602199001010002": `{"id":"P1","sfzh":"420602199001010002"}`,
		"420602199001010029": `{"id":"P2","sfzh":"420602199001010029"}`,
		"420602199001010045": `{"id":"P3","sfzh":"420602199001010045"}`,
	})
	gaj := key(t, h, "xy-gaj", "gaj-keeper", exchange.RoleDataAdmin)
	h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "按身份证号", Spec: datasync.Spec{KeyFields: []string{"sfzh"},
		Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/people"}}}).Want(t, http.StatusCreated)
	wjw := key(t, h, "xy-wjw", "wjw-paging-app", exchange.RoleApp)
	grant := func(quota int64, fields ...string) {
		h.Do(t, "POST", "/v1/grants", h.Admin, exchange.NewGrant{ConsumerDepartmentID: "xy-wjw", ResourceKind: exchange.ResourceCatalogItem, ResourceID: it.Code,
			Fields: fields, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 1, 0), DailyQuota: quota}).Want(t, http.StatusCreated)
	}
	grant(0, "id", "sfzh")
	time.Sleep(2 * time.Millisecond)
	grant(1, exchange.AllFields) // newer, weighed first: keys hidden, one call a day
	purpose := "X-Purpose: 户籍核验"
	data := "/v1/data/" + it.Code + "/records?limit=1"

	var page dataResp
	h.Do(t, "GET", data, wjw, nil, purpose).Want(t, http.StatusOK).JSON(t, &page)
	if len(page.Records) != 1 || page.Records[0].Data["id"] != "P1" || page.NextCursor == "" || page.NextCursor[0] != '~' {
		t.Fatalf("first page: %+v", page)
	}
	next := dataResp{}
	h.Do(t, "GET", data+"&cursor="+url.QueryEscape(page.NextCursor), wjw, nil, purpose).Want(t, http.StatusOK).JSON(t, &next)
	if len(next.Records) != 1 || next.Records[0].Key != "420602199001010029" || !strings.HasPrefix(next.NextCursor, "420602199001010029@") { // the key, then the listing's resume point
		t.Fatalf("second page, under the grant showing keys: %+v", next)
	}
}
