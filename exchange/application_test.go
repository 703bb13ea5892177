package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

type fakeItems map[string]exchange.ShareItem

func (f fakeItems) ShareItem(_ context.Context, code string) (exchange.ShareItem, error) {
	it, ok := f[code]
	if !ok {
		return it, errs.NotFound("catalogue item %s not found", code)
	}
	return it, nil
}

func TestAddWorkingDays(t *testing.T) {
	ex := exchange.New(nil, exchange.Config{})
	defer ex.Close()
	sh := exchange.NewSharing(ex, fakeItems{}, exchange.SharingConfig{Holidays: []string{"2026-10-01", "2026-10-02", "2026-10-05"}, Workdays: []string{"2026-10-10"}})
	cst := time.FixedZone("CST", 8*3600)
	cases := []struct {
		from time.Time
		n    int
		want string // the last working day, local
	}{
		{time.Date(2026, 11, 25, 15, 0, 0, 0, cst), 10, "2026-12-09"}, // Wednesday + 10 working days
		{time.Date(2026, 11, 28, 9, 0, 0, 0, cst), 1, "2026-11-30"},   // Saturday → Monday
		{time.Date(2026, 9, 30, 9, 0, 0, 0, cst), 3, "2026-10-08"},    // 国庆: 1, 2, 5 off, 3–4 weekend
		{time.Date(2026, 10, 9, 9, 0, 0, 0, cst), 1, "2026-10-10"},    // Saturday 调休 is a working day
	}
	for _, c := range cases {
		got := sh.AddWorkingDays(c.from, c.n)
		want, _ := time.ParseInLocation(time.DateOnly, c.want, cst)
		if !got.Equal(want.AddDate(0, 0, 1)) {
			t.Errorf("%s + %d working days = %s, want the end of %s", c.from, c.n, got.In(cst), c.want)
		}
	}
}

func TestApplications(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons, other := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), ""), f.dept(uid("wjw"), "")
		items := fakeItems{
			"101001-000001": {Code: "101001-000001", ProviderID: prov.ID, ShareType: exchange.ShareConditional, Published: true, Fields: []exchange.ShareField{{Code: "id"}, {Code: "name", Personal: true}}},
			"101001-000002": {Code: "101001-000002", ProviderID: prov.ID, ShareType: exchange.ShareNone, Published: true, Fields: []exchange.ShareField{{Code: "id"}}},
			"101001-000003": {Code: "101001-000003", ProviderID: prov.ID, ShareType: exchange.ShareUnconditional, Published: true, Fields: []exchange.ShareField{{Code: "id"}}},
		}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{AnswerDays: 5})
		app := f.principal(cons.ID, "app", exchange.RoleApp)
		provAdmin := f.principal(prov.ID, "da", exchange.RoleDataAdmin)
		otherAdmin := f.principal(other.ID, "da", exchange.RoleDataAdmin)
		until := f.clk.Now().AddDate(0, 3, 0)

		_, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000002", Purpose: "p", Scenario: "s", Fields: []string{"id"}, ValidUntil: until})
		if !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("不予共享: %v", err)
		}
		_, err = sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000001", Purpose: "p", Fields: []string{"id", "nope"}, ValidUntil: until})
		if !errs.Is(err, errs.KindInvalid) {
			t.Fatalf("no scenario, unknown field: %v", err)
		}
		reg, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000003", Purpose: "核验", ValidUntil: until})
		if err != nil || reg.Status != exchange.AppApproved || reg.GrantID == "" {
			t.Fatalf("registration: %+v %v", reg, err)
		}
		a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000001", Purpose: "核验", Scenario: "窗口", Fields: []string{"id", "name"}, ValidUntil: until})
		if err != nil || a.Status != exchange.AppPending {
			t.Fatalf("apply: %+v %v", a, err)
		}
		if _, err := sh.Approve(ctx, &otherAdmin, a.ID, exchange.Decision{}); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("another department's admin approved: %v", err)
		}
		if _, err := sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{ValidUntil: until.AddDate(0, 1, 0)}); !errs.Is(err, errs.KindInvalid) {
			t.Fatalf("widened period: %v", err)
		}
		short := f.clk.Now().AddDate(0, 1, 0).UTC().Truncate(time.Microsecond)
		a, err = sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{Fields: []string{"id"}, ValidUntil: short})
		if err != nil || a.Status != exchange.AppApproved {
			t.Fatalf("approve: %+v %v", a, err)
		}
		g, err := f.s.Grant(ctx, a.GrantID)
		if err != nil || len(g.Fields) != 1 || g.Fields[0] != "id" || !g.ValidUntil.Equal(short) || g.Source != "application" || g.ConsumerDepartmentID != cons.ID {
			t.Fatalf("grant: %+v %v", g, err)
		}
		if _, err := sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{}); !errs.Is(err, errs.KindConflict) {
			t.Fatalf("second approval: %v", err)
		}
		// The item loses a field and becomes 不予共享: grants are reviewed.
		it := items["101001-000003"]
		it.ShareType = exchange.ShareNone
		items["101001-000003"] = it
		ms, err := sh.ReviewGrants(ctx, f.admin, "101001-000003")
		if err != nil || len(ms) != 1 || ms[0].Grant.ID != reg.GrantID {
			t.Fatalf("review: %+v %v", ms, err)
		}
		if g, _ := f.s.Grant(ctx, reg.GrantID); g.RevokedAt == nil {
			t.Fatal("grant on a 不予共享 item stays in force")
		}
		it = items["101001-000001"]
		it.Fields = it.Fields[1:] // "id" removed
		items["101001-000001"] = it
		ms, err = sh.ReviewGrants(ctx, f.admin, "101001-000001")
		if err != nil || len(ms) != 1 || ms[0].Gone[0] != "id" {
			t.Fatalf("review after a field left: %+v %v", ms, err)
		}
	})
}
