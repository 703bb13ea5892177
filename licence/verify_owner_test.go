package licence_test

import (
	"context"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/licence"
	"github.com/xiangyang-gov/sharehub/seal"
)

// testForeignSeal stores a version of a 公安局 licence sealed with 民政局's
// seal (its data and digest as issued, the seal signature itself good) and
// checks that Verify fails it for not bearing the issuing department's seal.
func testForeignSeal(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := mustIssue(t, f, f.idCard(person()))
	var doc, digest, own string
	if err := f.db.R.QueryRowContext(ctx, `SELECT doc, digest, seal_jws FROM licence_versions WHERE licence_id = $1 AND version = $2`, l.Key(), l.Version).
		Scan(&doc, &digest, &own); err != nil {
		t.Fatal(err)
	}
	mzj, _, err := f.seals.List(ctx, seal.ListFilter{OrganisationID: "xy-mzj", Status: seal.StatusActive, Limit: 1})
	if err != nil || len(mzj) != 1 {
		t.Fatalf("民政局's seal: %v %v", mzj, err)
	}
	civil := &exchange.Principal{ID: "p-seal-user-xy-mzj", DepartmentID: "xy-mzj", Name: "seal user", Roles: []exchange.Role{exchange.RoleSealUser}}
	sign := func(existing []byte) string {
		t.Helper()
		req := seal.SignRequest{Purpose: "电子证照 issue " + l.TypeName, Existing: existing}
		if existing == nil {
			req.Document = seal.Document{SHA256: digest, Size: int64(len(doc)), MediaType: licence.DocMediaType, Name: l.ID}
		}
		jws, err := f.seals.Sign(ctx, civil, mzj[0].ID, req)
		if err != nil {
			t.Fatal(err)
		}
		return string(jws)
	}
	setSeal := func(jws string) {
		t.Helper()
		if _, err := f.db.W.ExecContext(ctx, `UPDATE licence_versions SET seal_jws = $1 WHERE licence_id = $2 AND version = $3`, jws, l.Key(), l.Version); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		jws  string
	}{
		{"another department's seal", sign(nil)},
		{"countersigned by another department", sign([]byte(own))},
	} {
		t.Run(c.name, func(t *testing.T) {
			setSeal(c.jws)
			v, err := f.svc.Verify(ctx, l.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !v.Seal.Valid {
				t.Fatalf("the seal itself does not verify, so this tests nothing: %+v", v.Seal)
			}
			if v.Valid || len(v.Problems) != 1 {
				t.Fatalf("a version sealed by 民政局 for 公安局: valid %v, problems %q; want one problem", v.Valid, v.Problems)
			}
			if p := v.Problems[0]; !strings.Contains(p, "襄阳市民政局") || !strings.Contains(p, "issuing department") || !strings.Contains(p, l.IssuerName) {
				t.Fatalf("problem %q does not say whose seal it is and that it is not the issuing department's", p)
			}
		})
	}
	setSeal(own)
	if v, err := f.svc.Verify(ctx, l.ID); err != nil || !v.Valid {
		t.Fatalf("with its own seal back: %+v %v", v, err)
	}
}
