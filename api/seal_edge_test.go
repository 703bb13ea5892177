package api_test

import (
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// A multipart body whose fields are over what Go's form parser holds (the
// memory limit plus 10 MiB) is too large (413), not malformed (400).
func TestSealMultipartFieldsTooLarge(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	civil := appDepartment(h)
	sealer := sealUserKey(t, h, civil, "edge-sealer")
	s := createSeal(t, h, civil, "襄阳市民政局业务专用章（审查）")
	big := strings.Repeat("A", 20<<20) // under --max-upload (64 MiB)
	for name, r := range map[string]*hubtest.Response{
		"sign":   doMultipart(t, h, "/v1/seals/"+s.ID+"/sign", sealer, map[string]string{"purpose": "x", "existing": big}, nil),
		"verify": doMultipart(t, h, "/v1/signatures/verify", "", map[string]string{"jws": big}, nil),
	} {
		if r.Status != 413 {
			t.Errorf("%s: status %d, want 413: %.300s", name, r.Status, r.Body)
			continue
		}
		r.Problem(t)
	}
}

// The audit entry of a signing names the document by the digest the sealed
// statement carries, however the client wrote it.
func TestSealAuditDigestNormalised(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	civil := appDepartment(h)
	sealer := sealUserKey(t, h, civil, "edge-sealer")
	s := createSeal(t, h, civil, "襄阳市民政局合同专用章（审查）")
	digest := strings.Repeat("ab", 32)
	h.Do(t, "POST", "/v1/seals/"+s.ID+"/sign", sealer, map[string]any{
		"document": map[string]any{"sha256": " " + strings.ToUpper(digest) + " ", "size": 10, "media_type": "application/pdf", "name": "合同.pdf"},
		"purpose":  "签订合同",
	}, "X-Request-ID: upper-digest").Want(t, 200)
	es := entriesFor(t, h, "upper-digest")
	if len(es) != 1 || !contains(es[0].Resources, "sha256:"+digest) {
		t.Fatalf("audit entry resources: %+v", es)
	}
}
