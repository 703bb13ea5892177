package api_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// browser is a cookie-keeping HTTP client for the console that does not
// follow redirects, so tests see them.
type browser struct {
	t    *testing.T
	base string // where requests go
	h    *hubtest.Hub
	c    *http.Client
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func newBrowser(t *testing.T, h *hubtest.Hub) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: h.URL, h: h, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, headers ...string) *page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, hv := range headers {
		k, v, _ := strings.Cut(hv, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return &page{Status: resp.StatusCode, Header: resp.Header, Body: string(out)}
}

func (b *browser) get(path string, headers ...string) *page {
	return b.do("GET", path, nil, headers...)
}

// post sends a form as a browser on the hub's own page would.
func (b *browser) post(path string, form url.Values, headers ...string) *page {
	return b.do("POST", path, form, append([]string{"Origin: " + b.base, "Sec-Fetch-Site: same-origin"}, headers...)...)
}

func (p *page) want(t *testing.T, status int) *page {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d; body:\n%s", p.Status, status, p.Body)
	}
	return p
}

func (p *page) redirectsTo(t *testing.T, loc string) *page {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != loc {
		t.Fatalf("status %d Location %q, want 303 to %q; body:\n%s", p.Status, p.Header.Get("Location"), loc, p.Body)
	}
	return p
}

func (p *page) has(t *testing.T, texts ...string) *page {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("page does not say %q:\n%s", s, p.Body)
		}
	}
	return p
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the page's first form.
func (p *page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no csrf field on the page:\n%s", p.Body)
	}
	return m[1]
}

// login signs in with key and returns the POST's response.
func (b *browser) login(key string) *page {
	b.t.Helper()
	token := b.get("/console/login").want(b.t, 200).csrf(b.t)
	return b.post("/console/login", url.Values{"csrf": {token}, "key": {key}})
}

// mustLogin signs in and returns the session id from the cookie.
func (b *browser) mustLogin(key string) string {
	b.t.Helper()
	p := b.login(key).redirectsTo(b.t, "/console/")
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == "sharehub_console" {
			return c.Value
		}
	}
	b.t.Fatalf("no session cookie in %v", p.Header.Values("Set-Cookie"))
	return ""
}

func sessionRows(t *testing.T, h *hubtest.Hub, id string) int {
	t.Helper()
	sum := sha256.Sum256([]byte(id))
	var n int
	if err := h.DB.R.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM console_sessions WHERE hash = $1", sum[:]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// newKey makes a principal with one role in the data bureau's department
// and returns its key and the key's id.
func newKey(t *testing.T, h *hubtest.Hub, name, role string) (secret, keyID string) {
	t.Helper()
	me := h.Do(t, "GET", "/v1/me", h.Admin, nil).Want(t, 200).Map(t)
	dept := me["department_id"].(string)
	p := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": dept, "name": name, "roles": []string{role}}).Want(t, 201).Map(t)
	k := h.Do(t, "POST", "/v1/principals/"+p["id"].(string)+"/keys", h.Admin, map[string]any{"name": "console"}).Want(t, 201).Map(t)
	return k["secret"].(string), k["key"].(map[string]any)["id"].(string)
}

// newAuditorKey makes an auditor in the data bureau's department and returns
// its key and the key's id. It goes through the service, as the `sharehub
// auditor` command does: under 三员分立 the API refuses an admin making
// auditors (TestAuditorSeparation).
func newAuditorKey(t *testing.T, h *hubtest.Hub, name string) (secret, keyID, principalID string) {
	t.Helper()
	ctx := context.Background()
	me := h.Do(t, "GET", "/v1/me", h.Admin, nil).Want(t, 200).Map(t)
	p, err := h.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: me["department_id"].(string), Name: name, Roles: []exchange.Role{exchange.RoleAuditor}})
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := h.Exchange.CreateKey(ctx, p.ID, "console", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return secret, k.ID, p.ID
}

