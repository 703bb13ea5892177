package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestOddTextIsNot500: a NUL or invalid UTF-8 in a path or query
// parameter is a 400 that names the parameter, or a 404, on both engines;
// PostgreSQL used to refuse it and the hub answered 500.
func TestOddTextIsNot500(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		for _, c := range []struct {
			path, pointer string
		}{
			{"/v1/catalog/items?department=xy%00gaj", "?department"},
			{"/v1/catalog/items?library=%ff", "?library"},
			{"/v1/catalog/items?cursor=101001-000001%00", "?cursor"},
			{"/v1/catalog/export?share_type=%00", "?share_type"},
		} {
			p := h.Do(t, "GET", c.path, h.Admin, nil).Want(t, http.StatusBadRequest).Problem(t)
			if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != c.pointer {
				t.Fatalf("%s: %v", c.path, p)
			}
		}
		for _, path := range []string{"/v1/catalog/items/101001-000001%00", "/v1/catalog/items/%ff/versions", "/v1/catalog/items/%00/diff?from=1&to=2",
			"/v1/sync/jobs/job_%00", "/v1/sync/runs/run_%ff", "/v1/sync/jobs?item_code=%00", "/v1/sync/jobs/job_%00/runs", "/v1/sync/runs/run_%00/errors"} {
			h.Do(t, "GET", path, h.Admin, nil).Want(t, http.StatusBadRequest).Problem(t)
		}
	})
}

// TestSyncJobInputs: a bad duration names its member, a control
// character in a name is a 400, and an s3files job's secret key is not
// shown to readers.
func TestSyncJobInputs(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
		it := peopleItem(t, h, "人口基础信息", catalog.ShareConditional)
		src := map[string]any{"kind": "http", "url": "http://127.0.0.1:1/"}
		p := h.Do(t, "POST", "/v1/sync/jobs", gaj, map[string]any{"item_code": it.Code, "name": "回落",
			"spec": map[string]any{"key_fields": []string{"id"}, "limits": map[string]any{"timeout": "一小时"}, "source": src}}).Want(t, http.StatusBadRequest).Problem(t)
		if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "/spec/limits/timeout" {
			t.Fatalf("bad duration: %v", p)
		}
		p = h.Do(t, "POST", "/v1/sync/jobs", gaj, map[string]any{"item_code": it.Code, "name": "回落\u0000",
			"spec": map[string]any{"key_fields": []string{"id"}, "source": src}}).Want(t, http.StatusBadRequest).Problem(t)
		if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "/name" {
			t.Fatalf("NUL in name: %v", p)
		}
		var job datasync.Job
		h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "文件回落", Spec: datasync.Spec{KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceS3Files, Blobs: "s3://drop?endpoint=127.0.0.1:9&access_key=AK&secret_key=S3CR3T"}}}).
			Want(t, http.StatusCreated).JSON(t, &job)
		for _, path := range []string{"/v1/sync/jobs", "/v1/sync/jobs/" + job.ID} {
			if r := h.Do(t, "GET", path, h.Auditor, nil).Want(t, http.StatusOK); strings.Contains(string(r.Body), "S3CR3T") {
				t.Fatalf("%s shows the secret key: %s", path, r.Body)
			}
		}
	})
}
