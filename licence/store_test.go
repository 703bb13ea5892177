package licence_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/licence"
)

func TestStore(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, f) })
		t.Run("bad input", func(t *testing.T) { testBadInput(t, f) })
		t.Run("permissions", func(t *testing.T) { testPermissions(t, f) })
		t.Run("lookup", func(t *testing.T) { testLookup(t, f) })
		t.Run("expiry", func(t *testing.T) { testExpiry(t, f) })
		t.Run("tamper", func(t *testing.T) { testTamper(t, f) })
		t.Run("foreign seal", func(t *testing.T) { testForeignSeal(t, f) })
		t.Run("files", func(t *testing.T) { testFiles(t, f) })
		t.Run("attach dir", func(t *testing.T) { testAttachDir(t, f) })
		t.Run("qr", func(t *testing.T) { testQR(t, f) })
	})
}

func testLifecycle(t *testing.T, f *fixture) {
	ctx := context.Background()
	gaj := issuer("xy-gaj")
	l := mustIssue(t, f, f.idCard(person()))
	p, err := ident.ParseLicenceID(l.ID)
	if err != nil {
		t.Fatalf("issued id %s does not parse: %v", l.ID, err)
	}
	if p.Version != 1 || l.Version != 1 || l.Status != licence.StatusValid || l.ValidUntil != "2040-04-30" || l.IssuerName != "襄阳市公安局" {
		t.Fatalf("issued %+v", l)
	}
	steps := []struct {
		c    licence.Change
		want licence.Status
	}{
		{licence.Change{Event: licence.EventAmend, Reason: "住址变更", Face: map[string]string{"address": "湖北省襄阳市樊城区长征路2号"}}, licence.StatusValid},
		{licence.Change{Event: licence.EventSuspend, Reason: "涉案暂扣"}, licence.StatusSuspended},
		{licence.Change{Event: licence.EventReturn, Reason: "案件办结发还"}, licence.StatusValid},
		{licence.Change{Event: licence.EventRenew, Reason: "到期换领", ValidUntil: "2045-04-30"}, licence.StatusValid},
		{licence.Change{Event: licence.EventRevoke, Reason: "骗领撤销"}, licence.StatusRevoked},
	}
	for i, s := range steps {
		got, err := f.svc.Apply(ctx, gaj, l.ID, s.c)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, s.c.Event, err)
		}
		if got.Version != i+2 || got.Status != s.want {
			t.Fatalf("step %d: version %d status %s, want %d %s", i, got.Version, got.Status, i+2, s.want)
		}
		if _, err := ident.ParseLicenceID(got.ID); err != nil || got.Key() != l.Key() {
			t.Fatalf("step %d: id %s (key %s, want %s): %v", i, got.ID, got.Key(), l.Key(), err)
		}
	}
	// Revoked is final.
	for _, ev := range []licence.Event{licence.EventRenew, licence.EventAmend, licence.EventSuspend, licence.EventReturn, licence.EventCancel} {
		_, err := f.svc.Apply(ctx, gaj, l.ID, licence.Change{Event: ev, Reason: "x", Face: map[string]string{"address": "y"}, ValidUntil: "2050-01-01"})
		wantKind(t, err, errs.KindConflict)
	}
	hist, err := f.svc.History(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, v := range hist {
		events = append(events, string(v.Event))
		if v.SealJWS == "" || len(v.Digest) != 64 {
			t.Errorf("version %d not sealed: %+v", v.Version, v)
		}
	}
	if got := strings.Join(events, ","); got != "issue,amend,suspend,return,renew,revoke" {
		t.Fatalf("history events %s", got)
	}
	if hist[1].Licence.Face["address"] != "湖北省襄阳市樊城区长征路2号" || hist[0].Licence.Face["address"] == hist[1].Licence.Face["address"] {
		t.Fatalf("amendment not in history")
	}
	// Any version's identifier reads the current licence.
	cur, err := f.svc.Get(ctx, hist[0].Licence.ID)
	if err != nil || cur.Version != 6 {
		t.Fatalf("Get by first version id: %v %d", err, cur.Version)
	}
	v, err := f.svc.Verify(ctx, l.ID)
	if err != nil || !v.Valid || v.Status != licence.StatusRevoked || v.StatusName != "撤销" {
		t.Fatalf("Verify: %+v %v", v, err)
	}

	// Cancel and 吊销 from valid.
	l2 := mustIssue(t, f, f.idCard(person()))
	if got, err := f.svc.Apply(ctx, gaj, l2.ID, licence.Change{Event: licence.EventRevoke, Reason: "吊销", Withdraw: true}); err != nil || got.Status != licence.StatusWithdrawn {
		t.Fatalf("withdraw: %v %v", got.Status, err)
	}
	l3 := mustIssue(t, f, f.idCard(person()))
	if got, err := f.svc.Apply(ctx, gaj, l3.ID, licence.Change{Event: licence.EventCancel, Reason: "死亡注销"}); err != nil || got.Status != licence.StatusCancelled {
		t.Fatalf("cancel: %v %v", got.Status, err)
	}
	// Duplicate number of the same type.
	n := f.idCard(person())
	mustIssue(t, f, n)
	_, err = f.svc.Issue(ctx, gaj, n)
	wantKind(t, err, errs.KindConflict)
}

