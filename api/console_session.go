package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// The web console signs in with an API key and keeps a server-side session:
// the cookie holds a random 32-byte id, the database only its SHA-256.
const (
	consoleCookie      = "sharehub_console"       // the session id; Path=/console (over TLS __Host-…, Path=/)
	consoleLoginCookie = "sharehub_console_login" // the sign-in form's CSRF token; Path=/console/login (over TLS __Host-…)
	consolePath        = "/console"

	// consoleIdle ends a session unused this long; consoleAbsolute ends
	// any session this long after sign-in, however busy.
	consoleIdle     = 8 * time.Hour
	consoleAbsolute = 12 * time.Hour
	// consoleSlide is how far the idle deadline must move before it is
	// written back, so that a burst of page views writes once.
	consoleSlide = time.Minute
)

// consoleSession is one signed-in browser.
type consoleSession struct {
	hash        []byte // SHA-256 of the cookie's id
	KeyID       string
	PrincipalID string
	keyHash     []byte // the key's SHA-256 (api_keys.hash), to re-check it
	CreatedAt   time.Time
	ExpiresAt   time.Time
	CSRF        string
}

// deadline is when the session ends if it is not used before then.
func (cs *consoleSession) deadline(now time.Time) time.Time {
	abs := cs.CreatedAt.Add(consoleAbsolute)
	if idle := now.Add(consoleIdle); idle.Before(abs) {
		return idle
	}
	return abs
}

// over reports whether the session has ended at now: idle too long or
// past its absolute limit.
func (cs *consoleSession) over(now time.Time) bool {
	return !now.Before(cs.ExpiresAt) || !now.Before(cs.CreatedAt.Add(consoleAbsolute))
}

// consoleSessions stores sessions in console_sessions.
type consoleSessions struct{ db *db.DB }

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errs.Internal(err, "random")
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// create opens a session for a key and returns the id for the cookie.
func (st consoleSessions) create(ctx context.Context, keyID, principalID string, now time.Time) (string, error) {
	id, err := randomToken()
	if err != nil {
		return "", err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", err
	}
	now = now.UTC().Truncate(time.Microsecond)
	cs := consoleSession{CreatedAt: now}
	_, err = st.db.W.ExecContext(ctx, `INSERT INTO console_sessions (hash, key_id, principal_id, created_at, expires_at, csrf_token)
		VALUES ($1, $2, $3, $4, $5, $6)`, sessionHash(id), keyID, principalID, now.UnixMicro(), cs.deadline(now).UnixMicro(), csrf)
	if err != nil {
		return "", db.Interpret(err, "console session")
	}
	return id, nil
}

// get returns the session with the cookie id; errs.NotFound when there is none.
func (st consoleSessions) get(ctx context.Context, id string) (*consoleSession, error) {
	cs := &consoleSession{hash: sessionHash(id)}
	var created, expires int64
	err := st.db.QueryRow(ctx, `SELECT s.key_id, s.principal_id, s.created_at, s.expires_at, s.csrf_token, k.hash
		FROM console_sessions s JOIN api_keys k ON k.id = s.key_id WHERE s.hash = $1`, cs.hash).
		Scan(&cs.KeyID, &cs.PrincipalID, &created, &expires, &cs.CSRF, &cs.keyHash)
	if err == sql.ErrNoRows {
		return nil, errs.NotFound("no such console session")
	}
	if err != nil {
		return nil, db.Interpret(err, "console session")
	}
	cs.CreatedAt, cs.ExpiresAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC()
	return cs, nil
}

// touch moves the session's idle deadline.
func (st consoleSessions) touch(ctx context.Context, cs *consoleSession, expires time.Time) error {
	_, err := st.db.W.ExecContext(ctx, `UPDATE console_sessions SET expires_at = $1 WHERE hash = $2`, expires.UnixMicro(), cs.hash)
	if err != nil {
		return db.Interpret(err, "console session")
	}
	cs.ExpiresAt = expires
	return nil
}

// end deletes a session (sign-out, expiry, a key that no longer works).
func (st consoleSessions) end(ctx context.Context, hash []byte) error {
	_, err := st.db.W.ExecContext(ctx, `DELETE FROM console_sessions WHERE hash = $1`, hash)
	return db.Interpret(err, "console session")
}

