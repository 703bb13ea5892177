package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// TestDisputeCorrectionOnlyWithAcceptance: POST
// /v1/disputes/{id}/accept with a correction changes the record only when
// the acceptance itself is recorded. A missing resolution used to be
// refused after the correction had already been written as a new version
// of the record, leaving the dispute open over a changed record; another
// department's data admin got a 409 with a correction and a 403 without.
func TestDisputeCorrectionOnlyWithAcceptance(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			wjw := key(t, h, "xy-wjw", "wjw-data-admin", exchange.RoleDataAdmin)
			mzj := h.AppKey
			it := syncedItem(t, h, gaj, "人口基础信息（异议更正）")

			const rec = "P0000003"
			purpose := "X-Purpose: 户籍核验"
			records := "/v1/data/" + it.Code + "/records?key=" + rec
			read := func() (int64, any) {
				t.Helper()
				var page dataResp
				h.Do(t, "GET", records, mzj, nil, purpose).Want(t, http.StatusOK).JSON(t, &page)
				if len(page.Records) != 1 {
					t.Fatalf("records: %+v", page.Records)
				}
				return page.Records[0].Version, page.Records[0].Data["address"]
			}
			v0, addr0 := read()

			var d exchange.Dispute
			h.Do(t, "POST", "/v1/disputes", mzj, exchange.NewDispute{ItemCode: it.Code, RecordKey: rec, Reason: "住址有误"}).
				Want(t, http.StatusCreated).JSON(t, &d)
			correction := map[string]any{"address": "襄阳市襄州区更正地址3号"}
			accept := "/v1/disputes/" + d.ID + "/accept"

			// No resolution: refused at its pointer, and the record is as it was.
			p := h.Do(t, "POST", accept, gaj, map[string]any{"correction": correction}).Want(t, http.StatusBadRequest).Problem(t)
			if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "/resolution" {
				t.Errorf("problem %v, want one error at /resolution", p)
			}
			if v, addr := read(); v != v0 || addr != addr0 {
				t.Fatalf("a refused acceptance corrected the record: version %d address %v, want %d %v", v, addr, v0, addr0)
			}
			// Another department's data admin: forbidden, with or without a correction.
			h.Do(t, "POST", accept, wjw, map[string]any{"resolution": "x", "correction": correction}).Want(t, http.StatusForbidden).Problem(t)
			h.Do(t, "POST", accept, wjw, map[string]any{"resolution": "x"}).Want(t, http.StatusForbidden).Problem(t)

			// Accepted: the correction is a new version; a second acceptance conflicts and changes nothing.
			h.Do(t, "POST", accept, gaj, map[string]any{"resolution": "已核实更正", "correction": correction}).Want(t, http.StatusOK).JSON(t, &d)
			if v, addr := read(); d.Status != exchange.DisputeAccepted || v != v0+1 || addr != correction["address"] {
				t.Fatalf("accepted %+v; record version %d address %v", d, v, addr)
			}
			h.Do(t, "POST", accept, gaj, map[string]any{"resolution": "再次更正", "correction": map[string]any{"address": "别处"}}).
				Want(t, http.StatusConflict).Problem(t)
			if v, addr := read(); v != v0+1 || addr != correction["address"] {
				t.Fatalf("a second acceptance changed the record: version %d address %v", v, addr)
			}
		})
	}
}

// syncedItem makes a 无条件共享 item of 公安 (gaj is one of its
// data admins), loads ten records into it (keys P0000000–P0000009) and
// registers the use of every field by the 民政 app (h.AppKey) for the
// purpose 户籍核验.
func syncedItem(t *testing.T, h *hubtest.Hub, gaj, name string) catalog.Item {
	t.Helper()
	it := peopleItem(t, h, name, catalog.ShareUnconditional)
	up := synctest.New(t, 10)
	var job datasync.Job
	h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "全量", Spec: datasync.Spec{Mode: "full", KeyFields: []string{"id"},
		IgnoreFields: []string{"updated_at"}, Source: datasync.SourceSpec{Kind: "http", URL: up.RecordsURL(), Auth: "bearer", Token: synctest.Token}}}).
		Want(t, http.StatusCreated).JSON(t, &job)
	var run datasync.Run
	h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(t, http.StatusOK).JSON(t, &run)
	if run.Status != datasync.StatusSucceeded {
		t.Fatalf("run: %+v", run)
	}
	h.Do(t, "POST", "/v1/applications", h.AppKey, exchange.NewApplication{ItemCode: it.Code, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 1, 0)}).
		Want(t, http.StatusCreated)
	return it
}