func testBadInput(t *testing.T, f *fixture) {
	ctx := context.Background()
	gaj := issuer("xy-gaj")
	good := person()
	badCheck := good[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", good[17])+1)%11])
	cases := []struct {
		name    string
		mod     func(n *licence.NewLicence)
		pointer string
	}{
		{"resident id check digit", func(n *licence.NewLicence) { n.Holder.ID = badCheck }, "/holder/id"},
		{"resident id too short", func(n *licence.NewLicence) { n.Holder.ID = "42060219800101" }, "/holder/id"},
		{"holder id type of organisations", func(n *licence.NewLicence) { n.Holder.IDType = "001" }, "/holder/id_type"},
		{"no holder name", func(n *licence.NewLicence) { n.Holder.Name = " " }, "/holder/name"},
		{"unknown type", func(n *licence.NewLicence) { n.TypeCode = "11420600000000027M999" }, "/type_code"},
		{"unknown face field", func(n *licence.NewLicence) { n.Face["blood_type"] = "A" }, "/face/blood_type"},
		{"missing required face field", func(n *licence.NewLicence) { delete(n.Face, "address") }, "/face/address"},
		{"enum face field", func(n *licence.NewLicence) { n.Face["gender"] = "未知" }, "/face/gender"},
		{"date face field", func(n *licence.NewLicence) { n.Face["birth_date"] = "1980-13-45" }, "/face/birth_date"},
		{"face field too long", func(n *licence.NewLicence) { n.Face["address"] = strings.Repeat("路", 101) }, "/face/address"},
		{"valid_until before valid_from", func(n *licence.NewLicence) { n.ValidFrom, n.ValidUntil = "2021-01-01", "2020-12-31" }, "/valid_until"},
		{"valid_from before issued_on", func(n *licence.NewLicence) { n.IssuedOn, n.ValidFrom = "2021-01-01", "2020-12-31" }, "/valid_from"},
		{"issued in the future", func(n *licence.NewLicence) { n.IssuedOn = time.Now().AddDate(1, 0, 0).Format(time.DateOnly) }, "/issued_on"},
		{"bad date", func(n *licence.NewLicence) { n.IssuedOn = "2020/05/01" }, "/issued_on"},
		{"region", func(n *licence.NewLicence) { n.Region = "42A602" }, "/region"},
		{"replaces with a wrong check character", func(n *licence.NewLicence) {
			n.Replaces = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.G"
		}, "/replaces"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := f.idCard(person())
			c.mod(&n)
			_, err := f.svc.Issue(ctx, gaj, n)
			wantKind(t, err, errs.KindInvalid)
			if !hasPointer(err, c.pointer) {
				t.Fatalf("error %v does not point at %s", err, c.pointer)
			}
		})
	}
	t.Run("organisation credit code check character", func(t *testing.T) {
		n := f.bizLicence("91420600MA4ABCDE1X")
		n.Holder.ID = n.Holder.ID[:17] + "0"
		if ident.ValidateCreditCode(n.Holder.ID) == nil {
			n.Holder.ID = n.Holder.ID[:17] + "1"
		}
		_, err := f.svc.Issue(ctx, issuer("xy-scjgj"), n)
		wantKind(t, err, errs.KindInvalid)
		if !hasPointer(err, "/holder/id") {
			t.Fatal(err)
		}
	})
	t.Run("identifier check character", func(t *testing.T) {
		_, err := f.svc.Get(ctx, "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.G")
		wantKind(t, err, errs.KindInvalid)
		_, err = f.svc.Get(ctx, "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F")
		wantKind(t, err, errs.KindNotFound)
		_, err = f.svc.Get(ctx, "../../etc/passwd")
		wantKind(t, err, errs.KindInvalid)
	})
	t.Run("change without reason", func(t *testing.T) {
		l := mustIssue(t, f, f.idCard(person()))
		_, err := f.svc.Apply(ctx, gaj, l.ID, licence.Change{Event: licence.EventSuspend})
		wantKind(t, err, errs.KindInvalid)
		_, err = f.svc.Apply(ctx, gaj, l.ID, licence.Change{Event: "explode", Reason: "x"})
		wantKind(t, err, errs.KindInvalid)
		_, err = f.svc.Apply(ctx, gaj, l.ID, licence.Change{Event: licence.EventAmend, Reason: "x", Face: map[string]string{"gender": "?"}})
		wantKind(t, err, errs.KindInvalid)
		_, err = f.svc.Apply(ctx, gaj, l.ID, licence.Change{Event: licence.EventRenew, Reason: "x", ValidUntil: "2001-01-01"})
		wantKind(t, err, errs.KindInvalid)
	})
}

