package api_test

import (
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestSealAuditNamesTheSeal: an auditor searching the log for a seal
// (resource seal:ID) finds every call made on it, those refused or failing
// as well as those that went through, each naming it once: another
// organisation reading its usage records, a revocation of a seal already
// revoked, a rotation refused, a signing with a malformed body.
func TestSealAuditNamesTheSeal(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	civil, _, civilSealer, dataSealer := demoSealers(t, h, "audit-")
	s := createSeal(t, h, civil, "襄阳市民政局合同专用章（审计）")
	base := "/v1/seals/" + s.ID
	calls := []struct {
		name, method, path, key string
		body                    any
		want                    int
		seal                    string
	}{
		{"usage read by another organisation", "GET", base + "/usage", dataSealer, nil, 403, s.ID},
		{"signing with a malformed body", "POST", base + "/sign", civilSealer, `{"purpose":`, 400, s.ID},
		{"signing by another organisation", "POST", base + "/sign", dataSealer, map[string]any{"purpose": "x", "document": map[string]any{"sha256": strings.Repeat("ab", 32), "size": 1, "media_type": "application/pdf", "name": "a.pdf"}}, 403, s.ID},
		{"suspension without a reason", "POST", base + "/suspend", h.Admin, map[string]any{"reason": ""}, 400, s.ID},
		{"reinstatement of an active seal", "POST", base + "/reinstate", h.Admin, map[string]any{"reason": "x"}, 409, s.ID},
		{"read of a seal not registered", "GET", "/v1/seals/seal_nosuch", h.Admin, nil, 404, "seal_nosuch"},
		{"image of a seal not registered", "GET", "/v1/seals/seal_nosuch/image", h.Admin, nil, 404, "seal_nosuch"},
		{"read", "GET", base, civilSealer, nil, 200, s.ID},
		{"image", "GET", base + "/image", civilSealer, nil, 200, s.ID},
		{"usage read by its organisation", "GET", base + "/usage", civilSealer, nil, 200, s.ID},
		{"revocation", "POST", base + "/revoke", h.Admin, map[string]any{"reason": "机构撤销"}, 200, s.ID},
		{"revocation of a seal already revoked", "POST", base + "/revoke", h.Admin, map[string]any{"reason": "again"}, 409, s.ID},
		{"rotation of a revoked seal", "POST", base + "/rotate", h.Admin, nil, 409, s.ID},
	}
	for i, c := range calls {
		rid := "seal-audit-" + string(rune('a'+i))
		h.Do(t, c.method, c.path, c.key, c.body, "X-Request-ID: "+rid).Want(t, c.want)
		es := entriesFor(t, h, rid)
		if len(es) != 1 {
			t.Fatalf("%s: %d audit entries", c.name, len(es))
		}
		if n := strings.Count(" "+strings.Join(es[0].Resources, " ")+" ", " seal:"+c.seal+" "); n != 1 {
			t.Errorf("%s (%d): the entry names seal:%s %d times, want once; resources %v", c.name, c.want, c.seal, n, es[0].Resources)
		}
	}
}
