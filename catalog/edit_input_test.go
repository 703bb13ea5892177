package catalog_test

import (
	"context"
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
