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

// TestDisputesFollowTheItemsProvider: an open dispute on an item handed to
// another department is that department's to settle. Its former provider
// may no longer reject it (which clears the flag every consumer sees), and
// the new provider, the only one who may correct the item's records, is
// not refused — before, a dispute needing a correction could be accepted
// by nobody.
func TestDisputesFollowTheItemsProvider(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons, next := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), ""), f.dept(uid("wjw"), "")
		const code = "101001-000010"
		items := fakeItems{code: {Code: code, ProviderID: prov.ID, ShareType: exchange.ShareConditional, Published: true,
			Fields: []exchange.ShareField{{Code: "id"}}}}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		app := f.principal(cons.ID, "app", exchange.RoleApp)
		provAdmin := f.principal(prov.ID, "da", exchange.RoleDataAdmin)
		nextAdmin := f.principal(next.ID, "da", exchange.RoleDataAdmin)
		f.grant(exchange.NewGrant{ConsumerDepartmentID: cons.ID, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code,
			Fields: []string{"id"}, Purpose: "核验", ValidUntil: t0.Add(30 * 24 * time.Hour)})
		raise := func(key string) exchange.Dispute {
			t.Helper()
			dp, err := sh.RaiseDispute(ctx, &app, exchange.NewDispute{ItemCode: code, RecordKey: key, Reason: "有误"})
			if err != nil {
				t.Fatal(err)
			}
			return dp
		}
		a, b := raise("k1"), raise("k2")
		it := items[code]
		it.ProviderID = next.ID
		items[code] = it

		if _, err := sh.RejectDispute(ctx, &provAdmin, a.ID, "数据无误"); !errs.Is(err, errs.KindForbidden) {
			t.Errorf("the former provider rejected a dispute: %v, want forbidden", err)
		}
		if _, err := sh.CheckAccept(ctx, &provAdmin, b.ID, "已更正"); !errs.Is(err, errs.KindForbidden) {
			t.Errorf("the former provider may accept a dispute: %v, want forbidden", err)
		}
		got, err := sh.AcceptDispute(ctx, &nextAdmin, b.ID, "已更正", `{"id":"1"}`)
		if err != nil || got.Status != exchange.DisputeAccepted {
			t.Fatalf("the new provider accepting: %+v %v", got, err)
		}
		if _, err := sh.ClearDispute(ctx, &nextAdmin, b.ID); err != nil {
			t.Fatalf("the new provider clearing: %v", err)
		}
		if _, err := sh.ArchiveDispute(ctx, &nextAdmin, b.ID); err != nil {
			t.Fatalf("the new provider archiving: %v", err)
		}
		if got, _ := sh.Dispute(ctx, a.ID); !got.Flagged || got.Status != exchange.DisputeOpen {
			t.Errorf("dispute %s after the former provider's rejection: %s, flagged %v", a.ID, got.Status, got.Flagged)
		}
	})
}
