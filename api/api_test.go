package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

func eachBackend(t *testing.T, fn func(t *testing.T, h *hubtest.Hub)) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) { fn(t, hubtest.Start(t, b, func(c *hub.Config) { c.MaxBodyBytes = 4096 })) })
	}
}

// entriesFor returns the audit entries written for one request id.
func entriesFor(t *testing.T, h *hubtest.Hub, requestID string) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	f := audit.Filter{Limit: 1000}
	for {
		es, next, err := h.Audit.Search(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.RequestID == requestID {
				out = append(out, e)
			}
		}
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

func TestAuthentication(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		// An expired key: made valid, then expired in the database before first use.
		p, err := h.Exchange.PrincipalByName(ctx, h.Demo.Keys[2].Department, "civil-affairs-app")
		if err != nil {
			t.Fatal(err)
		}
		expKey, expSecret, err := h.Exchange.CreateKey(ctx, p.ID, "soon", time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.DB.W.ExecContext(ctx, "UPDATE api_keys SET expires_at = $1 WHERE id = $2", time.Now().Add(-time.Minute).UnixMicro(), expKey.ID); err != nil {
			t.Fatal(err)
		}
		// A revoked key, revoked through the API.
		r := h.Do(t, "POST", "/v1/principals/"+p.ID+"/keys", h.Admin, map[string]any{"name": "to revoke"}).Want(t, 201).Map(t)
		revSecret := r["secret"].(string)
		revID := r["key"].(map[string]any)["id"].(string)
		h.Do(t, "GET", "/v1/me", revSecret, nil).Want(t, 200)
		h.Do(t, "POST", "/v1/keys/"+revID+"/revoke", h.Admin, nil).Want(t, 200)
		// Listing keys: the principal's, with no secret; no such principal is a 404.
		if ks := h.Do(t, "GET", "/v1/principals/"+p.ID+"/keys", h.Admin, nil).Want(t, 200); !strings.Contains(string(ks.Body), revID) || strings.Contains(string(ks.Body), revSecret) {
			t.Fatalf("keys: %s", ks.Body)
		}
		h.Do(t, "GET", "/v1/principals/prn_nobody/keys", h.Admin, nil).Want(t, 404).Problem(t)

		for _, tc := range []struct {
			name, key, header, want string
		}{
			{"no key", "", "", "missing API key"},
			{"wrong key", "shk_" + strings.Repeat("A", 43), "", "not recognised"},
			{"not a key", "hello", "", "not recognised"},
			{"basic auth", "", "Authorization: Basic dTpw", "Bearer scheme"},
			{"expired key", expSecret, "", "expired"},
			{"revoked key", revSecret, "", "revoked"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rid := "auth-" + strings.ReplaceAll(tc.name, " ", "-") + "-" + string(h.DB.Dialect)
				hs := []string{"X-Request-ID: " + rid}
				if tc.header != "" {
					hs = append(hs, tc.header)
				}
				resp := h.Do(t, "GET", "/v1/departments", tc.key, nil, hs...).Want(t, 401)
				pb := resp.Problem(t)
				if !strings.Contains(pb["detail"].(string), tc.want) {
					t.Errorf("detail %q does not say %q", pb["detail"], tc.want)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				es := entriesFor(t, h, rid)
				if len(es) != 1 || es[0].Status != 401 || es[0].Route != "/v1/departments" {
					t.Fatalf("audit entries for %s = %+v, want one 401 entry", rid, es)
				}
			})
		}
	})
}

