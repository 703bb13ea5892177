package api_test

import (
	"slices"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestConsoleAccessAuditsPrincipalsShown: the access page shows each
// principal's API keys, the same reading of keys as GET
// /v1/principals/{id}/keys, whose audit entry names the principal. The
// page view's entry names them too (and the department), so an auditor
// who searches the log for a principal finds who looked at its keys in
// the console as well as through the API. A look for a department that
// is not there names the id that was asked for.
func TestConsoleAccessAuditsPrincipalsShown(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	app := h.Demo.Keys[2] // civil-affairs-app of 民政局
	admin := newBrowser(t, h)
	admin.mustLogin(h.Admin)

	h.Do(t, "GET", "/v1/principals/"+app.PrincipalID+"/keys", h.Admin, nil, "X-Request-ID: api-keys-read").Want(t, 200)
	if es := entriesFor(t, h, "api-keys-read"); len(es) != 1 || !slices.Contains(es[0].Resources, "principal:"+app.PrincipalID) {
		t.Fatalf("the API's reading of keys: %+v", es)
	}

	admin.get("/console/access?department_id="+app.Department, "X-Request-ID: console-keys-read").want(t, 200).has(t, app.KeyID)
	es := entriesFor(t, h, "console-keys-read")
	if len(es) != 1 {
		t.Fatalf("%d audit entries for the page view", len(es))
	}
	for _, r := range []string{"department:" + app.Department, "principal:" + app.PrincipalID} {
		if !slices.Contains(es[0].Resources, r) {
			t.Errorf("the page view's audit entry does not name %s: %v", r, es[0].Resources)
		}
	}

	admin.get("/console/access?department_id=no-such-dept", "X-Request-ID: console-dept-missing").want(t, 404)
	if es := entriesFor(t, h, "console-dept-missing"); len(es) != 1 || !slices.Contains(es[0].Resources, "department:no-such-dept") {
		t.Errorf("the look for a missing department: %+v", es)
	}
}
