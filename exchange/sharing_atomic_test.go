package exchange_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// grantsOf returns every grant (revoked ones too) held by department dep.
func grantsOf(t *testing.T, f *fixture, dep string) []exchange.Grant {
	t.Helper()
	gs, err := f.s.Grants(context.Background(), exchange.GrantFilter{ConsumerDepartmentID: dep})
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

// TestApprovalFailingAtItsLastWriteLeavesNothing: an approval whose last
// write (recording the grant's id on the application) fails makes no
// grant and leaves the application pending, undecided; approved again it
// makes exactly one grant. The claim, the grant and its id were separate
// writes: the failure left an approved application and a grant it did
// not name.
func TestApprovalFailingAtItsLastWriteLeavesNothing(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		sh, app, provAdmin := conditionalItem(f)
		a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000001", Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: f.clk.Now().AddDate(0, 3, 0)})
		if err != nil {
			t.Fatal(err)
		}
		restore := dbtest.FailWrites(t, d, "fail_grant_id", "UPDATE OF grant_id ON share_applications")
		if _, err := sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{}); err == nil {
			t.Fatal("approval succeeded although its last write failed")
		}
		restore()
		got, err := sh.Application(ctx, a.ID)
		if err != nil || got.Status != exchange.AppPending || got.GrantID != "" || got.DecidedBy != "" || got.DecidedAt != nil || got.GrantedUntil != nil {
			t.Fatalf("application after a failed approval: %+v %v", got, err)
		}
		if gs := grantsOf(t, f, app.DepartmentID); len(gs) != 0 {
			t.Fatalf("a failed approval left %d grants: %+v", len(gs), gs)
		}

		got, err = sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{})
		if err != nil || got.Status != exchange.AppApproved || got.GrantID == "" {
			t.Fatalf("approval: %+v %v", got, err)
		}
		if gs := grantsOf(t, f, app.DepartmentID); len(gs) != 1 || gs[0].ID != got.GrantID {
			t.Fatalf("grants after the approval: %+v, want only %s", gs, got.GrantID)
		}
	})
}

// TestApprovalWhoseGrantFailsStaysPending: an approval whose grant cannot
// be written leaves the application pending and undecided.
func TestApprovalWhoseGrantFailsStaysPending(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		sh, app, provAdmin := conditionalItem(f)
		a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000001", Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: f.clk.Now().AddDate(0, 3, 0)})
		if err != nil {
			t.Fatal(err)
		}
		restore := dbtest.FailWrites(t, d, "fail_grant_insert", "INSERT ON grants")
		if _, err := sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{}); err == nil {
			t.Fatal("approval succeeded without its grant")
		}
		restore()
		got, err := sh.Application(ctx, a.ID)
		if err != nil || got.Status != exchange.AppPending || got.GrantID != "" || got.DecidedBy != "" {
			t.Fatalf("application after a failed approval: %+v %v", got, err)
		}
		if gs := grantsOf(t, f, app.DepartmentID); len(gs) != 0 {
			t.Fatalf("a failed approval left %d grants: %+v", len(gs), gs)
		}
	})
}

// TestRegistrationFailingAtItsLastWriteLeavesNothing: a registration (无条件
// 共享) whose last write fails leaves neither the registration nor a grant;
// registering again works. The pending row was removed only when no
// grant had been made: a failure after the grant left an approved
// registration and a grant it did not name.
func TestRegistrationFailingAtItsLastWriteLeavesNothing(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), "")
		items := fakeItems{
			"101001-000003": {Code: "101001-000003", ProviderID: prov.ID, ShareType: exchange.ShareUnconditional, Published: true, Fields: []exchange.ShareField{{Code: "id"}}},
		}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		app := f.principal(cons.ID, "app", exchange.RoleApp)
		na := exchange.NewApplication{ItemCode: "101001-000003", Purpose: "核验", ValidUntil: f.clk.Now().AddDate(0, 3, 0)}

		restore := dbtest.FailWrites(t, d, "fail_grant_id", "UPDATE OF grant_id ON share_applications")
		if _, err := sh.Apply(ctx, &app, na); err == nil {
			t.Fatal("registration succeeded although its last write failed")
		}
		restore()
		left, _, err := sh.Applications(ctx, exchange.ApplicationFilter{ConsumerDepartmentID: cons.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 0 {
			t.Errorf("a failed registration left %d applications: %+v", len(left), left)
		}
		if gs := grantsOf(t, f, cons.ID); len(gs) != 0 {
			t.Errorf("a failed registration left %d grants: %+v", len(gs), gs)
		}

		reg, err := sh.Apply(ctx, &app, na)
		if err != nil || reg.Status != exchange.AppApproved || reg.GrantID == "" {
			t.Fatalf("registration: %+v %v", reg, err)
		}
		if gs := grantsOf(t, f, cons.ID); len(gs) != 1 || gs[0].ID != reg.GrantID || gs[0].Source != exchange.KindRegistration {
			t.Fatalf("grants after the registration: %+v, want only %s", gs, reg.GrantID)
		}
	})
}

