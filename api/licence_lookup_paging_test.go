package api_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestLicenceLookupManyLicences: a holder lookup of a holder with more
// licences than one answer holds (a transport company with a 道路运输证
// for each of its 120 vehicles) pages through them with next_cursor, and
// a caller granted another of the holder's types finds that licence
// whatever number of licences it may not see sort before it.
func TestLicenceLookupManyLicences(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := newLicenceHub(t, hubtest.Start(t, b))
			ctx := context.Background()
			codes := map[string]string{}
			for _, tp := range h.Do(t, "GET", "/v1/licence-types", h.Admin, nil).Want(t, 200).Map(t)["items"].([]any) {
				m := tp.(map[string]any)
				codes[m["name"].(string)] = m["code"].(string)
			}
			vehicle, permit := codes["道路运输证"], codes["排污许可证"]
			if vehicle == "" || permit == "" || vehicle > permit {
				t.Fatalf("types 道路运输证 %q and 排污许可证 %q: the test needs the first to sort first", vehicle, permit)
			}
			company := ident.NewCreditCode('9', '1', "420600", uint64(time.Now().UnixNano()%1e9))
			holder := licence.Holder{Name: "襄阳汉江物流有限公司", IDType: licence.HolderIDCredit, ID: company}
			face := map[string]string{"legal_rep": "李四", "address": "襄阳市高新区追日路8号"}
			transport := &exchange.Principal{ID: "p-jtysj-issuer", DepartmentID: "xy-jtysj", Roles: []exchange.Role{exchange.RoleIssuer}}
			const vehicles = 120
			for i := range vehicles {
				if _, err := h.Licences.Issue(ctx, transport, licence.NewLicence{TypeCode: vehicle, Number: fmt.Sprintf("YS%05d", i), Holder: holder,
					IssuedOn: "2023-01-01", Face: face}); err != nil {
					t.Fatal(err)
				}
			}
			environment := &exchange.Principal{ID: "p-sthjj-issuer", DepartmentID: "xy-sthjj", Roles: []exchange.Role{exchange.RoleIssuer}}
			pw, err := h.Licences.Issue(ctx, environment, licence.NewLicence{TypeCode: permit, Number: "PW0001", Holder: holder, IssuedOn: "2023-01-01", Face: face})
			if err != nil {
				t.Fatal(err)
			}
			key := func(dept, name string) string {
				p := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": dept, "name": name, "roles": []string{"app"}}).Want(t, 201).Map(t)
				return h.Do(t, "POST", "/v1/principals/"+p["id"].(string)+"/keys", h.Admin, map[string]any{"name": "t"}).Want(t, 201).Map(t)["secret"].(string)
			}
			grant := func(dept, typ string) {
				h.Do(t, "POST", "/v1/grants", h.Admin, map[string]any{"consumer_department_id": dept, "resource_kind": "licence_type", "resource_id": typ,
					"fields": []string{"*"}, "purpose": "执法检查核验证照", "valid_until": time.Now().AddDate(0, 1, 0)}).Want(t, 201)
			}
			grant("xy-yjglj", vehicle)
			grant("xy-cgw", permit)
			safety, city := key("xy-yjglj", "safety-app"), key("xy-cgw", "city-app")
			purpose := "X-Purpose: 执法检查核验证照"
			type page struct {
				Items      []licence.View `json:"items"`
				NextCursor string         `json:"next_cursor"`
			}
			lookup := func(key, holderID, cursor string, want int) page {
				var p page
				q := "/v1/licences?holder_id_type=001&holder_id=" + holderID
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				h.Do(t, "GET", q, key, nil, purpose).Want(t, want).JSON(t, &p)
				return p
			}

			t.Run("a type sorting after many others", func(t *testing.T) {
				got := lookup(city, company, "", 200)
				if len(got.Items) != 1 || got.Items[0].ID != pw.ID || got.NextCursor != "" {
					t.Fatalf("lookup by a caller granted 排污许可证 only: %d items, cursor %q; want the 排污许可证 alone", len(got.Items), got.NextCursor)
				}
			})

			t.Run("pages", func(t *testing.T) {
				seen := map[string]bool{}
				cursor, pages := "", 0
				for {
					p := lookup(safety, company, cursor, 200)
					pages++
					for _, v := range p.Items {
						if v.TypeCode != vehicle || seen[v.ID] {
							t.Fatalf("page %d: %s (%s) again or of another type", pages, v.ID, v.TypeCode)
						}
						seen[v.ID] = true
					}
					if p.NextCursor == "" {
						break
					}
					if len(p.Items) != licence.MaxLookup || pages > 2 {
						t.Fatalf("page %d: %d items and a next cursor", pages, len(p.Items))
					}
					cursor = p.NextCursor
				}
				if len(seen) != vehicles || pages != 2 {
					t.Fatalf("%d licences in %d pages, want %d in 2", len(seen), pages, vehicles)
				}
				first := lookup(safety, company, "", 200)
				// A cursor is for the holder it was given for.
				other := ident.NewCreditCode('9', '1', "420600", 7)
				lookup(safety, other, first.NextCursor, 400)
				lookup(safety, company, "nonsense", 400)
			})
		})
	}
}
