package catalog_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

var (
	admin     = &exchange.Principal{ID: "prn_admin", DepartmentID: "xy-sjj", Roles: []exchange.Role{exchange.RoleAdmin}}
	gajAdmin  = &exchange.Principal{ID: "prn_gaj", DepartmentID: "xy-gaj", Roles: []exchange.Role{exchange.RoleDataAdmin}}
	mzjAdmin  = &exchange.Principal{ID: "prn_mzj", DepartmentID: "xy-mzj", Roles: []exchange.Role{exchange.RoleDataAdmin}}
	mzjApp    = &exchange.Principal{ID: "prn_app", DepartmentID: "xy-mzj", Roles: []exchange.Role{exchange.RoleApp}}
	importer  = &exchange.Principal{ID: "prn_imp", DepartmentID: "xy-gaj", Roles: []exchange.Role{exchange.RoleImporter}}
	testDepts = [][3]string{
		{"xy", "11420600000000019T", "襄阳市人民政府"},
		{"xy-gaj", "11420600000000027M", "襄阳市公安局"},
		{"xy-mzj", "11420600000000035G", "襄阳市民政局"},
		{"xy-bdcdjzx", "114206000000000A2E", "襄阳市不动产登记中心"},
		{"xy-zxj", "114206000000000516", "襄阳市住房和城市更新局"},
		{"xy-sjj", "114206000000000R1T", "襄阳市政务服务和大数据管理局"},
	}
)

// newService returns a catalogue service over d with the test departments.
func newService(t *testing.T, d *db.DB) *catalog.Service {
	t.Helper()
	ctx := context.Background()
	for i, dep := range testDepts {
		parent := any(nil)
		if i > 0 {
			parent = "xy"
		}
		if _, err := d.W.ExecContext(ctx, `INSERT INTO departments (id, code, name, kind, parent_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			dep[0], dep[1], dep[2], "office", parent, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	return catalog.New(d, catalog.Config{})
}

// content returns a valid item of the provider with the name.
func content(provider, name string) catalog.Content {
	return catalog.Content{
		Name: name, Lei: "1", Xiang: "01", Mu: "001", ProviderID: provider,
		Summary: name + "，供各部门办理业务时核验。", Format: "数据库", ShareType: catalog.ShareUnconditional,
		ShareMethod: "接口服务", OpenType: "不予开放", UpdateCycle: "每日", PublishDate: "2024-03-01",
		Libraries: []string{"base-population"},
		Fields: []catalog.Field{
			{Name: "姓名", Code: "xm", DataType: "字符型", Length: 50, Personal: true},
			{Name: "公民身份号码", Code: "gmsfhm", DataType: "字符型", Length: 18, Personal: true, Sensitive: true},
		},
	}
}

func mustCreate(t *testing.T, s *catalog.Service, p *exchange.Principal, c catalog.Content) catalog.Item {
	t.Helper()
	it, err := s.Create(context.Background(), p, catalog.NewItem{Content: c})
	if err != nil {
		t.Fatalf("create %s: %v", c.Name, err)
	}
	return it
}

func mustPublish(t *testing.T, s *catalog.Service, code string) catalog.Item {
	t.Helper()
	it, err := s.Publish(context.Background(), admin, code, "")
	if err != nil {
		t.Fatalf("publish %s: %v", code, err)
	}
	return it
}

// wantKind fails unless err is of kind k.
func wantKind(t *testing.T, err error, k errs.Kind) {
	t.Helper()
	if !errs.Is(err, k) {
		t.Fatalf("error %v, want kind %s", err, k)
	}
}

// wantField fails unless err is invalid with a field error at pointer.
func wantField(t *testing.T, err error, pointer string) {
	t.Helper()
	e, ok := err.(*errs.Error)
	if !ok || e.Kind != errs.KindInvalid {
		t.Fatalf("error %v, want invalid", err)
	}
	for _, f := range e.Fields {
		if f.Pointer == pointer {
			return
		}
	}
	t.Fatalf("error %v has no field error at %s: %+v", err, pointer, e.Fields)
}

func encodeGBK(s string) ([]byte, error) {
	return simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
}
