package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// sodRefused checks a 403 problem that names the separation-of-duties
// rule, and that the refusal is in the audit log with the request's id,
// naming resource (when not "").
func sodRefused(t *testing.T, h *hubtest.Hub, r *hubtest.Response, resource string) map[string]any {
	t.Helper()
	if r.Status != http.StatusForbidden {
		// Not fatal: each refusal is checked on its own.
		t.Errorf("status %d, want 403; body: %s", r.Status, r.Body)
		return nil
	}
	p := r.Problem(t)
	if p["type"] != "urn:sharehub:problem:forbidden" || !strings.Contains(p["detail"].(string), "三员分立") || !strings.Contains(p["detail"].(string), "sharehub auditor") {
		t.Errorf("problem %v: want forbidden naming 三员分立 and `sharehub auditor`", p)
	}
	es := entriesFor(t, h, r.Header.Get("X-Request-ID"))
	if len(es) != 1 || es[0].Status != http.StatusForbidden || (resource != "" && !slices.Contains(es[0].Resources, resource)) {
		t.Errorf("audit entries for the refusal: %+v; want one, 403, naming %s", es, resource)
	}
	return p
}

// TestAdminCannotMakeOrKeyAuditors: separation of duties (三员分立). An
// admin makes the principals, keys and grants the audit log records; were
// it able to make an auditor, or a key for one, it could read its own
// trail. The API refuses that, audited like other refusals.
func TestAdminCannotMakeOrKeyAuditors(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		me := h.Do(t, "GET", "/v1/me", h.Admin, nil).Want(t, 200).Map(t)
		dept := me["department_id"].(string)

		for i, roles := range [][]string{{"auditor"}, {"app", "auditor"}, {"admin", "auditor"}} {
			name := "sod-auditor-" + string(rune('a'+i))
			r := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": dept, "name": name, "roles": roles})
			p := sodRefused(t, h, r, "")
			if p == nil {
				continue
			}
			errsList, _ := p["errors"].([]any)
			want := "/roles/" + string(rune('0'+slices.Index(roles, "auditor")))
			if len(errsList) != 1 || errsList[0].(map[string]any)["pointer"] != want {
				t.Errorf("roles %v: errors %v, want one at %s", roles, p["errors"], want)
			}
			if _, err := h.Exchange.PrincipalByName(ctx, dept, name); !errs.Is(err, errs.KindNotFound) {
				t.Errorf("roles %v: the refused principal was made (%v)", roles, err)
			}
		}
		// Other roles are the admin's to give, as before.
		h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": dept, "name": "sod-app", "roles": []string{"app", "data-admin"}}).Want(t, 201)

		// The demo's auditor, made outside the API.
		aud := h.Do(t, "GET", "/v1/me", h.Auditor, nil).Want(t, 200).Map(t)["id"].(string)
		keys := h.Do(t, "GET", "/v1/principals/"+aud+"/keys", h.Admin, nil).Want(t, 200).Map(t)["items"].([]any)
		if len(keys) != 1 {
			t.Fatalf("auditor keys as the admin lists them: %v", keys)
		}
		audKey := keys[0].(map[string]any)["id"].(string)

		sodRefused(t, h, h.Do(t, "POST", "/v1/principals/"+aud+"/keys", h.Admin, map[string]any{"name": "mine now"}), "principal:"+aud)
		sodRefused(t, h, h.Do(t, "POST", "/v1/keys/"+audKey+"/revoke", h.Admin, nil), "api_key:"+audKey)
		sodRefused(t, h, h.Do(t, "POST", "/v1/principals/"+aud+"/disable", h.Admin, nil), "principal:"+aud)
		if ks, err := h.Exchange.Keys(ctx, aud); err != nil || len(ks) != 1 || ks[0].RevokedAt != nil {
			t.Errorf("auditor keys after the refusals: %+v %v", ks, err)
		}
		h.Do(t, "GET", "/v1/audit/entries?limit=1", h.Auditor, nil).Want(t, 200)

		// A missing principal or key is still a 404, not a 403.
		h.Do(t, "POST", "/v1/principals/prn_missing/keys", h.Admin, map[string]any{"name": "x"}).Want(t, 404)
		h.Do(t, "POST", "/v1/keys/key_missing/revoke", h.Admin, nil).Want(t, 404)
		h.Do(t, "POST", "/v1/principals/prn_missing/disable", h.Admin, nil).Want(t, 404)
	})
}