// sweep deletes sessions that ended before now.
func (st consoleSessions) sweep(ctx context.Context, now time.Time) error {
	_, err := st.db.W.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1 OR created_at <= $2`,
		now.UnixMicro(), now.Add(-consoleAbsolute).UnixMicro())
	return db.Interpret(err, "console sessions")
}

func (s *Server) consoleSessions() consoleSessions { return consoleSessions{db: s.db} }

// consoleSecure reports whether console cookies get the Secure attribute:
// when the request came over TLS, or the hub's public URL is https (a
// TLS-terminating proxy in front).
func (s *Server) consoleSecure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(s.cfg.PublicURL), "https://")
}

// consoleCookieAt returns the name and path a console cookie has for r:
// name and path over plain HTTP; over TLS "__Host-"+name with Path=/.
// A browser takes a __Host- cookie only from this very host, Secure and
// for the whole site, so a sibling host under the same domain (another
// *.gov.cn service) cannot plant a session or a sign-in token in it.
func (s *Server) consoleCookieAt(r *http.Request, name, path string) (string, string) {
	if s.consoleSecure(r) {
		return "__Host-" + name, "/"
	}
	return name, path
}

// consoleCookieValue reads the console cookie name (consoleCookieAt) of c's request.
func (s *Server) consoleCookieValue(c *gin.Context, name string) (string, error) {
	name, _ = s.consoleCookieAt(c.Request, name, "")
	return c.Cookie(name)
}

func (s *Server) setConsoleCookie(c *gin.Context, name, value, path string, maxAge int) {
	name, path = s.consoleCookieAt(c.Request, name, path)
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.consoleSecure(c.Request), SameSite: http.SameSiteStrictMode})
}

// consoleEnded is why a session ended, for the sign-in page.
type consoleEnded string

const (
	endedNone    consoleEnded = ""
	endedExpired consoleEnded = "expired" // idle or absolute limit
	endedKey     consoleEnded = "key"     // the key was revoked or expired, or its principal disabled
	endedGone    consoleEnded = "gone"    // signed out elsewhere, or an unknown cookie
	endedOut     consoleEnded = "out"     // signed out here
)

// consoleSignIn loads the session the request's cookie names, re-checks its
// key through the key cache and, when all is well, makes its principal the
// caller (for role checks and the audit entry). Otherwise it answers, with a
// redirect to the sign-in page or an error page, and returns nil.
func (s *Server) consoleSignIn(c *gin.Context) *consoleSession {
	ctx := c.Request.Context()
	st := s.consoleSessions()
	id, err := s.consoleCookieValue(c, consoleCookie)
	if err != nil || id == "" || len(id) > 100 {
		s.consoleToLogin(c, endedNone)
		return nil
	}
	cs, err := st.get(ctx, id)
	if errs.Is(err, errs.KindNotFound) {
		s.consoleToLogin(c, endedGone)
		return nil
	}
	if err != nil {
		s.consoleFail(c, err)
		return nil
	}
	now := time.Now()
	if cs.over(now) {
		if err := st.end(ctx, cs.hash); err != nil {
			s.consoleFail(c, err)
			return nil
		}
		s.consoleToLogin(c, endedExpired)
		return nil
	}
	p, _, err := s.ex.AuthenticateKeyHash(ctx, cs.keyHash)
	if errs.Is(err, errs.KindUnauthenticated) || err == nil && p.ID != cs.PrincipalID {
		if err := st.end(ctx, cs.hash); err != nil {
			s.consoleFail(c, err)
			return nil
		}
		s.consoleToLogin(c, endedKey)
		return nil
	}
	if err != nil {
		s.consoleFail(c, err)
		return nil
	}
	if next := cs.deadline(now); next.Sub(cs.ExpiresAt) > consoleSlide {
		if err := st.touch(ctx, cs, next.UTC().Truncate(time.Microsecond)); err != nil {
			s.consoleFail(c, err)
			return nil
		}
	}
	c.Set(ctxPrincipal, p)
	return cs
}

// consoleToLogin sends the browser to the sign-in page, dropping a session
// cookie that no longer works.
func (s *Server) consoleToLogin(c *gin.Context, why consoleEnded) {
	consoleHeaders(c)
	if _, err := s.consoleCookieValue(c, consoleCookie); err == nil {
		s.setConsoleCookie(c, consoleCookie, "", consolePath, -1)
	}
	to := consolePath + "/login"
	if why != endedNone {
		to += "?ended=" + string(why)
	}
	c.Redirect(http.StatusSeeOther, to)
	c.Abort()
}

// consoleSameOrigin checks that a console form was posted from the hub's
// own pages. Browsers say so in Sec-Fetch-Site; the console's
// Referrer-Policy: no-referrer makes them send "Origin: null" and no
// Referer on its own forms, so those two are the fallback for browsers
// without Fetch Metadata, and must then name the hub. A request that shows
// none of them is refused.
func (s *Server) consoleSameOrigin(r *http.Request) bool {
	allowed := func(origin string) bool {
		self := "http://" + r.Host
		if r.TLS != nil {
			self = "https://" + r.Host
		}
		if strings.EqualFold(origin, self) {
			return true
		}
		if s.cfg.PublicURL != "" {
			if u, err := url.Parse(s.cfg.PublicURL); err == nil && strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
				return true
			}
		}
		return false
	}
	vouched := false
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if !allowed(o) {
			return false
		}
		vouched = true
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		if site != "same-origin" {
			return false
		}
		vouched = true
	}
	if !vouched {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Host == "" || !allowed(ref.Scheme+"://"+ref.Host) {
			return false
		}
		vouched = true
	}
	return vouched
}

// sameToken compares a posted CSRF token with the expected one in constant time.
func sameToken(posted, want string) bool {
	return posted != "" && want != "" && subtle.ConstantTimeCompare([]byte(posted), []byte(want)) == 1
}

// consoleKeyMessage says in plain words why a key cannot sign in.
func consoleKeyMessage(err error) string {
	var e *errs.Error
	detail := ""
	if errs.Is(err, errs.KindUnauthenticated) && errors.As(err, &e) {
		detail = e.Message
	}
	switch {
	case strings.Contains(detail, "was revoked"):
		return "该密钥已被吊销，不能登录。"
	case strings.Contains(detail, "expired at"):
		return "该密钥已过期，不能登录。"
	case strings.Contains(detail, "is disabled"):
		return "该账号已停用，不能登录。"
	case strings.Contains(detail, "missing API key"):
		return "请输入 API 密钥。"
	}
	return "密钥无效，请检查后重试。"
}
