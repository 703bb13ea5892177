package exchange_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestRegistrationDecisions: a registration (无条件共享) whose
// grant could not be made leaves no pending application behind, and a
// registration that is pending all the same is decided by the provider's
// data admins only — not by the data admin of any department (decide took
// every registration for the applicant's own automatic approval).
func TestRegistrationDecisions(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons, other := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), ""), f.dept(uid("wjw"), "")
		items := fakeItems{
			"101001-000003": {Code: "101001-000003", ProviderID: prov.ID, ShareType: exchange.ShareUnconditional, Published: true, Fields: []exchange.ShareField{{Code: "id"}}},
		}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		app := f.principal(cons.ID, "app", exchange.RoleApp)
		provAdmin := f.principal(prov.ID, "da", exchange.RoleDataAdmin)
		otherAdmin := f.principal(other.ID, "da", exchange.RoleDataAdmin)
		until := f.clk.Now().AddDate(0, 3, 0)
		na := exchange.NewApplication{ItemCode: "101001-000003", Purpose: "核验", ValidUntil: until}

		// The grant cannot be made: the registration fails and is gone.
		restore := dbtest.FailWrites(t, d, "fail_grant_insert", "INSERT ON grants")
		if _, err := sh.Apply(ctx, &app, na); err == nil {
			t.Fatal("registration succeeded without its grant")
		}
		restore()
		left, _, err := sh.Applications(ctx, exchange.ApplicationFilter{ConsumerDepartmentID: cons.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 0 {
			t.Errorf("a failed registration left %d applications behind: %+v", len(left), left)
		}

		// A registration pending all the same (one left by an earlier
		// failure) is the provider's to decide.
		reg, err := sh.Apply(ctx, &app, na)
		if err != nil || reg.Status != exchange.AppApproved {
			t.Fatalf("registration: %+v %v", reg, err)
		}
		if _, err := d.W.ExecContext(ctx, `UPDATE share_applications SET status = $1, grant_id = '' WHERE id = $2`, exchange.AppPending, reg.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := sh.Approve(ctx, &otherAdmin, reg.ID, exchange.Decision{}); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("another department's data admin approved a registration: %v", err)
		}
		if _, err := sh.Refuse(ctx, &otherAdmin, reg.ID, "不需要"); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("another department's data admin refused a registration: %v", err)
		}
		if _, err := sh.Approve(ctx, &app, reg.ID, exchange.Decision{Fields: []string{"id"}}); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("the applicant approved its own pending registration: %v", err)
		}
		a, err := sh.Approve(ctx, &provAdmin, reg.ID, exchange.Decision{})
		if err != nil || a.Status != exchange.AppApproved || a.GrantID == "" {
			t.Fatalf("provider's approval: %+v %v", a, err)
		}
		if g, err := f.s.Grant(ctx, a.GrantID); err != nil || g.Source != exchange.KindRegistration {
			t.Fatalf("grant of a registration: %+v %v", g, err)
		}
	})
}

// TestApprovalReasonLength: an approval's optional reason is
// held to the 1000 characters of a refusal's; a longer one (the JSON body
// allows a megabyte, shown again in every listing) is refused at its
// pointer and the application stays pending.
func TestApprovalReasonLength(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		sh, app, provAdmin := conditionalItem(f)
		a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000001", Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: f.clk.Now().AddDate(0, 3, 0)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{Reason: strings.Repeat("同", 1001)})
		wantPointers(t, err, "/reason")
		if got, err := sh.Application(ctx, a.ID); err != nil || got.Status != exchange.AppPending || got.Reason != "" {
			t.Fatalf("after a refused approval: %+v %v", got, err)
		}
		got, err := sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{Reason: strings.Repeat("同", 1000)})
		if err != nil || got.Status != exchange.AppApproved || got.Reason != strings.Repeat("同", 1000) {
			t.Fatalf("1000-character reason: %+v %v", got.Status, err)
		}
	})
}

// TestApproveAfterAskedPeriod: an application still pending
// when the period it asked for has ended cannot be approved — no decision
// can make the grant, as an approval may not go past what was asked — and
// says so as a conflict, not as an invalid valid_until the approver never
// sent; it can still be refused.
func TestApproveAfterAskedPeriod(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		sh, app, provAdmin := conditionalItem(f)
		a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000001", Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: f.clk.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(time.Hour)
		_, err = sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{})
		wantKind(t, err, errs.KindConflict)
		if got, err := sh.Application(ctx, a.ID); err != nil || got.Status != exchange.AppPending || got.GrantID != "" {
			t.Fatalf("after a refused approval: %+v %v", got, err)
		}
		if got, err := sh.Refuse(ctx, &provAdmin, a.ID, "申请的使用期限已过"); err != nil || got.Status != exchange.AppRefused {
			t.Fatalf("refusal: %+v %v", got, err)
		}
	})
}

// conditionalItem is a 有条件共享 item 101001-000001 of a new provider,
// with an app of a new consumer department and a provider data admin.
func conditionalItem(f *fixture) (sh *exchange.Sharing, app, provAdmin exchange.Principal) {
	prov, cons := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), "")
	items := fakeItems{
		"101001-000001": {Code: "101001-000001", ProviderID: prov.ID, ShareType: exchange.ShareConditional, Published: true, Fields: []exchange.ShareField{{Code: "id"}}},
	}
	return exchange.NewSharing(f.s, items, exchange.SharingConfig{}), f.principal(cons.ID, "app", exchange.RoleApp), f.principal(prov.ID, "da", exchange.RoleDataAdmin)
}

// Lists of applications come a page at a time, none left out: they
// stopped at 100 with no sign that there were more.
func TestApplicationsPages(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		sh, app, _ := conditionalItem(f)
		want := map[string]bool{}
		for i := 0; i < 5; i++ {
			a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000001", Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: f.clk.Now().AddDate(0, 3, 0)})
			if err != nil {
				t.Fatal(err)
			}
			want[a.ID] = true
		}
		got := map[string]bool{}
		cursor, pages := "", 0
		for {
			as, next, err := sh.Applications(ctx, exchange.ApplicationFilter{ConsumerDepartmentID: app.DepartmentID, Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, a := range as {
				if got[a.ID] {
					t.Fatalf("%s twice", a.ID)
				}
				got[a.ID] = true
			}
			if cursor = next; cursor == "" {
				break
			}
		}
		if pages != 3 || len(got) != len(want) {
			t.Fatalf("%d pages, %d of %d applications", pages, len(got), len(want))
		}
		if _, _, err := sh.Applications(ctx, exchange.ApplicationFilter{Cursor: "nonsense"}); !errs.Is(err, errs.KindInvalid) {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}