func TestPermissions(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		// Wrong role: an app may not create departments or read the audit log.
		pb := h.Do(t, "POST", "/v1/departments", h.AppKey, `{"code":"x","name":"y","kind":"office"}`, "X-Request-ID: role-1").Want(t, 403).Problem(t)
		if !strings.Contains(pb["detail"].(string), "admin") {
			t.Errorf("403 detail %q does not name the role", pb["detail"])
		}
		h.Do(t, "GET", "/v1/audit/entries", h.AppKey, nil).Want(t, 403)
		h.Do(t, "GET", "/v1/audit/entries", h.Admin, nil).Want(t, 403) // admins do not read the audit log
		h.Do(t, "GET", "/v1/audit/entries", h.Auditor, nil).Want(t, 200)
		if es := entriesFor(t, h, "role-1"); len(es) != 1 || es[0].Status != 403 {
			t.Fatalf("audit entries for role-1 = %+v", es)
		}

		// Missing grant: 403 naming the resource.
		pb = h.Do(t, "GET", "/v1/access?resource_kind=catalog_item&resource_id=unshared-item", h.AppKey, nil, "X-Request-ID: grant-1").Want(t, 403).Problem(t)
		if d := pb["detail"].(string); !strings.Contains(d, "no grant for catalog_item:unshared-item") {
			t.Errorf("detail %q does not name the missing grant", d)
		}
		if es := entriesFor(t, h, "grant-1"); len(es) != 1 || es[0].Status != 403 || !contains(es[0].Resources, "catalog_item:unshared-item") {
			t.Fatalf("audit entries for grant-1 = %+v", es)
		}
		// Fields outside the grant: 403 naming them.
		res := h.Demo.Resource
		pb = h.Do(t, "GET", "/v1/access?resource_kind="+res.Kind+"&resource_id="+res.ID+"&fields=name,id_number", h.AppKey, nil).Want(t, 403).Problem(t)
		if d := pb["detail"].(string); !strings.Contains(d, "id_number") || strings.Contains(d, "fields name,") {
			t.Errorf("detail %q should name only id_number", d)
		}
		// With the grant: 200 and the purpose is logged.
		ok := h.Do(t, "GET", "/v1/access?resource_kind="+res.Kind+"&resource_id="+res.ID+"&fields=name", h.AppKey, nil,
			"X-Request-ID: grant-2", "X-Purpose: 婚姻登记核验", "X-End-User: 张三", "X-Case-Number: MZ-1").Want(t, 200).Map(t)
		if ok["grant_id"] != h.Demo.GrantID {
			t.Errorf("grant_id %v, want %s", ok["grant_id"], h.Demo.GrantID)
		}
		es := entriesFor(t, h, "grant-2")
		if len(es) != 1 || es[0].Purpose != "婚姻登记核验" || es[0].EndUser != "张三" || es[0].CaseNumber != "MZ-1" || !contains(es[0].Resources, "grant:"+h.Demo.GrantID) {
			t.Fatalf("audit entry for grant-2 = %+v", es)
		}
	})
}

func TestQuota(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	ctx := context.Background()
	civil := h.Demo.Keys[2].Department
	r := h.Do(t, "POST", "/v1/grants", h.Admin, map[string]any{
		"consumer_department_id": civil, "resource_kind": "licence_type", "resource_id": "marriage",
		"fields": []string{"*"}, "purpose": "婚姻登记", "valid_until": time.Now().Add(time.Hour), "daily_quota": 3,
	}).Want(t, 201).Map(t)
	for i := 0; i < 3; i++ {
		h.Do(t, "GET", "/v1/access?resource_kind=licence_type&resource_id=marriage", h.AppKey, nil).Want(t, 200)
	}
	pb := h.Do(t, "GET", "/v1/access?resource_kind=licence_type&resource_id=marriage", h.AppKey, nil).Want(t, 429).Problem(t)
	if !strings.Contains(pb["detail"].(string), "quota of 3") {
		t.Errorf("429 detail %q", pb["detail"])
	}
	used, err := h.Exchange.QuotaUsedToday(ctx, r["id"].(string))
	if err != nil || used != 3 {
		t.Fatalf("QuotaUsedToday = %d, %v; want 3", used, err)
	}
	// A revoked grant is refused, naming the revocation.
	h.Do(t, "POST", "/v1/grants/"+r["id"].(string)+"/revoke", h.Admin, `{"reason":"项目结束"}`).Want(t, 200)
	pb = h.Do(t, "GET", "/v1/access?resource_kind=licence_type&resource_id=marriage", h.AppKey, nil).Want(t, 403).Problem(t)
	if !strings.Contains(pb["detail"].(string), "revoked") {
		t.Errorf("403 detail %q does not say revoked", pb["detail"])
	}
}

func TestBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		for _, tc := range []struct {
			name, path, body string
			status           int
			pointer, detail  string
		}{
			{"malformed", "/v1/principals", `{"name": "x",`, 400, "end of body", "malformed JSON"},
			{"syntax", "/v1/principals", `{"name": x}`, 400, "byte 10", "malformed JSON"},
			{"unknown field", "/v1/principals", `{"name":"x","rolez":["app"]}`, 400, "/rolez", "unknown field"},
			{"wrong type", "/v1/principals", `{"name":5}`, 400, "/name", "wrong JSON type"},
			{"two objects", "/v1/principals", `{"name":"a"}{"name":"b"}`, 400, "", "one JSON object"},
			{"empty", "/v1/principals", ``, 400, "", "empty"},
			{"bad role", "/v1/principals", `{"name":"x","department_id":"xy","roles":["root"]}`, 400, "/roles/0", "not valid"},
			{"bad credit code", "/v1/departments", `{"code":"91350100M000100Y44","name":"x","kind":"office"}`, 400, "/code", "not valid"},
			{"oversize", "/v1/principals", `{"name":"` + strings.Repeat("x", 5000) + `"}`, 413, "", "limit"},
			{"bad time", "/v1/grants", `{"valid_until":"tomorrow"}`, 400, "", "time"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := h.Do(t, "POST", tc.path, h.Admin, tc.body).Want(t, tc.status)
				pb := resp.Problem(t)
				if pb["status"].(float64) != float64(tc.status) || pb["request_id"] == "" || pb["instance"] != tc.path {
					t.Errorf("problem %v lacks status, request_id or instance", pb)
				}
				if !strings.Contains(fmt.Sprint(pb["detail"]), tc.detail) {
					t.Errorf("detail %q does not say %q", pb["detail"], tc.detail)
				}
				if tc.pointer != "" && !strings.Contains(fmt.Sprint(pb["errors"]), tc.pointer) {
					t.Errorf("errors %v do not point at %q", pb["errors"], tc.pointer)
				}
			})
		}
		h.Do(t, "GET", "/v1/nope", h.Admin, nil).Want(t, 404).Problem(t)
		h.Do(t, "DELETE", "/v1/departments", h.Admin, nil).Want(t, 405).Problem(t)
		h.Do(t, "GET", "/v1/departments/does-not-exist", h.Admin, nil).Want(t, 404).Problem(t)
		h.Do(t, "GET", "/v1/audit/proofs/inclusion?index=x&size=1", h.Auditor, nil).Want(t, 400).Problem(t)
		h.Do(t, "GET", "/v1/audit/entries?limit=0", h.Auditor, nil).Want(t, 400).Problem(t)
		h.Do(t, "GET", "/v1/audit/entries?from=yesterday", h.Auditor, nil).Want(t, 400).Problem(t)
	})
}

func TestFailClosedWhenDatabaseGoesAway(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		// /v1/me needs no query once the key is cached: only the audit log
		// stands between the request and its response.
		h.Do(t, "GET", "/v1/me", h.AppKey, nil).Want(t, 200)
		h.BrokenOnPurpose = true
		// Every pool of the handle: the request handlers' and, on
		// PostgreSQL, the audit writer's own.
		if err := h.DB.Close(); err != nil {
			t.Fatal(err)
		}
		resp := h.Do(t, "GET", "/v1/me", h.AppKey, nil).Want(t, 503)
		pb := resp.Problem(t)
		if strings.Contains(string(resp.Body), "civil-affairs-app") {
			t.Fatalf("503 body leaks the handler's response: %s", resp.Body)
		}
		if !strings.Contains(pb["detail"].(string), "audit log") {
			t.Errorf("503 detail %q does not explain", pb["detail"])
		}
		h.Do(t, "GET", "/v1/departments", h.AppKey, nil).Want(t, 503)
		h.Do(t, "GET", "/readyz", "", nil).Want(t, 503)
		h.Do(t, "GET", "/healthz", "", nil).Want(t, 200)
	})
}

