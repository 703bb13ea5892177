package api_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestShareTypeChangeReviewsGrants: an item going from 无条件共享 to
// 有条件共享 through PUT loses the grants made by registrations (no
// provider approved them) at once; an approved application's grant stays.
// Going to 不予共享 takes every grant.
func TestShareTypeChangeReviewsGrants(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			wjw := key(t, h, "xy-wjw", "wjw-app", exchange.RoleApp)
			mzj := h.AppKey
			it := peopleItem(t, h, "人口基础信息（共享类型变更）", catalog.ShareConditional)
			setShare := func(share, requestID string) *hubtest.Response {
				t.Helper()
				cur := h.Do(t, "GET", "/v1/catalog/items/"+it.Code, h.Admin, nil).Want(t, http.StatusOK).Map(t)
				body := contentOf(cur)
				body["version"], body["share_type"] = cur["version"], share
				return h.Do(t, "PUT", "/v1/catalog/items/"+it.Code, h.Admin, body, "X-Request-ID: "+requestID).Want(t, http.StatusOK)
			}
			read := func(key, purpose string, want int) {
				t.Helper()
				h.Do(t, "GET", "/v1/data/"+it.Code+"/records?key=P0000001", key, nil, "X-Purpose: "+purpose).Want(t, want)
			}
			until := time.Now().AddDate(0, 6, 0)

			// 有条件共享: 卫健委 applies and the provider approves.
			var app exchange.Application
			h.Do(t, "POST", "/v1/applications", wjw, exchange.NewApplication{ItemCode: it.Code, Purpose: "健康档案核验", Scenario: "建档核验",
				Fields: []string{"id", "address"}, ValidUntil: until}).Want(t, http.StatusCreated).JSON(t, &app)
			h.Do(t, "POST", "/v1/applications/"+app.ID+"/approve", gaj, exchange.Decision{}).Want(t, http.StatusOK).JSON(t, &app)
			// 无条件共享: 民政局 registers its use and is granted at once.
			if got := setShare(catalog.ShareUnconditional, "share-1").Header.Get("X-Grants-Reviewed"); got != "0" {
				t.Fatalf("有条件→无条件 reviewed %q grants, want 0", got)
			}
			var reg exchange.Application
			h.Do(t, "POST", "/v1/applications", mzj, exchange.NewApplication{ItemCode: it.Code, Purpose: "户籍核验", ValidUntil: until}).
				Want(t, http.StatusCreated).JSON(t, &reg)
			if reg.Kind != exchange.KindRegistration || reg.GrantID == "" {
				t.Fatalf("registration: %+v", reg)
			}
			read(mzj, "户籍核验", http.StatusOK)
			read(wjw, "健康档案核验", http.StatusOK)

			// 无条件 → 有条件: the registration's grant is revoked in the same call.
			if got := setShare(catalog.ShareConditional, "share-2").Header.Get("X-Grants-Reviewed"); got != "1" {
				t.Fatalf("无条件→有条件 reviewed %q grants, want 1", got)
			}
			g, err := h.Exchange.Grant(t.Context(), reg.GrantID)
			if err != nil || g.RevokedAt == nil {
				t.Fatalf("registration grant %+v, %v: want revoked", g, err)
			}
			if es := entriesFor(t, h, "share-2"); len(es) != 1 || !contains(es[0].Resources, "grant:"+reg.GrantID) {
				t.Fatalf("audit entry of the change does not name the revoked grant: %+v", es)
			}
			p := h.Do(t, "GET", "/v1/data/"+it.Code+"/records?key=P0000001", mzj, nil, "X-Purpose: 户籍核验").Want(t, http.StatusForbidden).Problem(t)
			if d, _ := p["detail"].(string); d == "" {
				t.Fatalf("refusal without a reason: %v", p)
			}
			read(wjw, "健康档案核验", http.StatusOK)
			if g, err := h.Exchange.Grant(t.Context(), app.GrantID); err != nil || g.RevokedAt != nil {
				t.Fatalf("approved application's grant %+v, %v: want in force", g, err)
			}

			// → 不予共享: every grant goes.
			if got := setShare(catalog.ShareNone, "share-3").Header.Get("X-Grants-Reviewed"); got != strconv.Itoa(1) {
				t.Fatalf("→不予共享 reviewed %q grants, want 1", got)
			}
			if g, err := h.Exchange.Grant(t.Context(), app.GrantID); err != nil || g.RevokedAt == nil {
				t.Fatalf("application's grant on a 不予共享 item %+v, %v: want revoked", g, err)
			}
			read(wjw, "健康档案核验", http.StatusForbidden)
		})
	}
}
