package exchange

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// KeyPrefix starts every API key, so leaked keys are easy to find in code
// and logs by secret scanners.
const KeyPrefix = "shk_"

// APIKey describes a bearer key. The secret itself is shown once, when the
// key is made, and only its SHA-256 is kept.
type APIKey struct {
	ID          string     `json:"id"`
	PrincipalID string     `json:"principal_id"`
	Name        string     `json:"name"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

func hashKey(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// CreateKey makes a key for a principal and returns it with its secret.
// expires may be zero for a key that does not expire; it must be in the future.
func (s *Service) CreateKey(ctx context.Context, principalID, name string, expires time.Time) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "default"
	}
	if len([]rune(name)) > 100 {
		return APIKey{}, "", errs.InvalidFields("key is not valid", errs.FieldError{Pointer: "/name", Reason: "at most 100 characters"})
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	if !expires.IsZero() && !expires.After(now) {
		return APIKey{}, "", errs.InvalidFields("key is not valid", errs.FieldError{Pointer: "/expires_at", Reason: "must be in the future", Value: expires.Format(time.RFC3339)})
	}
	p, err := s.Principal(ctx, principalID)
	if err != nil {
		return APIKey{}, "", err
	}
	if p.Disabled {
		return APIKey{}, "", errs.Conflict("principal %s is disabled", principalID)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return APIKey{}, "", errs.Internal(err, "random")
	}
	secret := KeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	h := hashKey(secret)
	k := APIKey{ID: newID("key"), PrincipalID: principalID, Name: name, CreatedAt: now}
	if !expires.IsZero() {
		e := expires.UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &e
	}
	var exp any
	if k.ExpiresAt != nil {
		exp = micros(*k.ExpiresAt)
	}
	_, err = s.db.W.ExecContext(ctx,
		`INSERT INTO api_keys (id, principal_id, hash, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.PrincipalID, h[:], k.Name, micros(now), exp)
	if err != nil {
		return APIKey{}, "", db.Interpret(err, "API key")
	}
	return k, secret, nil
}

// Authenticate returns the principal owning a bearer secret and the key id.
// Every failure is errs.Unauthenticated with a reason the caller can act on.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, string, error) {
	if secret == "" {
		return nil, "", errs.Unauthenticated("missing API key: send the header Authorization: Bearer <key>")
	}
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) > 100 {
		return nil, "", errs.Unauthenticated("API key not recognised")
	}
	return s.authenticateHash(ctx, hashKey(secret))
}

// AuthenticateKeyHash is Authenticate for a caller that holds a key's
// SHA-256 (as api_keys.hash stores it) rather than the key itself: the web
// console's sessions, which re-check their key on every page view. It goes
// through the same key cache, so a key revoked on this replica stops its
// sessions at once, and on other replicas within KeyCacheTTL. Its errors
// are Authenticate's.
func (s *Service) AuthenticateKeyHash(ctx context.Context, keyHash []byte) (*Principal, string, error) {
	if len(keyHash) != sha256.Size {
		return nil, "", errs.Unauthenticated("API key not recognised")
	}
	return s.authenticateHash(ctx, [32]byte(keyHash))
}

// authenticateHash checks the key with hash h through the key cache:
// errs.Unauthenticated for an unknown, revoked or expired key or a
// disabled principal.
func (s *Service) authenticateHash(ctx context.Context, h [32]byte) (*Principal, string, error) {
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

func (s *Service) loadKey(ctx context.Context, h [32]byte) (cachedKey, error) {
	row := s.db.QueryRow(ctx, `SELECT k.id, k.expires_at, k.revoked_at, `+principalColsP+`
		FROM api_keys k JOIN principals p ON p.id = k.principal_id WHERE k.hash = $1`, h[:])
	var (
		ck      cachedKey
		exp     sql.NullInt64
		revoked sql.NullInt64
	)
	p, err := scanPrincipal(row, &ck.keyID, &exp, &revoked)
	if err == sql.ErrNoRows {
		return cachedKey{}, nil // cached as "not recognised" too, so guessing costs no query
	}
	if err != nil {
		return cachedKey{}, db.Interpret(err, "API key")
	}
	ck.principal = &p
	ck.revoked = revoked.Valid
	if exp.Valid {
		ck.expiresAt = fromMicros(exp.Int64)
	}
	return ck, nil
}

// RevokeKey revokes a key; it stops working at once on this replica and
// within the key cache TTL on others.
func (s *Service) RevokeKey(ctx context.Context, keyID string) (APIKey, error) {
	res, err := s.db.W.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, micros(s.now()), keyID)
	if err != nil {
		return APIKey{}, db.Interpret(err, "API key")
	}
	s.keyCache.forget(func(k cachedKey) bool { return k.keyID == keyID })
	k, err := s.Key(ctx, keyID)
	if err != nil {
		return APIKey{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return k, errs.Conflict("API key %s is already revoked", keyID)
	}
	return k, nil
}

const keyCols = `id, principal_id, name, created_at, expires_at, revoked_at`

func scanKey(sc interface{ Scan(...any) error }) (APIKey, error) {
	var (
		k        APIKey
		at       int64
		exp, rev sql.NullInt64
	)
	err := sc.Scan(&k.ID, &k.PrincipalID, &k.Name, &at, &exp, &rev)
	k.CreatedAt = fromMicros(at)
	if exp.Valid {
		t := fromMicros(exp.Int64)
		k.ExpiresAt = &t
	}
	if rev.Valid {
		t := fromMicros(rev.Int64)
		k.RevokedAt = &t
	}
	return k, err
}

// Key returns a key's description (never its secret).
func (s *Service) Key(ctx context.Context, id string) (APIKey, error) {
	k, err := scanKey(s.db.QueryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE id = $1`, id))
	return k, db.Interpret(err, "API key "+id)
}

// Keys lists a principal's keys, newest first.
func (s *Service) Keys(ctx context.Context, principalID string) ([]APIKey, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE principal_id = $1 ORDER BY created_at DESC, id`, principalID)
	return db.Collect(rows, err, "API keys", scanKey)
}