func consoleEntries(t *testing.T, h *hubtest.Hub, route string) []audit.Entry {
	t.Helper()
	es, _, err := h.Audit.Search(context.Background(), audit.Filter{Route: route, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func checkConsoleHeaders(t *testing.T, p *page) {
	t.Helper()
	for k, v := range map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
	} {
		if got := p.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := p.Header.Get("Content-Security-Policy")
	// Nothing but the console's own stylesheet: not 'self' for the rest,
	// which would let a script someone uploaded to the hub run (see
	// TestConsoleCSPBlocksUploadedScript).
	if !strings.HasPrefix(csp, "default-src 'none'") || !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
		strings.Contains(csp, "script-src") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if strings.Contains(p.Body, "<script") || strings.Contains(p.Body, "<style") || strings.Contains(p.Body, "style=") {
		t.Errorf("console page has inline script or style:\n%s", p.Body)
	}
}

func TestConsoleLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		// An expired key and a revoked one, as in TestAuthentication.
		p, err := h.Exchange.PrincipalByName(ctx, h.Demo.Keys[2].Department, "civil-affairs-app")
		if err != nil {
			t.Fatal(err)
		}
		expKey, expSecret, err := h.Exchange.CreateKey(ctx, p.ID, "soon", time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.DB.W.ExecContext(ctx, "UPDATE api_keys SET expires_at = $1 WHERE id = $2", time.Now().Add(-time.Minute).UnixMicro(), expKey.ID); err != nil {
			t.Fatal(err)
		}
		revSecret, revID := newKey(t, h, "console-revoked", "app")
		h.Do(t, "POST", "/v1/keys/"+revID+"/revoke", h.Admin, nil).Want(t, 200)

		t.Run("good key", func(t *testing.T) {
			b := newBrowser(t, h)
			lp := b.get("/console/login").want(t, 200).has(t, `id="login"`, "API 密钥")
			checkConsoleHeaders(t, lp)
			resp := b.login(h.Auditor).redirectsTo(t, "/console/")
			var session *http.Cookie
			for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
				if c.Name == "sharehub_console" {
					session = c
				}
			}
			if session == nil {
				t.Fatalf("no session cookie: %v", resp.Header.Values("Set-Cookie"))
			}
			if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console" || session.Secure {
				t.Errorf("session cookie %q: want HttpOnly, SameSite=Strict, Path=/console, not Secure over plain HTTP", session.Raw)
			}
			if len(session.Value) != 43 { // 32 random bytes, base64url
				t.Errorf("session id %q is not 32 random bytes", session.Value)
			}
			// Only the id's SHA-256 is stored.
			if sessionRows(t, h, session.Value) != 1 {
				t.Error("no session row under the id's SHA-256")
			}
			var raw int
			if err := h.DB.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM console_sessions WHERE hash = $1", []byte(session.Value)).Scan(&raw); err != nil || raw != 0 {
				t.Errorf("session id stored in the clear (%d rows, %v)", raw, err)
			}
			home := b.get("/console/").want(t, 200).has(t, "auditor", "襄阳市政务服务和大数据管理局", "审计员（auditor）", `href="/console/audit"`)
			checkConsoleHeaders(t, home)
			if strings.Contains(home.Body, `href="/console/access"`) {
				t.Error("an auditor's menu offers the admin page")
			}
			// The sign-in is audited with the principal it signed in.
			es := consoleEntries(t, h, "/console/login")
			var found bool
			for _, e := range es {
				if e.Method == "POST" && e.Status == 303 && e.PrincipalID == h.Demo.Keys[1].PrincipalID {
					found = true
				}
			}
			if !found {
				t.Errorf("no audit entry for the sign-in: %+v", es)
			}
		})
		for _, tc := range []struct{ name, key, want string }{
			{"wrong key", "shk_" + strings.Repeat("A", 43), "密钥无效"},
			{"not a key", "hello", "密钥无效"},
			{"no key", "", "请输入 API 密钥"},
			{"expired key", expSecret, "该密钥已过期"},
			{"revoked key", revSecret, "该密钥已被吊销"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := newBrowser(t, h)
				p := b.login(tc.key).want(t, 401).has(t, tc.want, `id="login"`)
				if strings.Contains(p.Header.Get("Set-Cookie"), "sharehub_console=") {
					t.Errorf("a refused sign-in set a session cookie: %v", p.Header.Values("Set-Cookie"))
				}
				b.get("/console/").redirectsTo(t, "/console/login")
			})
		}
		t.Run("no csrf token", func(t *testing.T) {
			b := newBrowser(t, h)
			b.get("/console/login").want(t, 200)
			b.post("/console/login", url.Values{"key": {h.Auditor}}).want(t, 403).has(t, "登录表单已失效")
			b.get("/console/").redirectsTo(t, "/console/login")
		})
		t.Run("token without its cookie", func(t *testing.T) {
			token := newBrowser(t, h).get("/console/login").csrf(t)
			newBrowser(t, h).post("/console/login", url.Values{"csrf": {token}, "key": {h.Auditor}}).want(t, 403)
		})
		t.Run("other origin", func(t *testing.T) {
			b := newBrowser(t, h)
			token := b.get("/console/login").csrf(t)
			b.do("POST", "/console/login", url.Values{"csrf": {token}, "key": {h.Auditor}}, "Origin: http://evil.example").want(t, 403).has(t, "请求来源校验失败")
			b.do("POST", "/console/login", url.Values{"csrf": {token}, "key": {h.Auditor}}, "Sec-Fetch-Site: cross-site").want(t, 403)
			b.do("POST", "/console/login", url.Values{"csrf": {token}, "key": {h.Auditor}}).want(t, 403) // no Origin, Sec-Fetch-Site or Referer
			// What Chromium sends under Referrer-Policy: no-referrer.
			b.do("POST", "/console/login", url.Values{"csrf": {token}, "key": {h.Auditor}}, "Origin: null", "Sec-Fetch-Site: same-origin").redirectsTo(t, "/console/")
		})
		t.Run("not signed in", func(t *testing.T) {
			b := newBrowser(t, h)
			for _, path := range []string{"/console/", "/console/catalog", "/console/audit", "/console/access"} {
				b.get(path).redirectsTo(t, "/console/login")
			}
			b.get("/console/audit", "Cookie: sharehub_console=forged").redirectsTo(t, "/console/login?ended=gone")
		})
	})
}

func TestConsoleSessionExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		set := func(id, col string, at time.Time) {
			t.Helper()
			sum := sha256.Sum256([]byte(id))
			if _, err := h.DB.W.ExecContext(ctx, "UPDATE console_sessions SET "+col+" = $1 WHERE hash = $2", at.UnixMicro(), sum[:]); err != nil {
				t.Fatal(err)
			}
		}
		expires := func(id string) time.Time {
			t.Helper()
			sum := sha256.Sum256([]byte(id))
			var us int64
			if err := h.DB.R.QueryRowContext(ctx, "SELECT expires_at FROM console_sessions WHERE hash = $1", sum[:]).Scan(&us); err != nil {
				t.Fatal(err)
			}
			return time.UnixMicro(us)
		}
		t.Run("new session lasts 8 hours idle", func(t *testing.T) {
			b := newBrowser(t, h)
			id := b.mustLogin(h.Auditor)
			if d := time.Until(expires(id)); d < 8*time.Hour-time.Minute || d > 8*time.Hour {
				t.Errorf("a new session expires in %s, want 8h", d)
			}
		})
		t.Run("use slides the idle deadline", func(t *testing.T) {
			b := newBrowser(t, h)
			id := b.mustLogin(h.Auditor)
			set(id, "expires_at", time.Now().Add(time.Hour))
			b.get("/console/").want(t, 200)
			if d := time.Until(expires(id)); d < 8*time.Hour-time.Minute {
				t.Errorf("after a page view the session expires in %s, want 8h", d)
			}
		})
		t.Run("idle", func(t *testing.T) {
			b := newBrowser(t, h)
			id := b.mustLogin(h.Auditor)
			set(id, "expires_at", time.Now().Add(-time.Second))
			p := b.get("/console/").redirectsTo(t, "/console/login?ended=expired")
			if !strings.Contains(p.Header.Get("Set-Cookie"), "sharehub_console=;") {
				t.Errorf("the ended session's cookie was not cleared: %v", p.Header.Values("Set-Cookie"))
			}
			if sessionRows(t, h, id) != 0 {
				t.Error("an expired session was not deleted")
			}
			b.get("/console/login?ended=expired").want(t, 200).has(t, "会话已过期")
		})
		t.Run("absolute 12 hours", func(t *testing.T) {
			b := newBrowser(t, h)
			id := b.mustLogin(h.Auditor)
			set(id, "created_at", time.Now().Add(-12*time.Hour-time.Second)) // busy all day: idle deadline still ahead
			b.get("/console/").redirectsTo(t, "/console/login?ended=expired")
			if sessionRows(t, h, id) != 0 {
				t.Error("a session past 12 hours was not deleted")
			}
		})
		t.Run("sliding stops at 12 hours", func(t *testing.T) {
			b := newBrowser(t, h)
			id := b.mustLogin(h.Auditor)
			set(id, "created_at", time.Now().Add(-11*time.Hour))
			set(id, "expires_at", time.Now().Add(time.Minute))
			b.get("/console/").want(t, 200)
			if d := time.Until(expires(id)); d > time.Hour || d < 58*time.Minute {
				t.Errorf("a session signed in 11h ago expires in %s, want 1h", d)
			}
		})
	})
}

