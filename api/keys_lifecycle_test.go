package api_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// An auditor asking the log what was done to a principal's keys finds it
// under the principal: the key made for it, the listing of its keys and the
// revocation of one. The route is stored as its template
// (/v1/principals/:id/keys), so without the principal among the entry's
// resources nothing in the log says whose key was made — an admin could
// make a key for an auditor or another department's app unseen.
func TestKeyAuditEntriesNameThePrincipal(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			pid := h.Do(t, "GET", "/v1/me", h.AppKey, nil).Want(t, 200).Map(t)["id"].(string)
			made := h.Do(t, "POST", "/v1/principals/"+pid+"/keys", h.Admin, map[string]any{"name": "audited"}, "X-Request-ID: key-make").Want(t, 201).Map(t)
			keyID := made["key"].(map[string]any)["id"].(string)
			h.Do(t, "GET", "/v1/principals/"+pid+"/keys", h.Admin, nil, "X-Request-ID: key-list").Want(t, 200)
			h.Do(t, "POST", "/v1/keys/"+keyID+"/revoke", h.Admin, nil, "X-Request-ID: key-revoke").Want(t, 200)

			var found struct {
				Items []struct {
					RequestID string   `json:"request_id"`
					Resources []string `json:"resources"`
				}
			}
			h.Do(t, "GET", "/v1/audit/entries?resource="+url.QueryEscape("principal:"+pid), h.Auditor, nil).Want(t, 200).JSON(t, &found)
			var ids []string
			for _, e := range found.Items {
				ids = append(ids, e.RequestID)
			}
			for _, want := range []string{"key-make", "key-list", "key-revoke"} {
				if !slices.Contains(ids, want) {
					t.Errorf("searching the log for principal:%s finds %v, not the call %s", pid, ids, want)
				}
			}
			// The key itself is still named where a key was made or revoked.
			h.Do(t, "GET", "/v1/audit/entries?resource="+url.QueryEscape("api_key:"+keyID), h.Auditor, nil).Want(t, 200).JSON(t, &found)
			if len(found.Items) != 2 {
				t.Errorf("entries naming api_key:%s: %+v, want its making and its revocation", keyID, found.Items)
			}
		})
	}
}

// A key's expiry that is not an RFC 3339 time is a 400 naming
// /expires_at, like every other bad member of a body: encoding/json says
// nothing of where a time.Time failed to parse.
func TestKeyExpiryNotATimeNamesTheMember(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	pid := h.Do(t, "GET", "/v1/me", h.AppKey, nil).Want(t, 200).Map(t)["id"].(string)
	for _, body := range []string{
		`{"name":"x","expires_at":"2027-01-31"}`,
		`{"expires_at":"yesterday","name":"yesterday"}`,
		`{"expires_at":1798675200}`,
	} {
		p := h.Do(t, "POST", "/v1/principals/"+pid+"/keys", h.Admin, body).Want(t, 400).Problem(t)
		if es, _ := p["errors"].([]any); len(es) != 1 || es[0].(map[string]any)["pointer"] != "/expires_at" {
			t.Errorf("%s: %v, want one error at /expires_at", body, p)
		}
	}
	// No key was made by any of them.
	var ks struct{ Items []any }
	h.Do(t, "GET", "/v1/principals/"+pid+"/keys", h.Admin, nil).Want(t, 200).JSON(t, &ks)
	if len(ks.Items) != 1 {
		t.Errorf("the app has %d keys, want its one demo key", len(ks.Items))
	}
}
