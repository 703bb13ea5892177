package exchange_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestReviewGrantsCoversGrantsDatedToStartLater: a grant whose valid_from
// is still ahead is reviewed like one in force. Review used to read only
// the grants in force now, so a grant dated to start later kept fields
// that had left the item, outlived the item's withdrawal or its turning
// 不予共享, and then came into force.
func TestReviewGrantsCoversGrantsDatedToStartLater(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons, other := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), ""), f.dept(uid("wjw"), "")
		const code = "101001-000071"
		items := fakeItems{code: {Code: code, ProviderID: prov.ID, ShareType: exchange.ShareConditional, Published: true,
			Fields: []exchange.ShareField{{Code: "id"}, {Code: "name"}, {Code: "phone", Personal: true}}}}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		app := f.principal(cons.ID, "app", exchange.RoleApp)
		otherApp := f.principal(other.ID, "app", exchange.RoleApp)
		res := exchange.Resource{Kind: exchange.ResourceCatalogItem, ID: code}
		now := f.clk.Now()
		starts := now.Add(10 * 24 * time.Hour).UTC().Truncate(time.Microsecond)
		later := f.grant(exchange.NewGrant{ConsumerDepartmentID: cons.ID, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code,
			Fields: []string{"id", "phone"}, Purpose: "核验", ValidFrom: starts, ValidUntil: now.Add(90 * 24 * time.Hour)})
		// A grant in force now, on another department, narrowed as before.
		inForce := f.grant(exchange.NewGrant{ConsumerDepartmentID: other.ID, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code,
			Fields: []string{"id", "phone"}, Purpose: "核验", ValidUntil: now.Add(90 * 24 * time.Hour)})
		// An expired grant is left alone.
		expired := f.grant(exchange.NewGrant{ConsumerDepartmentID: other.ID, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code,
			Fields: []string{"phone"}, Purpose: "核验", ValidUntil: now.Add(time.Hour)})
		f.clk.Advance(2 * time.Hour)

		// phone leaves the item: both unexpired grants are narrowed to id.
		it := items[code]
		it.Fields = it.Fields[:2]
		items[code] = it
		ms, err := sh.ReviewGrants(ctx, f.admin, code)
		if err != nil {
			t.Fatal(err)
		}
		reviewed := map[string]bool{}
		for _, m := range ms {
			reviewed[m.Grant.ID] = true
		}
		if len(ms) != 2 || !reviewed[later.ID] || !reviewed[inForce.ID] {
			t.Fatalf("review after phone left: %+v; want grants %s (starting later) and %s narrowed", ms, later.ID, inForce.ID)
		}
		if g, _ := f.s.Grant(ctx, expired.ID); g.RevokedAt != nil {
			t.Errorf("the expired grant was revoked: %+v", g)
		}
		gs, err := f.s.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: cons.ID, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code, Unexpired: true})
		if err != nil || len(gs) != 1 {
			t.Fatalf("unexpired grants of %s after the review: %+v %v; want the narrowed one", cons.ID, gs, err)
		}
		narrowed := gs[0]
		if !slices.Equal(narrowed.Fields, []string{"id"}) || !narrowed.ValidFrom.Equal(starts) {
			t.Fatalf("narrowed grant %+v: want fields [id] from %s (a narrowing does not bring the grant forward)", narrowed, starts)
		}
		if ms, err := sh.ReviewGrants(ctx, f.admin, code); err != nil || len(ms) != 0 {
			t.Fatalf("second review: %+v %v; want nothing to do", ms, err)
		}

		// The item turns 不予共享: the grant starting later is revoked too.
		it.ShareType = exchange.ShareNone
		items[code] = it
		ms, err = sh.ReviewGrants(ctx, f.admin, code)
		if err != nil {
			t.Fatal(err)
		}
		reviewed = map[string]bool{}
		for _, m := range ms {
			reviewed[m.Grant.ID] = true
		}
		if !reviewed[narrowed.ID] {
			t.Fatalf("review after 不予共享: %+v; want grant %s (starting later) revoked", ms, narrowed.ID)
		}
		if g, _ := f.s.Grant(ctx, narrowed.ID); g.RevokedAt == nil {
			t.Fatalf("grant %s dated to start later is not revoked on a 不予共享 item", narrowed.ID)
		}
		// Once its start has come, it gives nothing.
		f.clk.Set(starts.Add(time.Hour))
		_, err = f.s.Authorize(ctx, &app, res, []string{"id"}, "")
		if !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("call under the revoked grant once started: %v, want forbidden", err)
		}
		_, err = f.s.Authorize(ctx, &otherApp, res, []string{"id"}, "")
		if !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("call of %s after the review: %v, want forbidden", other.ID, err)
		}
	})
}

// TestReviewGrantsRevokesLaterGrantsOfWithdrawnItem: withdrawing an item
// revokes the grants on it dated to start later.
func TestReviewGrantsRevokesLaterGrantsOfWithdrawnItem(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), "")
		const code = "101001-000072"
		items := fakeItems{code: {Code: code, ProviderID: prov.ID, ShareType: exchange.ShareUnconditional, Published: true,
			Fields: []exchange.ShareField{{Code: "id"}}}}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		now := f.clk.Now()
		later := f.grant(exchange.NewGrant{ConsumerDepartmentID: cons.ID, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code,
			Fields: []string{"*"}, Purpose: "核验", ValidFrom: now.Add(24 * time.Hour), ValidUntil: now.Add(48 * time.Hour)})
		it := items[code]
		it.Published = false
		items[code] = it
		ms, err := sh.ReviewGrants(ctx, f.admin, code)
		if err != nil || len(ms) != 1 || ms[0].Grant.ID != later.ID {
			t.Fatalf("review of the withdrawn item: %+v %v; want grant %s revoked", ms, err, later.ID)
		}
		if g, _ := f.s.Grant(ctx, later.ID); g.RevokedAt == nil {
			t.Fatalf("grant %s is not revoked", later.ID)
		}
	})
}