func TestConsoleRevokedKeyEndsSession(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		secret, keyID, _ := newAuditorKey(t, h, "console-auditor")
		b := newBrowser(t, h)
		id := b.mustLogin(secret)
		b.get("/console/audit").want(t, 200)
		// An auditor revokes its own key (an admin may not touch an auditor's).
		h.Do(t, "POST", "/v1/keys/"+keyID+"/revoke", secret, nil).Want(t, 200)
		b.get("/console/audit").redirectsTo(t, "/console/login?ended=key")
		if sessionRows(t, h, id) != 0 {
			t.Error("the revoked key's session was not deleted")
		}
		b.get("/console/login?ended=key").want(t, 200).has(t, "密钥已失效")
		// A disabled principal ends its sessions too (auditors are disabled
		// with `sharehub auditor disable`, which calls DisablePrincipal).
		secret2, _, prn2 := newAuditorKey(t, h, "console-auditor-2")
		b2 := newBrowser(t, h)
		b2.mustLogin(secret2)
		if _, err := h.Exchange.DisablePrincipal(context.Background(), prn2); err != nil {
			t.Fatal(err)
		}
		b2.get("/console/").redirectsTo(t, "/console/login?ended=key")
	})
}

func TestConsoleRoles(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		app, auditor, admin := newBrowser(t, h), newBrowser(t, h), newBrowser(t, h)
		app.mustLogin(h.AppKey)
		auditor.mustLogin(h.Auditor)
		admin.mustLogin(h.Admin)
		// Roles do not imply one another: only auditors read the log, only admins the keys.
		for _, tc := range []struct {
			b      *browser
			path   string
			status int
		}{
			{app, "/console/audit", 403}, {app, "/console/access", 403}, {app, "/console/catalog", 200}, {app, "/console/", 200},
			{auditor, "/console/audit", 200}, {auditor, "/console/access", 403},
			{admin, "/console/access", 200}, {admin, "/console/audit", 403},
		} {
			p := tc.b.get(tc.path).want(t, tc.status)
			checkConsoleHeaders(t, p)
			if tc.status == 403 {
				p.has(t, "无权访问", "您的账号没有这些角色")
				if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("403 page content type %q", ct)
				}
			}
		}
		app.get("/console/").has(t, "civil-affairs-app", "民政局", "部门应用（app）")
		// Each page view is audited with the session's principal.
		rid := "console-audit-view-" + string(h.DB.Dialect)
		auditor.get("/console/audit", "X-Request-ID: "+rid).want(t, 200)
		es := entriesFor(t, h, rid)
		if len(es) != 1 || es[0].PrincipalID != h.Demo.Keys[1].PrincipalID || es[0].Route != "/console/audit" || es[0].Status != 200 {
			t.Fatalf("audit entries for the page view: %+v", es)
		}
		denied := consoleEntries(t, h, "/console/access")
		var saw403 bool
		for _, e := range denied {
			saw403 = saw403 || e.Status == 403 && e.PrincipalID != ""
		}
		if !saw403 {
			t.Errorf("no audited 403 for /console/access: %+v", denied)
		}
	})
}

