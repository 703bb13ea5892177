package catalog_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// TestSearchCursorStableUnderEdits: paging through search answers while
// other admins publish and withdraw items never shows an item twice and
// never skips one that stayed in the answers. An offset cursor ("the
// next page starts at answer 2") does both as soon as an item enters or
// leaves the answers before the page boundary.
func TestSearchCursorStableUnderEdits(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		searchFixture(t, s)
		// 登记: 登记不动员信息, 不动产登记信息, 婚姻登记信息, 抵押登记信息.
		page := func(cursor string) catalog.SearchResult {
			t.Helper()
			r, err := s.Search(ctx, catalog.SearchQuery{Q: "登记", Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		// An item that ranks first is published between pages 1 and 2.
		p1 := page("")
		if got := names(p1); len(got) != 2 || got[0] != "登记不动员信息" || got[1] != "不动产登记信息" || p1.NextCursor == "" {
			t.Fatalf("page 1: %v", got)
		}
		it := mustCreate(t, s, admin, content("xy-mzj", "登记"))
		mustPublish(t, s, it.Code)
		p2 := page(p1.NextCursor)
		if got := names(p2); len(got) != 2 || got[0] != "婚姻登记信息" || got[1] != "抵押登记信息" {
			t.Fatalf("page 2 after an item entered ahead of it: %v (page 1 was %v)", got, names(p1))
		}

		// The first answer of page 1 is withdrawn between pages 1 and 2.
		p1 = page("")
		if got := names(p1); len(got) != 2 || got[0] != "登记" || got[1] != "登记不动员信息" {
			t.Fatalf("page 1 again: %v", got)
		}
		if _, err := s.Withdraw(ctx, admin, it.Code, "重复"); err != nil {
			t.Fatal(err)
		}
		p2 = page(p1.NextCursor)
		if got := names(p2); len(got) != 2 || got[0] != "不动产登记信息" || got[1] != "婚姻登记信息" {
			t.Fatalf("page 2 after an item left ahead of it: %v (page 1 was %v)", got, names(p1))
		}
		p3 := page(p2.NextCursor)
		if got := names(p3); len(got) != 1 || got[0] != "抵押登记信息" || p3.NextCursor != "" {
			t.Fatalf("page 3: %v, next %q", got, p3.NextCursor)
		}
	})
}
