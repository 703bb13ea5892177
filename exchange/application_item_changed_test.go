package exchange_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestDecisionFollowsTheItemAsItIsNow: an application is decided on the
// item as it is when the provider answers, not as it was when the consumer
// applied. An item withdrawn or turned 不予共享 meanwhile is not granted
// (the grant review that ran at the change cannot see a grant made after
// it); an item handed to another provider is decided by the new provider's
// data admins, not the old one's; and an item handed to the consumer itself
// needs no grant.
func TestDecisionFollowsTheItemAsItIsNow(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons, next := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), ""), f.dept(uid("wjw"), "")
		const code = "101001-000009"
		items := fakeItems{code: {Code: code, ProviderID: prov.ID, ShareType: exchange.ShareConditional, Published: true,
			Fields: []exchange.ShareField{{Code: "id"}, {Code: "name"}}}}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		app := f.principal(cons.ID, "app", exchange.RoleApp)
		consAdmin := f.principal(cons.ID, "da", exchange.RoleDataAdmin)
		provAdmin := f.principal(prov.ID, "da", exchange.RoleDataAdmin)
		nextAdmin := f.principal(next.ID, "da", exchange.RoleDataAdmin)
		until := f.clk.Now().AddDate(0, 3, 0)
		apply := func() exchange.Application {
			t.Helper()
			a, err := sh.Apply(ctx, &app, exchange.NewApplication{ItemCode: code, Purpose: "核验", Scenario: "窗口", Fields: []string{"id"}, ValidUntil: until})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			return a
		}
		set := func(fn func(*exchange.ShareItem)) {
			it := items[code]
			fn(&it)
			items[code] = it
		}
		noGrant := func(what string, a exchange.Application, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s: approved, grant %s", what, a.GrantID)
			}
			gs, gerr := f.s.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: cons.ID, ActiveOnly: true})
			if gerr != nil {
				t.Fatal(gerr)
			}
			for _, g := range gs { // so that the next case starts clean
				t.Errorf("%s: the consumer holds grant %s", what, g.ID)
				if _, err := f.s.RevokeGrant(ctx, f.admin, g.ID, "test"); err != nil {
					t.Fatal(err)
				}
			}
		}

		// Turned 不予共享 while the application waited.
		a := apply()
		set(func(it *exchange.ShareItem) { it.ShareType = exchange.ShareNone })
		got, err := sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{})
		noGrant("不予共享 item", got, err)
		if _, err := sh.Refuse(ctx, &provAdmin, a.ID, "不再共享"); err != nil {
			t.Errorf("refusing on a 不予共享 item: %v", err)
		}
		set(func(it *exchange.ShareItem) { it.ShareType = exchange.ShareConditional })

		// Withdrawn while it waited.
		a = apply()
		set(func(it *exchange.ShareItem) { it.Published = false })
		got, err = sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{})
		noGrant("withdrawn item", got, err)
		set(func(it *exchange.ShareItem) { it.Published = true })
		if _, err := sh.Refuse(ctx, &provAdmin, a.ID, "撤回"); err != nil {
			t.Errorf("refusing on a withdrawn item: %v", err)
		}

		// Handed to another provider while it waited.
		a = apply()
		set(func(it *exchange.ShareItem) { it.ProviderID = next.ID })
		got, err = sh.Approve(ctx, &provAdmin, a.ID, exchange.Decision{})
		if !errs.Is(err, errs.KindForbidden) {
			t.Errorf("the former provider's data admin: %v, want forbidden", err)
		}
		noGrant("former provider", got, err)
		if _, err := sh.Refuse(ctx, &provAdmin, a.ID, "不归我们"); !errs.Is(err, errs.KindForbidden) {
			t.Errorf("the former provider's data admin refused: %v, want forbidden", err)
		}
		got, err = sh.Approve(ctx, &nextAdmin, a.ID, exchange.Decision{})
		if err != nil || got.Status != exchange.AppApproved || got.GrantID == "" {
			t.Fatalf("the new provider's approval: %+v %v", got, err)
		}
		if _, err := f.s.RevokeGrant(ctx, f.admin, got.GrantID, "test"); err != nil {
			t.Fatal(err)
		}

		// Handed to the consumer itself: its own data admin does not
		// approve its own department's application.
		a = apply()
		set(func(it *exchange.ShareItem) { it.ProviderID = cons.ID })
		got, err = sh.Approve(ctx, &consAdmin, a.ID, exchange.Decision{})
		if err == nil {
			t.Errorf("the consumer's data admin approved its own department's application: grant %s", got.GrantID)
		}
		if _, err := sh.Refuse(ctx, &consAdmin, a.ID, "本部门提供，无需申请"); err != nil {
			t.Errorf("the consumer, now provider, refusing: %v", err)
		}
		if gs, _ := f.s.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: cons.ID, ActiveOnly: true}); len(gs) != 0 {
			t.Errorf("the consumer holds %d grants in force", len(gs))
		}
	})
}
