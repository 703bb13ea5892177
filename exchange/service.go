package exchange

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"sync"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// Service is the exchange's store and rules. Build it with New.
type Service struct {
	db         *db.DB
	now        func() time.Time
	loc        *time.Location
	keyCache   keyCache
	grantCache grantCache
	quota      *quotaLedger
}

// Config tunes a Service.
type Config struct {
	// Location is the hub's time zone; daily quotas reset at its midnight.
	// Default Asia/Shanghai.
	Location *time.Location
	// KeyCacheTTL bounds how long a key's state is trusted without reading
	// the database (other replicas' revocations take at most this long to
	// apply here). Default 5s; revocations made by this process apply at once.
	KeyCacheTTL time.Duration
	// GrantCacheTTL bounds how long Authorize trusts the grants it read
	// (other replicas' grant changes take at most this long). Default 1s.
	GrantCacheTTL time.Duration
	// QuotaFlush is how often quota usage (the calls served from each
	// replica's reservations) is written to the database, and how soon
	// reservations of a day gone by are handed back. Default 200ms.
	QuotaFlush time.Duration
	Now        func() time.Time
}

// New returns a Service over d. Call Close to flush quota usage and hand
// back the quota this replica reserved and did not use.
func New(d *db.DB, cfg Config) *Service {
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		cfg.Location = loc
	}
	if cfg.KeyCacheTTL == 0 {
		cfg.KeyCacheTTL = 5 * time.Second
	}
	if cfg.GrantCacheTTL == 0 {
		cfg.GrantCacheTTL = time.Second
	}
	if cfg.QuotaFlush == 0 {
		cfg.QuotaFlush = 200 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{db: d, now: cfg.Now, loc: cfg.Location}
	s.keyCache = keyCache{ttl: cfg.KeyCacheTTL, m: map[[32]byte]cachedKey{}}
	s.grantCache = grantCache{ttl: cfg.GrantCacheTTL}
	s.quota = newQuotaLedger(d, cfg.QuotaFlush, func() string { return s.now().In(s.loc).Format(time.DateOnly) })
	return s
}

// Close writes pending quota usage, hands back unused quota reservations
// and stops background work.
func (s *Service) Close() error { return s.quota.close() }

var idEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// newID returns prefix_ followed by 16 random characters.
func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

type keyCache struct {
	ttl time.Duration
	mu  sync.RWMutex
	m   map[[32]byte]cachedKey
	// gen counts revocations; a key read from the database before a
	// revocation must not be cached after it.
	gen uint64
}

// generation returns the current revocation count; pass it to put.
func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

type cachedKey struct {
	keyID     string
	principal *Principal
	expiresAt time.Time
	revoked   bool
	loaded    time.Time
}

func (c *keyCache) get(h [32]byte, now time.Time) (cachedKey, bool) {
	c.mu.RLock()
	k, ok := c.m[h]
	c.mu.RUnlock()
	if !ok || now.Sub(k.loaded) > c.ttl {
		return cachedKey{}, false
	}
	return k, true
}

func (c *keyCache) put(h [32]byte, k cachedKey, gen uint64) {
	c.mu.Lock()
	if gen != c.gen {
		c.mu.Unlock()
		return
	}
	if len(c.m) > 100_000 {
		clear(c.m)
	}
	c.m[h] = k
	c.mu.Unlock()
}

// forget drops cached keys matching fn, after a revocation or a principal change.
func (c *keyCache) forget(fn func(cachedKey) bool) {
	c.mu.Lock()
	c.gen++
	for h, k := range c.m {
		if fn(k) {
			delete(c.m, h)
		}
	}
	c.mu.Unlock()
}

func trimAll(ss ...*string) {
	for _, s := range ss {
		*s = strings.TrimSpace(*s)
	}
}