// bizLicence is a valid 营业执照 for a fresh credit code.
func (f *fixture) bizLicence(seed string) licence.NewLicence {
	cc := ident.NewCreditCode('9', '1', "420600", uint64(personSeq.Add(1)))
	return licence.NewLicence{
		TypeCode: f.types["营业执照"].Code, Number: "BL" + cc,
		Holder:   licence.Holder{Name: "襄阳汉江物流有限公司", IDType: "001", ID: cc},
		IssuedOn: "2019-03-01",
		Face: map[string]string{"entity_type": "有限责任公司", "legal_rep": "李四", "capital_wan": "500", "established": "2019-03-01",
			"address": "襄阳市高新区追日路8号", "scope": "普通货物道路运输"},
	}
}

func hasPointer(err error, p string) bool {
	e, ok := err.(*errs.Error)
	if !ok {
		return false
	}
	for _, fe := range e.Fields {
		if fe.Pointer == p {
			return true
		}
	}
	return false
}

func testPermissions(t *testing.T, f *fixture) {
	ctx := context.Background()
	n := f.idCard(person())
	// Issuer of another department.
	_, err := f.svc.Issue(ctx, issuer("xy-mzj"), n)
	wantKind(t, err, errs.KindForbidden)
	// Right department, wrong role.
	app := &exchange.Principal{ID: "p-app", DepartmentID: "xy-gaj", Roles: []exchange.Role{exchange.RoleApp}}
	_, err = f.svc.Issue(ctx, app, n)
	wantKind(t, err, errs.KindForbidden)
	_, err = f.svc.Issue(ctx, nil, n)
	wantKind(t, err, errs.KindUnauthenticated)
	// Issuing in another department's name.
	n.IssuerID = "xy-mzj"
	_, err = f.svc.Issue(ctx, issuer("xy-gaj"), n)
	wantKind(t, err, errs.KindForbidden)
	l := mustIssue(t, f, f.idCard(person()))
	_, err = f.svc.Apply(ctx, issuer("xy-mzj"), l.ID, licence.Change{Event: licence.EventRevoke, Reason: "x"})
	wantKind(t, err, errs.KindForbidden)
	_, err = f.svc.AttachFile(ctx, issuer("xy-mzj"), l.ID, "a.pdf", strings.NewReader("%PDF-1.7\n"))
	wantKind(t, err, errs.KindForbidden)
	// Only admins define types.
	_, err = f.svc.SaveType(ctx, issuer("xy-gaj"), f.types["居民身份证"])
	wantKind(t, err, errs.KindForbidden)
	// A department without a seal cannot issue.
	f.alsoIssues(t, "居民身份证", "xy-wjw")
	_, err = f.svc.Issue(ctx, issuer("xy-wjw"), f.idCard(person()))
	wantKind(t, err, errs.KindConflict)
}

