package exchange_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// TestExchangeStore is the exchange store's conformance suite: written once,
// run on SQLite and on PostgreSQL with a fresh migrated database each.
func TestExchangeStore(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		t.Run("Departments", func(t *testing.T) { testDepartments(t, d) })
		t.Run("Principals", func(t *testing.T) { testPrincipals(t, d) })
		t.Run("APIKeys", func(t *testing.T) { testAPIKeys(t, d) })
		t.Run("KeyStoredAsHashOnly", func(t *testing.T) { testKeyStoredAsHashOnly(t, d) })
		t.Run("KeyCache", func(t *testing.T) { testKeyCache(t, d) })
		t.Run("GrantValidation", func(t *testing.T) { testGrantValidation(t, d) })
		t.Run("GrantWindowsAndRevocation", func(t *testing.T) { testGrantWindows(t, d) })
		t.Run("Authorize", func(t *testing.T) { testAuthorize(t, d) })
		t.Run("AuthorizeTwoGrants", func(t *testing.T) { testAuthorizeTwoGrants(t, d) })
		t.Run("QuotaConcurrent", func(t *testing.T) { testQuotaConcurrent(t, d) })
		t.Run("QuotaAcrossRestart", func(t *testing.T) { testQuotaAcrossRestart(t, d) })
		t.Run("QuotaDayRollover", func(t *testing.T) { testQuotaDayRollover(t, d) })
	})
}

// --- fixtures ---------------------------------------------------------------

// fakeClock is a settable clock for exchange.Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}()

// t0 is the suite's fake "now": a moment in the future of the real clock,
// so nothing depends on when the test runs.
var t0 = time.Date(2031, 5, 20, 10, 30, 0, 123456000, shanghai)

var codeSeq atomic.Uint64

func init() { codeSeq.Store(uint64(time.Now().UnixNano()%1_000_000) * 1000) }

// creditCode returns a fresh valid 统一社会信用代码.
func creditCode() string { return ident.NewCreditCode('1', '1', "420600", codeSeq.Add(1)) }

var idSeq atomic.Uint64

// uid returns a unique slug with prefix, so subtests sharing a database do
// not collide.
func uid(prefix string) string { return fmt.Sprintf("%s-%d", prefix, idSeq.Add(1)) }

type fixture struct {
	t     *testing.T
	d     *db.DB
	s     *exchange.Service
	clk   *fakeClock
	admin *exchange.Principal
}

func newFixture(t *testing.T, d *db.DB, cfg exchange.Config) *fixture {
	t.Helper()
	clk := &fakeClock{t: t0}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	s := exchange.New(d, cfg)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Service.Close: %v", err)
		}
	})
	f := &fixture{t: t, d: d, s: s, clk: clk}
	ops := f.dept(uid("ops"), "")
	admin := f.principal(ops.ID, "admin", exchange.RoleAdmin)
	f.admin = &admin
	return f
}

func (f *fixture) dept(id, parent string) exchange.Department {
	f.t.Helper()
	d, err := f.s.CreateDepartment(context.Background(), exchange.Department{ID: id, Code: creditCode(), Name: "部门 " + id, Kind: "office", ParentID: parent})
	if err != nil {
		f.t.Fatalf("CreateDepartment %s: %v", id, err)
	}
	return d
}

func (f *fixture) principal(dep, name string, roles ...exchange.Role) exchange.Principal {
	f.t.Helper()
	p, err := f.s.CreatePrincipal(context.Background(), exchange.NewPrincipal{DepartmentID: dep, Name: name, Roles: roles})
	if err != nil {
		f.t.Fatalf("CreatePrincipal %s/%s: %v", dep, name, err)
	}
	return p
}

func (f *fixture) key(p exchange.Principal, expires time.Time) (exchange.APIKey, string) {
	f.t.Helper()
	k, secret, err := f.s.CreateKey(context.Background(), p.ID, "test", expires)
	if err != nil {
		f.t.Fatalf("CreateKey: %v", err)
	}
	return k, secret
}

func (f *fixture) grant(ng exchange.NewGrant) exchange.Grant {
	f.t.Helper()
	g, err := f.s.CreateGrant(context.Background(), f.admin, ng)
	if err != nil {
		f.t.Fatalf("CreateGrant: %v", err)
	}
	return g
}

// consumer makes a department with an app principal.
func (f *fixture) consumer() (exchange.Department, *exchange.Principal) {
	f.t.Helper()
	dep := f.dept(uid("app-dep"), "")
	p := f.principal(dep.ID, "app", exchange.RoleApp)
	return dep, &p
}

func wantKind(t *testing.T, err error, k errs.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", k)
	}
	if got := errs.KindOf(err); got != k {
		t.Fatalf("error kind %s (%v), want %s", got, err, k)
	}
}

// wantPointers checks that err is invalid and points at exactly pointers.
func wantPointers(t *testing.T, err error, pointers ...string) {
	t.Helper()
	wantKind(t, err, errs.KindInvalid)
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not an *errs.Error", err)
	}
	var got []string
	for _, fe := range e.Fields {
		if fe.Reason == "" {
			t.Errorf("field error at %s has no reason", fe.Pointer)
		}
		got = append(got, fe.Pointer)
	}
	slices.Sort(got)
	got = slices.Compact(got)
	want := slices.Clone(pointers)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("error points at %q, want %q (%v)", got, want, err)
	}
}

