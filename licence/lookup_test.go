package licence_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestLookupPages: a holder's licences come a page of MaxLookup at a
// time, each once; a scope leaves out what its caller may not see before
// the page is cut; a 身份证号 ending in a small x finds its holder's
// licences.
func TestLookupPages(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		holder := person()
		for !strings.HasSuffix(holder, "X") {
			holder = person()
		}
		const cards = licence.MaxLookup + 5
		for i := range cards {
			n := f.idCard(holder)
			n.Number = fmt.Sprintf("PG%s%03d", holder, i)
			mustIssue(t, f, n)
		}
		marriage := mustIssue(t, f, licence.NewLicence{TypeCode: f.types["结婚证"].Code, Number: "JH" + holder, Holder: licence.Holder{Name: "张三丰", ID: holder},
			IssuedOn: "2022-05-20", Face: map[string]string{"spouse_name": "李小红", "spouse_id": person(), "registered_on": "2022-05-20", "registry": "襄阳市民政局"}})

		seen := map[string]bool{}
		q := licence.LookupQuery{IDType: licence.HolderIDResident, ID: holder}
		for page := 1; ; page++ {
			ls, next, err := f.svc.LookupPage(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range ls {
				if seen[l.ID] {
					t.Fatalf("page %d: %s again", page, l.ID)
				}
				seen[l.ID] = true
			}
			if next == "" {
				break
			}
			if len(ls) != licence.MaxLookup || page > 2 {
				t.Fatalf("page %d: %d licences and a next page", page, len(ls))
			}
			q.After = next
		}
		if len(seen) != cards+1 || !seen[marriage.ID] {
			t.Fatalf("%d licences over all pages, want %d with the 结婚证", len(seen), cards+1)
		}

		// A caller who may see 结婚证 only finds it on the first page,
		// although more than a page of 身份证 sort before it.
		ls, next, err := f.svc.LookupPage(ctx, licence.LookupQuery{IDType: licence.HolderIDResident, ID: holder,
			Scope: &licence.LookupScope{Types: []string{marriage.TypeCode}}})
		if err != nil || len(ls) != 1 || ls[0].ID != marriage.ID || next != "" {
			t.Fatalf("scoped to 结婚证: %d licences, next %q, %v", len(ls), next, err)
		}
		// An issuer's own department's licences, with no grant.
		ls, _, err = f.svc.LookupPage(ctx, licence.LookupQuery{IDType: licence.HolderIDResident, ID: holder,
			Scope: &licence.LookupScope{IssuerID: "xy-mzj"}})
		if err != nil || len(ls) != 1 || ls[0].ID != marriage.ID {
			t.Fatalf("scoped to 民政局's licences: %d, %v", len(ls), err)
		}
		// Nothing to see.
		if ls, next, err := f.svc.LookupPage(ctx, licence.LookupQuery{IDType: licence.HolderIDResident, ID: holder, Scope: &licence.LookupScope{}}); err != nil || len(ls) != 0 || next != "" {
			t.Fatalf("empty scope: %d, %q, %v", len(ls), next, err)
		}

		// The check digit as a small x.
		lower := holder[:17] + "x"
		if err := ident.ValidateResidentID(lower); err != nil {
			t.Fatal(err)
		}
		ls, err = f.svc.Lookup(ctx, licence.HolderIDResident, lower, marriage.TypeCode)
		if err != nil || len(ls) != 1 {
			t.Fatalf("lookup by %s: %d licences, %v", lower, len(ls), err)
		}
	})
}
