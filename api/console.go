package api

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// The web console: a few server-rendered Chinese pages over the same
// services as the API. Its routes are registered like the API's, so each
// page view is audited (principal from the session) and listed in
// /openapi.json; they are Public there only because they authenticate with
// the session cookie instead of a bearer key.

const consoleDoc = " Web console (HTML); needs the console session cookie, else redirects to /console/login."

func (s *Server) registerConsole() {
	s.handle(route{Method: "GET", Path: consolePath + "/login", Tag: "console", Public: true,
		Summary: "Web console: the sign-in form (an API key).", Handler: s.consoleLoginPage})
	s.handle(route{Method: "POST", Path: consolePath + "/login", Tag: "console", Public: true,
		Summary: "Web console: sign in with an API key (form: key, csrf); sets the HttpOnly session cookie and redirects to /console/.",
		Handler: s.consoleLogin})
	s.handle(route{Method: "POST", Path: consolePath + "/logout", Tag: "console", Public: true,
		Summary: "Web console: sign out (form: csrf); ends the session." + consoleDoc, Handler: s.consoleLogout})
	s.handle(route{Method: "GET", Path: consolePath + "/console.css", Tag: "console", Public: true,
		Summary: "Web console: its stylesheet.", Handler: func(c *gin.Context) {
			c.Header("Cache-Control", "public, max-age=3600")
			c.Header("X-Content-Type-Options", "nosniff")
			c.Data(http.StatusOK, "text/css; charset=utf-8", consoleCSS)
		}})
	// gin's own trailing-slash redirects are off (they answered before any
	// middleware, so without an audit entry): the console's is a route.
	s.handle(route{Method: "GET", Path: consolePath, Tag: "console", Public: true, Status: http.StatusMovedPermanently,
		Summary: "Web console: redirects to /console/.", Handler: func(c *gin.Context) {
			c.Redirect(http.StatusMovedPermanently, consolePath+"/")
		}})
	page := func(path, summary string, roles []exchange.Role, fn func(*gin.Context, *consoleMe)) {
		s.handle(route{Method: "GET", Path: path, Tag: "console", Public: true, Summary: summary + consoleDoc, Handler: s.consolePage(roles, fn)})
	}
	page(consolePath+"/", "Web console: 首页, who is signed in.", nil, s.consoleOverview)
	page(consolePath+"/catalog", "Web console: 数据目录, catalogue search (q, cursor).", nil, s.consoleCatalog)
	page(consolePath+"/audit", "Web console: 审计日志, audit log search and the latest signed checkpoint (auditors).",
		[]exchange.Role{exchange.RoleAuditor}, s.consoleAudit)
	page(consolePath+"/access", "Web console: 部门与密钥, departments, principals and keys (admins).",
		[]exchange.Role{exchange.RoleAdmin}, s.consoleAccess)
}

// consolePage signs the session in, checks roles as the API does (roles do
// not imply one another) and serves fn.
func (s *Server) consolePage(roles []exchange.Role, fn func(*gin.Context, *consoleMe)) gin.HandlerFunc {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = roleName(r)
	}
	return func(c *gin.Context) {
		cs := s.consoleSignIn(c)
		if cs == nil {
			return
		}
		me, err := s.consoleMeOf(c, cs)
		if err != nil {
			s.consoleFail(c, err)
			return
		}
		if len(roles) > 0 && !me.Principal.Has(roles...) {
			s.consoleForbidden(c, "此页面需要以下角色之一："+strings.Join(names, "、")+"。您的账号没有这些角色。")
			return
		}
		fn(c, me)
	}
}

// consoleLoginView is the sign-in form.
type consoleLoginView struct{ CSRF string }

// loginToken returns the sign-in form's CSRF token, reusing the browser's
// cookie so that two open sign-in tabs both work.
func (s *Server) loginToken(c *gin.Context) (string, error) {
	if t, err := s.consoleCookieValue(c, consoleLoginCookie); err == nil && len(t) == 43 {
		return t, nil
	}
	t, err := randomToken()
	if err != nil {
		return "", err
	}
	s.setConsoleCookie(c, consoleLoginCookie, t, consolePath+"/login", 0)
	return t, nil
}

var endedMessages = map[consoleEnded]string{
	endedExpired: "会话已过期（8 小时未操作或登录已满 12 小时），请重新登录。",
	endedKey:     "登录所用的密钥已失效（已吊销、已过期或账号已停用），请用有效密钥重新登录。",
	endedGone:    "会话已结束，请重新登录。",
	endedOut:     "您已退出登录。",
}