func wantMessage(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// --- departments --------------------------------------------------------------

func testDepartments(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{})
	ctx := context.Background()

	// Valid: explicit id, trimmed fields, times from the service clock.
	id := uid("xy-dep")
	code := creditCode()
	dep, err := f.s.CreateDepartment(ctx, exchange.Department{ID: "  " + id + " ", Code: " " + code + "\t", Name: " 襄阳市测试局 ", Kind: "office"})
	if err != nil {
		t.Fatalf("CreateDepartment: %v", err)
	}
	if dep.ID != id || dep.Code != code || dep.Name != "襄阳市测试局" || dep.ParentID != "" {
		t.Fatalf("created %+v", dep)
	}
	if !dep.CreatedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("CreatedAt %v, want the fake clock %v", dep.CreatedAt, t0)
	}
	got, err := f.s.Department(ctx, id)
	if err != nil || got != dep {
		t.Fatalf("Department(%s) = %+v, %v; want %+v", id, got, err, dep)
	}
	if got, err := f.s.DepartmentByCode(ctx, code); err != nil || got.ID != id {
		t.Fatalf("DepartmentByCode = %+v, %v", got, err)
	}
	_, err = f.s.Department(ctx, "no-such-dep")
	wantKind(t, err, errs.KindNotFound)
	_, err = f.s.DepartmentByCode(ctx, creditCode())
	wantKind(t, err, errs.KindNotFound)

	// Every kind is accepted; a 100-character Chinese name is accepted.
	for i, k := range exchange.DepartmentKinds {
		name := strings.Repeat("局", 100)
		if _, err := f.s.CreateDepartment(ctx, exchange.Department{ID: uid("kind"), Code: creditCode(), Name: name, Kind: k}); err != nil {
			t.Errorf("kind %d %q: %v", i, k, err)
		}
	}

	// No id: one is made up, and the department can be read back by it.
	gen, err := f.s.CreateDepartment(ctx, exchange.Department{Code: creditCode(), Name: "无编号单位", Kind: "organisation"})
	if err != nil || gen.ID == "" {
		t.Fatalf("CreateDepartment without id = %+v, %v", gen, err)
	}
	if got, err := f.s.Department(ctx, gen.ID); err != nil || got.Code != gen.Code {
		t.Fatalf("Department(%s) = %+v, %v", gen.ID, got, err)
	}

	// Child of a known parent.
	child, err := f.s.CreateDepartment(ctx, exchange.Department{ID: uid("child"), Code: creditCode(), Name: "下属单位", Kind: "office", ParentID: id})
	if err != nil || child.ParentID != id {
		t.Fatalf("child = %+v, %v", child, err)
	}
	if got, _ := f.s.Department(ctx, child.ID); got.ParentID != id {
		t.Fatalf("stored child parent %q", got.ParentID)
	}

	before, err := f.s.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(before, func(a, b exchange.Department) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("Departments not ordered by id")
	}

	// Invalid input, each field on its own and all at once.
	valid := func() exchange.Department {
		return exchange.Department{ID: uid("v"), Code: creditCode(), Name: "有效单位", Kind: "office"}
	}
	badCheck := []byte(creditCode())
	if badCheck[17] == 'A' {
		badCheck[17] = 'B'
	} else {
		badCheck[17] = 'A'
	}
	for _, tc := range []struct {
		name    string
		mod     func(*exchange.Department)
		pointer []string
	}{
		{"bad check character", func(d *exchange.Department) { d.Code = string(badCheck) }, []string{"/code"}},
		{"empty code", func(d *exchange.Department) { d.Code = "" }, []string{"/code"}},
		{"short code", func(d *exchange.Department) { d.Code = d.Code[:17] }, []string{"/code"}},
		{"lower-case code", func(d *exchange.Department) { d.Code = strings.ToLower("91350100M000100Y43") }, []string{"/code"}},
		{"id with capitals", func(d *exchange.Department) { d.ID = "XY-Bad" }, []string{"/id"}},
		{"id with underscore", func(d *exchange.Department) { d.ID = "xy_bad" }, []string{"/id"}},
		{"id too long", func(d *exchange.Department) { d.ID = strings.Repeat("a", 41) }, []string{"/id"}},
		{"empty name", func(d *exchange.Department) { d.Name = "   " }, []string{"/name"}},
		{"name too long", func(d *exchange.Department) { d.Name = strings.Repeat("局", 101) }, []string{"/name"}},
		{"unknown kind", func(d *exchange.Department) { d.Kind = "ministry" }, []string{"/kind"}},
		{"empty kind", func(d *exchange.Department) { d.Kind = "" }, []string{"/kind"}},
		{"everything", func(d *exchange.Department) { *d = exchange.Department{ID: "BAD ID", Code: "x", Kind: "x"} }, []string{"/id", "/code", "/name", "/kind"}},
		{"unknown parent", func(d *exchange.Department) { d.ParentID = "no-such-parent" }, []string{"/parent_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep := valid()
			tc.mod(&dep)
			_, err := f.s.CreateDepartment(ctx, dep)
			wantPointers(t, err, tc.pointer...)
		})
	}

	// Duplicates conflict and change nothing.
	_, err = f.s.CreateDepartment(ctx, exchange.Department{ID: id, Code: creditCode(), Name: "重复编号", Kind: "office"})
	wantKind(t, err, errs.KindConflict)
	_, err = f.s.CreateDepartment(ctx, exchange.Department{ID: uid("dup-code"), Code: code, Name: "重复代码", Kind: "office"})
	wantKind(t, err, errs.KindConflict)
	after, err := f.s.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d departments after failed creates, want %d", len(after), len(before))
	}
	if got, _ := f.s.Department(ctx, id); got != dep {
		t.Fatalf("department %s changed by a failed duplicate: %+v", id, got)
	}
}

// --- principals ---------------------------------------------------------------

