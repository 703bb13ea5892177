package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestLicenceTypeDefinitions checks PUT /v1/licence-types/{code}: an admin
// defines and changes a type; a definition that breaks the model is 400
// with a pointer to each wrong member; others are refused.
func TestLicenceTypeDefinitions(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := newLicenceHub(t, hubtest.Start(t, b))
			code := h.marriageType[:18] + "901" // 民政局's credit code, a new sequence
			valid := func() map[string]any {
				return map[string]any{
					"code": code, "name": "养犬登记证", "definer_id": "xy-mzj", "issuer_ids": []string{"xy-mzj", "xy-gaj"},
					"holder_kind": "person", "validity_years": 1,
					"fields": []map[string]any{
						{"code": "dog_name", "name": "犬名", "format": "text", "required": true},
						{"code": "breed", "name": "品种", "format": "enum", "choices": []string{"中华田园犬", "柯基"}},
						{"code": "vaccinated_on", "name": "免疫日期", "format": "date"},
					},
				}
			}
			path := "/v1/licence-types/" + code

			got := h.Do(t, "PUT", path, h.Admin, valid()).Want(t, 200).Map(t)
			if got["code"] != code || got["name"] != "养犬登记证" {
				t.Fatalf("PUT = %v", got)
			}
			listed := false
			for _, it := range h.Do(t, "GET", "/v1/licence-types", h.Admin, nil).Want(t, 200).Map(t)["items"].([]any) {
				if m := it.(map[string]any); m["code"] == code {
					listed = len(m["fields"].([]any)) == 3
				}
			}
			if !listed {
				t.Fatal("the new type is not listed with its three face fields")
			}
			// Changing it: a PUT replaces the definition.
			changed := valid()
			changed["name"] = "犬只登记证"
			if got := h.Do(t, "PUT", path, h.Admin, changed).Want(t, 200).Map(t); got["name"] != "犬只登记证" {
				t.Fatalf("changed type = %v", got)
			}

			for _, tc := range []struct {
				name    string
				path    string
				edit    func(m map[string]any)
				pointer string
			}{
				{"wrong check character in the definer's credit code", "/v1/licence-types/" + badCheck(code),
					func(m map[string]any) { m["code"] = badCheck(code) }, "/code"},
				{"code not as in the path", path, func(m map[string]any) { m["code"] = code[:18] + "902" }, "/code"},
				{"no name", path, func(m map[string]any) { m["name"] = " " }, "/name"},
				{"unknown definer", path, func(m map[string]any) { m["definer_id"] = "xy-nowhere" }, "/definer_id"},
				{"no issuers", path, func(m map[string]any) { m["issuer_ids"] = []string{} }, "/issuer_ids"},
				{"unknown issuer", path, func(m map[string]any) { m["issuer_ids"] = []string{"xy-mzj", "xy-nowhere"} }, "/issuer_ids/1"},
				{"holder kind", path, func(m map[string]any) { m["holder_kind"] = "dog" }, "/holder_kind"},
				{"validity over 100 years", path, func(m map[string]any) { m["validity_years"] = 101 }, "/validity_years"},
				{"negative validity", path, func(m map[string]any) { m["validity_years"] = -1 }, "/validity_years"},
				{"duplicate field code", path, func(m map[string]any) {
					m["fields"] = []map[string]any{{"code": "a", "name": "甲", "format": "text"}, {"code": "a", "name": "乙", "format": "text"}}
				}, "/fields/1/code"},
				{"field code with capitals", path, func(m map[string]any) {
					m["fields"] = []map[string]any{{"code": "DogName", "name": "犬名", "format": "text"}}
				}, "/fields/0/code"},
				{"enum without choices", path, func(m map[string]any) {
					m["fields"] = []map[string]any{{"code": "breed", "name": "品种", "format": "enum"}}
				}, "/fields/0/choices"},
				{"unknown format", path, func(m map[string]any) {
					m["fields"] = []map[string]any{{"code": "weight", "name": "体重", "format": "kilograms"}}
				}, "/fields/0/format"},
				{"unknown member", path, func(m map[string]any) { m["colour"] = "黄" }, "colour"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					m := valid()
					tc.edit(m)
					p := h.Do(t, "PUT", tc.path, h.Admin, m).Want(t, 400).Problem(t)
					if !strings.Contains(fmt.Sprint(p), tc.pointer) {
						t.Fatalf("problem does not point at %s: %v", tc.pointer, p)
					}
				})
			}
			// The refused definitions changed nothing.
			for _, it := range h.Do(t, "GET", "/v1/licence-types", h.Admin, nil).Want(t, 200).Map(t)["items"].([]any) {
				if m := it.(map[string]any); m["code"] == code && (m["name"] != "犬只登记证" || len(m["fields"].([]any)) != 3 || m["validity_years"] != float64(1)) {
					t.Fatalf("a refused PUT changed the type: %v", m)
				}
			}

			// Only admins define types.
			h.Do(t, "PUT", path, h.civilIssuer, valid()).Want(t, 403)
			h.Do(t, "PUT", path, h.AppKey, valid()).Want(t, 403)
			h.Do(t, "PUT", path, "", valid()).Want(t, 401)
		})
	}
}

// badCheck returns a type code whose credit code has a wrong check character.
func badCheck(code string) string {
	c := byte('0')
	if code[17] == '0' {
		c = '1'
	}
	return code[:17] + string(c) + code[18:]
}
