package licence_test

import (
	"context"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestFaceNumberIsDecimal: a number face field (注册资本（万元）) takes a
// plain decimal number as people write it, and nothing strconv happens
// to read as one: no hexadecimal floats, no digit separators, no strings
// of thousands of digits sealed into the licence.
func TestFaceNumberIsDecimal(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		scjgj := issuer("xy-scjgj")
		for _, v := range []string{"500", "0", "12.5", "-3", "0.0001", "1000000000"} {
			n := f.bizLicence("")
			n.Face["capital_wan"] = v
			if _, err := f.svc.Issue(ctx, scjgj, n); err != nil {
				t.Errorf("capital %q: %v", v, err)
			}
		}
		for _, v := range []string{"0x1p3", "0X1P-2", "1_000", "1,000", "1e3", "Inf", "NaN", "--1", "1.2.3", "５００",
			strings.Repeat("0", 5000) + "1", "0." + strings.Repeat("0", 5000) + "1"} {
			n := f.bizLicence("")
			n.Face["capital_wan"] = v
			_, err := f.svc.Issue(ctx, scjgj, n)
			if errs.KindOf(err) != errs.KindInvalid || !hasPointer(err, "/face/capital_wan") {
				t.Errorf("capital %.20q: %v, want invalid at /face/capital_wan", v, err)
			}
		}
	})
}