func testPrincipals(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{KeyCacheTTL: time.Hour})
	ctx := context.Background()
	dep := f.dept(uid("prn-dep"), "")
	other := f.dept(uid("prn-other"), "")

	for _, r := range exchange.Roles {
		if !exchange.ValidRole(r) {
			t.Errorf("ValidRole(%q) = false", r)
		}
	}
	if exchange.ValidRole("root") || exchange.ValidRole("") || exchange.ValidRole("Admin") {
		t.Error("ValidRole accepts an unknown role")
	}

	p, err := f.s.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: " " + dep.ID + " ", Name: " 数据管理员 ", Roles: []exchange.Role{exchange.RoleDataAdmin, exchange.RoleImporter}})
	if err != nil {
		t.Fatalf("CreatePrincipal: %v", err)
	}
	if p.ID == "" || p.DepartmentID != dep.ID || p.Name != "数据管理员" || p.Disabled {
		t.Fatalf("created %+v", p)
	}
	if !p.Has(exchange.RoleImporter) || !p.Has(exchange.RoleAdmin, exchange.RoleDataAdmin) || p.Has(exchange.RoleAdmin) || p.Has(exchange.RoleAuditor) {
		t.Errorf("Has on roles %v is wrong", p.Roles)
	}
	got, err := f.s.Principal(ctx, p.ID)
	if err != nil || got.Name != p.Name || !slices.Equal(got.Roles, p.Roles) || !got.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("Principal(%s) = %+v, %v; want %+v", p.ID, got, err, p)
	}
	if got, err := f.s.PrincipalByName(ctx, dep.ID, "数据管理员"); err != nil || got.ID != p.ID {
		t.Fatalf("PrincipalByName = %+v, %v", got, err)
	}
	_, err = f.s.Principal(ctx, "prn_nope")
	wantKind(t, err, errs.KindNotFound)
	_, err = f.s.PrincipalByName(ctx, other.ID, "数据管理员")
	wantKind(t, err, errs.KindNotFound)

	// Admin is not an auditor: roles do not imply one another.
	if f.admin.Has(exchange.RoleAuditor) {
		t.Error("an admin holds the auditor role")
	}
	var nilP *exchange.Principal
	if nilP.Has(exchange.RoleAdmin) {
		t.Error("a nil principal holds a role")
	}

	// Bad input.
	for _, tc := range []struct {
		name    string
		np      exchange.NewPrincipal
		pointer []string
	}{
		{"unknown role", exchange.NewPrincipal{DepartmentID: dep.ID, Name: "x1", Roles: []exchange.Role{"root"}}, []string{"/roles/0"}},
		{"unknown second role", exchange.NewPrincipal{DepartmentID: dep.ID, Name: "x2", Roles: []exchange.Role{exchange.RoleApp, "Admin"}}, []string{"/roles/1"}},
		{"duplicate role", exchange.NewPrincipal{DepartmentID: dep.ID, Name: "x3", Roles: []exchange.Role{exchange.RoleApp, exchange.RoleApp}}, []string{"/roles/1"}},
		{"no roles", exchange.NewPrincipal{DepartmentID: dep.ID, Name: "x4"}, []string{"/roles"}},
		{"admin and auditor", exchange.NewPrincipal{DepartmentID: dep.ID, Name: "x7", Roles: []exchange.Role{exchange.RoleAdmin, exchange.RoleAuditor}}, []string{"/roles"}},
		{"empty name", exchange.NewPrincipal{DepartmentID: dep.ID, Name: " ", Roles: []exchange.Role{exchange.RoleApp}}, []string{"/name"}},
		{"long name", exchange.NewPrincipal{DepartmentID: dep.ID, Name: strings.Repeat("名", 101), Roles: []exchange.Role{exchange.RoleApp}}, []string{"/name"}},
		{"no department", exchange.NewPrincipal{Name: "x5", Roles: []exchange.Role{exchange.RoleApp}}, []string{"/department_id"}},
		{"unknown department", exchange.NewPrincipal{DepartmentID: "no-such-dep", Name: "x6", Roles: []exchange.Role{exchange.RoleApp}}, []string{"/department_id"}},
		{"everything", exchange.NewPrincipal{DepartmentID: "no-such-dep", Roles: []exchange.Role{"x"}}, []string{"/department_id", "/name", "/roles/0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.CreatePrincipal(ctx, tc.np)
			wantPointers(t, err, tc.pointer...)
		})
	}

	// The same name twice in one department conflicts; in another it is fine.
	_, err = f.s.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: dep.ID, Name: "数据管理员", Roles: []exchange.Role{exchange.RoleApp}})
	wantKind(t, err, errs.KindConflict)
	if _, err := f.s.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: other.ID, Name: "数据管理员", Roles: []exchange.Role{exchange.RoleApp}}); err != nil {
		t.Fatalf("same name in another department: %v", err)
	}
	ps, err := f.s.Principals(ctx, dep.ID)
	if err != nil || len(ps) != 1 || ps[0].ID != p.ID {
		t.Fatalf("Principals(%s) = %+v, %v; want just %s", dep.ID, ps, err, p.ID)
	}
	all, err := f.s.Principals(ctx, "")
	if err != nil || len(all) < 3 {
		t.Fatalf("Principals() = %d, %v", len(all), err)
	}

	// Disabling stops every key at once, even cached ones, and new keys.
	_, s1 := f.key(p, time.Time{})
	_, s2 := f.key(p, t0.Add(24*time.Hour))
	for _, s := range []string{s1, s2} {
		if got, _, err := f.s.Authenticate(ctx, s); err != nil || got.ID != p.ID {
			t.Fatalf("Authenticate before disabling = %v, %v", got, err)
		}
	}
	f.clk.Advance(time.Minute)
	dis, err := f.s.DisablePrincipal(ctx, p.ID)
	if err != nil || !dis.Disabled {
		t.Fatalf("DisablePrincipal = %+v, %v", dis, err)
	}
	for _, s := range []string{s1, s2} {
		_, _, err := f.s.Authenticate(ctx, s)
		wantKind(t, err, errs.KindUnauthenticated)
		wantMessage(t, err, "disabled")
	}
	_, _, err = f.s.CreateKey(ctx, p.ID, "after", time.Time{})
	wantKind(t, err, errs.KindConflict)
	if got, _ := f.s.Principal(ctx, p.ID); !got.Disabled {
		t.Error("stored principal is not disabled")
	}
	// Disabling twice keeps it disabled; an unknown principal is not found.
	if again, err := f.s.DisablePrincipal(ctx, p.ID); err != nil || !again.Disabled {
		t.Fatalf("second DisablePrincipal = %+v, %v", again, err)
	}
	_, err = f.s.DisablePrincipal(ctx, "prn_nope")
	wantKind(t, err, errs.KindNotFound)
	// A second service (another replica) sees the principal disabled too.
	s2svc := exchange.New(d, exchange.Config{Now: f.clk.Now})
	defer s2svc.Close()
	_, _, err = s2svc.Authenticate(ctx, s1)
	wantKind(t, err, errs.KindUnauthenticated)
}

// --- API keys -------------------------------------------------------------------

