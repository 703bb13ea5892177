package catalog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestMissingProviderIsInvalidNotForbidden: a data admin who leaves out
// provider_id gets a 400 naming /provider_id, as a hub admin does, not a
// 403 saying only "data admins of department  (nothing) may change it".
func TestMissingProviderIsInvalidNotForbidden(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		c := content("", "人口基本信息")
		_, err := s.Create(ctx, gajAdmin, catalog.NewItem{Content: c})
		wantField(t, err, "/provider_id")

		it := mustCreate(t, s, gajAdmin, content("xy-gaj", "人口基本信息"))
		u := catalog.ItemUpdate{Version: it.Version, Content: it.Content}
		u.ProviderID = ""
		_, err = s.Update(ctx, gajAdmin, it.Code, u)
		wantField(t, err, "/provider_id")
		// Another department's data admin is still refused, whatever the body.
		_, err = s.Update(ctx, mzjAdmin, it.Code, u)
		wantKind(t, err, errs.KindForbidden)
	})
}

// TestUpdateWithoutVersionIsInvalid: a PUT body without the version the
// caller read is a 400 naming /version, not a 409 telling the caller to
// read the item again (which, without a version, can never succeed).
func TestUpdateWithoutVersionIsInvalid(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		it := mustCreate(t, s, gajAdmin, content("xy-gaj", "人口基本信息"))
		u := catalog.ItemUpdate{Content: it.Content}
		u.Summary = "改过的摘要"
		_, err := s.Update(ctx, gajAdmin, it.Code, u)
		wantField(t, err, "/version")
		if got, _ := s.Item(ctx, it.Code); got.Version != 1 {
			t.Fatalf("an update without a version was written: %+v", got)
		}
	})
}

// TestNotesAndRelatedBounded: an update's or a publication's note was
// kept in the item's history whatever its length (a withdrawal's reason
// is at most 500 characters), and an item could name any number of
// related items, each looked up when it is saved. Both are 400s at their
// place; at the limits they are kept.
func TestNotesAndRelatedBounded(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		it := mustCreate(t, s, gajAdmin, content("xy-gaj", "人口基本信息"))
		long := strings.Repeat("注", catalog.MaxNote+1)
		_, err := s.Publish(ctx, gajAdmin, it.Code, long)
		wantField(t, err, "/note")
		it, err = s.Publish(ctx, gajAdmin, it.Code, long[:len(long)-len("注")])
		if err != nil {
			t.Fatalf("a note of %d characters: %v", catalog.MaxNote, err)
		}
		c := it.Content
		c.Summary += "（更新）"
		_, err = s.Update(ctx, gajAdmin, it.Code, catalog.ItemUpdate{Version: it.Version, Content: c, Note: long})
		wantField(t, err, "/note")

		c = it.Content
		for i := range catalog.MaxRelated + 1 {
			c.Related = append(c.Related, fmt.Sprintf("101001-%06d", 900000+i))
		}
		_, err = s.Update(ctx, gajAdmin, it.Code, catalog.ItemUpdate{Version: it.Version, Content: c})
		wantField(t, err, "/related")
	})
}
