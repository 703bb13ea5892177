package api

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Per-client rate limits: public seal verification and failed console
// sign-ins.

// clientAddr is the address a rate limit (seal verification, console
// sign-in) counts against: the TCP peer, or, when the peer is one of
// Config.TrustedProxies, the nearest X-Forwarded-For entry that is not a
// trusted proxy. (gin's
// ClientIP trusts every proxy by default, so a client could name any
// address it likes in X-Forwarded-For and get a fresh bucket each time.)
func (s *Server) clientAddr(c *gin.Context) string {
	peer := c.RemoteIP()
	if !s.trustedProxy(peer) {
		return peer
	}
	hops := strings.Split(c.GetHeader("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		if !s.trustedProxy(h) {
			return h
		}
		peer = h
	}
	return peer
}

func (s *Server) trustedProxy(addr string) bool {
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range s.cfg.TrustedProxies {
		if pfx, err := netip.ParsePrefix(p); err == nil && pfx.Contains(ip.Unmap()) {
			return true
		}
		if a, err := netip.ParseAddr(p); err == nil && a.Unmap() == ip.Unmap() {
			return true
		}
	}
	return false
}

// rateLimiter is a token bucket per client address: rate tokens a second,
// at most burst saved up. Idle buckets are dropped as the map grows.
type rateLimiter struct {
	rate  float64
	burst float64
	mu    sync.Mutex
	b     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory; past it, full buckets (idle
// clients) are forgotten.
const maxBuckets = 100_000

func newRateLimiter(rate float64, burst int) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &rateLimiter{rate: rate, burst: float64(burst), b: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is there.
// A nil limiter allows everything.
func (l *rateLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b[key]
	if b == nil {
		if len(l.b) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.b[key] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// refund gives back a token allow took (for an attempt that turned out
// not to count).
func (l *rateLimiter) refund(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.b[key]; b != nil {
		b.tokens = min(l.burst, b.tokens+1)
	}
}

// sweep forgets buckets that have filled up again (their clients are idle),
// or every bucket when none has.
func (l *rateLimiter) sweep(now time.Time) {
	for k, b := range l.b {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.b, k)
		}
	}
	if len(l.b) >= maxBuckets {
		clear(l.b)
	}
}