func testAPIKeys(t *testing.T, d *db.DB) {
	// A long cache TTL: expiry and revocation must not depend on the cache.
	f := newFixture(t, d, exchange.Config{KeyCacheTTL: 24 * time.Hour})
	ctx := context.Background()
	dep := f.dept(uid("key-dep"), "")
	p := f.principal(dep.ID, "app", exchange.RoleApp)

	k, secret := f.key(p, time.Time{})
	if !strings.HasPrefix(secret, exchange.KeyPrefix) || len(secret) != len(exchange.KeyPrefix)+43 {
		t.Fatalf("secret %q: want shk_ and 43 base64url characters (32 bytes)", secret)
	}
	if k.ID == "" || k.PrincipalID != p.ID || k.Name != "test" || k.ExpiresAt != nil || k.RevokedAt != nil {
		t.Fatalf("key %+v", k)
	}
	got, keyID, err := f.s.Authenticate(ctx, secret)
	if err != nil || got.ID != p.ID || keyID != k.ID || got.DepartmentID != dep.ID || !got.Has(exchange.RoleApp) {
		t.Fatalf("Authenticate = %+v, %q, %v", got, keyID, err)
	}
	_, secret2 := f.key(p, time.Time{})
	if secret2 == secret {
		t.Fatal("two keys with the same secret")
	}

	// Default and bad names, bad expiry, unknown principal.
	if k, _, err := f.s.CreateKey(ctx, p.ID, "  ", time.Time{}); err != nil || k.Name != "default" {
		t.Fatalf("CreateKey with blank name = %+v, %v", k, err)
	}
	_, _, err = f.s.CreateKey(ctx, p.ID, strings.Repeat("钥", 101), time.Time{})
	wantPointers(t, err, "/name")
	_, _, err = f.s.CreateKey(ctx, p.ID, "past", t0.Add(-time.Second))
	wantPointers(t, err, "/expires_at")
	_, _, err = f.s.CreateKey(ctx, p.ID, "now", t0)
	wantPointers(t, err, "/expires_at")
	_, _, err = f.s.CreateKey(ctx, "prn_nope", "x", time.Time{})
	wantKind(t, err, errs.KindNotFound)

	// Missing, malformed and unknown secrets.
	for _, tc := range []struct{ name, secret, want string }{
		{"missing", "", "missing API key"},
		{"no prefix", strings.TrimPrefix(secret, exchange.KeyPrefix), "not recognised"},
		{"bearer word", "Bearer " + secret, "not recognised"},
		{"too long", secret + strings.Repeat("A", 100), "not recognised"},
		{"unknown", exchange.KeyPrefix + strings.Repeat("A", 43), "not recognised"},
		{"one character off", secret[:len(secret)-1] + string(secret[len(secret)-1]^1), "not recognised"},
		{"prefix only", exchange.KeyPrefix, "not recognised"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 2; i++ { // the second time from the negative cache
				p, _, err := f.s.Authenticate(ctx, tc.secret)
				if p != nil {
					t.Fatalf("Authenticate returned principal %+v", p)
				}
				wantKind(t, err, errs.KindUnauthenticated)
				wantMessage(t, err, tc.want)
			}
		})
	}

	// Expiry follows the service clock, to the microsecond, even when cached.
	exp := t0.Add(time.Hour)
	ek, esecret := f.key(p, exp)
	if ek.ExpiresAt == nil || !ek.ExpiresAt.Equal(exp.Truncate(time.Microsecond)) {
		t.Fatalf("ExpiresAt %v, want %v", ek.ExpiresAt, exp)
	}
	if _, _, err := f.s.Authenticate(ctx, esecret); err != nil {
		t.Fatalf("fresh expiring key: %v", err)
	}
	f.clk.Set(exp.Truncate(time.Microsecond).Add(-time.Microsecond))
	if _, _, err := f.s.Authenticate(ctx, esecret); err != nil {
		t.Fatalf("key one microsecond before expiry: %v", err)
	}
	f.clk.Set(exp.Truncate(time.Microsecond))
	_, _, err = f.s.Authenticate(ctx, esecret)
	wantKind(t, err, errs.KindUnauthenticated)
	wantMessage(t, err, "expired", ek.ID)
	// A fresh service (nothing cached) agrees.
	fresh := exchange.New(d, exchange.Config{Now: f.clk.Now})
	defer fresh.Close()
	_, _, err = fresh.Authenticate(ctx, esecret)
	wantKind(t, err, errs.KindUnauthenticated)
	if _, _, err := fresh.Authenticate(ctx, secret); err != nil {
		t.Fatalf("non-expiring key on a fresh service: %v", err)
	}

	// Revocation applies at once to a cached key; revoking twice conflicts.
	if _, _, err := f.s.Authenticate(ctx, secret2); err != nil {
		t.Fatal(err)
	}
	k2 := mustKeyID(t, f, secret2)
	rk, err := f.s.RevokeKey(ctx, k2)
	if err != nil || rk.RevokedAt == nil || !rk.RevokedAt.Equal(f.clk.Now().Truncate(time.Microsecond)) {
		t.Fatalf("RevokeKey = %+v, %v", rk, err)
	}
	_, _, err = f.s.Authenticate(ctx, secret2)
	wantKind(t, err, errs.KindUnauthenticated)
	wantMessage(t, err, "revoked", k2)
	_, err = f.s.RevokeKey(ctx, k2)
	wantKind(t, err, errs.KindConflict)
	_, err = f.s.RevokeKey(ctx, "key_nope")
	wantKind(t, err, errs.KindNotFound)
	// The other key of the principal still works.
	if _, _, err := f.s.Authenticate(ctx, secret); err != nil {
		t.Fatalf("unrevoked key after revoking another: %v", err)
	}

	// Keys lists descriptions, newest first.
	f.clk.Advance(time.Second)
	newest, _ := f.key(p, time.Time{})
	ks, err := f.s.Keys(ctx, p.ID)
	if err != nil || len(ks) != 5 || ks[0].ID != newest.ID {
		t.Fatalf("Keys = %+v, %v; want 5, newest %s first", ks, err, newest.ID)
	}
	for i := 1; i < len(ks); i++ {
		if ks[i].CreatedAt.After(ks[i-1].CreatedAt) {
			t.Errorf("Keys not newest first: %v after %v", ks[i].CreatedAt, ks[i-1].CreatedAt)
		}
	}
	if kk, err := f.s.Key(ctx, k2); err != nil || kk.RevokedAt == nil {
		t.Fatalf("Key(%s) = %+v, %v", k2, kk, err)
	}
}

