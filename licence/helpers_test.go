package licence_test

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/internal/keys"
	"github.com/xiangyang-gov/sharehub/licence"
	"github.com/xiangyang-gov/sharehub/seal"
)

// fixture is a licence service over a fresh database with the demo
// departments, the built-in catalogue and seals for a few departments.
type fixture struct {
	db      *db.DB
	svc     *licence.Service
	ex      *exchange.Service
	seals   *seal.Service
	blobDir string
	admin   *exchange.Principal
	types   map[string]licence.Type // by name
	offset  atomic.Int64            // added to the licence service's clock
}

// issuer returns an issuer principal of dept.
func issuer(dept string) *exchange.Principal {
	return &exchange.Principal{ID: "p-issuer-" + dept, DepartmentID: dept, Name: "issuer", Roles: []exchange.Role{exchange.RoleIssuer}}
}

func newFixture(tb testing.TB, d *db.DB) *fixture {
	tb.Helper()
	ctx := context.Background()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	master, err := keys.NewMaster(raw)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(tb.TempDir(), "blobs")
	store, err := blob.Open(ctx, "file:"+dir, blob.Options{LinkSecret: []byte("0123456789abcdef0123456789abcdef"), LinkBaseURL: "http://hub.test"})
	if err != nil {
		tb.Fatal(err)
	}
	ex := exchange.New(d, exchange.Config{})
	tb.Cleanup(func() { ex.Close() })
	seals, err := seal.New(seal.Config{DB: d, Master: master, Images: store, Directory: ex, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { seals.Close() })
	f := &fixture{db: d, ex: ex, seals: seals, blobDir: dir, types: map[string]licence.Type{}}
	codes := loadDepartments(tb, ex)
	f.admin = &exchange.Principal{ID: "p-admin", DepartmentID: "xy-sjj", Name: "admin", Roles: []exchange.Role{exchange.RoleAdmin}}
	f.svc, err = licence.New(licence.Config{DB: d, Directory: ex, Sealer: seals, Files: store, Keys: &keys.Ring{DB: d, Master: master},
		PublicURL: "http://hub.test", MaxFileSize: 1 << 20, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) }})
	if err != nil {
		tb.Fatal(err)
	}
	types, err := licence.Catalogue(func(id string) string { return codes[id] })
	if err != nil {
		tb.Fatal(err)
	}
	for _, t := range types {
		switch t.Name {
		case "居民身份证", "结婚证", "营业执照", "食品经营许可证", "机动车驾驶证":
		default:
			continue
		}
		if _, err := f.svc.SaveType(ctx, f.admin, t); err != nil {
			tb.Fatalf("SaveType %s: %v", t.Name, err)
		}
		f.types[t.Name] = t
	}
	for _, dept := range []string{"xy-gaj", "xy-mzj", "xy-scjgj"} {
		if _, err := seals.CreateSeal(ctx, f.admin, seal.NewSeal{OrganisationID: dept, Name: dept + " 证照专用章", Kind: seal.KindBusiness,
			Image: seal.DemoImage("襄阳市")}); err != nil {
			tb.Fatalf("CreateSeal %s: %v", dept, err)
		}
	}
	return f
}

// loadDepartments creates the demo departments and returns their credit codes.
func loadDepartments(tb testing.TB, ex *exchange.Service) map[string]string {
	tb.Helper()
	fh, err := os.Open(filepath.Join("..", "testdata", "departments.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	if _, err := r.Read(); err != nil {
		tb.Fatal(err)
	}
	codes := map[string]string{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := ex.CreateDepartment(context.Background(), exchange.Department{ID: rec[0], Code: rec[1], Name: rec[2], Kind: rec[3], ParentID: rec[4]}); err != nil {
			tb.Fatalf("department %s: %v", rec[0], err)
		}
		codes[rec[0]] = rec[1]
	}
	return codes
}

var personSeq atomic.Int64

// person returns a fresh valid 居民身份证号 from Xiangyang.
func person() string {
	n := personSeq.Add(1)
	return ident.NewResidentID("420602", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n)), int(n%999)+1, n%2 == 0)
}

// idCard returns a valid 居民身份证 issue request for holder id.
func (f *fixture) idCard(id string) licence.NewLicence {
	return licence.NewLicence{
		TypeCode: f.types["居民身份证"].Code,
		Number:   "ID" + id,
		Holder:   licence.Holder{Name: "张三丰", ID: id},
		IssuedOn: "2020-05-01",
		Face:     map[string]string{"gender": "男", "ethnicity": "汉", "birth_date": "1980-01-02", "address": "湖北省襄阳市襄城区檀溪路1号"},
	}
}

// alsoIssues makes department dept an issuer of the type named typeName.
func (f *fixture) alsoIssues(tb testing.TB, typeName, dept string) {
	tb.Helper()
	tp := f.types[typeName]
	tp.IssuerIDs = append(tp.IssuerIDs, dept)
	if _, err := f.svc.SaveType(context.Background(), f.admin, tp); err != nil {
		tb.Fatal(err)
	}
}

func mustIssue(tb testing.TB, f *fixture, n licence.NewLicence) licence.Licence {
	tb.Helper()
	dept := map[string]string{"居民身份证": "xy-gaj", "机动车驾驶证": "xy-gaj", "结婚证": "xy-mzj", "营业执照": "xy-scjgj", "食品经营许可证": "xy-scjgj"}
	var name string
	for k, t := range f.types {
		if t.Code == n.TypeCode {
			name = k
		}
	}
	l, err := f.svc.Issue(context.Background(), issuer(dept[name]), n)
	if err != nil {
		tb.Fatalf("Issue %s: %v", name, err)
	}
	return l
}

func wantKind(tb testing.TB, err error, k errs.Kind) {
	tb.Helper()
	if errs.KindOf(err) != k || err == nil {
		tb.Fatalf("error = %v (kind %s), want kind %s", err, errs.KindOf(err), k)
	}
}
