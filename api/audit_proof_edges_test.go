package api_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// A proof names the sizes and index it is for even when one of them is 0:
// the proof of the log's first entry, and the (empty) proof from the
// empty tree. A client reading "index" or "from" must not find it missing.
func TestProofsNameTheirSizesAtZero(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			h.Do(t, "GET", "/v1/me", h.AppKey, nil).Want(t, 200)
			cp := h.Do(t, "GET", "/v1/audit/checkpoint", "", nil).Want(t, 200).Map(t)
			size := uint64(cp["size"].(float64))
			root, _ := base64.StdEncoding.DecodeString(cp["root"].(string))

			inc := h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/inclusion?index=0&size=%d", size), h.Auditor, nil).Want(t, 200).Map(t)
			if inc["index"] != float64(0) || inc["size"] != float64(size) {
				t.Errorf("inclusion proof of entry 0 in %d: index %v, size %v; want 0 and %d (%v)", size, inc["index"], inc["size"], size, inc)
			}
			leaf, _ := base64.StdEncoding.DecodeString(inc["leaf_hash"].(string))
			var hashes [][]byte
			for _, s := range inc["hashes"].([]any) {
				b, _ := base64.StdEncoding.DecodeString(s.(string))
				hashes = append(hashes, b)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 0, size, leaf, hashes, root); err != nil {
				t.Errorf("inclusion proof of entry 0 does not verify: %v", err)
			}

			for _, tc := range []struct{ from, to uint64 }{{0, 0}, {0, size}, {size, size}} {
				con := h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", tc.from, tc.to), h.Auditor, nil).Want(t, 200).Map(t)
				if con["from"] != float64(tc.from) || con["to"] != float64(tc.to) {
					t.Errorf("consistency proof %d → %d: from %v, to %v (%v)", tc.from, tc.to, con["from"], con["to"], con)
				}
				if hs, ok := con["hashes"].([]any); !ok || len(hs) != 0 {
					t.Errorf("consistency proof %d → %d: hashes %v, want []", tc.from, tc.to, con["hashes"])
				}
			}
		})
	}
}

// GET /v1/audit/entries/{index} gives the entry with its leaf hash, as it
// says: the hash an inclusion proof of the entry starts from, the RFC 6962
// hash of the entry's LeafData.
func TestAuditEntryHasItsLeafHash(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	h.Do(t, "GET", "/v1/me", h.AppKey, nil, "X-Request-ID: leaf-hash-1").Want(t, 200)
	es := entriesFor(t, h, "leaf-hash-1")
	if len(es) != 1 {
		t.Fatalf("entries for leaf-hash-1: %+v", es)
	}
	idx := es[0].Index
	got := h.Do(t, "GET", fmt.Sprintf("/v1/audit/entries/%d", idx), h.Auditor, nil).Want(t, 200).Map(t)
	want := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(es[0]))
	s, _ := got["leaf_hash"].(string)
	if lh, err := base64.StdEncoding.DecodeString(s); err != nil || !bytes.Equal(lh, want) {
		t.Fatalf("entry %d: leaf_hash %q, want %s (%v)", idx, s, base64.StdEncoding.EncodeToString(want), got)
	}
	// The same hash the inclusion proof of the entry starts from.
	inc := h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/inclusion?index=%d&size=%d", idx, idx+1), h.Auditor, nil).Want(t, 200).Map(t)
	if inc["leaf_hash"] != s {
		t.Errorf("entry's leaf_hash %q, inclusion proof's %q", s, inc["leaf_hash"])
	}
	// A bad index is a path parameter, named as one.
	p := h.Do(t, "GET", "/v1/audit/entries/-1", h.Auditor, nil).Want(t, 400).Problem(t)
	if es, _ := p["errors"].([]any); len(es) != 1 || es[0].(map[string]any)["pointer"] != "{index}" {
		t.Errorf("entry -1: %v, want one error at {index}", p)
	}
}
