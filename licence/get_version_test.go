package licence_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestGetVersionNeverMade: an identifier of any version a licence has had
// reads it as it is now; one of a version it has not reached (a check
// character is computed by anyone) names no licence, and nothing is
// changed through it.
func TestGetVersionNeverMade(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		l := mustIssue(t, f, f.idCard(person()))
		v2, err := f.svc.Apply(ctx, issuer("xy-gaj"), l.ID, licence.Change{Event: licence.EventSuspend, Reason: "涉案暂扣"})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{l.ID, v2.ID} {
			if got, err := f.svc.Get(ctx, id); err != nil || got.ID != v2.ID {
				t.Fatalf("Get(%s) = %s, %v; want the current version %s", id, got.ID, err, v2.ID)
			}
		}
		p, _ := ident.ParseLicenceID(l.ID)
		v3, err := ident.NewLicenceID(p.TypeCode, p.IssuerCode, p.Serial, 3)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Get(ctx, v3)
		wantKind(t, err, errs.KindNotFound)
		_, err = f.svc.Apply(ctx, issuer("xy-gaj"), v3, licence.Change{Event: licence.EventReturn, Reason: "发还"})
		wantKind(t, err, errs.KindNotFound)
		_, err = f.svc.Verify(ctx, v3)
		wantKind(t, err, errs.KindNotFound)
		if got, _ := f.svc.Get(ctx, l.ID); got.Version != 2 {
			t.Fatalf("version %d after changes through an identifier of version 3", got.Version)
		}
	})
}
