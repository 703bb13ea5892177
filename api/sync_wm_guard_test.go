package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// problemAt checks that r is a 400 problem naming pointer.
func problemAt(t *testing.T, what string, r *hubtest.Response, pointer string) {
	t.Helper()
	if r.Status != http.StatusBadRequest {
		t.Errorf("%s: status %d, want 400: %s", what, r.Status, r.Body)
		return
	}
	fes, _ := r.Problem(t)["errors"].([]any)
	for _, fe := range fes {
		if m, _ := fe.(map[string]any); m["pointer"] == pointer && m["reason"] != "" {
			return
		}
	}
	t.Errorf("%s: problem does not name %s: %s", what, pointer, r.Body)
}

// TestFullRefreshDeleteGuardAPI: an upstream that suddenly serves no
// records made a full refresh mark the whole shared dataset deleted. The
// run now fails with the reason and deletes nothing; the provider's data
// admin (or an admin) can run it once with allow_mass_delete=true; no one
// else can; bad limits and flags are 400s naming the place.
func TestFullRefreshDeleteGuardAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
		mzj := key(t, h, "xy-mzj", "mzj-data-admin", exchange.RoleDataAdmin)
		it := peopleItem(t, h, "人口基础信息（删除保护）", catalog.ShareConditional)
		up := synctest.New(t, 40)
		spec := datasync.Spec{Mode: "full", KeyFields: []string{"id"}, IgnoreFields: []string{"updated_at"},
			Source: datasync.SourceSpec{Kind: "http", URL: up.RecordsURL(), Auth: "bearer", Token: synctest.Token}}

		// Bad limits.
		for _, c := range []struct {
			limits  map[string]any
			pointer string
		}{
			{map[string]any{"max_delete_percent": 101}, "/spec/limits/max_delete_percent"},
			{map[string]any{"max_delete_percent": -3}, "/spec/limits/max_delete_percent"},
			{map[string]any{"delete_allowance": -2}, "/spec/limits/delete_allowance"},
			{map[string]any{"max_delete_percent": "half"}, "/spec/limits/max_delete_percent"},
		} {
			body := map[string]any{"item_code": it.Code, "name": "全量", "spec": map[string]any{"mode": "full", "key_fields": []string{"id"},
				"limits": c.limits, "source": map[string]any{"kind": "http", "url": up.RecordsURL()}}}
			problemAt(t, "limits "+string(mustJSON(c.limits)), h.Do(t, "POST", "/v1/sync/jobs", gaj, body), c.pointer)
		}

		var job datasync.Job
		h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "全量", Spec: spec}).Want(t, http.StatusCreated).JSON(t, &job)
		if job.Spec.Limits.MaxDeletePercent != 50 || job.Spec.Limits.DeleteAllowance != 10 {
			t.Fatalf("default limits shown: %+v", job.Spec.Limits)
		}
		run := func(query string, who string) *hubtest.Response {
			return h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run"+query, who, nil)
		}
		var r datasync.Run
		run("", gaj).Want(t, http.StatusOK).JSON(t, &r)
		if r.Counts.Inserted != 40 {
			t.Fatalf("first run: %+v", r)
		}

		// The upstream now serves nothing.
		up.Delete(40, 1)
		r = datasync.Run{}
		run("", gaj).Want(t, http.StatusOK).JSON(t, &r)
		if r.Status != datasync.StatusFailed || r.Counts.Deleted != 0 || !strings.Contains(r.Error, "would mark 40 of the 40 live records deleted") {
			t.Fatalf("run against an emptied upstream: %+v", r)
		}
		if n, _ := h.Sync.RecordCount(ctx, it.Code); n != 40 {
			t.Fatalf("records after the refused run: %d, want 40", n)
		}
		var runs struct{ Items []datasync.Run }
		h.Do(t, "GET", "/v1/sync/jobs/"+job.ID+"/runs", h.Auditor, nil).Want(t, http.StatusOK).JSON(t, &runs)
		if len(runs.Items) != 2 || runs.Items[0].Error != r.Error {
			t.Fatalf("runs: %+v", runs.Items)
		}

		// The override: a bad value, then who may.
		problemAt(t, "allow_mass_delete=yes", run("?allow_mass_delete=yes", gaj), "?allow_mass_delete")
		run("?allow_mass_delete=true", mzj).Want(t, http.StatusForbidden).Problem(t)       // another department's data admin
		run("?allow_mass_delete=true", h.Auditor).Want(t, http.StatusForbidden).Problem(t) // reads jobs, runs none
		run("?allow_mass_delete=true", h.AppKey).Want(t, http.StatusForbidden).Problem(t)
		if n, _ := h.Sync.RecordCount(ctx, it.Code); n != 40 {
			t.Fatalf("records after refused overrides: %d, want 40", n)
		}
		r = datasync.Run{}
		run("?allow_mass_delete=true", gaj).Want(t, http.StatusOK).JSON(t, &r)
		if r.Status != datasync.StatusSucceeded || r.Counts.Deleted != 40 || !r.AllowMassDelete {
			t.Fatalf("run with allow_mass_delete: %+v", r)
		}
		if n, _ := h.Sync.RecordCount(ctx, it.Code); n != 0 {
			t.Fatalf("records after the override: %d", n)
		}
		// An admin may too (here nothing is left to delete).
		run("?allow_mass_delete=true", h.Admin).Want(t, http.StatusOK)
	})
}

