package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// key makes a principal with roles in the department and returns its key.
// appDepartment is the department of the demo's department-app key (民政局).
func appDepartment(h *hubtest.Hub) string {
	for _, k := range h.Demo.Keys {
		if k.Role == "app" {
			return k.Department
		}
	}
	return ""
}

func key(t testing.TB, h *hubtest.Hub, dept, name string, roles ...exchange.Role) string {
	t.Helper()
	ctx := context.Background()
	p, err := h.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: dept, Name: name, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := h.Exchange.CreateKey(ctx, p.ID, name, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func peopleItem(t testing.TB, h *hubtest.Hub, name, share string) catalog.Item {
	t.Helper()
	ctx := context.Background()
	admin := &exchange.Principal{ID: "prn_test_admin", DepartmentID: "xy-sjj", Roles: []exchange.Role{exchange.RoleAdmin}}
	c := catalog.Content{
		Name: name, Lei: "1", Xiang: "01", Mu: "001", ProviderID: "xy-gaj",
		Summary: name + "，供各部门办理业务时核验。", Format: "数据库", ShareType: share, ShareCondition: "用于政务服务办理",
		LegalBasis: "《中华人民共和国居民身份证法》", ShareMethod: "接口服务", OpenType: "不予开放", UpdateCycle: "每日", PublishDate: "2024-03-01",
		Libraries: []string{"base-population"},
		Fields: []catalog.Field{
			{Name: "人员编号", Code: "id", DataType: "字符型", Length: 20},
			{Name: "姓名", Code: "name", DataType: "字符型", Length: 50, Personal: true},
			{Name: "公民身份号码", Code: "sfzh", DataType: "字符型", Length: 18, Personal: true, Sensitive: true},
			{Name: "住址", Code: "address", DataType: "字符型", Length: 200},
		},
	}
	it, err := h.Catalog.Create(ctx, admin, catalog.NewItem{Content: c})
	if err != nil {
		t.Fatalf("create item: %v", err)
	}
	if it, err = h.Catalog.Publish(ctx, admin, it.Code, ""); err != nil {
		t.Fatal(err)
	}
	return it
}

type dataResp struct {
	GrantID string   `json:"grant_id"`
	Fields  []string `json:"fields"`
	Masked  []string `json:"masked"`
	Records []struct {
		Key      string         `json:"key"`
		Version  int64          `json:"version"`
		Disputed string         `json:"disputed"`
		Data     map[string]any `json:"data"`
	} `json:"records"`
	NextCursor string `json:"next_cursor"`
}

// TestSyncToAuditedConsumer is the end-to-end: a fake upstream
// with 100,000 records → an incremental job → 1,000 changed and 100
// deleted upstream → the next run shows exactly those counts → a consumer
// with an approved application reads the changed records with only its
// granted fields → the audit log shows the calls.
func TestSyncToAuditedConsumer(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			wjw := key(t, h, "xy-wjw", "wjw-data-admin", exchange.RoleDataAdmin)
			mzj := h.AppKey // 民政局 app
			it := peopleItem(t, h, "人口基础信息", catalog.ShareConditional)
			up := synctest.New(t, 100_000)

			// The job: incremental by updated_at with tombstones.
			spec := datasync.Spec{Mode: datasync.ModeIncremental, CursorField: "updated_at", Overlap: datasync.Duration(time.Second), DeletedField: "deleted",
				KeyFields: []string{"id"}, Schedule: "0 2 * * *", Limits: datasync.Limits{Retries: 1},
				Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: up.RecordsURL(), PageSize: 5000, Auth: "bearer", Token: synctest.Token}}
			h.Do(t, "POST", "/v1/sync/jobs", wjw, datasync.NewJob{ItemCode: it.Code, Name: "人口回落", Spec: spec}).Want(t, http.StatusForbidden)
			var job datasync.Job
			h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "人口回落", Spec: spec}).Want(t, http.StatusCreated).JSON(t, &job)
			if job.Spec.Source.Token != "***" {
				t.Fatalf("job response shows its token: %q", job.Spec.Source.Token)
			}
			var run datasync.Run
			h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(t, http.StatusOK).JSON(t, &run)
			if run.Status != datasync.StatusSucceeded || run.Counts != (datasync.Counts{Read: 100_000, Inserted: 100_000}) {
				t.Fatalf("first run: %+v", run)
			}
			changed := up.Change(1000, 1)
			deleted := up.Delete(100, 50_000)
			since := time.Now()
			h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(t, http.StatusOK).JSON(t, &run)
			if run.Status != datasync.StatusSucceeded || run.Counts.Updated != 1000 || run.Counts.Deleted != 100 || run.Counts.Inserted != 0 || run.Counts.Rejected != 0 {
				t.Fatalf("second run: %+v", run)
			}
			var runs struct{ Items []datasync.Run }
			h.Do(t, "GET", "/v1/sync/jobs/"+job.ID+"/runs", gaj, nil).Want(t, http.StatusOK).JSON(t, &runs)
			if len(runs.Items) != 2 || runs.Items[0].ID != run.ID {
				t.Fatalf("runs: %+v", runs.Items)
			}
			// A run's rejected rows name records: the provider's data
			// admins and auditors read them, another department's do not.
			h.Do(t, "GET", "/v1/sync/runs/"+run.ID+"/errors", gaj, nil).Want(t, http.StatusOK)
			h.Do(t, "GET", "/v1/sync/runs/"+run.ID+"/errors", h.Auditor, nil).Want(t, http.StatusOK)
			h.Do(t, "GET", "/v1/sync/runs/"+run.ID+"/errors", wjw, nil).Want(t, http.StatusForbidden).Problem(t)
			h.Do(t, "GET", "/v1/sync/runs/"+run.ID, wjw, nil).Want(t, http.StatusOK)

			// No grant yet.
			purpose := "X-Purpose: 最低生活保障审核"
			data := "/v1/data/" + it.Code + "/records"
			h.Do(t, "GET", data+"?key="+changed[0], mzj, nil, purpose).Want(t, http.StatusForbidden)
			// Apply; another department's data admin cannot decide; the provider narrows.
			var app exchange.Application
			h.Do(t, "POST", "/v1/applications", mzj, exchange.NewApplication{ItemCode: it.Code, Purpose: "最低生活保障审核", Scenario: "低保申请人住址核验",
				Fields: []string{"id", "name", "address"}, ValidUntil: time.Now().AddDate(1, 0, 0)}).Want(t, http.StatusCreated).JSON(t, &app)
			if app.Status != exchange.AppPending || app.Deadline.Before(time.Now().AddDate(0, 0, 13)) || app.Overdue {
				t.Fatalf("application: %+v", app)
			}
			h.Do(t, "POST", "/v1/applications/"+app.ID+"/approve", wjw, exchange.Decision{}).Want(t, http.StatusForbidden)
			h.Do(t, "POST", "/v1/applications/"+app.ID+"/approve", gaj, exchange.Decision{Fields: []string{"id", "sfzh"}}).Want(t, http.StatusBadRequest)
			h.Do(t, "POST", "/v1/applications/"+app.ID+"/approve", gaj, exchange.Decision{Fields: []string{"id", "address"}}).Want(t, http.StatusOK).JSON(t, &app)
			if app.Status != exchange.AppApproved || app.GrantID == "" || !slices.Equal(app.GrantedFields, []string{"id", "address"}) {
				t.Fatalf("approved: %+v", app)
			}
			h.Do(t, "POST", "/v1/applications/"+app.ID+"/refuse", gaj, map[string]string{"reason": "x"}).Want(t, http.StatusConflict)

			// Without a purpose, outside the grant: refused.
			h.Do(t, "GET", data+"?key="+changed[0], mzj, nil).Want(t, http.StatusBadRequest)
			h.Do(t, "GET", data+"?key="+changed[0]+"&fields=name", mzj, nil, purpose).Want(t, http.StatusForbidden)

			// The changed records, granted fields only.
			var got []string
			cursor := ""
			for {
				var page dataResp
				q := url.Values{"changed_since": {since.UTC().Format(time.RFC3339Nano)}, "limit": {"400"}, "cursor": {cursor}}
				h.Do(t, "GET", data+"?"+q.Encode(), mzj, nil, purpose).Want(t, http.StatusOK).JSON(t, &page)
				for _, r := range page.Records {
					if len(r.Data) != 2 || r.Data["address"] != up.Get(r.Key).Address || r.Data["id"] != r.Key || r.Version != 2 {
						t.Fatalf("record %s: %+v", r.Key, r)
					}
					got = append(got, r.Key)
				}
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, changed) {
				t.Fatalf("read %d changed records, want the %d changed upstream", len(got), len(changed))
			}
			var one dataResp
			h.Do(t, "GET", data+"?key="+deleted[0]+"&key="+changed[5], mzj, nil, purpose).Want(t, http.StatusOK).JSON(t, &one)
			if len(one.Records) != 1 || one.Records[0].Key != changed[5] {
				t.Fatalf("deleted record served: %+v", one.Records)
			}

			// The audit log has every data call with its rows.
			es, _, err := h.Audit.Search(context.Background(), audit.Filter{Route: "/v1/data/:code/records", Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var rows, ok200, refused int
			for _, e := range es {
				if e.DepartmentID != "xy-mzj" || !slices.Contains(e.Resources, "catalog_item:"+it.Code) {
					t.Fatalf("entry %+v", e)
				}
				if e.Status == 200 {
					ok200++
					rows += e.Rows
					if e.Purpose != "最低生活保障审核" || !slices.Contains(e.Resources, "grant:"+app.GrantID) {
						t.Fatalf("entry without purpose or grant: %+v", e)
					}
				} else {
					refused++
				}
			}
			if rows != 1001 || ok200 != 4 || refused != 3 {
				t.Fatalf("audit: %d ok calls with %d rows, %d refused; want 4 with 1001 rows and 3 refused", ok200, rows, refused)
			}
			var stats struct{ Items []exchange.CallStat }
			q := url.Values{"from": {time.Now().Add(-time.Hour).Format(time.RFC3339)}, "to": {time.Now().Add(time.Hour).Format(time.RFC3339)}}
			h.Do(t, "GET", "/v1/stats/calls?"+q.Encode(), h.Auditor, nil).Want(t, http.StatusOK).JSON(t, &stats)
			if len(stats.Items) != 1 || stats.Items[0].Calls != 7 || stats.Items[0].Rows != 1001 || stats.Items[0].Refused != 3 ||
				stats.Items[0].ProviderDepartmentID != "xy-gaj" || stats.Items[0].ConsumerDepartmentID != "xy-mzj" {
				t.Fatalf("stats: %+v", stats.Items)
			}

			// A dispute flags the record for every consumer until settled.
			var d exchange.Dispute
			h.Do(t, "POST", "/v1/disputes", mzj, exchange.NewDispute{ItemCode: it.Code, RecordKey: changed[0], Reason: "住址与户籍登记不符"}).Want(t, http.StatusCreated).JSON(t, &d)
			one = dataResp{}
			h.Do(t, "GET", data+"?key="+changed[0], mzj, nil, purpose).Want(t, http.StatusOK).JSON(t, &one)
			if one.Records[0].Disputed != d.ID {
				t.Fatalf("record not flagged: %+v", one.Records[0])
			}
			h.Do(t, "POST", "/v1/disputes/"+d.ID+"/archive", gaj, nil).Want(t, http.StatusConflict)
			h.Do(t, "POST", "/v1/disputes/"+d.ID+"/accept", wjw, map[string]any{"resolution": "x"}).Want(t, http.StatusForbidden)
			h.Do(t, "POST", "/v1/disputes/"+d.ID+"/accept", gaj, map[string]any{"resolution": "已核实更正", "correction": map[string]any{"address": "襄阳市襄州区更正地址1号"}}).Want(t, http.StatusOK).JSON(t, &d)
			h.Do(t, "GET", data+"?key="+changed[0], mzj, nil, purpose).Want(t, http.StatusOK).JSON(t, &one)
			if r := one.Records[0]; r.Disputed != d.ID || r.Data["address"] != "襄阳市襄州区更正地址1号" || r.Version != 3 {
				t.Fatalf("corrected record: %+v", r)
			}
			h.Do(t, "POST", "/v1/disputes/"+d.ID+"/clear", gaj, nil).Want(t, http.StatusOK)
			h.Do(t, "POST", "/v1/disputes/"+d.ID+"/archive", gaj, nil).Want(t, http.StatusOK).JSON(t, &d)
			one = dataResp{}
			h.Do(t, "GET", data+"?key="+changed[0], mzj, nil, purpose).Want(t, http.StatusOK).JSON(t, &one)
			if d.Status != exchange.DisputeArchived || one.Records[0].Disputed != "" {
				t.Fatalf("archived dispute %+v, record %+v", d, one.Records[0])
			}

			// Bulk export of the grant's data.
			resp := h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format=csv", mzj, nil, purpose).Want(t, http.StatusOK)
			recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(resp.Body), "\ufeff"))).ReadAll()
			if err != nil || len(recs) != 1+100_000-100 || strings.Join(recs[0], ",") != "key,id,address" {
				t.Fatalf("export: %d rows, header %v, %v", len(recs), recs[0], err)
			}
			resp = h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format=xlsx", mzj, nil, purpose).Want(t, http.StatusOK)
			if len(resp.Body) < 1000 || string(resp.Body[:2]) != "PK" {
				t.Fatalf("xlsx export: %d bytes", len(resp.Body))
			}

			// Expiry ends access.
			if _, err := h.DB.W.ExecContext(context.Background(), `UPDATE grants SET valid_until = $1 WHERE id = $2`, time.Now().Add(-time.Minute).UnixMicro(), app.GrantID); err != nil {
				t.Fatal(err)
			}
			h.Do(t, "GET", data+"?key="+changed[0], mzj, nil, purpose).Want(t, http.StatusForbidden)
			// The grant is the department's; of its principals only its
			// apps and data admins read records.
			mzjDept := appDepartment(h)
			for _, role := range []exchange.Role{exchange.RoleAuditor, exchange.RoleSealUser, exchange.RoleImporter, exchange.RoleIssuer} {
				other := key(t, h, mzjDept, "mzj-"+string(role), role)
				if pb := h.Do(t, "GET", data+"?key="+changed[5], other, nil, purpose).Want(t, http.StatusForbidden).Problem(t); !strings.Contains(fmt.Sprint(pb["detail"]), "app") {
					t.Fatalf("%s: %v", role, pb)
				}
				h.Do(t, "GET", data+"/"+changed[5]+"/versions", other, nil, purpose).Want(t, http.StatusForbidden)
			}
			// (By now the grant has expired: a data admin gets as far as the grant.)
			pb := h.Do(t, "GET", data+"?key="+changed[5], key(t, h, mzjDept, "mzj-data-admin", exchange.RoleDataAdmin), nil, purpose).Want(t, http.StatusForbidden).Problem(t)
			if !strings.Contains(fmt.Sprint(pb["detail"]), "expired") {
				t.Fatalf("a data admin of the consumer: %v", pb)
			}
		})
	}
}