func TestSystemEndpoints(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	h.Do(t, "GET", "/healthz", "", nil).Want(t, 200)
	r := h.Do(t, "GET", "/readyz", "", nil).Want(t, 200).Map(t)
	if fmt.Sprint(r["checks"]) != "map[blobs:ok database:ok]" {
		t.Errorf("readyz checks = %v", r["checks"])
	}
	resp := h.Do(t, "GET", "/v1/me", h.Admin, nil, "X-Request-ID: abc-123").Want(t, 200)
	if resp.Header.Get("X-Request-ID") != "abc-123" {
		t.Errorf("X-Request-ID echoed as %q", resp.Header.Get("X-Request-ID"))
	}
	if got := h.Do(t, "GET", "/v1/me", h.Admin, nil, "X-Request-ID: bad id with spaces").Header.Get("X-Request-ID"); got == "" || strings.Contains(got, " ") {
		t.Errorf("unsafe request id not replaced: %q", got)
	}
	m := string(h.Do(t, "GET", "/metrics", "", nil).Want(t, 200).Body)
	// The two audited calls above went through the log: its histograms
	// hold observations, not just their names.
	if n := metricValue(t, m, "sharehub_audit_batch_entries_sum"); n < 2 {
		t.Errorf("sharehub_audit_batch_entries_sum = %v, want at least the 2 audited calls", n)
	}
	if n := metricValue(t, m, "sharehub_audit_commit_seconds_count"); n < 1 {
		t.Errorf("sharehub_audit_commit_seconds_count = %v, want at least 1 batch", n)
	}
	for _, want := range []string{
		`sharehub_http_requests_total{method="GET",route="/v1/me",status="200"} 2`,
		"sharehub_http_request_duration_seconds_bucket",
		"sharehub_audit_batch_entries_count",
		"sharehub_audit_commit_seconds_bucket",
		`go_sql_open_connections{db_name="writer"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Health, readiness and metrics are not audited; everything else is.
	f := audit.Filter{Route: "/healthz", Limit: 10}
	if es, _, _ := h.Audit.Search(context.Background(), f); len(es) != 0 {
		t.Errorf("/healthz was audited: %+v", es)
	}
}

// TestOpenAPICoversEveryRoute walks the router and checks the document.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	doc := h.Do(t, "GET", "/openapi.json", "", nil).Want(t, 200).Map(t)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	engine := h.API.Handler().(*gin.Engine)
	n := 0
	for _, r := range engine.Routes() {
		p := r.Path
		for _, seg := range strings.Split(p, "/") {
			if strings.HasPrefix(seg, ":") {
				p = strings.Replace(p, seg, "{"+seg[1:]+"}", 1)
			}
		}
		item, ok := paths[p].(map[string]any)
		if !ok {
			t.Errorf("route %s %s is not in /openapi.json", r.Method, r.Path)
			continue
		}
		if _, ok := item[strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s: method missing in /openapi.json", r.Method, r.Path)
		}
		n++
	}
	count := 0
	for _, item := range paths {
		count += len(item.(map[string]any))
	}
	if count != n {
		t.Errorf("/openapi.json has %d operations, the router %d", count, n)
	}
	if n < 20 {
		t.Errorf("only %d routes registered", n)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

var _ = http.StatusOK

// metricValue reads an unlabelled sample from a Prometheus text exposition.
func metricValue(t *testing.T, exposition, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics lacks %s", name)
	return 0
}

// On PostgreSQL /metrics also shows the audit writer's own pool.
func TestMetricsShowTheAuditPool(t *testing.T) {
	h := hubtest.Start(t, db.Postgres)
	h.Do(t, "GET", "/v1/me", h.Admin, nil).Want(t, 200)
	m := string(h.Do(t, "GET", "/metrics", "", nil).Want(t, 200).Body)
	for _, pool := range []string{"writer", "audit"} {
		if !strings.Contains(m, `go_sql_open_connections{db_name="`+pool+`"}`) {
			t.Errorf("/metrics lacks the %s pool", pool)
		}
	}
}