// TestSyncURLQuerySecretsHiddenAPI: a key in the source URL's query
// string was shown to every reader of the job and in its runs' errors.
func TestSyncURLQuerySecretsHiddenAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
		mzj := key(t, h, "xy-mzj", "mzj-data-admin", exchange.RoleDataAdmin)
		it := peopleItem(t, h, "人口基础信息（密钥）", catalog.ShareConditional)
		const secret = "AkSecret-5d1e90c"
		ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("apiKey") != secret {
				http.Error(w, "bad key", http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(`{"records": [{"id": "P1", "name": "张三", "sfzh": "420602199001010029", "address": "襄阳"}]}`))
		}))
		t.Cleanup(ok.Close)
		spec := datasync.Spec{Mode: "full", KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: "http", URL: ok.URL + "/api/people?apiKey=" + secret + "&region=420600"}}
		var job datasync.Job
		resp := h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "密钥", Spec: spec}).Want(t, http.StatusCreated)
		resp.JSON(t, &job)
		if strings.Contains(string(resp.Body), secret) || job.Spec.Source.URL != ok.URL+"/api/people?apiKey=***&region=420600" {
			t.Fatalf("create answered %s", resp.Body)
		}
		for _, who := range []string{h.Auditor, mzj, gaj} {
			for _, path := range []string{"/v1/sync/jobs", "/v1/sync/jobs/" + job.ID} {
				if r := h.Do(t, "GET", path, who, nil).Want(t, http.StatusOK); strings.Contains(string(r.Body), secret) {
					t.Errorf("%s shows the key: %s", path, r.Body)
				}
			}
		}
		var stored string
		if err := h.DB.R.QueryRowContext(ctx, `SELECT spec FROM sync_jobs WHERE id = $1`, job.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, secret) {
			t.Errorf("stored in clear: %s", stored)
		}
		// The job works, with the key it holds, after an edit that sends *** back.
		h.Do(t, "PUT", "/v1/sync/jobs/"+job.ID, gaj, datasync.JobUpdate{Name: job.Name, Spec: job.Spec}).Want(t, http.StatusOK)
		var r datasync.Run
		h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(t, http.StatusOK).JSON(t, &r)
		if r.Status != datasync.StatusSucceeded || r.Counts.Inserted != 1 {
			t.Fatalf("run: %+v", r)
		}
		// An upstream that cannot be reached: its error quotes the URL.
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		spec.Source.URL = deadURL + "/api/people?apiKey=" + secret
		h.Do(t, "PUT", "/v1/sync/jobs/"+job.ID, gaj, datasync.JobUpdate{Name: job.Name, Spec: spec}).Want(t, http.StatusOK)
		r = datasync.Run{}
		resp = h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(t, http.StatusOK)
		resp.JSON(t, &r)
		if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "apiKey=***") || strings.Contains(string(resp.Body), secret) {
			t.Fatalf("failed run shows %s", resp.Body)
		}
		for _, path := range []string{"/v1/sync/runs/" + r.ID, "/v1/sync/jobs/" + job.ID + "/runs"} {
			if resp := h.Do(t, "GET", path, h.Auditor, nil).Want(t, http.StatusOK); strings.Contains(string(resp.Body), secret) {
				t.Errorf("%s shows the key: %s", path, resp.Body)
			}
		}
	})
}
