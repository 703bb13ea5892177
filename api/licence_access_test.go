package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// marriageCert returns a 结婚证 issue request (issued by 民政局) for holder.
func marriageCert(h *licenceHub, holder string) map[string]any {
	return map[string]any{"type_code": h.marriageType, "number": "JH" + holder[12:], "holder": map[string]any{"name": "王小明", "id": holder},
		"issued_on": "2022-05-20", "face": map[string]string{"spouse_name": "李小红", "spouse_id": newHolder(), "registered_on": "2022-05-20", "registry": "襄阳市樊城区民政局"}}
}

// lookupItems returns the type codes of the licences a lookup returned,
// failing if the reply carries anything besides the items.
func lookupItems(t *testing.T, reply map[string]any) []string {
	t.Helper()
	for k := range reply {
		if k != "items" {
			t.Fatalf("lookup reply has %q besides its items: %v", k, reply)
		}
	}
	var types []string
	for _, it := range reply["items"].([]any) {
		types = append(types, it.(map[string]any)["type_code"].(string))
	}
	return types
}

// TestLicenceLookupAccess checks that a holder lookup (GET /v1/licences)
// tells the caller nothing about licences it may not see: not whether they
// exist (by a different status) nor how many there are.
func TestLicenceLookupAccess(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := newLicenceHub(t, hubtest.Start(t, b))
			purpose := "X-Purpose: 办理业务核验证照"
			idOnly, married, marriedOnly, nobody := newHolder(), newHolder(), newHolder(), newHolder()
			h.Do(t, "POST", "/v1/licences", h.police, idCard(h, idOnly)).Want(t, 201)
			h.Do(t, "POST", "/v1/licences", h.police, idCard(h, married)).Want(t, 201)
			h.Do(t, "POST", "/v1/licences", h.civilIssuer, marriageCert(h, married)).Want(t, 201)
			h.Do(t, "POST", "/v1/licences", h.civilIssuer, marriageCert(h, marriedOnly)).Want(t, 201)
			lookup := func(key, holder string) *hubtest.Response {
				return h.Do(t, "GET", "/v1/licences?holder_id="+holder, key, nil, purpose)
			}

			t.Run("no licence grant at all", func(t *testing.T) {
				// 教育局's app has no grant for any licence type: refused the
				// same way whether the holder has licences or not.
				var first string
				for _, holder := range []string{nobody, idOnly, married, marriedOnly} {
					p := lookup(h.noGrantApp, holder).Want(t, 403).Problem(t)
					detail, _ := p["detail"].(string)
					if !strings.Contains(detail, "xy-jyj") || !strings.Contains(detail, "licence type") {
						t.Fatalf("problem does not name the department and the missing licence-type grant: %v", p)
					}
					if first == "" {
						first = detail
					} else if detail != first {
						t.Fatalf("problem depends on the holder: %q, then %q", first, detail)
					}
				}
			})

			t.Run("grant for another type", func(t *testing.T) {
				// 卫健委's app may see 结婚证 only. A holder's 身份证 changes
				// nothing in its answer.
				none := lookup(h.healthApp, nobody).Want(t, 200)
				idOnlyReply := lookup(h.healthApp, idOnly).Want(t, 200)
				if string(idOnlyReply.Body) != string(none.Body) {
					t.Fatalf("a holder of licences of other types: %s; a holder of none: %s", idOnlyReply.Body, none.Body)
				}
				if got := lookupItems(t, none.Map(t)); len(got) != 0 {
					t.Fatalf("holder of no licences: %v", got)
				}
				if got := lookupItems(t, lookup(h.healthApp, married).Want(t, 200).Map(t)); len(got) != 1 || got[0] != h.marriageType {
					t.Fatalf("holder of a 身份证 and a 结婚证: types %v, want the 结婚证 only", got)
				}
				if got := lookupItems(t, lookup(h.healthApp, marriedOnly).Want(t, 200).Map(t)); len(got) != 1 || got[0] != h.marriageType {
					t.Fatalf("holder of a 结婚证: types %v", got)
				}
			})

			t.Run("issuer without a grant", func(t *testing.T) {
				// 公安局's issuer sees its own department's licences whole and
				// holds no grant for 结婚证: those are left out without a trace.
				if got := lookupItems(t, lookup(h.police, married).Want(t, 200).Map(t)); len(got) != 1 || got[0] != h.idType {
					t.Fatalf("issuer's lookup: types %v, want its own 身份证 only", got)
				}
				none := lookup(h.police, nobody).Want(t, 200)
				other := lookup(h.police, marriedOnly).Want(t, 200)
				if string(other.Body) != string(none.Body) {
					t.Fatalf("a holder of another department's licences: %s; a holder of none: %s", other.Body, none.Body)
				}
				// With the type named, the same.
				q := "&type_code=" + url.QueryEscape(h.marriageType)
				none = h.Do(t, "GET", "/v1/licences?holder_id="+nobody+q, h.police, nil, purpose).Want(t, 200)
				other = h.Do(t, "GET", "/v1/licences?holder_id="+marriedOnly+q, h.police, nil, purpose).Want(t, 200)
				if string(other.Body) != string(none.Body) {
					t.Fatalf("with type_code, a holder of another department's licences: %s; a holder of none: %s", other.Body, none.Body)
				}
			})

			t.Run("grants for every type", func(t *testing.T) {
				// 民政局's issuer: its own 结婚证 whole, the 身份证 by grant.
				got := lookupItems(t, lookup(h.civilIssuer, married).Want(t, 200).Map(t))
				if len(got) != 2 {
					t.Fatalf("types %v, want the 身份证 and the 结婚证", got)
				}
			})
		})
	}
}

