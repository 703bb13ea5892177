package hub_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// TestEndToEnd runs the real hub (hub.Open + Run, as `sharehub serve`) on
// each backend: the admin key it made creates a department, a principal, a
// key and a grant; the new key is refused without the grant and served with
// it; then the audit log verifies and one inclusion proof checks out
// against the signed checkpoint.
func TestEndToEnd(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			ctx := context.Background()

			code := ident.NewCreditCode('1', '1', "420602", 9001)
			dep := h.Do(t, "POST", "/v1/departments", h.Admin, map[string]any{
				"id": "xc-ybj", "code": code, "name": "襄城区医疗保障局", "kind": "office", "parent_id": "xc",
			}).Want(t, 201).Map(t)
			h.Do(t, "POST", "/v1/departments", h.Admin, map[string]any{"id": "xc-ybj2", "code": code, "name": "dup", "kind": "office"}).Want(t, 409)
			prn := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{
				"department_id": dep["id"], "name": "医保结算系统", "roles": []string{"app"},
			}).Want(t, 201).Map(t)
			key := h.Do(t, "POST", "/v1/principals/"+prn["id"].(string)+"/keys", h.Admin, map[string]any{
				"name": "prod", "expires_at": time.Now().Add(24 * time.Hour),
			}).Want(t, 201).Map(t)
			secret := key["secret"].(string)
			if !strings.HasPrefix(secret, "shk_") || len(secret) < 40 {
				t.Fatalf("secret %q", secret)
			}
			me := h.Do(t, "GET", "/v1/me", secret, nil).Want(t, 200).Map(t)
			if me["department_id"] != "xc-ybj" {
				t.Fatalf("/v1/me = %v", me)
			}

			q := "/v1/access?resource_kind=catalog_item&resource_id=hospital-settlement&fields=patient_name,amount"
			h.Do(t, "GET", q, secret, nil, "X-Purpose: 医保报销审核").Want(t, 403)
			grant := h.Do(t, "POST", "/v1/grants", h.Admin, map[string]any{
				"consumer_department_id": "xc-ybj", "resource_kind": "catalog_item", "resource_id": "hospital-settlement",
				"fields": []string{"patient_name", "amount", "hospital"}, "purpose": "医保报销审核",
				"valid_until": time.Now().Add(30 * 24 * time.Hour), "daily_quota": 100,
			}).Want(t, 201).Map(t)
			acc := h.Do(t, "GET", q, secret, nil, "X-Purpose: 医保报销审核", "X-Request-ID: e2e-granted").Want(t, 200).Map(t)
			if acc["grant_id"] != grant["id"] || fmt.Sprint(acc["fields"]) != "[patient_name amount]" || acc["used_today"].(float64) != 1 {
				t.Fatalf("access = %v", acc)
			}
			// Other departments' apps still have no grant.
			h.Do(t, "GET", q, h.AppKey, nil).Want(t, 403)

			// The audit log: the granted call is there, found by the auditor through the API.
			es := h.Do(t, "GET", "/v1/audit/entries?principal_id="+prn["id"].(string)+"&limit=10", h.Auditor, nil).Want(t, 200).Map(t)
			items := es["items"].([]any)
			if len(items) != 3 { // /v1/me, the refused call, the granted call
				t.Fatalf("auditor sees %d entries for the principal, want 3: %v", len(items), items)
			}
			var granted map[string]any
			for _, it := range items {
				if e := it.(map[string]any); e["request_id"] == "e2e-granted" {
					granted = e
				}
			}
			if granted == nil || granted["status"].(float64) != 200 || granted["purpose"] != "医保报销审核" {
				t.Fatalf("granted call's entry = %v", granted)
			}

			// A signed checkpoint and an inclusion proof for that entry.
			cp := h.Do(t, "GET", "/v1/audit/checkpoint", "", nil).Want(t, 200).Map(t)
			v, err := note.NewVerifier(cp["verifier_key"].(string))
			if err != nil {
				t.Fatal(err)
			}
			n, err := note.Open([]byte(cp["note"].(string)), note.VerifierList(v))
			if err != nil {
				t.Fatalf("checkpoint signature: %v", err)
			}
			size := uint64(cp["size"].(float64))
			root, _ := base64.StdEncoding.DecodeString(cp["root"].(string))
			if !strings.Contains(n.Text, fmt.Sprintf("\n%d\n%s\n", size, cp["root"])) {
				t.Fatalf("checkpoint text %q does not carry size and root", n.Text)
			}
			idx := uint64(granted["index"].(float64))
			if idx >= size {
				t.Fatalf("entry %d not yet in checkpoint of size %d", idx, size)
			}
			pr := h.Do(t, "GET", fmt.Sprintf("/v1/audit/proofs/inclusion?index=%d&size=%d", idx, size), h.Auditor, nil).Want(t, 200).Map(t)
			var hashes [][]byte
			for _, s := range pr["hashes"].([]any) {
				b, _ := base64.StdEncoding.DecodeString(s.(string))
				hashes = append(hashes, b)
			}
			e, err := h.Audit.Entry(ctx, idx)
			if err != nil {
				t.Fatal(err)
			}
			leaf := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(e))
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, size, leaf, hashes, root); err != nil {
				t.Fatalf("inclusion proof: %v", err)
			}

			// The whole log verifies.
			h.Stop(t)
			vk := cp["verifier_key"].(string)
			vv, _ := note.NewVerifier(vk)
			d, err := hubtest.ReopenDB(t, h)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := audit.Verify(ctx, d, note.VerifierList(vv), nil)
			if err != nil || !rep.OK {
				t.Fatalf("audit.Verify = %+v, %v", rep, err)
			}
			if rep.Entries < 8 {
				t.Fatalf("only %d entries verified", rep.Entries)
			}
		})
	}
}