// TestAuditorKeepsOnlyItsOwnKeys: an auditor rotates its own keys over the
// API (make, list, revoke) and touches no one else's, another auditor's
// included; it still makes and disables no principal.
func TestAuditorKeepsOnlyItsOwnKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		aud := h.Do(t, "GET", "/v1/me", h.Auditor, nil).Want(t, 200).Map(t)
		self, dept := aud["id"].(string), aud["department_id"].(string)

		nk := h.Do(t, "POST", "/v1/principals/"+self+"/keys", h.Auditor, map[string]any{"name": "rotated", "expires_at": time.Now().Add(time.Hour)}).Want(t, 201).Map(t)
		secret, keyID := nk["secret"].(string), nk["key"].(map[string]any)["id"].(string)
		h.Do(t, "GET", "/v1/audit/entries?limit=1", secret, nil).Want(t, 200)
		if items := h.Do(t, "GET", "/v1/principals/"+self+"/keys", h.Auditor, nil).Want(t, 200).Map(t)["items"].([]any); len(items) != 2 {
			t.Errorf("auditor lists %d own keys, want 2", len(items))
		}
		h.Do(t, "POST", "/v1/keys/"+keyID+"/revoke", secret, nil).Want(t, 200)
		h.Do(t, "GET", "/v1/me", secret, nil).Want(t, 401)

		// Another auditor's keys are the operator's to manage.
		other, err := h.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: dept, Name: "sod-auditor-2", Roles: []exchange.Role{exchange.RoleAuditor}})
		if err != nil {
			t.Fatal(err)
		}
		otherKey, _, err := h.Exchange.CreateKey(ctx, other.ID, "cli", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		admin := h.Do(t, "GET", "/v1/me", h.Admin, nil).Want(t, 200).Map(t)["id"].(string)
		adminKeys, err := h.Exchange.Keys(ctx, admin)
		if err != nil || len(adminKeys) == 0 {
			t.Fatal(adminKeys, err)
		}
		for _, c := range []struct{ method, path string }{
			{"POST", "/v1/principals/" + other.ID + "/keys"},
			{"GET", "/v1/principals/" + other.ID + "/keys"},
			{"POST", "/v1/keys/" + otherKey.ID + "/revoke"},
			{"POST", "/v1/principals/" + admin + "/keys"},
			{"GET", "/v1/principals/" + admin + "/keys"},
			{"POST", "/v1/keys/" + adminKeys[0].ID + "/revoke"},
			{"POST", "/v1/principals/" + other.ID + "/disable"},
			{"POST", "/v1/principals/" + self + "/disable"},
		} {
			var body any
			if c.method == "POST" && strings.HasSuffix(c.path, "/keys") {
				body = map[string]any{"name": "x"}
			}
			r := h.Do(t, c.method, c.path, h.Auditor, body).Want(t, 403)
			if es := entriesFor(t, h, r.Header.Get("X-Request-ID")); len(es) != 1 || es[0].Status != 403 {
				t.Errorf("%s %s: audit entries %+v, want one 403", c.method, c.path, es)
			}
		}
		h.Do(t, "POST", "/v1/principals", h.Auditor, map[string]any{"department_id": dept, "name": "sod-x", "roles": []string{"auditor"}}).Want(t, 403)
		if k, err := h.Exchange.Key(ctx, otherKey.ID); err != nil || k.RevokedAt != nil {
			t.Errorf("the other auditor's key after the refusals: %+v %v", k, err)
		}
		if k, err := h.Exchange.Key(ctx, adminKeys[0].ID); err != nil || k.RevokedAt != nil {
			t.Errorf("the admin's key after the refusals: %+v %v", k, err)
		}

		// The OpenAPI document says who may call the key routes.
		doc := h.Do(t, "GET", "/openapi.json", "", nil).Want(t, 200).Map(t)
		paths := doc["paths"].(map[string]any)
		for _, pm := range []struct{ path, method string }{
			{"/v1/principals/{id}/keys", "post"}, {"/v1/principals/{id}/keys", "get"}, {"/v1/keys/{id}/revoke", "post"},
		} {
			op := paths[pm.path].(map[string]any)[pm.method].(map[string]any)
			if got := op["x-roles"]; !slices.Equal(toStrings(got), []string{"admin", "auditor"}) {
				t.Errorf("%s %s x-roles %v, want [admin auditor]", pm.method, pm.path, got)
			}
		}
		op := paths["/v1/principals"].(map[string]any)["post"].(map[string]any)
		if !slices.Equal(toStrings(op["x-roles"]), []string{"admin"}) || !strings.Contains(op["summary"].(string), "三员分立") {
			t.Errorf("POST /v1/principals: x-roles %v, summary %q", op["x-roles"], op["summary"])
		}
	})
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		out = append(out, s.(string))
	}
	return out
}
