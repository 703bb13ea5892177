package api_test

import (
	"net/url"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// A caller who may not see a licence cannot learn whether it exists: every
// route on /v1/licences/{id} refuses it the same way for a licence that is
// there and for one that is not (identifiers are predictable: a 居民身份证's
// serial follows its number). Only the issuing department's issuers get
// 404 for a licence of theirs that does not exist.
func TestLicenceExistenceNotRevealed(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := newLicenceHub(t, hubtest.Start(t, b))
			purpose := "X-Purpose: 办理业务核验证照"
			marriage := h.Do(t, "POST", "/v1/licences", h.civilIssuer, marriageCert(h, newHolder())).Want(t, 201).Map(t)["id"].(string)
			p, err := ident.ParseLicenceID(marriage)
			if err != nil {
				t.Fatal(err)
			}
			absent, err := ident.NewLicenceID(p.TypeCode, p.IssuerCode, p.Serial+"9", 1)
			if err != nil {
				t.Fatal(err)
			}
			type call struct{ method, suffix string }
			consumerCalls := []call{{"GET", ""}, {"POST", "/verify"}, {"POST", "/qr"}}
			issuerCalls := append([]call{{"GET", "/history"}, {"POST", "/events"}, {"PUT", "/file?name=a.pdf"}}, consumerCalls...)
			for _, who := range []struct {
				name, key string
				calls     []call
			}{
				{"app with no grant", h.noGrantApp, consumerCalls},
				{"app with a grant for another type", h.fullApp, consumerCalls},
				{"issuer of another department", h.police, issuerCalls},
			} {
				for _, cl := range who.calls {
					var body any
					switch cl.suffix {
					case "/events":
						body = map[string]any{"event": "revoke", "reason": "核查"}
					case "/file?name=a.pdf":
						body = []byte("%PDF-1.4\n%%EOF\n")
					}
					there := h.Do(t, cl.method, "/v1/licences/"+url.PathEscape(marriage)+cl.suffix, who.key, body, purpose)
					gone := h.Do(t, cl.method, "/v1/licences/"+url.PathEscape(absent)+cl.suffix, who.key, body, purpose)
					if there.Status != 403 || gone.Status != 403 {
						t.Errorf("%s, %s %s: %d for a licence that exists, %d for one that does not; want 403 for both", who.name, cl.method, cl.suffix, there.Status, gone.Status)
						continue
					}
					if a, b := there.Problem(t)["detail"], gone.Problem(t)["detail"]; a != b {
						t.Errorf("%s, %s %s: the refusals differ:\n  exists: %v\n  absent: %v", who.name, cl.method, cl.suffix, a, b)
					}
				}
			}
			// The issuing department's own issuer is told the truth.
			h.Do(t, "GET", "/v1/licences/"+url.PathEscape(absent)+"/history", h.civilIssuer, nil).Want(t, 404)
			h.Do(t, "GET", "/v1/licences/"+url.PathEscape(marriage)+"/history", h.civilIssuer, nil).Want(t, 200)
		})
	}
}