// TestConcurrentApprovalsMakeOneGrant: two data admins approving the same
// application at once make one grant; the other gets a conflict.
func TestConcurrentApprovalsMakeOneGrant(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		sh, app, provAdmin := conditionalItem(f)
		other := f.principal(provAdmin.DepartmentID, "da2", exchange.RoleDataAdmin)
		const rounds = 10
		for i := 0; i < rounds; i++ {
			a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: "101001-000001", Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: f.clk.Now().AddDate(0, 3, 0)})
			if err != nil {
				t.Fatal(err)
			}
			var (
				wg      sync.WaitGroup
				results [2]exchange.Application
				failed  [2]error
			)
			start := make(chan struct{})
			for j, p := range []*exchange.Principal{&provAdmin, &other} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[j], failed[j] = sh.Approve(ctx, p, a.ID, exchange.Decision{})
				}()
			}
			close(start)
			wg.Wait()
			won := 0
			for j, err := range failed {
				switch {
				case err == nil:
					won++
					if results[j].GrantID == "" {
						t.Fatalf("round %d: approval without a grant id: %+v", i, results[j])
					}
				case !errs.Is(err, errs.KindConflict):
					t.Fatalf("round %d: the losing approval: %v, want a conflict", i, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d approvals succeeded, want 1 (errors %v)", i, won, failed)
			}
		}
		gs := grantsOf(t, f, app.DepartmentID)
		if len(gs) != rounds {
			t.Fatalf("%d grants for %d applications", len(gs), rounds)
		}
		as, _, err := sh.Applications(ctx, exchange.ApplicationFilter{ConsumerDepartmentID: app.DepartmentID})
		if err != nil {
			t.Fatal(err)
		}
		named := map[string]bool{}
		for _, a := range as {
			if a.Status != exchange.AppApproved || a.GrantID == "" || named[a.GrantID] {
				t.Fatalf("application after the race: %+v", a)
			}
			named[a.GrantID] = true
		}
		for _, g := range gs {
			if !named[g.ID] {
				t.Fatalf("grant %s is named by no application", g.ID)
			}
		}
	})
}

// TestNarrowingFailureKeepsTheGrant: when a grant names a field its item
// no longer has, ReviewGrants revokes it and makes a narrower one; if the
// narrower one cannot be written the old grant stays in force (the review
// runs again later) instead of the consumer losing every field.
func TestNarrowingFailureKeepsTheGrant(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), "")
		const code = "101001-000001"
		items := fakeItems{code: {Code: code, ProviderID: prov.ID, ShareType: exchange.ShareConditional, Published: true,
			Fields: []exchange.ShareField{{Code: "id"}, {Code: "name"}}}}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		g := f.grant(exchange.NewGrant{ConsumerDepartmentID: cons.ID, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code,
			Fields: []string{"id", "name"}, Purpose: "核验", ValidUntil: f.clk.Now().AddDate(0, 3, 0)})
		it := items[code]
		it.Fields = it.Fields[:1] // "name" leaves the item
		items[code] = it

		restore := dbtest.FailWrites(t, d, "fail_grant_insert", "INSERT ON grants")
		if _, err := sh.ReviewGrants(ctx, f.admin, code); err == nil {
			t.Fatal("review succeeded without the narrower grant")
		}
		restore()
		gs := grantsOf(t, f, cons.ID)
		if len(gs) != 1 || gs[0].ID != g.ID || gs[0].RevokedAt != nil {
			t.Fatalf("grants after a failed narrowing: %+v, want %s still in force", gs, g.ID)
		}

		ms, err := sh.ReviewGrants(ctx, f.admin, code)
		if err != nil || len(ms) != 1 || ms[0].Grant.ID != g.ID {
			t.Fatalf("review: %+v %v", ms, err)
		}
		active, err := f.s.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: cons.ID, ActiveOnly: true})
		if err != nil || len(active) != 1 || active[0].ID == g.ID || strings.Join(active[0].Fields, ",") != "id" {
			t.Fatalf("active grants after the narrowing: %+v %v", active, err)
		}
	})
}

// TestApprovalAppliesAtOnce: Authorize sees an approval's grant as soon as
// Approve returns, although it had cached the department's grants (none)
// for an hour: the grant cache is cleared once the approval is committed.
func TestApprovalAppliesAtOnce(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{GrantCacheTTL: time.Hour})
		ctx := context.Background()
		sh, app, provAdmin := conditionalItem(f)
		res := exchange.Resource{Kind: exchange.ResourceCatalogItem, ID: "101001-000001"}
		a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: res.ID, Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: f.clk.Now().AddDate(0, 3, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Authorize(ctx, &app, res, []string{"id"}, ""); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("before the approval: %v", err)
		}
		if a, err = sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{}); err != nil {
			t.Fatal(err)
		}
		acc, err := f.s.Authorize(ctx, &app, res, []string{"id"}, "")
		if err != nil || acc.Grant.ID != a.GrantID {
			t.Fatalf("after the approval: %+v %v, want grant %s", acc.Grant, err, a.GrantID)
		}
	})
}
