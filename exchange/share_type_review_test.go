package exchange_test

import (
	"context"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// TestReviewGrantsOnShareTypeChange: when an item goes from 无条件共享 to
// 有条件共享, grants made by registering the use are revoked, while those
// from approved applications and those an admin made stay; when it goes
// to 不予共享 every grant goes.
func TestReviewGrantsOnShareTypeChange(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, reg, appl, adm := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), ""), f.dept(uid("wjw"), ""), f.dept(uid("rsj"), "")
		const code = "101001-000009"
		items := fakeItems{code: {Code: code, ProviderID: prov.ID, ShareType: exchange.ShareConditional, Published: true,
			Fields: []exchange.ShareField{{Code: "id"}, {Code: "name", Personal: true}}}}
		setShare := func(share string) {
			it := items[code]
			it.ShareType = share
			items[code] = it
		}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		regApp, applApp := f.principal(reg.ID, "app", exchange.RoleApp), f.principal(appl.ID, "app", exchange.RoleApp)
		provAdmin := f.principal(prov.ID, "da", exchange.RoleDataAdmin)
		until := f.clk.Now().AddDate(0, 3, 0)
		active := func() map[string]exchange.Grant {
			t.Helper()
			gs, err := f.s.Grants(ctx, exchange.GrantFilter{ResourceKind: exchange.ResourceCatalogItem, ResourceID: code, ActiveOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]exchange.Grant{}
			for _, g := range gs {
				out[g.ID] = g
			}
			return out
		}

		// While 有条件共享: an approved application.
		a, err := sh.Apply(ctx, &applApp, exchange.NewApplication{ItemCode: code, Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: until})
		if err != nil {
			t.Fatal(err)
		}
		if a, err = sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{}); err != nil {
			t.Fatal(err)
		}
		// Turned 无条件共享: nothing to review; a registration grants at once.
		setShare(exchange.ShareUnconditional)
		if ms, err := sh.ReviewGrants(ctx, f.admin, code); err != nil || len(ms) != 0 {
			t.Fatalf("review after 有条件→无条件: %+v %v", ms, err)
		}
		r, err := sh.Apply(ctx, &regApp, exchange.NewApplication{ItemCode: code, Purpose: "核验", ValidUntil: until})
		if err != nil || r.Kind != exchange.KindRegistration || r.GrantID == "" {
			t.Fatalf("registration: %+v %v", r, err)
		}
		if g, _ := f.s.Grant(ctx, r.GrantID); g.Source != exchange.KindRegistration {
			t.Fatalf("registration grant source %q", g.Source)
		}
		ag, err := f.s.CreateGrant(ctx, f.admin, exchange.NewGrant{ConsumerDepartmentID: adm.ID, ResourceKind: exchange.ResourceCatalogItem,
			ResourceID: code, Fields: []string{"id"}, Purpose: "人社核验", ValidUntil: until})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(active()); n != 3 {
			t.Fatalf("%d active grants, want 3", n)
		}

		// 无条件 → 有条件: only the registration's grant goes.
		setShare(exchange.ShareConditional)
		ms, err := sh.ReviewGrants(ctx, f.admin, code)
		if err != nil || len(ms) != 1 || ms[0].Grant.ID != r.GrantID || !strings.Contains(ms[0].Reason, exchange.ShareConditional) {
			t.Fatalf("review after 无条件→有条件: %+v %v", ms, err)
		}
		g, err := f.s.Grant(ctx, r.GrantID)
		if err != nil || g.RevokedAt == nil || g.RevokedBy != f.admin.ID || !strings.Contains(g.RevokeReason, "apply") {
			t.Fatalf("registration grant after the change: %+v %v", g, err)
		}
		now := active()
		if _, ok := now[a.GrantID]; !ok || len(now) != 2 {
			t.Fatalf("active grants after 无条件→有条件: %+v, want the application's %s and the admin's %s", now, a.GrantID, ag.ID)
		}
		if _, ok := now[ag.ID]; !ok {
			t.Fatalf("the admin's grant %s was revoked", ag.ID)
		}
		// Run again: nothing left to do. The consumer can now apply.
		if ms, err := sh.ReviewGrants(ctx, f.admin, code); err != nil || len(ms) != 0 {
			t.Fatalf("second review: %+v %v", ms, err)
		}
		if p, err := sh.Apply(ctx, &regApp, exchange.NewApplication{ItemCode: code, Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: until}); err != nil || p.Status != exchange.AppPending {
			t.Fatalf("application after the change: %+v %v", p, err)
		}

		// → 不予共享: every grant goes.
		setShare(exchange.ShareNone)
		ms, err = sh.ReviewGrants(ctx, f.admin, code)
		if err != nil || len(ms) != 2 {
			t.Fatalf("review after →不予共享: %+v %v", ms, err)
		}
		if n := len(active()); n != 0 {
			t.Fatalf("%d grants in force on a 不予共享 item", n)
		}
	})
}
