package api_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// contentOf keeps the editable content of an item read through the API.
func contentOf(it map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"name", "lei", "xiang", "mu", "ximu", "provider_id", "summary", "format", "share_type", "share_condition",
		"legal_basis", "share_method", "open_type", "update_cycle", "publish_date", "libraries", "related", "fields"} {
		if v, ok := it[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestItemChangeReviewsGrants: when a granted field leaves an item the
// grant is narrowed at once; when the item is withdrawn it is revoked.
func TestItemChangeReviewsGrants(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			ctx := context.Background()
			code := h.Demo.Resource.ID
			it := h.Do(t, "GET", "/v1/catalog/items/"+code, h.Admin, nil).Want(t, 200).Map(t)
			body := contentOf(it)
			body["version"] = it["version"]
			var kept []any
			for _, f := range it["fields"].([]any) {
				if f.(map[string]any)["code"] != "gender" {
					kept = append(kept, f)
				}
			}
			if len(kept) == len(it["fields"].([]any)) {
				t.Fatalf("demo item %s has no field gender: %v", code, it["fields"])
			}
			body["fields"] = kept
			resp := h.Do(t, "PUT", "/v1/catalog/items/"+code, h.Admin, body, "X-Request-ID: review-1").Want(t, 200)
			if got := resp.Header.Get("X-Grants-Reviewed"); got != "1" {
				t.Fatalf("X-Grants-Reviewed = %q, want 1", got)
			}
			old, err := h.Exchange.Grant(ctx, h.Demo.GrantID)
			if err != nil || old.RevokedAt == nil {
				t.Fatalf("old grant %+v, %v: want revoked", old, err)
			}
			civil := h.Demo.Keys[2].Department
			gs, err := h.Exchange.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: civil, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code, ActiveOnly: true})
			if err != nil || len(gs) != 1 {
				t.Fatalf("active grants %+v, %v: want one narrowed grant", gs, err)
			}
			for _, f := range gs[0].Fields {
				if f == "gender" {
					t.Fatalf("narrowed grant still names gender: %v", gs[0].Fields)
				}
			}
			if es := entriesFor(t, h, "review-1"); len(es) != 1 || !contains(es[0].Resources, "grant:"+h.Demo.GrantID) {
				t.Fatalf("audit entry of the change does not name the reviewed grant: %+v", es)
			}

			h.Do(t, "POST", "/v1/catalog/items/"+code+"/withdraw", h.Admin, map[string]any{"reason": "口径调整"}).Want(t, 200)
			gs, err = h.Exchange.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: civil, ResourceKind: exchange.ResourceCatalogItem, ResourceID: code, ActiveOnly: true})
			if err != nil || len(gs) != 0 {
				t.Fatalf("after withdrawal active grants %+v, %v: want none", gs, err)
			}
		})
	}
}
