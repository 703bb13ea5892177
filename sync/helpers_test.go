package datasync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/keys"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

var (
	admin    = &exchange.Principal{ID: "prn_admin", DepartmentID: "xy-sjj", Roles: []exchange.Role{exchange.RoleAdmin}}
	gajAdmin = &exchange.Principal{ID: "prn_gaj", DepartmentID: "xy-gaj", Roles: []exchange.Role{exchange.RoleDataAdmin}}
	mzjAdmin = &exchange.Principal{ID: "prn_mzj", DepartmentID: "xy-mzj", Roles: []exchange.Role{exchange.RoleDataAdmin}}
)

type fixture struct {
	db   *db.DB
	cat  *catalog.Service
	sync *datasync.Service
	item catalog.Item
}

func setup(t testing.TB, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	for i, dep := range [][3]string{
		{"xy", "11420600000000019T", "襄阳市人民政府"},
		{"xy-gaj", "11420600000000027M", "襄阳市公安局"},
		{"xy-mzj", "11420600000000035G", "襄阳市民政局"},
		{"xy-sjj", "114206000000000R1T", "襄阳市政务服务和大数据管理局"},
	} {
		parent := any(nil)
		if i > 0 {
			parent = "xy"
		}
		if _, err := d.W.ExecContext(ctx, `INSERT INTO departments (id, code, name, kind, parent_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			dep[0], dep[1], dep[2], "office", parent, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	cat := catalog.New(d, catalog.Config{})
	it := mustItem(t, cat, catalog.ShareConditional)
	return &fixture{db: d, cat: cat, sync: datasync.New(d, cat, datasync.Config{}), item: it}
}

// PeopleContent is the item the fake upstream fills.
func peopleContent(share string) catalog.Content {
	return catalog.Content{
		Name: "人口基础信息" + share, Lei: "1", Xiang: "01", Mu: "001", ProviderID: "xy-gaj",
		Summary: "人口基础信息，供各部门办理业务时核验。", Format: "数据库", ShareType: share, ShareCondition: "用于政务服务办理",
		LegalBasis: "《中华人民共和国居民身份证法》", ShareMethod: "接口服务", OpenType: "不予开放", UpdateCycle: "每日", PublishDate: "2024-03-01",
		Libraries: []string{"base-population"},
		Fields: []catalog.Field{
			{Name: "人员编号", Code: "id", DataType: "字符型", Length: 20},
			{Name: "姓名", Code: "name", DataType: "字符型", Length: 50, Personal: true},
			{Name: "公民身份号码", Code: "sfzh", DataType: "字符型", Length: 18, Personal: true, Sensitive: true},
			{Name: "住址", Code: "address", DataType: "字符型", Length: 200},
		},
	}
}

func mustItem(t testing.TB, cat *catalog.Service, share string) catalog.Item {
	t.Helper()
	ctx := context.Background()
	it, err := cat.Create(ctx, admin, catalog.NewItem{Content: peopleContent(share)})
	if err != nil {
		t.Fatalf("create item: %v", err)
	}
	if it, err = cat.Publish(ctx, admin, it.Code, ""); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return it
}

func httpSpec(u *synctest.Upstream, mode string) datasync.Spec {
	s := datasync.Spec{
		Mode: mode, KeyFields: []string{"id"}, Drift: datasync.DriftIgnore,
		Limits: datasync.Limits{Retries: 2, Backoff: datasync.Duration(10 * time.Millisecond)},
		Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: u.RecordsURL(), PageSize: 1000, Auth: "bearer", Token: synctest.Token,
			RequestTimeout: datasync.Duration(2 * time.Second)},
	}
	if mode == datasync.ModeFull {
		s.IgnoreFields = []string{"updated_at"}
	}
	if mode == datasync.ModeIncremental {
		s.CursorField, s.Overlap, s.DeletedField = "updated_at", datasync.Duration(time.Second), "deleted"
	}
	return s
}

func (f *fixture) job(t *testing.T, spec datasync.Spec) datasync.Job {
	t.Helper()
	j, err := f.sync.CreateJob(context.Background(), gajAdmin, datasync.NewJob{ItemCode: f.item.Code, Name: "人口回落", Spec: spec})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	return j
}

func (f *fixture) run(t *testing.T, jobID string) datasync.Run {
	t.Helper()
	r, err := f.sync.RunJob(context.Background(), jobID, "manual", nil)
	if err != nil {
		t.Fatalf("run %s: %v", jobID, err)
	}
	return r
}

func wantCounts(t *testing.T, r datasync.Run, want datasync.Counts) {
	t.Helper()
	if r.Counts != want {
		t.Fatalf("run %s (%s, error %q) counts\n got %+v\nwant %+v", r.ID, r.Status, r.Error, r.Counts, want)
	}
}

// sealSecrets makes f's service seal job secrets at rest under a fixed
// master key, as the hub does.
func (f *fixture) sealSecrets(t *testing.T) {
	t.Helper()
	m, err := keys.ParseMaster(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	f.sync = datasync.New(f.db, f.cat, datasync.Config{Secrets: m})
}
