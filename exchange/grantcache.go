package exchange

import (
	"context"
	"sync"
	"time"
)

// grantCache keeps, for a short time, the grants of one consumer department
// on one resource: Authorize runs on every data call, and reading the same
// rows each time was half of a data query's CPU on PostgreSQL. Changes made
// through this Service clear the cache at once; changes made by another
// replica apply within the TTL (one second by default), like a revocation
// of an API key.
type grantCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[grantKey]cachedGrants
	gen uint64
}

type grantKey struct{ dept, kind, id string }

type cachedGrants struct {
	grants []Grant
	loaded time.Time
}

func (c *grantCache) get(ctx context.Context, s *Service, k grantKey, now time.Time) ([]Grant, error) {
	c.mu.Lock()
	e, ok := c.m[k]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Sub(e.loaded) < c.ttl {
		return e.grants, nil
	}
	gs, err := s.Grants(ctx, GrantFilter{ConsumerDepartmentID: k.dept, ResourceKind: k.kind, ResourceID: k.id})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if gen == c.gen { // nothing changed while we read
		if c.m == nil || len(c.m) > 50_000 {
			c.m = map[grantKey]cachedGrants{}
		}
		c.m[k] = cachedGrants{grants: gs, loaded: now}
	}
	c.mu.Unlock()
	return gs, nil
}

// clear forgets everything; called after any grant changes here.
func (c *grantCache) clear() {
	c.mu.Lock()
	c.gen++
	c.m = nil
	c.mu.Unlock()
}
