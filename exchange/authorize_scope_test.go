package exchange_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestAuthorizeScopeBeforeQuota: a scope passed to Authorize refuses a
// call under a grant before its quota is taken. Calls it refuses use no
// quota; of several covering grants, one it allows is picked; when it
// refuses every grant its error is returned, but when a grant it allows is
// only out of quota, the refusal is the quota's.
func TestAuthorizeScopeBeforeQuota(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) { testAuthorizeScopeBeforeQuota(t, d) })
}

func testAuthorizeScopeBeforeQuota(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{})
	ctx := context.Background()
	dep, app := f.consumer()
	res := exchange.Resource{Kind: exchange.ResourceCatalogItem, ID: uid("scope")}

	named := validGrant(dep.ID)
	named.ResourceID, named.Fields, named.DailyQuota = res.ID, []string{"name", "id_number"}, 1
	ng := f.grant(named)
	f.clk.Advance(time.Second)
	// Newer, so weighed first.
	star := validGrant(dep.ID)
	star.ResourceID, star.Fields, star.DailyQuota = res.ID, []string{exchange.AllFields}, 2
	sg := f.grant(star)

	used := func(wantNamed, wantStar int64) {
		t.Helper()
		nu, err1 := f.s.QuotaUsedToday(ctx, ng.ID)
		su, err2 := f.s.QuotaUsedToday(ctx, sg.ID)
		if err1 != nil || err2 != nil || nu != wantNamed || su != wantStar {
			t.Fatalf("used named=%d star=%d (%v, %v), want %d and %d", nu, su, err1, err2, wantNamed, wantStar)
		}
	}
	// What a filter on id_number needs: the field named in the grant.
	needsNamed := func(a exchange.Access) error {
		if !slices.Contains(a.Grant.Fields, "id_number") {
			return errs.Forbidden("filter on id_number, which grant %s shows masked", a.Grant.ID)
		}
		return nil
	}

	// Refused under every grant, more times than either quota: the first
	// grant's refusal, and nothing used.
	var seen []exchange.Access
	refuseAll := func(a exchange.Access) error {
		seen = append(seen, a)
		return errs.Forbidden("not under grant %s", a.Grant.ID)
	}
	for i := 0; i < 5; i++ {
		_, err := f.s.Authorize(ctx, app, res, nil, "", refuseAll)
		wantKind(t, err, errs.KindForbidden)
		wantMessage(t, err, "not under grant "+sg.ID)
	}
	used(0, 0)
	// The scope is shown the access each grant would give.
	if len(seen) != 10 || seen[0].Grant.ID != sg.ID || seen[1].Grant.ID != ng.ID ||
		!slices.Equal(seen[1].Fields, ng.Fields) || seen[1].Purpose != ng.Purpose {
		t.Fatalf("scope saw %+v", seen[:min(len(seen), 2)])
	}

	// Of the two covering grants, the one the scope allows, though the
	// other comes first.
	a, err := f.s.Authorize(ctx, app, res, []string{"name"}, "", needsNamed)
	if err != nil || a.Grant.ID != ng.ID {
		t.Fatalf("Authorize with a scope only the named grant passes = %s, %v; want %s", a.Grant.ID, err, ng.ID)
	}
	used(1, 0)
	// Its quota is used up: rate limited (not forbidden), although the
	// star grant has calls left.
	_, err = f.s.Authorize(ctx, app, res, []string{"name"}, "", needsNamed)
	wantKind(t, err, errs.KindRateLimited)
	used(1, 0)
	// Calls the star grant allows still go, up to its quota; a nil scope
	// checks nothing.
	for i := 0; i < 2; i++ {
		if a, err := f.s.Authorize(ctx, app, res, nil, "", nil); err != nil || a.Grant.ID != sg.ID {
			t.Fatalf("call %d under the star grant: %s, %v", i, a.Grant.ID, err)
		}
	}
	used(1, 2)
	_, err = f.s.Authorize(ctx, app, res, nil, "")
	wantKind(t, err, errs.KindRateLimited)
}