func (s *Server) consoleLoginForm(c *gin.Context, status int, msg, class string) {
	t, err := s.loginToken(c)
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	s.consoleRender(c, status, "login", consoleView{Title: "登录", Message: msg, Class: class, Page: consoleLoginView{CSRF: t}})
}

func (s *Server) consoleLoginPage(c *gin.Context) {
	msg, class := endedMessages[consoleEnded(c.Query("ended"))], "info"
	s.consoleLoginForm(c, http.StatusOK, msg, class)
}

func (s *Server) consoleLogin(c *gin.Context) {
	ctx := c.Request.Context()
	if !s.consoleSameOrigin(c.Request) {
		s.consoleLoginForm(c, http.StatusForbidden, "请求来源校验失败：请从本平台的登录页面提交。", "bad")
		return
	}
	want, _ := s.consoleCookieValue(c, consoleLoginCookie)
	if !sameToken(c.PostForm("csrf"), want) {
		s.consoleLoginForm(c, http.StatusForbidden, "登录表单已失效，请重新输入密钥并提交。", "bad")
		return
	}
	// Failed sign-ins are limited by client address (an IPv6 client by
	// its /64): keys cannot be guessed (32 random bytes), but a stream of
	// attempts costs a key check each. Every attempt takes a token before
	// its key is checked, so that parallel attempts cannot all get past
	// the limit; a sign-in that succeeds gives its token back. A refused
	// attempt is audited like every call. While an address waits, a right
	// key from it waits too: the key is not checked.
	addr := signInBucket(s.clientAddr(c))
	if wait, allowed := s.signInLimit.allow(addr, time.Now()); !allowed {
		secs := int(math.Ceil(wait.Seconds()))
		_ = c.Error(errs.RateLimited("too many failed sign-ins from this address"))
		c.Header("Retry-After", strconv.Itoa(secs))
		s.consoleLoginForm(c, http.StatusTooManyRequests, fmt.Sprintf("登录失败次数过多，请 %d 秒后再试。", secs), "bad")
		return
	}
	p, keyID, err := s.ex.Authenticate(ctx, strings.TrimSpace(c.PostForm("key")))
	if errs.Is(err, errs.KindUnauthenticated) {
		_ = c.Error(err)
		s.consoleLoginForm(c, http.StatusUnauthorized, consoleKeyMessage(err), "bad")
		return
	}
	s.signInLimit.refund(addr) // only a wrong key counts: not a success, not a database outage
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	st := s.consoleSessions()
	now := time.Now()
	if err := st.sweep(ctx, now); err != nil {
		s.consoleFail(c, err)
		return
	}
	if old, err := s.consoleCookieValue(c, consoleCookie); err == nil && old != "" && len(old) <= 100 {
		if err := st.end(ctx, sessionHash(old)); err != nil {
			s.consoleFail(c, err)
			return
		}
	}
	id, err := st.create(ctx, keyID, p.ID, now)
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	c.Set(ctxPrincipal, p)
	noteResource(c, "api_key", keyID)
	consoleHeaders(c)
	s.setConsoleCookie(c, consoleCookie, id, consolePath, 0)
	s.setConsoleCookie(c, consoleLoginCookie, "", consolePath+"/login", -1)
	c.Redirect(http.StatusSeeOther, consolePath+"/")
}

func (s *Server) consoleLogout(c *gin.Context) {
	if !s.consoleSameOrigin(c.Request) {
		s.consoleForbidden(c, "请求来源校验失败：请从本平台的页面提交。")
		return
	}
	cs := s.consoleSignIn(c)
	if cs == nil {
		return
	}
	if !sameToken(c.PostForm("csrf"), cs.CSRF) {
		if _, err := s.consoleMeOf(c, cs); err != nil {
			s.consoleFail(c, err)
			return
		}
		s.consoleForbidden(c, "表单校验失败（缺少或错误的 CSRF 令牌），请刷新页面后重试。")
		return
	}
	if err := s.consoleSessions().end(c.Request.Context(), cs.hash); err != nil {
		s.consoleFail(c, err)
		return
	}
	s.consoleToLogin(c, endedOut)
}

// signInBucket is the sign-in limiter's key for a client address: the
// address itself, or for IPv6 its /64, which one client can fill with
// fresh addresses.
func signInBucket(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is4() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