func mustKeyID(t *testing.T, f *fixture, secret string) string {
	t.Helper()
	_, id, err := f.s.Authenticate(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testKeyStoredAsHashOnly scans every column of every api_keys row for the
// secret: only its SHA-256 may be stored.
func testKeyStoredAsHashOnly(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{})
	ctx := context.Background()
	dep := f.dept(uid("hash-dep"), "")
	p := f.principal(dep.ID, "app", exchange.RoleApp)
	var secrets []string
	for i := 0; i < 3; i++ {
		_, s := f.key(p, time.Time{})
		secrets = append(secrets, s)
	}
	rows, err := d.R.QueryContext(ctx, `SELECT * FROM api_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[[32]byte]bool{}
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var b []byte
			switch v := v.(type) {
			case []byte:
				b = v
			case string:
				b = []byte(v)
			default:
				b = []byte(fmt.Sprint(v))
			}
			for _, s := range secrets {
				body := strings.TrimPrefix(s, exchange.KeyPrefix)
				if bytes.Contains(b, []byte(body)) || bytes.Contains(b, []byte(body[:20])) {
					t.Fatalf("api_keys.%s holds the secret: %q", cols[i], b)
				}
			}
			if cols[i] == "hash" {
				if len(b) != 32 {
					t.Fatalf("api_keys.hash is %d bytes, want 32", len(b))
				}
				hashes[[32]byte(b)] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("%d api_keys rows, want at least 3", n)
	}
	for _, s := range secrets {
		if !hashes[sha256.Sum256([]byte(s))] {
			t.Errorf("no api_keys row holds the SHA-256 of a secret")
		}
	}
}

// testKeyCache: revocations made here apply at once; revocations made by
// another replica apply once the cache TTL has passed.
func testKeyCache(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{KeyCacheTTL: 5 * time.Second})
	ctx := context.Background()
	dep := f.dept(uid("cache-dep"), "")
	p := f.principal(dep.ID, "app", exchange.RoleApp)
	k, secret := f.key(p, time.Time{})

	replica := exchange.New(d, exchange.Config{Now: f.clk.Now, KeyCacheTTL: 5 * time.Second})
	defer replica.Close()
	for _, s := range []*exchange.Service{f.s, replica} {
		if _, _, err := s.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := replica.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	// On the replica that revoked it: at once.
	_, _, err := replica.Authenticate(ctx, secret)
	wantKind(t, err, errs.KindUnauthenticated)
	// Here: at the latest when the cache entry is older than the TTL.
	f.clk.Advance(5*time.Second + time.Millisecond)
	_, _, err = f.s.Authenticate(ctx, secret)
	wantKind(t, err, errs.KindUnauthenticated)
	wantMessage(t, err, "revoked")

	// A brand-new key is accepted at once (its hash was never looked up).
	_, newSecret := f.key(p, time.Time{})
	if _, _, err := f.s.Authenticate(ctx, newSecret); err != nil {
		t.Fatalf("new key: %v", err)
	}
}

// --- grants ---------------------------------------------------------------------

func validGrant(dep string) exchange.NewGrant {
	return exchange.NewGrant{
		ConsumerDepartmentID: dep, ResourceKind: exchange.ResourceCatalogItem, ResourceID: uid("item"),
		Fields: []string{"name", "birth_date"}, Purpose: "婚姻登记核验", ValidUntil: t0.Add(30 * 24 * time.Hour), DailyQuota: 100,
	}
}

func testGrantValidation(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{})
	ctx := context.Background()
	dep := f.dept(uid("grant-dep"), "")

	g, err := f.s.CreateGrant(ctx, f.admin, exchange.NewGrant{
		ConsumerDepartmentID: " " + dep.ID + " ", ResourceKind: " licence_type ", ResourceID: " marriage ",
		Fields: []string{"holder_name", "*"}, Purpose: " 婚姻登记 ", ValidUntil: t0.Add(time.Hour), DailyQuota: 0,
	})
	if err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	if g.ConsumerDepartmentID != dep.ID || g.ResourceKind != "licence_type" || g.ResourceID != "marriage" || g.Purpose != "婚姻登记" ||
		g.Source != "admin" || g.CreatedBy != f.admin.ID || g.RevokedAt != nil {
		t.Fatalf("created %+v", g)
	}
	if !g.ValidFrom.Equal(t0.Truncate(time.Microsecond)) || !g.CreatedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("ValidFrom %v CreatedAt %v, want the fake clock %v", g.ValidFrom, g.CreatedAt, t0)
	}
	stored, err := f.s.Grant(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.ID != g.ID || !slices.Equal(stored.Fields, g.Fields) || !stored.ValidFrom.Equal(g.ValidFrom) || !stored.ValidUntil.Equal(g.ValidUntil) ||
		stored.DailyQuota != g.DailyQuota || stored.Purpose != g.Purpose || stored.Source != g.Source || stored.CreatedBy != g.CreatedBy {
		t.Fatalf("stored %+v, created %+v", stored, g)
	}
	_, err = f.s.Grant(ctx, "grt_nope")
	wantKind(t, err, errs.KindNotFound)
	// A 200-character purpose is fine; so is a source set by the caller.
	ng := validGrant(dep.ID)
	ng.Purpose = strings.Repeat("核", exchange.MaxPurposeLen)
	ng.Source = "application"
	if g, err := f.s.CreateGrant(ctx, f.admin, ng); err != nil || g.Source != "application" {
		t.Fatalf("200-character purpose: %+v, %v", g, err)
	}

	for _, tc := range []struct {
		name    string
		mod     func(*exchange.NewGrant)
		pointer []string
	}{
		{"no consumer", func(g *exchange.NewGrant) { g.ConsumerDepartmentID = "" }, []string{"/consumer_department_id"}},
		{"unknown consumer", func(g *exchange.NewGrant) { g.ConsumerDepartmentID = "no-such-dep" }, []string{"/consumer_department_id"}},
		{"unknown resource kind", func(g *exchange.NewGrant) { g.ResourceKind = "table" }, []string{"/resource_kind"}},
		{"no resource kind", func(g *exchange.NewGrant) { g.ResourceKind = "" }, []string{"/resource_kind"}},
		{"no resource id", func(g *exchange.NewGrant) { g.ResourceID = " " }, []string{"/resource_id"}},
		{"long resource id", func(g *exchange.NewGrant) { g.ResourceID = strings.Repeat("r", 201) }, []string{"/resource_id"}},
		{"no fields", func(g *exchange.NewGrant) { g.Fields = nil }, []string{"/fields"}},
		{"empty fields", func(g *exchange.NewGrant) { g.Fields = []string{} }, []string{"/fields"}},
		{"blank field", func(g *exchange.NewGrant) { g.Fields = []string{""} }, []string{"/fields/0"}},
		{"blank second field", func(g *exchange.NewGrant) { g.Fields = []string{"name", "  "} }, []string{"/fields/1"}},
		{"long field", func(g *exchange.NewGrant) { g.Fields = []string{strings.Repeat("f", 101)} }, []string{"/fields/0"}},
		{"no purpose", func(g *exchange.NewGrant) { g.Purpose = "  " }, []string{"/purpose"}},
		{"long purpose", func(g *exchange.NewGrant) { g.Purpose = strings.Repeat("核", exchange.MaxPurposeLen+1) }, []string{"/purpose"}},
		{"no valid_until", func(g *exchange.NewGrant) { g.ValidUntil = time.Time{} }, []string{"/valid_until"}},
		{"valid_until in the past", func(g *exchange.NewGrant) { g.ValidUntil = t0.Add(-time.Second) }, []string{"/valid_until"}},
		{"valid_until now", func(g *exchange.NewGrant) { g.ValidUntil = t0 }, []string{"/valid_until"}},
		{"valid_until before valid_from", func(g *exchange.NewGrant) {
			g.ValidFrom = t0.Add(48 * time.Hour)
			g.ValidUntil = t0.Add(24 * time.Hour)
		}, []string{"/valid_until"}},
		{"valid_until equals valid_from", func(g *exchange.NewGrant) {
			g.ValidFrom = t0.Add(48 * time.Hour)
			g.ValidUntil = g.ValidFrom
		}, []string{"/valid_until"}},
		{"negative quota", func(g *exchange.NewGrant) { g.DailyQuota = -1 }, []string{"/daily_quota"}},
		{"everything", func(g *exchange.NewGrant) { *g = exchange.NewGrant{DailyQuota: -5} }, []string{
			"/consumer_department_id", "/resource_kind", "/resource_id", "/fields", "/purpose", "/valid_until", "/daily_quota"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ng := validGrant(dep.ID)
			tc.mod(&ng)
			_, err := f.s.CreateGrant(ctx, f.admin, ng)
			wantPointers(t, err, tc.pointer...)
		})
	}
	gs, err := f.s.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: dep.ID})
	if err != nil || len(gs) != 2 {
		t.Fatalf("%d grants after invalid creates (%v), want 2", len(gs), err)
	}
}

func testGrantWindows(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{})
	ctx := context.Background()
	dep := f.dept(uid("win-dep"), "")

	from, until := t0.Add(time.Hour).Truncate(time.Microsecond), t0.Add(2*time.Hour).Truncate(time.Microsecond)
	ng := validGrant(dep.ID)
	ng.ValidFrom, ng.ValidUntil = from, until
	g := f.grant(ng)
	for _, tc := range []struct {
		at     time.Time
		active bool
	}{
		{t0, false},
		{from.Add(-time.Microsecond), false},
		{from, true},
		{from.Add(30 * time.Minute), true},
		{until.Add(-time.Microsecond), true},
		{until, false},
		{until.Add(time.Hour), false},
	} {
		if got := g.Active(tc.at); got != tc.active {
			t.Errorf("Active(%v) = %v, want %v", tc.at, got, tc.active)
		}
		f.clk.Set(tc.at)
		gs, err := f.s.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: dep.ID, ActiveOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(gs) == 1; got != tc.active {
			t.Errorf("Grants(ActiveOnly) at %v lists %d grants, want active=%v", tc.at, len(gs), tc.active)
		}
	}

	// Revocation: a reason is required; the grant is inactive after; twice conflicts.
	f.clk.Set(from.Add(time.Minute))
	_, err := f.s.RevokeGrant(ctx, f.admin, g.ID, "  ")
	wantPointers(t, err, "/reason")
	_, err = f.s.RevokeGrant(ctx, f.admin, g.ID, strings.Repeat("因", 501))
	wantPointers(t, err, "/reason")
	rg, err := f.s.RevokeGrant(ctx, f.admin, g.ID, " 项目结束 ")
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	if rg.RevokedAt == nil || !rg.RevokedAt.Equal(f.clk.Now().Truncate(time.Microsecond)) || rg.RevokedBy != f.admin.ID || rg.RevokeReason != "项目结束" {
		t.Fatalf("revoked grant %+v", rg)
	}
	if rg.Active(from.Add(2 * time.Minute)) {
		t.Error("a revoked grant is active")
	}
	if gs, _ := f.s.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: dep.ID, ActiveOnly: true}); len(gs) != 0 {
		t.Errorf("Grants(ActiveOnly) lists a revoked grant")
	}
	again, err := f.s.RevokeGrant(ctx, f.admin, g.ID, "again")
	wantKind(t, err, errs.KindConflict)
	if again.RevokeReason != "项目结束" {
		t.Errorf("second revocation changed the reason to %q", again.RevokeReason)
	}
	_, err = f.s.RevokeGrant(ctx, f.admin, "grt_nope", "x")
	wantKind(t, err, errs.KindNotFound)

	// Filters.
	other := validGrant(dep.ID)
	other.ResourceKind, other.ResourceID = exchange.ResourceLicenceType, "marriage"
	f.clk.Set(t0)
	og := f.grant(other)
	for _, tc := range []struct {
		f    exchange.GrantFilter
		want []string
	}{
		{exchange.GrantFilter{ConsumerDepartmentID: dep.ID}, []string{og.ID, g.ID}},
		{exchange.GrantFilter{ConsumerDepartmentID: dep.ID, ResourceKind: exchange.ResourceLicenceType}, []string{og.ID}},
		{exchange.GrantFilter{ConsumerDepartmentID: dep.ID, ResourceID: g.ResourceID}, []string{g.ID}},
		{exchange.GrantFilter{ConsumerDepartmentID: dep.ID, ResourceKind: exchange.ResourceCatalogItem, ResourceID: "nothing"}, nil},
	} {
		gs, err := f.s.Grants(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range gs {
			ids = append(ids, g.ID)
		}
		slices.Sort(ids)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("Grants(%+v) = %v, want %v", tc.f, ids, want)
		}
	}
}

// --- Authorize --------------------------------------------------------------------

func testAuthorize(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{})
	ctx := context.Background()
	dep, app := f.consumer()
	otherDep, otherApp := f.consumer()
	_ = otherDep

	_, err := f.s.Authorize(ctx, nil, exchange.Resource{Kind: exchange.ResourceCatalogItem, ID: "x"}, nil, "")
	wantKind(t, err, errs.KindUnauthenticated)

	// No grant at all.
	res := exchange.Resource{Kind: exchange.ResourceCatalogItem, ID: uid("population")}
	_, err = f.s.Authorize(ctx, app, res, []string{"name"}, "核验")
	wantKind(t, err, errs.KindForbidden)
	wantMessage(t, err, "no grant", res.String(), dep.ID)

	ng := validGrant(dep.ID)
	ng.ResourceID = res.ID
	ng.Fields = []string{"name", "gender", "birth_date"}
	ng.ValidUntil = t0.Add(time.Hour)
	g := f.grant(ng)

	// Another department's app does not profit from the grant.
	_, err = f.s.Authorize(ctx, otherApp, res, []string{"name"}, "")
	wantKind(t, err, errs.KindForbidden)
	// Same id, other kind: no grant.
	_, err = f.s.Authorize(ctx, app, exchange.Resource{Kind: exchange.ResourceLicenceType, ID: res.ID}, []string{"name"}, "")
	wantKind(t, err, errs.KindForbidden)

	// Fields outside the grant are named, and nothing is counted.
	_, err = f.s.Authorize(ctx, app, res, []string{"name", "id_number", "phone"}, "")
	wantKind(t, err, errs.KindForbidden)
	wantMessage(t, err, "id_number, phone", res.String())
	if strings.Contains(strings.SplitN(err.Error(), "are not granted", 2)[0], "name,") {
		t.Errorf("error %q lists a granted field as missing", err)
	}
	if used, err := f.s.QuotaUsedToday(ctx, g.ID); err != nil || used != 0 {
		t.Fatalf("QuotaUsedToday after refusals = %d, %v; want 0", used, err)
	}

	// Granted fields; purpose given (trimmed) or defaulting to the grant's.
	a, err := f.s.Authorize(ctx, app, res, []string{"birth_date", "name"}, "  婚姻登记核验当事人  ")
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if a.Grant.ID != g.ID || !slices.Equal(a.Fields, []string{"birth_date", "name"}) || a.Purpose != "婚姻登记核验当事人" {
		t.Fatalf("access %+v", a)
	}
	if !a.Allows("name") || a.Allows("gender") || a.Allows("id_number") {
		t.Errorf("Allows is wrong for fields %v", a.Fields)
	}
	for _, p := range []string{"", "   \t"} {
		a, err = f.s.Authorize(ctx, app, res, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if a.Purpose != g.Purpose {
			t.Errorf("purpose %q defaulted to %q, want the grant's %q", p, a.Purpose, g.Purpose)
		}
		if !slices.Equal(a.Fields, g.Fields) || !a.Allows("gender") {
			t.Errorf("no fields asked: access fields %v, want the grant's %v", a.Fields, g.Fields)
		}
	}
	if _, err := f.s.Authorize(ctx, app, res, nil, strings.Repeat("核", exchange.MaxPurposeLen)); err != nil {
		t.Fatalf("200-character purpose: %v", err)
	}
	_, err = f.s.Authorize(ctx, app, res, nil, strings.Repeat("核", exchange.MaxPurposeLen+1))
	wantKind(t, err, errs.KindInvalid)
	if used, _ := f.s.QuotaUsedToday(ctx, g.ID); used != 4 {
		t.Errorf("QuotaUsedToday = %d, want 4 (the too-long purpose is not counted)", used)
	}

	// "*" grants every field.
	star := validGrant(dep.ID)
	star.Fields = []string{exchange.AllFields}
	sg := f.grant(star)
	a, err = f.s.Authorize(ctx, app, exchange.Resource{Kind: sg.ResourceKind, ID: sg.ResourceID}, []string{"id_number", "anything"}, "")
	if err != nil || a.Grant.ID != sg.ID || !a.Allows("id_number") {
		t.Fatalf("star grant: %+v, %v", a, err)
	}

	// Expired: at valid_until exactly.
	f.clk.Set(g.ValidUntil)
	_, err = f.s.Authorize(ctx, app, res, []string{"name"}, "")
	wantKind(t, err, errs.KindForbidden)
	wantMessage(t, err, "expired", g.ID)

	// Not yet valid.
	f.clk.Set(t0)
	later := validGrant(dep.ID)
	later.ValidFrom = t0.Add(24 * time.Hour)
	later.ValidUntil = t0.Add(48 * time.Hour)
	lg := f.grant(later)
	lres := exchange.Resource{Kind: lg.ResourceKind, ID: lg.ResourceID}
	_, err = f.s.Authorize(ctx, app, lres, []string{"name"}, "")
	wantKind(t, err, errs.KindForbidden)
	wantMessage(t, err, "starts at", lg.ID)
	f.clk.Set(lg.ValidFrom)
	if _, err := f.s.Authorize(ctx, app, lres, []string{"name"}, ""); err != nil {
		t.Fatalf("at valid_from: %v", err)
	}

	// Revoked: refused at once, naming the revocation and its reason.
	if _, err := f.s.RevokeGrant(ctx, f.admin, lg.ID, "项目结束"); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Authorize(ctx, app, lres, []string{"name"}, "")
	wantKind(t, err, errs.KindForbidden)
	wantMessage(t, err, "revoked", "项目结束")

	// Unlimited quota (0).
	f.clk.Set(t0)
	unl := validGrant(dep.ID)
	unl.DailyQuota = 0
	ug := f.grant(unl)
	for i := 0; i < 100; i++ {
		if _, err := f.s.Authorize(ctx, app, exchange.Resource{Kind: ug.ResourceKind, ID: ug.ResourceID}, nil, ""); err != nil {
			t.Fatalf("call %d under an unlimited grant: %v", i, err)
		}
	}
}

func testAuthorizeTwoGrants(t *testing.T, d *db.DB) {
	f := newFixture(t, d, exchange.Config{})
	ctx := context.Background()
	dep, app := f.consumer()
	res := exchange.Resource{Kind: exchange.ResourceCatalogItem, ID: uid("two")}

	narrow := validGrant(dep.ID)
	narrow.ResourceID, narrow.Fields, narrow.DailyQuota = res.ID, []string{"name"}, 1
	ng := f.grant(narrow)
	f.clk.Advance(time.Second)
	wide := validGrant(dep.ID)
	wide.ResourceID, wide.Fields, wide.DailyQuota = res.ID, []string{"name", "id_number"}, 2
	wg := f.grant(wide)

	// Only the wide grant covers id_number.
	a, err := f.s.Authorize(ctx, app, res, []string{"name", "id_number"}, "")
	if err != nil || a.Grant.ID != wg.ID {
		t.Fatalf("Authorize(name,id_number) = %+v, %v; want grant %s", a.Grant.ID, err, wg.ID)
	}
	// The rest of both quotas serve name: 1 (narrow) + 1 left (wide).
	for i := 0; i < 2; i++ {
		if _, err := f.s.Authorize(ctx, app, res, []string{"name"}, ""); err != nil {
			t.Fatalf("name call %d: %v", i, err)
		}
	}
	_, err = f.s.Authorize(ctx, app, res, []string{"name"}, "")
	wantKind(t, err, errs.KindRateLimited)
	nu, _ := f.s.QuotaUsedToday(ctx, ng.ID)
	wu, _ := f.s.QuotaUsedToday(ctx, wg.ID)
	if nu != 1 || wu != 2 {
		t.Fatalf("used narrow=%d wide=%d, want 1 and 2", nu, wu)
	}
	// Fields no grant covers: forbidden (not rate limited), naming the field.
	_, err = f.s.Authorize(ctx, app, res, []string{"phone"}, "")
	wantKind(t, err, errs.KindForbidden)
	wantMessage(t, err, "phone")
}

// --- quotas -------------------------------------------------------------------------

func quotaGrant(f *fixture, quota int64) (exchange.Grant, *exchange.Principal, exchange.Resource) {
	f.t.Helper()
	dep, app := f.consumer()
	ng := validGrant(dep.ID)
	ng.DailyQuota = quota
	g := f.grant(ng)
	return g, app, exchange.Resource{Kind: g.ResourceKind, ID: g.ResourceID}
}

func storedUsage(t *testing.T, d *db.DB, grantID, day string) int64 {
	t.Helper()
	var used int64
	err := d.R.QueryRowContext(context.Background(), `SELECT used FROM grant_usage WHERE grant_id = $1 AND day = $2`, grantID, day).Scan(&used)
	if err != nil {
		t.Fatalf("grant_usage %s %s: %v", grantID, day, err)
	}
	return used
}

func testQuotaConcurrent(t *testing.T, d *db.DB) {
	const quota, callers = 20, 50
	// Flush all the time, so flushes interleave with the calls.
	f := newFixture(t, d, exchange.Config{QuotaFlush: time.Millisecond})
	ctx := context.Background()
	g, app, res := quotaGrant(f, quota)

	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := f.s.Authorize(ctx, app, res, []string{"name"}, "")
			switch {
			case err == nil:
				ok.Add(1)
			case errs.Is(err, errs.KindRateLimited):
				limited.Add(1)
			default:
				other.Add(1)
				t.Errorf("Authorize: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != quota || limited.Load() != callers-quota || other.Load() != 0 {
		t.Fatalf("%d served, %d rate limited, %d failed; want %d and %d", ok.Load(), limited.Load(), other.Load(), quota, callers-quota)
	}
	if used, err := f.s.QuotaUsedToday(ctx, g.ID); err != nil || used != quota {
		t.Fatalf("QuotaUsedToday = %d, %v; want %d", used, err, quota)
	}
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	if used := storedUsage(t, d, g.ID, t0.In(shanghai).Format(time.DateOnly)); used != quota {
		t.Fatalf("grant_usage.used = %d after Close, want %d", used, quota)
	}
}

func testQuotaAcrossRestart(t *testing.T, d *db.DB) {
	ctx := context.Background()
	// A flush interval far longer than the test: only Close writes usage.
	f := newFixture(t, d, exchange.Config{QuotaFlush: time.Hour})
	g, app, res := quotaGrant(f, 5)
	for i := 0; i < 3; i++ {
		if _, err := f.s.Authorize(ctx, app, res, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	day := t0.In(shanghai).Format(time.DateOnly)
	if used := storedUsage(t, d, g.ID, day); used != 3 {
		t.Fatalf("grant_usage.used = %d after Close, want 3", used)
	}

	s2 := exchange.New(d, exchange.Config{Now: f.clk.Now, QuotaFlush: time.Hour})
	defer s2.Close()
	if used, err := s2.QuotaUsedToday(ctx, g.ID); err != nil || used != 3 {
		t.Fatalf("new service: QuotaUsedToday = %d, %v; want 3", used, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s2.Authorize(ctx, app, res, nil, ""); err != nil {
			t.Fatalf("call %d of the remaining 2: %v", i, err)
		}
	}
	_, err := s2.Authorize(ctx, app, res, nil, "")
	wantKind(t, err, errs.KindRateLimited)
	wantMessage(t, err, "quota of 5", day)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if used := storedUsage(t, d, g.ID, day); used != 5 {
		t.Fatalf("grant_usage.used = %d after the second Close, want 5", used)
	}

	// Periodic flushes persist usage without Close.
	s3 := exchange.New(d, exchange.Config{Now: f.clk.Now, QuotaFlush: 5 * time.Millisecond})
	defer s3.Close()
	g3, app3, res3 := quotaGrant(f, 10)
	for i := 0; i < 4; i++ {
		if _, err := s3.Authorize(ctx, app3, res3, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var used int64
		err := d.R.QueryRowContext(ctx, `SELECT used FROM grant_usage WHERE grant_id = $1 AND day = $2`, g3.ID, day).Scan(&used)
		if err == nil && used == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grant_usage not flushed within 10s: used=%d err=%v", used, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testQuotaDayRollover(t *testing.T, d *db.DB) {
	ctx := context.Background()
	// 23:59:59.5 in Shanghai is 15:59:59.5 UTC: the day ends at Shanghai's
	// midnight, not at UTC's.
	lastSecond := time.Date(2031, 5, 20, 23, 59, 59, 500_000_000, shanghai)
	f := newFixture(t, d, exchange.Config{})
	f.clk.Set(lastSecond.Add(-time.Hour))
	g, app, res := quotaGrant(f, 2)
	f.clk.Set(lastSecond)
	for i := 0; i < 2; i++ {
		if _, err := f.s.Authorize(ctx, app, res, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.s.Authorize(ctx, app, res, nil, "")
	wantKind(t, err, errs.KindRateLimited)
	wantMessage(t, err, "2031-05-20")

	f.clk.Set(time.Date(2031, 5, 21, 0, 0, 0, 0, shanghai))
	if used, _ := f.s.QuotaUsedToday(ctx, g.ID); used != 0 {
		t.Fatalf("QuotaUsedToday just after midnight = %d, want 0", used)
	}
	if _, err := f.s.Authorize(ctx, app, res, nil, ""); err != nil {
		t.Fatalf("first call of the new day: %v", err)
	}
	if used, _ := f.s.QuotaUsedToday(ctx, g.ID); used != 1 {
		t.Fatalf("QuotaUsedToday = %d, want 1", used)
	}
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	if u := storedUsage(t, d, g.ID, "2031-05-20"); u != 2 {
		t.Errorf("usage of 2031-05-20 = %d, want 2", u)
	}
	if u := storedUsage(t, d, g.ID, "2031-05-21"); u != 1 {
		t.Errorf("usage of 2031-05-21 = %d, want 1", u)
	}

	// UTC midnight is not a new day in Shanghai.
	f2 := newFixture(t, d, exchange.Config{})
	utcLast := time.Date(2031, 6, 1, 23, 59, 59, 0, time.UTC) // 07:59:59 on 2 June in Shanghai
	f2.clk.Set(utcLast.Add(-time.Hour))
	_, app2, res2 := quotaGrant(f2, 1)
	f2.clk.Set(utcLast)
	if _, err := f2.s.Authorize(ctx, app2, res2, nil, ""); err != nil {
		t.Fatal(err)
	}
	f2.clk.Set(utcLast.Add(2 * time.Second))
	_, err = f2.s.Authorize(ctx, app2, res2, nil, "")
	wantKind(t, err, errs.KindRateLimited)
	wantMessage(t, err, "2031-06-02")

	// Config.Location moves the day boundary.
	f3 := newFixture(t, d, exchange.Config{Location: time.UTC})
	f3.clk.Set(utcLast.Add(-time.Hour))
	_, app3, res3 := quotaGrant(f3, 1)
	f3.clk.Set(utcLast)
	if _, err := f3.s.Authorize(ctx, app3, res3, nil, ""); err != nil {
		t.Fatal(err)
	}
	f3.clk.Set(utcLast.Add(2 * time.Second))
	if _, err := f3.s.Authorize(ctx, app3, res3, nil, ""); err != nil {
		t.Fatalf("new UTC day with Location UTC: %v", err)
	}
}