func testLookup(t *testing.T, f *fixture) {
	ctx := context.Background()
	id := person()
	a := mustIssue(t, f, f.idCard(id))
	dl := licence.NewLicence{TypeCode: f.types["机动车驾驶证"].Code, Number: "DL" + id, Holder: licence.Holder{Name: "张三丰", ID: id}, IssuedOn: "2022-01-01",
		Face: map[string]string{"gender": "男", "class": "C1", "first_issued": "2010-06-01"}}
	b := mustIssue(t, f, dl)
	got, err := f.svc.Lookup(ctx, "111", id, "")
	if err != nil || len(got) != 2 {
		t.Fatalf("Lookup: %d %v", len(got), err)
	}
	got, err = f.svc.Lookup(ctx, "111", id, b.TypeCode)
	if err != nil || len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("Lookup by type: %v %v", got, err)
	}
	if got, _ := f.svc.Lookup(ctx, "111", person(), ""); len(got) != 0 {
		t.Fatalf("stranger has licences: %v", got)
	}
	_, err = f.svc.Lookup(ctx, "111", id[:17]+"Y", "")
	wantKind(t, err, errs.KindInvalid)
	_, err = f.svc.Lookup(ctx, "999", id, "")
	wantKind(t, err, errs.KindInvalid)
	_ = a
}

func testExpiry(t *testing.T, f *fixture) {
	ctx := context.Background()
	n := f.idCard(person())
	n.IssuedOn, n.ValidUntil = "2000-01-01", "2019-12-31"
	l := mustIssue(t, f, n)
	if st := l.StatusAt(time.Now()); st != licence.StatusExpired {
		t.Fatalf("status %s, want expired", st)
	}
	// An expired licence cannot be suspended but can be renewed.
	_, err := f.svc.Apply(ctx, issuer("xy-gaj"), l.ID, licence.Change{Event: licence.EventSuspend, Reason: "x"})
	wantKind(t, err, errs.KindConflict)
	r, err := f.svc.Apply(ctx, issuer("xy-gaj"), l.ID, licence.Change{Event: licence.EventRenew, Reason: "换领"})
	if err != nil || r.StatusAt(time.Now()) != licence.StatusValid || r.ValidUntil <= time.Now().Format(time.DateOnly) {
		t.Fatalf("renew: %+v %v", r, err)
	}
}

func testTamper(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := mustIssue(t, f, f.idCard(person()))
	if v, err := f.svc.Verify(ctx, l.ID); err != nil || !v.Valid {
		t.Fatalf("fresh licence: %+v %v", v, err)
	}
	// Someone edits the stored version in the database.
	if _, err := f.db.W.ExecContext(ctx, `UPDATE licence_versions SET doc = REPLACE(doc, '张三丰', '李四') WHERE licence_id = $1`, l.Key()); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.Verify(ctx, l.ID)
	if err != nil || v.Valid || len(v.Problems) == 0 {
		t.Fatalf("tampered licence verifies: %+v %v", v, err)
	}
}
