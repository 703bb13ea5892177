package exchange

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// AuthenticateKeyHash is Authenticate for a caller that holds a key's
// SHA-256 (as api_keys.hash stores it) rather than the key itself: the web
// console's sessions, which re-check their key on every page view. It goes
// through the same key cache, so a key revoked on this replica stops its
// sessions at once, and on other replicas within KeyCacheTTL. Its errors
// are Authenticate's: errs.Unauthenticated for an unknown, revoked or
// expired key or a disabled principal.
func (s *Service) AuthenticateKeyHash(ctx context.Context, keyHash []byte) (*Principal, string, error) {
	if len(keyHash) != sha256.Size {
		return nil, "", errs.Unauthenticated("API key not recognised")
	}
	var h [32]byte
	copy(h[:], keyHash)
	now := s.now()
	ck, ok := s.keyCache.get(h, now)
	if !ok {
		gen := s.keyCache.generation()
		var err error
		ck, err = s.loadKey(ctx, h)
		if err != nil {
			return nil, "", err
		}
		ck.loaded = now
		s.keyCache.put(h, ck, gen)
	}
	switch {
	case ck.principal == nil:
		return nil, "", errs.Unauthenticated("API key not recognised")
	case ck.revoked:
		return nil, "", errs.Unauthenticated("API key %s was revoked", ck.keyID)
	case !ck.expiresAt.IsZero() && !now.Before(ck.expiresAt):
		return nil, "", errs.Unauthenticated("API key %s expired at %s", ck.keyID, ck.expiresAt.Format(time.RFC3339))
	case ck.principal.Disabled:
		return nil, "", errs.Unauthenticated("principal %s is disabled", ck.principal.ID)
	}
	return ck.principal, ck.keyID, nil
}