func TestConsolePages(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		auditor := newBrowser(t, h)
		auditor.mustLogin(h.Auditor)
		// Enough API calls for two pages of the audit log.
		for range 55 {
			h.Do(t, "GET", "/v1/me", h.AppKey, nil).Want(t, 200)
		}
		p := auditor.get("/console/audit").want(t, 200).has(t, `id="entries"`, "/v1/me", `id="checkpoint"`, "最新签名检查点")
		if n := strings.Count(p.Body, `class="entry"`); n != 50 {
			t.Errorf("first page shows %d entries, want 50", n)
		}
		next := regexp.MustCompile(`href="([^"]+)" id="next"`).FindStringSubmatch(p.Body)
		if next == nil {
			t.Fatal("no next page link")
		}
		auditor.get(strings.ReplaceAll(next[1], "&amp;", "&")).want(t, 200).has(t, `class="entry"`, "第一页")
		// Filters.
		f := auditor.get("/console/audit?route=%2Fv1%2Fme&status=200").want(t, 200)
		if strings.Count(f.Body, `class="entry"`) != 50 || strings.Contains(f.Body, "/console/login</code>") {
			t.Errorf("route filter: %d entries", strings.Count(f.Body, `class="entry"`))
		}
		auditor.get("/console/audit?status=abc").want(t, 400).has(t, "状态码")
		auditor.get("/console/audit?from=yesterday").want(t, 400).has(t, "开始时间")
		auditor.get("/console/audit?cursor=not-a-cursor").want(t, 400)
		future := time.Now().Add(time.Hour).In(time.FixedZone("CST", 8*3600)).Format("2006-01-02T15:04")
		auditor.get("/console/audit?from="+future).want(t, 200).has(t, "没有符合条件的记录")

		// The catalogue search marks matches and escapes the rest.
		app := newBrowser(t, h)
		app.mustLogin(h.AppKey)
		c := app.get("/console/catalog?q="+url.QueryEscape("登记")).want(t, 200).has(t, `id="hits"`, "<mark>登记</mark>")
		checkConsoleHeaders(t, c)
		app.get("/console/catalog?q="+url.QueryEscape("<script>alert(1)</script>")).want(t, 200).has(t, "&lt;script&gt;")
		app.get("/console/catalog?q="+url.QueryEscape(strings.Repeat("登", 150))).want(t, 400)
		app.get("/console/catalog").want(t, 200).has(t, `id="search"`)

		// Departments and principals, and one department's keys (never their secrets).
		admin := newBrowser(t, h)
		admin.mustLogin(h.Admin)
		a := admin.get("/console/access").want(t, 200).has(t, `id="departments"`, "民政局")
		m := regexp.MustCompile(`href="(/console/access\?department_id=[^"]+)">襄阳市民政局`).FindStringSubmatch(a.Body)
		if m == nil {
			t.Fatalf("no link to 民政局:\n%s", a.Body)
		}
		d := admin.get(m[1]).want(t, 200).has(t, `id="principals"`, "civil-affairs-app", h.Demo.Keys[2].KeyID)
		if strings.Contains(d.Body, h.AppKey) || strings.Contains(d.Body, "shk_") {
			t.Error("the keys page shows a key secret")
		}
		admin.get("/console/access?department_id=nope").want(t, 404)
	})
}

func TestConsoleCSRFAndLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		b := newBrowser(t, h)
		id := b.mustLogin(h.Auditor)
		token := b.get("/console/").want(t, 200).csrf(t)
		b.post("/console/logout", url.Values{}).want(t, 403).has(t, "CSRF")
		// A token one character off (never the token itself: one that
		// starts with 'x' is changed to 'y').
		off := "x" + token[1:]
		if off == token {
			off = "y" + token[1:]
		}
		b.post("/console/logout", url.Values{"csrf": {off}}).want(t, 403)
		// Another browser's token does not work either.
		other := newBrowser(t, h)
		other.mustLogin(h.Auditor)
		b.post("/console/logout", url.Values{"csrf": {other.get("/console/").csrf(t)}}).want(t, 403)
		b.do("POST", "/console/logout", url.Values{"csrf": {token}}, "Origin: http://evil.example").want(t, 403)
		b.do("POST", "/console/logout", url.Values{"csrf": {token}}, "Sec-Fetch-Site: cross-site").want(t, 403)
		b.do("POST", "/console/logout", url.Values{"csrf": {token}}, "Referer: http://evil.example/x").want(t, 403)
		b.do("POST", "/console/logout", url.Values{"csrf": {token}}).want(t, 403)
		if sessionRows(t, h, id) != 1 {
			t.Fatal("a refused sign-out ended the session")
		}
		b.get("/console/").want(t, 200)
		// A same-origin Referer alone is enough for browsers without Fetch Metadata.
		p := b.do("POST", "/console/logout", url.Values{"csrf": {token}}, "Referer: "+h.URL+"/console/").redirectsTo(t, "/console/login?ended=out")
		if !strings.Contains(p.Header.Get("Set-Cookie"), "sharehub_console=;") {
			t.Errorf("sign-out did not clear the cookie: %v", p.Header.Values("Set-Cookie"))
		}
		if sessionRows(t, h, id) != 0 {
			t.Error("sign-out did not delete the session")
		}
		b.get("/console/").redirectsTo(t, "/console/login")
		b.get("/console/login?ended=out").want(t, 200).has(t, "已退出登录")
		// The old cookie replayed after sign-out is refused.
		newBrowser(t, h).get("/console/", "Cookie: sharehub_console="+id).redirectsTo(t, "/console/login?ended=gone")
		// The other browser is still signed in.
		other.get("/console/").want(t, 200)
	})
}

// TestConsoleSecureCookie: behind a TLS-terminating proxy (an https public
// URL) the cookies are Secure although the hub itself sees plain HTTP.
func TestConsoleSecureCookie(t *testing.T) {
	h := hubtest.Start(t, db.SQLite, func(c *hub.Config) { c.PublicURL = "https://sharehub.xiangyang.example" })
	b := newBrowser(t, h)
	b.base = "http://" + h.Addr()
	b.c.Jar = nil // the jar would keep a Secure cookie from plain HTTP
	// Over TLS (here a TLS-terminating proxy) the console's cookies are
	// __Host- cookies: Secure, Path=/, no Domain, so a sibling host under
	// the same domain cannot plant a session or a sign-in token.
	hostOnly := func(c *http.Cookie) bool {
		return c.Secure && c.HttpOnly && c.SameSite == http.SameSiteStrictMode && c.Path == "/" && c.Domain == ""
	}
	lp := b.get("/console/login").want(t, 200)
	loginCookie := ""
	for _, c := range (&http.Response{Header: lp.Header}).Cookies() {
		switch c.Name {
		case "__Host-sharehub_console_login":
			loginCookie = c.Value
			if !hostOnly(c) {
				t.Errorf("sign-in form cookie %q", c.Raw)
			}
		default:
			t.Errorf("cookie %q over TLS, want only __Host- cookies", c.Raw)
		}
	}
	if loginCookie == "" {
		t.Fatalf("no __Host-sharehub_console_login cookie: %v", lp.Header.Values("Set-Cookie"))
	}
	// The cookie without its prefix, as a sibling host could set it, is
	// not the sign-in token.
	b.do("POST", "/console/login", url.Values{"csrf": {lp.csrf(t)}, "key": {h.Auditor}},
		"Origin: https://sharehub.xiangyang.example", "Cookie: sharehub_console_login="+loginCookie).want(t, http.StatusForbidden)
	p := b.do("POST", "/console/login", url.Values{"csrf": {lp.csrf(t)}, "key": {h.Auditor}},
		"Origin: https://sharehub.xiangyang.example", "Cookie: __Host-sharehub_console_login="+loginCookie).redirectsTo(t, "/console/")
	session := ""
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == "__Host-sharehub_console" && hostOnly(c) {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatalf("no __Host- session cookie behind an https public URL: %v", p.Header.Values("Set-Cookie"))
	}
	b.get("/console/", "Cookie: __Host-sharehub_console="+session).want(t, 200)
	b.get("/console/", "Cookie: sharehub_console="+session).redirectsTo(t, "/console/login")
}
