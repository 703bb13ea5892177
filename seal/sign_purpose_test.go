package seal

import (
	"context"
	"errors"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestSignPurposeBlankOrPadded: a purpose of white space (ASCII or the
// full-width U+3000 of Chinese input) is no purpose, and the purpose
// signed is the trimmed text the audit log records.
func TestSignPurposeBlankOrPadded(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市司法局")
		s := h.seal(t, org, KindBusiness, AlgEd25519)
		for _, p := range []string{" ", "   ", "\u3000\u3000", " \u3000 "} {
			_, err := h.svc.Sign(ctx, keeper(org), s.ID, SignRequest{Document: testDoc("公证书"), Purpose: p})
			wantKind(t, err, errs.KindInvalid)
			var e *errs.Error
			if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Pointer != "/purpose" {
				t.Errorf("purpose %q: %v, want a problem at /purpose", p, err)
			}
		}
		jws := mustSign(t, h, keeper(org), s.ID, SignRequest{Document: testDoc("公证书"), Purpose: "\u3000出具公证书 "})
		if got := splitJWS(t, jws).Signatures[0].header(t)["purpose"]; got != "出具公证书" {
			t.Errorf("signed purpose %q, want it trimmed", got)
		}
		if res := mustVerify(t, h, jws); !res.Valid || res.Signatures[0].Purpose != "出具公证书" {
			t.Errorf("verified: %+v", res.Signatures[0])
		}
	})
}
