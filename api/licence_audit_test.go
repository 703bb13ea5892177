package api_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestLicenceAuditNamesTheLicence: an auditor searching the log for a
// licence (resource licence:KEY, the identifier without version and
// check character) finds every call made on it, by any version's
// identifier: those refused (another department's issuer changing it, an
// app without a grant for its type reading it) and its verification, as
// well as the reads that went through, each naming it once.
func TestLicenceAuditNamesTheLicence(t *testing.T) {
	h := newLicenceHub(t, hubtest.Start(t, dbtest.Backends[0]))
	l := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, newHolder())).Want(t, 201).Map(t)
	id := l["id"].(string)
	v2 := h.Do(t, "POST", "/v1/licences/"+url.PathEscape(id)+"/events", h.police, map[string]any{"event": "suspend", "reason": "涉案暂扣"}).Want(t, 200).Map(t)["id"].(string)
	key := (&licence.Licence{ID: id}).Key()
	p, _ := ident.ParseLicenceID(id)
	unknown, _ := ident.NewLicenceID(p.TypeCode, p.IssuerCode, "NOSUCH1", 1)
	purpose := "X-Purpose: 办理业务核验证照"
	calls := []struct {
		name, method, path, key string
		body                    any
		want                    int
		licence                 string
	}{
		{"return by another department's issuer", "POST", "/v1/licences/" + url.PathEscape(id) + "/events", h.civilIssuer, map[string]any{"event": "return", "reason": "x"}, 403, key},
		{"file by another department's issuer", "PUT", "/v1/licences/" + url.PathEscape(id) + "/file?name=a.pdf", h.civilIssuer, nil, 403, key},
		{"history by another department's issuer", "GET", "/v1/licences/" + url.PathEscape(id) + "/history", h.civilIssuer, nil, 403, key},
		{"read without a grant for the type", "GET", "/v1/licences/" + url.PathEscape(v2), h.healthApp, nil, 403, key},
		{"QR without a grant for the type", "POST", "/v1/licences/" + url.PathEscape(id) + "/qr", h.healthApp, nil, 403, key},
		{"read of a licence not registered", "GET", "/v1/licences/" + url.PathEscape(unknown), h.fullApp, nil, 404, (&licence.Licence{ID: unknown}).Key()},
		{"return by its issuer", "POST", "/v1/licences/" + url.PathEscape(v2) + "/events", h.police, map[string]any{"event": "return", "reason": "案件办结发还"}, 200, key},
		{"read under a grant", "GET", "/v1/licences/" + url.PathEscape(id), h.fullApp, nil, 200, key},
		{"verify under a grant", "POST", "/v1/licences/" + url.PathEscape(v2) + "/verify", h.fullApp, nil, 200, key},
		{"QR by its issuer", "POST", "/v1/licences/" + url.PathEscape(id) + "/qr", h.police, nil, 200, key},
	}
	for i, c := range calls {
		rid := "lic-audit-" + string(rune('a'+i))
		h.Do(t, c.method, c.path, c.key, c.body, purpose, "X-Request-ID: "+rid).Want(t, c.want)
		es := entriesFor(t, h.Hub, rid)
		if len(es) != 1 {
			t.Fatalf("%s: %d audit entries", c.name, len(es))
		}
		if n := strings.Count(" "+strings.Join(es[0].Resources, " ")+" ", " licence:"+c.licence+" "); n != 1 {
			t.Errorf("%s (%d): the entry names licence:%s %d times, want once; resources %v", c.name, c.want, c.licence, n, es[0].Resources)
		}
	}
	// The auditor's search by the licence finds them all, and its issue.
	es, _, err := h.Audit.Search(context.Background(), audit.Filter{Resource: "licence:" + key, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 1 + len(calls) - 1; len(es) != want {
		t.Errorf("search by licence:%s found %d entries, want %d (issue, suspend and the calls on it)", key, len(es), want)
	}
}
