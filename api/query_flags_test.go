package api_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestQueryFlagsRefuseWhatTheyDoNotKnow: a true/false query parameter took
// anything but "true" as false, so POST /v1/catalog/import?commit=yes was a
// dry run the importer took for a load, and ?as=supplier listed the
// consumer side. Each now answers 400 naming the parameter and its value,
// before anything is read or written.
func TestQueryFlagsRefuseWhatTheyDoNotKnow(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	period := "from=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)) + "&to=" + url.QueryEscape(time.Now().Format(time.RFC3339))
	for _, tc := range []struct {
		method, path, key, param, value string
	}{
		{"GET", "/v1/catalog/libraries?all=yes", h.Admin, "all", "yes"},
		{"GET", "/v1/catalog/tree?all=1", h.Admin, "all", "1"},
		{"POST", "/v1/catalog/import?commit=yes", h.Admin, "commit", "yes"},
		{"POST", "/v1/catalog/import?commit=true&publish=TRUE", h.Admin, "publish", "TRUE"},
		{"POST", "/v1/licence-imports?commit=on", h.Admin, "commit", "on"},
		{"GET", "/v1/data/no-such-item/records?include_deleted=y", h.AppKey, "include_deleted", "y"},
		{"GET", "/v1/grants?active=yes", h.Admin, "active", "yes"},
		{"GET", "/v1/grants?unexpired=no", h.Admin, "unexpired", "no"},
		{"GET", "/v1/applications?overdue=1", h.Admin, "overdue", "1"},
		{"GET", "/v1/applications?as=supplier", h.AppKey, "as", "supplier"},
		{"GET", "/v1/disputes?overdue=yes", h.Admin, "overdue", "yes"},
		{"GET", "/v1/disputes?as=owner", h.AppKey, "as", "owner"},
		{"GET", "/v1/stats/calls?as=me&" + period, h.AppKey, "as", "me"},
		{"POST", "/v1/sync/jobs/no-such-job/run?wait=no", h.Admin, "wait", "no"},
		{"POST", "/v1/sync/jobs/no-such-job/run?allow_mass_delete=1", h.Admin, "allow_mass_delete", "1"},
		{"GET", "/v1/sync/health?overdue=yes", h.Admin, "overdue", "yes"},
		{"POST", "/v1/catalog/import?commit", h.Admin, "commit", ""},
		{"POST", "/v1/licence-imports?commit=", h.Admin, "commit", ""},
		{"POST", "/v1/catalog/import?commit=true&commit=false", h.Admin, "commit", "true,false"},
		{"GET", "/v1/disputes?as=provider&as=consumer", h.AppKey, "as", "provider,consumer"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var body any
			if tc.method == "POST" {
				body = []byte("not a spreadsheet")
			}
			pb := h.Do(t, tc.method, tc.path, tc.key, body, "X-Purpose: 测试").Want(t, http.StatusBadRequest).Problem(t)
			fields, _ := pb["errors"].([]any)
			if len(fields) != 1 {
				t.Fatalf("errors %v, want one naming ?%s", pb["errors"], tc.param)
			}
			f := fields[0].(map[string]any)
			if v, _ := f["value"].(string); f["pointer"] != "?"+tc.param || v != tc.value {
				t.Errorf("error %v, want pointer ?%s and value %q", f, tc.param, tc.value)
			}
		})
	}

	// What the flags say is still done: unexpired lists a grant dated to
	// start tomorrow, active does not.
	g := h.Do(t, "POST", "/v1/grants", h.Admin, map[string]any{
		"consumer_department_id": h.Demo.Keys[2].Department, "resource_kind": "licence_type", "resource_id": "marriage",
		"fields": []string{"*"}, "purpose": "婚姻登记", "valid_from": time.Now().Add(24 * time.Hour), "valid_until": time.Now().Add(48 * time.Hour),
	}).Want(t, http.StatusCreated).Map(t)
	has := func(query string) bool {
		var l struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		h.Do(t, "GET", "/v1/grants?"+query, h.Admin, nil).Want(t, http.StatusOK).JSON(t, &l)
		for _, it := range l.Items {
			if it.ID == g["id"] {
				return true
			}
		}
		return false
	}
	if has("active=true") || !has("unexpired=true") || !has("active=false") || !has("") {
		t.Errorf("future grant in active=true %v, unexpired=true %v, active=false %v, no filter %v; want false, true, true, true",
			has("active=true"), has("unexpired=true"), has("active=false"), has(""))
	}
}
