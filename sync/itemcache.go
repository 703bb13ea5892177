package datasync

import (
	"context"
	gosync "sync"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
)

// itemCacheTTL bounds how long the data API trusts a cached item (its
// fields and which are personal) without reading the catalogue.
const itemCacheTTL = 5 * time.Second

type itemCache struct {
	mu gosync.RWMutex
	m  map[string]cachedItem
}

type cachedItem struct {
	it     exchange.ShareItem
	loaded time.Time
}

// CachedShareItem is ShareItem through a cache of a few seconds, for the
// data query path (one catalogue read per item every few seconds instead
// of one per call).
func (s *Service) CachedShareItem(ctx context.Context, code string) (exchange.ShareItem, error) {
	now := time.Now()
	s.items.mu.RLock()
	c, ok := s.items.m[code]
	s.items.mu.RUnlock()
	if ok && now.Sub(c.loaded) < itemCacheTTL {
		return c.it, nil
	}
	it, err := s.ShareItem(ctx, code)
	if err != nil {
		return it, err
	}
	s.items.mu.Lock()
	if s.items.m == nil || len(s.items.m) > 10_000 {
		s.items.m = map[string]cachedItem{}
	}
	s.items.m[code] = cachedItem{it: it, loaded: now}
	s.items.mu.Unlock()
	return it, nil
}

// forgetItem drops code from the cache: a job was made or changed, and
// with it maybe the item's key fields.
func (s *Service) forgetItem(code string) {
	s.items.mu.Lock()
	delete(s.items.m, code)
	s.items.mu.Unlock()
}
