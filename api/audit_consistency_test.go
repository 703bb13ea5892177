package api_test

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// GET /v1/audit/proofs/consistency: the proof between two published
// checkpoints verifies against their roots (an auditor holding the older
// one learns the log only grew); bad sizes are 400, other roles 403.
func TestConsistencyProofAPI(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	checkpoint := func() (uint64, []byte) {
		t.Helper()
		cp := h.Do(t, "GET", "/v1/audit/checkpoint", "", nil).Want(t, 200).Map(t)
		root, err := base64.StdEncoding.DecodeString(cp["root"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return uint64(cp["size"].(float64)), root
	}
	for range 5 {
		h.Do(t, "GET", "/v1/me", h.AppKey, nil).Want(t, 200)
	}
	from, fromRoot := checkpoint()
	for range 37 {
		h.Do(t, "GET", "/v1/departments", h.AppKey, nil).Want(t, 200)
	}
	to, toRoot := checkpoint()
	if to <= from {
		t.Fatalf("the log did not grow: %d → %d", from, to)
	}
	pr := h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", from, to), h.Auditor, nil).Want(t, 200).Map(t)
	var hashes [][]byte
	for _, s := range pr["hashes"].([]any) {
		b, err := base64.StdEncoding.DecodeString(s.(string))
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, b)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, from, to, hashes, fromRoot, toRoot); err != nil {
		t.Fatalf("consistency proof %d → %d does not verify: %v", from, to, err)
	}
	// A proof for another pair of sizes does not prove this one.
	other := h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", from-1, to), h.Auditor, nil).Want(t, 200).Map(t)
	var wrong [][]byte
	for _, s := range other["hashes"].([]any) {
		b, _ := base64.StdEncoding.DecodeString(s.(string))
		wrong = append(wrong, b)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, from, to, wrong, fromRoot, toRoot); err == nil {
		t.Fatal("a proof from another size verified")
	}

	for _, q := range []string{"from=x&to=3", "from=3", fmt.Sprintf("from=%d&to=%d", to, from), fmt.Sprintf("from=1&to=%d", to+1000)} {
		if r := h.Do(t, "GET", "/v1/audit/proofs/consistency?"+q, h.Auditor, nil); r.Status != 400 {
			t.Errorf("consistency?%s: status %d, want 400", q, r.Status)
		}
	}
	h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", from, to), h.AppKey, nil).Want(t, 403)
	h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", from, to), "", nil).Want(t, 401)
}