// TestLicenceVerifyAccess checks that POST /v1/licences/{id}/verify needs
// the access GET /v1/licences/{id} needs, and refuses the same way.
func TestLicenceVerifyAccess(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := newLicenceHub(t, hubtest.Start(t, b))
			id := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, newHolder())).Want(t, 201).Map(t)["id"].(string)
			marriage := h.Do(t, "POST", "/v1/licences", h.civilIssuer, marriageCert(h, newHolder())).Want(t, 201).Map(t)["id"].(string)
			p, err := ident.ParseLicenceID(id)
			if err != nil {
				t.Fatal(err)
			}
			unknown, err := ident.NewLicenceID(p.TypeCode, p.IssuerCode, "NOSUCH1", 1)
			if err != nil {
				t.Fatal(err)
			}
			badCheck := id[:len(id)-1] + map[bool]string{true: "Y", false: "Z"}[strings.HasSuffix(id, "Z")]
			cases := []struct {
				name, key, id string
				want          int
			}{
				{"app with a grant for the type", h.AppKey, id, 200},
				{"app with a full grant", h.fullApp, id, 200},
				{"app with a grant for another type", h.healthApp, id, 403},
				{"app with no grant", h.noGrantApp, id, 403},
				{"app with no grant, unknown licence", h.noGrantApp, unknown, 403},
				{"app with a grant, unknown licence", h.AppKey, unknown, 404},
				{"issuer of the licence's department", h.police, id, 200},
				{"issuer of the licence's department, unknown licence", h.police, unknown, 404},
				{"issuer of another department without a grant", h.police, marriage, 403},
				{"issuer of another department with a grant", h.civilIssuer, id, 200},
				{"admin", h.Admin, id, 403},
				{"auditor", h.Auditor, id, 403},
				{"not signed in", "", id, 401},
				{"wrong check character", h.AppKey, badCheck, 400},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					path := "/v1/licences/" + url.PathEscape(c.id)
					get := h.Do(t, "GET", path, c.key, nil, "X-Purpose: 核验")
					ver := h.Do(t, "POST", path+"/verify", c.key, nil, "X-Purpose: 核验")
					if get.Status != c.want || ver.Status != c.want {
						t.Fatalf("get %d, verify %d, want %d; verify said %s", get.Status, ver.Status, c.want, ver.Body)
					}
					if c.want == 200 {
						if v := ver.Map(t); v["valid"] != true {
							t.Fatalf("verify: %v", v)
						}
						return
					}
					if c.want == 401 {
						return
					}
					gp, vp := get.Problem(t), ver.Problem(t)
					if gp["detail"] != vp["detail"] {
						t.Fatalf("get said %q, verify %q", gp["detail"], vp["detail"])
					}
				})
			}
		})
	}
}

// TestOpenAPILicenceAccess checks what /openapi.json says of the licence
// lookup's reply and of who may verify a licence.
func TestOpenAPILicenceAccess(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	doc := h.Do(t, "GET", "/openapi.json", "", nil).Want(t, 200).Map(t)
	paths := doc["paths"].(map[string]any)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	get := paths["/v1/licences"].(map[string]any)["get"].(map[string]any)
	ref := get["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"].(string)
	props := schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)["properties"].(map[string]any)
	// The licences the caller may see, a page at a time, and nothing
	// about the others (no count).
	if _, ok := props["items"]; !ok || len(props) != 2 || props["next_cursor"] == nil {
		t.Errorf("lookup reply has properties %v, want items and next_cursor only", props)
	}
	verify := paths["/v1/licences/{id}/verify"].(map[string]any)["post"].(map[string]any)
	one := paths["/v1/licences/{id}"].(map[string]any)["get"].(map[string]any)
	if got, want := licenceJSON(t, verify["x-roles"]), licenceJSON(t, one["x-roles"]); string(got) != string(want) || string(got) == "null" {
		t.Errorf("verify roles %s, get roles %s", got, want)
	}
}
