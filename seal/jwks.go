package seal

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"io"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// The published key set (GET /.well-known/jwks.json) is a JWK Set
// (RFC 7517 §5) with every seal key the hub ever had, retired ones
// included, each with its certificate chain (x5c) and thumbprint. Two
// additional members, which JOSE libraries ignore, make offline
// verification as strong as online:
//
//	keys[i].sharehub_seal  the seal, organisation, key creation and
//	                       retirement times and the seal's status history
//	sharehub_ca            the hub's seal CA certificates (base64 DER)
//
// A verifier that pins the CA certificate separately (ParseCertificates,
// NewVerifier) does not have to trust the sharehub_ca member.

// JWKS is the JSON form of the published key set.
type JWKS struct {
	Keys []JWK     `json:"keys"`
	CA   [][]byte  `json:"sharehub_ca"` // DER, base64 in JSON
	At   time.Time `json:"sharehub_generated_at,omitzero"`
}

// JWK is one published seal key.
type JWK struct {
	Kty        string      `json:"kty"`
	Crv        string      `json:"crv"`
	X          string      `json:"x"`
	Y          string      `json:"y,omitempty"`
	Kid        string      `json:"kid"`
	Use        string      `json:"use"`
	Alg        string      `json:"alg"`
	X5C        [][]byte    `json:"x5c"` // DER, standard base64 in JSON as RFC 7517 §4.7 requires
	Thumbprint string      `json:"x5t#S256"`
	Seal       PublishedAs `json:"sharehub_seal"`
}

// PublishedAs is what the key set says about a key's seal.
type PublishedAs struct {
	SealID        string            `json:"seal_id"`
	SealName      string            `json:"seal_name"`
	Kind          Kind              `json:"kind"`
	Organisation  Organisation      `json:"organisation"`
	KeyCreated    time.Time         `json:"key_created"`
	KeyRetired    time.Time         `json:"key_retired,omitzero"`
	Status        Status            `json:"status"`
	StatusHistory []PublishedStatus `json:"status_history"`
}

// PublishedStatus is one status change, without its reason.
type PublishedStatus struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"`
}

type jwksCache struct {
	data []byte
	at   time.Time
}

// JWKS returns the published key set as JSON, creating the CA on first
// use. It is cached for the cache TTL and rebuilt after changes made here.
func (s *Service) JWKS(ctx context.Context) ([]byte, error) {
	if c := s.jwksCache.Load(); c != nil && time.Since(c.at) < s.ttl {
		return c.data, nil
	}
	cas, err := s.authorities(ctx)
	if err != nil {
		return nil, err
	}
	set, err := s.buildJWKS(ctx, cas)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(set)
	if err != nil {
		return nil, errs.Internal(err, "jwks")
	}
	s.jwksCache.Store(&jwksCache{data: data, at: time.Now()})
	return data, nil
}

func (s *Service) buildJWKS(ctx context.Context, cas []*authority) (*JWKS, error) {
	set := &JWKS{Keys: []JWK{}, At: s.now().UTC().Truncate(time.Second)}
	caDER := map[string][]byte{}
	for _, a := range cas {
		set.CA = append(set.CA, a.der)
		caDER[a.id] = a.der
	}
	history := map[string][]PublishedStatus{}
	rows, err := s.db.R.QueryContext(ctx, `SELECT seal_id, status, at FROM seal_status_events ORDER BY seal_id, seq`)
	if err != nil {
		return nil, db.Interpret(err, "seal status")
	}
	for rows.Next() {
		var id string
		var p PublishedStatus
		var at int64
		if err := rows.Scan(&id, &p.Status, &at); err != nil {
			rows.Close()
			return nil, db.Interpret(err, "seal status")
		}
		p.At = fromMicros(at)
		history[id] = append(history[id], p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Interpret(err, "seal status")
	}
	rows, err = s.db.R.QueryContext(ctx, `SELECT k.kid, k.cert_der, k.thumbprint, k.ca_id, k.created_at, k.retired_at,
		s.id, s.name, s.kind, s.organisation_id, s.organisation_name, s.credit_code, s.status
		FROM seal_keys k JOIN seals s ON s.id = k.seal_id ORDER BY s.id, k.created_at, k.kid`)
	if err != nil {
		return nil, db.Interpret(err, "seal keys")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k         JWK
			cert      []byte
			caID      string
			at        int64
			retired   sql.NullInt64
			published = &k.Seal
		)
		if err := rows.Scan(&k.Kid, &cert, &k.Thumbprint, &caID, &at, &retired,
			&published.SealID, &published.SealName, &published.Kind, &published.Organisation.ID,
			&published.Organisation.Name, &published.Organisation.CreditCode, &published.Status); err != nil {
			return nil, db.Interpret(err, "seal keys")
		}
		c, err := x509.ParseCertificate(cert)
		if err != nil {
			return nil, errs.Internal(err, "seal key %s certificate", k.Kid)
		}
		m, err := jwkMembers(c.PublicKey)
		if err != nil {
			return nil, errs.Internal(err, "seal key %s", k.Kid)
		}
		for _, kv := range m {
			switch kv[0] {
			case "crv":
				k.Crv = kv[1]
			case "kty":
				k.Kty = kv[1]
			case "x":
				k.X = kv[1]
			case "y":
				k.Y = kv[1]
			}
		}
		alg, _ := algOf(c.PublicKey)
		k.Use, k.Alg = "sig", alg.jwsAlg()
		k.X5C = [][]byte{cert}
		if ca := caDER[caID]; ca != nil {
			k.X5C = append(k.X5C, ca)
		}
		published.KeyCreated = fromMicros(at)
		if retired.Valid {
			published.KeyRetired = fromMicros(retired.Int64)
		}
		published.StatusHistory = history[published.SealID]
		set.Keys = append(set.Keys, k)
	}
	return set, db.Interpret(rows.Err(), "seal keys")
}

