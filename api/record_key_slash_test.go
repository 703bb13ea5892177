package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestRecordKeyWithASlash: upstream keys such as "2024/001" (a case or
// certificate number) were out of reach of
// GET /v1/data/{code}/records/{key}/versions: the router decoded %2F
// before matching, saw /2024/001/versions and answered 404 "no route".
// An escaped key is now one path parameter; the audit entry keeps the
// route template.
func TestRecordKeyWithASlash(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
	it := peopleItem(t, h, "人口基础信息（斜杠编号）", catalog.ShareUnconditional)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"records": [
			{"id": "2024/001", "name": "张三", "sfzh": "420602199001010011", "address": "襄阳市樊城区一号"},
			{"id": "2024/002", "name": "李四", "sfzh": "420602199001010038", "address": "襄阳市襄城区二号"}]}`))
	}))
	t.Cleanup(up.Close)
	var job datasync.Job
	h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "全量", Spec: datasync.Spec{Mode: "full", KeyFields: []string{"id"},
		Source: datasync.SourceSpec{Kind: "http", URL: up.URL + "/api/people", Auth: "none"}}}).Want(t, http.StatusCreated).JSON(t, &job)
	var run datasync.Run
	h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(t, http.StatusOK).JSON(t, &run)
	if run.Status != datasync.StatusSucceeded || run.Counts.Inserted != 2 {
		t.Fatalf("run: %+v", run)
	}
	h.Do(t, "POST", "/v1/applications", h.AppKey, exchange.NewApplication{ItemCode: it.Code, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 6, 0)}).
		Want(t, http.StatusCreated)

	var vr versionsResp
	h.Do(t, "GET", "/v1/data/"+it.Code+"/records/"+url.PathEscape("2024/001")+"/versions", h.AppKey, nil, "X-Purpose: 户籍核验", "X-Request-ID: slash-key-1").
		Want(t, http.StatusOK).JSON(t, &vr)
	if vr.Key != "2024/001" || len(vr.Versions) != 1 || vr.Versions[0].Data["address"] != "襄阳市樊城区一号" {
		t.Fatalf("versions of 2024/001: %+v", vr)
	}
	if es := entriesFor(t, h, "slash-key-1"); len(es) != 1 || es[0].Route != "/v1/data/:code/records/:key/versions" || es[0].Status != http.StatusOK {
		t.Fatalf("audit entry: %+v", es)
	}
	// Unescaped, the slash still splits the path: no such route.
	h.Do(t, "GET", "/v1/data/"+it.Code+"/records/2024/001/versions", h.AppKey, nil, "X-Purpose: 户籍核验").Want(t, http.StatusNotFound).Problem(t)
	// A key that is not there is a 404 naming it.
	pb := h.Do(t, "GET", "/v1/data/"+it.Code+"/records/"+url.PathEscape("2024/999")+"/versions", h.AppKey, nil, "X-Purpose: 户籍核验").
		Want(t, http.StatusNotFound).Problem(t)
	if d, _ := pb["detail"].(string); d == "" {
		t.Errorf("404 without a detail: %v", pb)
	}
}