func TestShareTypes(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			mzj := h.AppKey
			free := peopleItem(t, h, "人口基础信息（无条件）", catalog.ShareUnconditional)
			none := peopleItem(t, h, "人口基础信息（不予共享）", catalog.ShareNone)
			quota := peopleItem(t, h, "人口基础信息（限额）", catalog.ShareConditional)
			until := time.Now().AddDate(0, 6, 0)
			// 不予共享 cannot be applied for.
			h.Do(t, "POST", "/v1/applications", mzj, exchange.NewApplication{ItemCode: none.Code, Purpose: "核验", Scenario: "x", Fields: []string{"id"}, ValidUntil: until}).Want(t, http.StatusForbidden)
			// 无条件共享: registering the use grants at once.
			var app exchange.Application
			h.Do(t, "POST", "/v1/applications", mzj, exchange.NewApplication{ItemCode: free.Code, Purpose: "户籍核验", ValidUntil: until}).Want(t, http.StatusCreated).JSON(t, &app)
			if app.Kind != exchange.KindRegistration || app.Status != exchange.AppApproved || app.GrantID == "" {
				t.Fatalf("registration: %+v", app)
			}
			// Put one record in the free item's dataset and read it: personal fields masked under "*".
			up := synctest.New(t, 3)
			var job datasync.Job
			h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: free.Code, Name: "全量", Spec: datasync.Spec{Mode: "full", KeyFields: []string{"id"}, IgnoreFields: []string{"updated_at"},
				Source: datasync.SourceSpec{Kind: "http", URL: up.RecordsURL(), Auth: "bearer", Token: synctest.Token}}}).Want(t, http.StatusCreated).JSON(t, &job)
			h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", gaj, nil).Want(t, http.StatusOK)
			h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run?wait=false", gaj, nil).Want(t, http.StatusAccepted)
			for deadline := time.Now().Add(10 * time.Second); ; {
				var runs struct{ Items []datasync.Run }
				h.Do(t, "GET", "/v1/sync/jobs/"+job.ID+"/runs", gaj, nil).Want(t, http.StatusOK).JSON(t, &runs)
				if len(runs.Items) == 2 && runs.Items[0].Status == datasync.StatusSucceeded {
					if runs.Items[0].Counts != (datasync.Counts{Read: 3, Unchanged: 3}) {
						t.Fatalf("background run: %+v", runs.Items[0])
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("background run did not finish: %+v", runs.Items)
				}
				time.Sleep(50 * time.Millisecond)
			}
			metrics := string(h.Do(t, "GET", "/metrics", "", nil).Want(t, http.StatusOK).Body)
			if want := `sharehub_sync_dataset_records{item="` + free.Code + `",job="` + job.ID + `"} 3`; !strings.Contains(metrics, want) ||
				!strings.Contains(metrics, `sharehub_sync_job_overdue{item="`+free.Code+`",job="`+job.ID+`"} 0`) {
				t.Fatalf("metrics lack %s", want)
			}
			var health struct{ Items []datasync.Health }
			h.Do(t, "GET", "/v1/sync/health", gaj, nil).Want(t, http.StatusOK).JSON(t, &health)
			if len(health.Items) != 1 || health.Items[0].Completeness != 1 || health.Items[0].Overdue || health.Items[0].MaxAge != 30*3600 {
				t.Fatalf("health: %+v", health.Items)
			}
			var page dataResp
			h.Do(t, "GET", "/v1/data/"+free.Code+"/records?f.id=P0000002", mzj, nil, "X-Purpose: 户籍核验").Want(t, http.StatusOK).JSON(t, &page)
			if len(page.Records) != 1 || page.Records[0].Data["sfzh"] != "420602********0002" || page.Records[0].Data["name"] != "***" ||
				page.Records[0].Data["address"] != up.Get("P0000002").Address {
				t.Fatalf("masked read: %+v masked %v", page.Records, page.Masked)
			}
			// An item turned 不予共享 is refused at once, and ReviewGrants revokes the grant.
			c := free.Content
			c.ShareType = catalog.ShareNone
			admin := &exchange.Principal{ID: "prn_test_admin", DepartmentID: "xy-sjj", Roles: []exchange.Role{exchange.RoleAdmin}}
			if _, err := h.Catalog.Update(context.Background(), admin, free.Code, catalog.ItemUpdate{Version: free.Version, Content: c}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5100 * time.Millisecond) // the data path caches items for 5 s
			h.Do(t, "GET", "/v1/data/"+free.Code+"/records?f.id=P0000002", mzj, nil, "X-Purpose: 户籍核验").Want(t, http.StatusForbidden)
			var review struct{ Items []exchange.GrantMisfit }
			h.Do(t, "POST", "/v1/items/"+free.Code+"/review-grants", h.Admin, nil).Want(t, http.StatusOK).JSON(t, &review)
			if len(review.Items) != 1 || !strings.Contains(review.Items[0].Reason, "revoked") {
				t.Fatalf("review: %+v", review.Items)
			}
			// A daily quota is enforced.
			h.Do(t, "POST", "/v1/applications", mzj, exchange.NewApplication{ItemCode: quota.Code, Purpose: "核验", Scenario: "窗口核验", Fields: []string{"id", "sfzh"}, ValidUntil: until}).Want(t, http.StatusCreated).JSON(t, &app)
			h.Do(t, "POST", "/v1/applications/"+app.ID+"/approve", gaj, exchange.Decision{DailyQuota: 2}).Want(t, http.StatusOK)
			for i := 0; i < 2; i++ {
				h.Do(t, "GET", "/v1/data/"+quota.Code+"/records?key=P1", mzj, nil, "X-Purpose: 核验").Want(t, http.StatusOK)
			}
			h.Do(t, "GET", "/v1/data/"+quota.Code+"/records?key=P1", mzj, nil, "X-Purpose: 核验").Want(t, http.StatusTooManyRequests)
			// Refusals need reasons; overdue applications are listed.
			h.Do(t, "POST", "/v1/applications", mzj, exchange.NewApplication{ItemCode: quota.Code, Purpose: "统计", Scenario: "统计分析", Fields: []string{"id"}, ValidUntil: until}).Want(t, http.StatusCreated).JSON(t, &app)
			h.Do(t, "POST", "/v1/applications/"+app.ID+"/refuse", gaj, map[string]string{"reason": ""}).Want(t, http.StatusBadRequest)
			if _, err := h.DB.W.ExecContext(context.Background(), `UPDATE share_applications SET deadline = $1 WHERE id = $2`, time.Now().Add(-time.Hour).UnixMicro(), app.ID); err != nil {
				t.Fatal(err)
			}
			var apps struct{ Items []exchange.Application }
			h.Do(t, "GET", "/v1/applications?as=provider&overdue=true", gaj, nil).Want(t, http.StatusOK).JSON(t, &apps)
			if len(apps.Items) != 1 || apps.Items[0].ID != app.ID || !apps.Items[0].Overdue {
				t.Fatalf("overdue: %+v", apps.Items)
			}
			h.Do(t, "POST", "/v1/applications/"+app.ID+"/refuse", gaj, map[string]string{"reason": "用途不符合共享条件"}).Want(t, http.StatusOK).JSON(t, &app)
			if app.Status != exchange.AppRefused || app.Reason != "用途不符合共享条件" {
				t.Fatalf("refused: %+v", app)
			}
		})
	}
}