// KeySet is a parsed published key set, for offline verification.
type KeySet struct {
	// CAs are the CA certificates the set names (sharehub_ca).
	CAs  []*x509.Certificate
	keys map[string]*keyInfo
}

// ParseJWKS reads a key set published by JWKS. Malformed input is
// errs.Invalid.
func ParseJWKS(data []byte) (*KeySet, error) {
	var set JWKS
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, errs.Invalid("not a sharehub JWKS: %v", err)
	}
	ks := &KeySet{keys: make(map[string]*keyInfo, len(set.Keys))}
	for i, der := range set.CA {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, errs.Invalid("JWKS sharehub_ca[%d]: %v", i, err)
		}
		ks.CAs = append(ks.CAs, c)
	}
	for i, k := range set.Keys {
		if k.Kid == "" || k.Thumbprint == "" || len(k.X5C) == 0 {
			return nil, errs.Invalid("JWKS key %d needs kid, x5t#S256 and x5c", i)
		}
		if certThumbprint(k.X5C[0]) != k.Thumbprint {
			return nil, errs.Invalid("JWKS key %s: x5t#S256 does not match x5c[0]", k.Kid)
		}
		ki := &keyInfo{
			kid: k.Kid, thumbprint: k.Thumbprint, org: k.Seal.Organisation,
			createdAt: k.Seal.KeyCreated, retiredAt: k.Seal.KeyRetired, statusNow: k.Seal.Status,
		}
		for _, h := range k.Seal.StatusHistory {
			ki.history = append(ki.history, StatusChange{Status: h.Status, At: h.At})
		}
		ks.keys[k.Kid] = ki
	}
	return ks, nil
}

func (ks *KeySet) key(_ context.Context, kid string) (*keyInfo, error) {
	return ks.keys[kid], nil
}

// Verifier checks sealed documents without the hub: against pinned CA
// certificates and, optionally, a published key set (for unknown keys,
// key retirement and seal status at signing time).
type Verifier struct {
	trust *trustStore
	keys  *KeySet
	now   func() time.Time
}

// NewVerifier returns an offline verifier trusting cas (when empty, the
// CAs named in keys) and knowing keys (may be nil: then only the
// certificate chain, signature, validity and digest are checked, and
// SignatureResult.KeyChecked is false).
func NewVerifier(cas []*x509.Certificate, keys *KeySet) (*Verifier, error) {
	if len(cas) == 0 && keys != nil {
		cas = keys.CAs
	}
	if len(cas) == 0 {
		return nil, errs.Invalid("a seal CA certificate is needed to verify")
	}
	var auths []*authority
	for i, c := range cas {
		a, err := newAuthority("", c.Raw)
		if err != nil {
			return nil, errs.Invalid("CA certificate %d: %v", i, err)
		}
		auths = append(auths, a)
	}
	return &Verifier{trust: newTrustStore(auths), keys: keys, now: time.Now}, nil
}

// Verify checks a sealed document and, when document is not nil, the
// document's digest. Errors as Service.Verify.
func (v *Verifier) Verify(jws []byte, document io.Reader) (Result, error) {
	vr := verifier{trust: v.trust, now: v.now()}
	if v.keys != nil {
		vr.keys = v.keys
	}
	return vr.verify(context.Background(), jws, document)
}

// VerifyOffline verifies a sealed document with only the hub's published
// key set, trusting the CA certificates it names. It is what
// `sharehub seal verify FILE.jws --jwks FILE` runs.
func VerifyOffline(jws []byte, document io.Reader, jwks []byte) (Result, error) {
	ks, err := ParseJWKS(jwks)
	if err != nil {
		return Result{}, err
	}
	v, err := NewVerifier(nil, ks)
	if err != nil {
		return Result{}, err
	}
	return v.Verify(jws, document)
}
