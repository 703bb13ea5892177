package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestSyncURLPasswordHidden: an http source's URL is its only way to
// basic auth (https://user:password@host/…). The password was shown to
// every reader of the job (auditors, data admins of any department) and
// stored in clear; it is now *** like a token, sealed at rest, and an
// edit that sends *** back keeps it only on the same server.
func TestSyncURLPasswordHidden(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
		mzj := key(t, h, "xy-mzj", "mzj-data-admin", exchange.RoleDataAdmin)
		it := peopleItem(t, h, "人口基础信息", catalog.ShareConditional)
		spec := datasync.Spec{KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "https://hub:Pa55w0rd@gaj.example/api/people?region=420600"}}
		var job datasync.Job
		r := h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "人口回落", Spec: spec}).Want(t, http.StatusCreated)
		r.JSON(t, &job)
		if strings.Contains(string(r.Body), "Pa55w0rd") || job.Spec.Source.URL != "https://hub:***@gaj.example/api/people?region=420600" {
			t.Errorf("create answered %s", r.Body)
		}
		for _, who := range []string{h.Auditor, mzj, gaj} {
			for _, path := range []string{"/v1/sync/jobs", "/v1/sync/jobs/" + job.ID} {
				if r := h.Do(t, "GET", path, who, nil).Want(t, http.StatusOK); strings.Contains(string(r.Body), "Pa55w0rd") {
					t.Errorf("%s shows the URL's password: %s", path, r.Body)
				}
			}
		}
		var stored string
		if err := h.DB.R.QueryRowContext(ctx, `SELECT spec FROM sync_jobs WHERE id = $1`, job.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, "Pa55w0rd") {
			t.Errorf("stored in clear: %s", stored)
		}
		// The redacted URL sent back keeps the password, even with another path.
		red := job.Spec
		red.Source.URL = "https://hub:***@gaj.example/api/v2/people?region=420600"
		h.Do(t, "PUT", "/v1/sync/jobs/"+job.ID, gaj, datasync.JobUpdate{Name: job.Name, Spec: red}).Want(t, http.StatusOK)
		if got, err := h.Sync.Job(ctx, job.ID); err != nil || got.Spec.Source.URL != "https://hub:Pa55w0rd@gaj.example/api/v2/people?region=420600" {
			t.Errorf("after an edit with ***: %q %v", got.Spec.Source.URL, err)
		}
		// To another server it does not go along.
		red.Source.URL = "https://hub:***@attacker.example/collect"
		h.Do(t, "PUT", "/v1/sync/jobs/"+job.ID, gaj, datasync.JobUpdate{Name: job.Name, Spec: red}).Want(t, http.StatusBadRequest).Problem(t)
	})
}
