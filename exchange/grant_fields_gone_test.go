package exchange_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// TestGrantsLosingManyLongFieldsAreNarrowed: when many fields with long
// codes leave an item, ReviewGrants narrows the grants that named them
// (or revokes those left with none) with a reason that names what fits
// and counts the rest. The reason named every field and was refused for
// being over 500 characters, so every review of the item failed.
func TestGrantsLosingManyLongFieldsAreNarrowed(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, exchange.Config{})
		ctx := context.Background()
		prov, cons := f.dept(uid("gaj"), ""), f.dept(uid("mzj"), "")
		const code = "101001-000011"
		field := func(i int) string { // 64 characters, the longest a catalogue field code may be
			s := fmt.Sprintf("f%02d_", i)
			return s + strings.Repeat("x", 64-len(s))
		}
		var all, stay []string
		var fields []exchange.ShareField
		for i := range 20 {
			all = append(all, field(i))
			fields = append(fields, exchange.ShareField{Code: field(i)})
		}
		stay = all[:2]
		items := fakeItems{code: {Code: code, ProviderID: prov.ID, ShareType: exchange.ShareUnconditional, Published: true, Fields: fields}}
		sh := exchange.NewSharing(f.s, items, exchange.SharingConfig{})
		until := f.clk.Now().AddDate(0, 3, 0)
		grant := func(fs []string) exchange.Grant {
			t.Helper()
			g, err := f.s.CreateGrant(ctx, f.admin, exchange.NewGrant{ConsumerDepartmentID: cons.ID, ResourceKind: exchange.ResourceCatalogItem,
				ResourceID: code, Fields: fs, Purpose: "核验", ValidUntil: until})
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		wide, gone := grant(all), grant(all[2:])

		// 18 of the 20 fields leave the item.
		it := items[code]
		it.Fields = fields[:2]
		items[code] = it
		ms, err := sh.ReviewGrants(ctx, f.admin, code)
		if err != nil || len(ms) != 2 {
			t.Fatalf("review: %+v %v, want two grants narrowed or revoked", ms, err)
		}
		for _, m := range ms {
			if len(m.Gone) != 18 {
				t.Errorf("grant %s: gone %v, want the 18 fields that left", m.Grant.ID, m.Gone)
			}
		}
		for _, id := range []string{wide.ID, gone.ID} {
			g, err := f.s.Grant(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			r := g.RevokeReason
			if g.RevokedAt == nil || utf8.RuneCountInString(r) > 500 || !strings.HasPrefix(r, "fields "+field(2)+", ") ||
				!strings.HasSuffix(r, " more left item "+code) || !strings.Contains(r, " and ") {
				t.Errorf("grant %s after the review: revoked %v, reason (%d runes) %q", id, g.RevokedAt, utf8.RuneCountInString(r), r)
			}
			// The reason names what fits and counts the rest: 18 in all.
			body := strings.TrimSuffix(strings.TrimPrefix(r, "fields "), " more left item "+code)
			names, more, _ := strings.Cut(body, " and ")
			if n := len(strings.Split(names, ", ")); fmt.Sprint(18-n) != more {
				t.Errorf("grant %s: reason names %d fields and counts %s more, want 18 in all", id, n, more)
			}
		}
		active, err := f.s.Grants(ctx, exchange.GrantFilter{ResourceKind: exchange.ResourceCatalogItem, ResourceID: code, ActiveOnly: true})
		if err != nil || len(active) != 1 || strings.Join(active[0].Fields, ",") != strings.Join(stay, ",") {
			t.Fatalf("grants in force after the review: %+v %v, want one of the fields that stayed", active, err)
		}
		if ms, err := sh.ReviewGrants(ctx, f.admin, code); err != nil || len(ms) != 0 {
			t.Fatalf("second review: %+v %v", ms, err)
		}
	})
}
