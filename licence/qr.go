package licence

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/internal/keys"
)

// QR tokens (亮证). A holder's app asks for a token; the QR code carries
// PublicURL/verify/TOKEN. The token is a compact JWS (EdDSA) by the hub's
// token key (keys.PurposeToken), typ TokenTyp, kid the hub key id, with
// claims:
//
//	iss "sharehub"   ref  the licence, sealed (see below)
//	ver version shown
//	iat, exp         unix seconds          jti  random id
//
// ref is the identifier of the version shown, encrypted under the hub's
// master key (AES-256-GCM, base64url): a JWS is signed, not secret, and
// an identifier's serial is often the licence number — for a 居民身份证
// the holder's 公民身份号码 — so anyone who scanned a code could read it
// from the URL. Only the hub learns from a token which licence it shows.
//
// Anyone can check a token offline against the token JWKS (TokenJWKS):
// that it is genuine, unaltered and when it expires.
//
// Outcomes of verifying a token, what the page says:
//
//   - valid: signature good, not expired, version current. The page shows
//     the licence's status now: 有效, 已过期, 已撤销, 已吊销, 已注销, 已暂扣.
//   - expired: past exp (a short grace for clock skew is not given).
//   - forged: the signature does not verify, the key is unknown, or the
//     token is not a well-formed hub token.
//   - superseded ("replayed", "stale"): a genuine, unexpired token for a
//     version the licence has since left behind (amended, renewed,
//     suspended, revoked ...): an old screenshot shown again after the
//     licence changed. What the verifier most needs to know wins: when the
//     licence is no longer 有效 (suspended, revoked, cancelled, expired ...)
//     the check gives its current status and current (masked) data, and
//     the page shows that status as the headline with a note that the
//     licence changed after the code was made. When it is still 有效 (it
//     was amended or renewed) the check gives no licence data: the code no
//     longer shows the licence as it is, so the page says the code is out
//     of date and the holder must make a new one. Within its life a token
//     for the current version may be opened any number of times: scanning
//     a code twice is normal, and a one-time token would let the first
//     (possibly hostile) scanner burn it.
//   - unknown: genuine, but the licence is no longer in this registry.

// TokenTyp is the JWS typ of QR tokens.
const TokenTyp = "sharehub-licence-qr+jwt"

// MaxQRTTL is the longest QR token lifetime a caller may ask for.
const MaxQRTTL = 24 * time.Hour

// Outcome is the result of verifying a QR token.
type Outcome string

// Outcomes.
const (
	OutcomeValid      Outcome = "valid"
	OutcomeExpired    Outcome = "expired"
	OutcomeForged     Outcome = "forged"
	OutcomeSuperseded Outcome = "superseded"
	OutcomeUnknown    Outcome = "unknown"
)

// Claims are a QR token's claims.
type Claims struct {
	Issuer string `json:"iss"`
	// Ref is the licence identifier, sealed for the hub (see QR tokens).
	Ref      string `json:"ref"`
	Version  int    `json:"ver"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	ID       string `json:"jti"`
}

// QR is an issued token.
type QR struct {
	Token     string    `json:"token"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	LicenceID string    `json:"licence_id"`
}

// IssueQR makes a QR token for the current version of a licence. The
// caller must be an issuer of the licence's department or an app the API
// has checked holds a grant for the type (checked by the caller of this
// method, see api). ttl 0 means Config.QRTTL; over MaxQRTTL is errs.Invalid.
func (s *Service) IssueQR(ctx context.Context, l *Licence, ttl time.Duration) (QR, error) {
	if ttl == 0 {
		ttl = s.cfg.QRTTL
	}
	if ttl < time.Second || ttl > MaxQRTTL {
		return QR{}, errs.InvalidFields("bad token lifetime", errs.FieldError{Pointer: "/ttl_seconds", Reason: "1 second to 24 hours"})
	}
	k, err := s.tokenKey(ctx)
	if err != nil {
		return QR{}, err
	}
	now := s.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c := Claims{Issuer: "sharehub", Ref: base64.RawURLEncoding.EncodeToString(s.cfg.Keys.Master.Seal([]byte(l.ID), qrRefLabel)),
		Version: l.Version, IssuedAt: now.Unix(), Expires: now.Add(ttl).Unix(), ID: hex.EncodeToString(jti[:])}
	payload, _ := json.Marshal(c)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k.Private},
		(&jose.SignerOptions{}).WithType(TokenTyp).WithHeader("kid", k.ID))
	if err != nil {
		return QR{}, errs.Internal(err, "token signer")
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return QR{}, errs.Internal(err, "signing token")
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		return QR{}, errs.Internal(err, "token")
	}
	return QR{Token: tok, URL: strings.TrimSuffix(s.cfg.PublicURL, "/") + "/verify/" + tok,
		ExpiresAt: time.Unix(c.Expires, 0).UTC(), LicenceID: l.ID}, nil
}

// qrRefLabel binds a token's sealed ref to its use.
const qrRefLabel = "licence/qr-ref"

// openRef is the licence identifier a token's ref seals.
func (s *Service) openRef(ref string) (string, bool) {
	ct, err := base64.RawURLEncoding.DecodeString(ref)
	if err != nil {
		return "", false
	}
	id, err := s.cfg.Keys.Master.Open(ct, qrRefLabel)
	return string(id), err == nil
}

// CanShow reports whether by may make QR tokens for l without a grant:
// issuers of the licence's own department.
func CanShow(by *exchange.Principal, l *Licence) bool {
	return by != nil && !by.Disabled && by.Has(exchange.RoleIssuer) && by.DepartmentID == l.IssuerID
}

func (s *Service) tokenKey(ctx context.Context) (*keys.HubKey, error) {
	s.mu.RLock()
	k, at := s.tokKey, s.tokAt
	s.mu.RUnlock()
	if k != nil && time.Since(at) < cacheTTL {
		return k, nil
	}
	if s.cfg.Keys == nil {
		return nil, errs.Unavailable(nil, "no hub key ring configured")
	}
	k, err := s.cfg.Keys.Current(ctx, keys.PurposeToken)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.tokKey, s.tokAt = k, time.Now()
	s.mu.Unlock()
	return k, nil
}

// publicKey returns the token public key kid, reading the key ring again
// at most once a second when kid is unknown (forged kids cannot make every
// request hit the database).
func (s *Service) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	s.mu.RLock()
	pub, ok := s.pubKeys[kid]
	fresh := time.Since(s.pubAt) < time.Second
	s.mu.RUnlock()
	if ok || fresh || s.cfg.Keys == nil {
		return pub, nil
	}
	ks, err := s.cfg.Keys.Public(ctx, keys.PurposeToken)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]byte, len(ks))
	for _, k := range ks {
		m[k.ID] = k.Public
	}
	s.mu.Lock()
	s.pubKeys, s.pubAt = m, time.Now()
	s.mu.Unlock()
	return m[kid], nil
}

// TokenCheck is the result of verifying a QR token.
type TokenCheck struct {
	Outcome Outcome `json:"outcome"`
	// Reason says why a token is not valid, or why a valid token's licence
	// is not in force, in plain words (English).
	Reason string `json:"reason,omitempty"`
	// Licence is the licence as it is now, with the holder masked: given
	// for a valid token, and for a superseded one when the licence is no
	// longer 有效 (Licence.Status then says what it is). Never for a
	// superseded token of a licence that is still 有效.
	Licence *PublicView `json:"licence,omitempty"`
	// ExpiresAt is the token's expiry (zero for a forged token).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Status and StatusName are the licence's status now, given whenever
	// Licence is.
	Status     Status `json:"status,omitempty"`
	StatusName string `json:"status_name,omitempty"`
	// InForce: the token is valid and the licence can be relied on today:
	// 有效 and its validity begun (false when it begins on a later day;
	// Reason then says from when).
	InForce bool `json:"in_force"`
	// TokenVersion is the version the token was made for and
	// CurrentVersion the licence's version now: given for a superseded
	// token.
	TokenVersion   int `json:"token_version,omitempty"`
	CurrentVersion int `json:"current_version,omitempty"`

	licenceID string // unmasked, for the audit log
}

// LicenceID is the identifier of the licence shown, unmasked — for the
// audit log, never for the page ("" when no licence is shown).
func (c TokenCheck) LicenceID() string { return c.licenceID }

// PublicView is what the public verify page shows of a licence.
type PublicView struct {
	ID         string `json:"id"`
	TypeName   string `json:"type_name"`
	Number     string `json:"number"`
	HolderName string `json:"holder_name"` // masked for persons
	HolderID   string `json:"holder_id"`   // always masked
	IssuerName string `json:"issuer_name"`
	IssuedOn   string `json:"issued_on"`
	ValidFrom  string `json:"valid_from"`
	ValidUntil string `json:"valid_until,omitempty"`
	Status     Status `json:"status"`
	StatusName string `json:"status_name"`
}

// ParseToken checks a token's form and signature against pub (a lookup
// of the hub's token keys) and returns its claims: offline verification.
func ParseToken(token string, pub func(kid string) ed25519.PublicKey) (Claims, Outcome, string) {
	if len(token) > 4096 {
		return Claims{}, OutcomeForged, "the token is too long to be a hub token"
	}
	obj, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(obj.Signatures) != 1 {
		return Claims{}, OutcomeForged, "not a signed hub token"
	}
	h := obj.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != TokenTyp {
		return Claims{}, OutcomeForged, "not a licence QR token (typ)"
	}
	key := pub(h.KeyID)
	if key == nil {
		return Claims{}, OutcomeForged, "signed by a key this hub does not know"
	}
	payload, err := obj.Verify(key)
	if err != nil {
		return Claims{}, OutcomeForged, "the signature does not verify: the token was altered or not made by this hub"
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != "sharehub" || c.Ref == "" || c.Expires == 0 {
		return Claims{}, OutcomeForged, "the token's claims are malformed"
	}
	return c, OutcomeValid, ""
}

// CheckQR verifies a QR token and, when it is genuine, current and
// unexpired, returns the licence as the public may see it. A genuine,
// unexpired token for an earlier version is OutcomeSuperseded; it comes
// with the licence as it is now only when that is no longer 有效.
func (s *Service) CheckQR(ctx context.Context, token string) (TokenCheck, error) {
	var lookupErr error
	c, out, why := ParseToken(token, func(kid string) ed25519.PublicKey {
		k, err := s.publicKey(ctx, kid)
		lookupErr = err
		return k
	})
	if lookupErr != nil {
		return TokenCheck{}, lookupErr
	}
	if out != OutcomeValid {
		return TokenCheck{Outcome: out, Reason: why}, nil
	}
	exp := time.Unix(c.Expires, 0).UTC()
	now := s.now()
	if !now.Before(exp) {
		return TokenCheck{Outcome: OutcomeExpired, ExpiresAt: exp,
			Reason: "the token expired at " + exp.In(cst).Format("2006-01-02 15:04:05") + " (China time); ask the holder to show a fresh code"}, nil
	}
	id, ok := s.openRef(c.Ref)
	if !ok {
		// Signed by this hub's token key, sealed under another master key.
		return TokenCheck{Outcome: OutcomeUnknown, ExpiresAt: exp, Reason: "the token names no licence of this registry"}, nil
	}
	l, err := s.getKey(ctx, keyOf(id))
	if errs.Is(err, errs.KindNotFound) {
		return TokenCheck{Outcome: OutcomeUnknown, ExpiresAt: exp, Reason: "the licence is not in this registry"}, nil
	}
	if err != nil {
		return TokenCheck{}, err
	}
	st := l.StatusAt(now)
	if l.Version != c.Version {
		res := TokenCheck{Outcome: OutcomeSuperseded, ExpiresAt: exp, TokenVersion: c.Version, CurrentVersion: l.Version,
			Reason: "stale code: the token shows version " + pad3(c.Version) + " of the licence, which has since changed (now version " + pad3(l.Version) + ")"}
		if st == StatusValid {
			res.Reason += "; ask the holder to show a fresh code"
			return res, nil
		}
		res.Reason += "; the licence is now " + statusWords[st] + " (status " + string(st) + ")"
		res.Licence, res.Status, res.StatusName, res.licenceID = publicView(&l, st), st, st.Name(), l.ID
		return res, nil
	}
	pv := publicView(&l, st)
	res := TokenCheck{Outcome: OutcomeValid, ExpiresAt: exp, Licence: pv, Status: st, StatusName: st.Name(), licenceID: l.ID}
	// 有效 in the registry, but a validity that begins on a later day
	// (China time) is not in force yet: a scanner must not read "valid"
	// and status 01 as usable today.
	res.InForce = st == StatusValid && pv.ValidFrom <= now.In(cst).Format(time.DateOnly)
	if st == StatusValid && !res.InForce {
		res.Reason = "the licence is in force from " + pv.ValidFrom + " (China time), not yet today"
	}
	return res, nil
}

// statusWords name statuses in the English of TokenCheck.Reason.
var statusWords = map[Status]string{
	StatusValid: "valid", StatusSuspended: "suspended", StatusRevoked: "revoked", StatusCancelled: "cancelled",
	StatusExpired: "expired", StatusTransfered: "transferred out", StatusWithdrawn: "revoked as a penalty", StatusOther: "in another status",
}

// publicView is l as the public verify page shows it, in status st.
func publicView(l *Licence, st Status) *PublicView {
	masked := maskID(l.Holder)
	// Issuers often number a licence by its holder's id (a 居民身份证 is
	// numbered by the 公民身份号码 itself): the public page must not show
	// in the number what it masks in the holder.
	number := maskIn(l.Number, l.Holder.ID, masked)
	pv := &PublicView{ID: maskSerial(l.ID, l.Number, l.Holder.ID, masked), TypeName: l.TypeName, Number: number, HolderName: l.Holder.Name,
		HolderID: masked, IssuerName: l.IssuerName, IssuedOn: l.IssuedOn, ValidFrom: l.ValidFrom,
		ValidUntil: l.ValidUntil, Status: st, StatusName: st.Name()}
	if l.Holder.IDType == HolderIDResident {
		pv.HolderName = MaskName(l.Holder.Name)
	}
	return pv
}

func maskID(h Holder) string { return ident.Mask(kindOf(h.IDType), h.ID) }

// maskSerial is the identifier id with the holder's id masked in its
// serial, which is often the licence number: the page must not show in
// the identifier what it masks in the holder and the number. The issuer's
// code, public, stays as it is.
//
// A number that holds the holder's id but is not made of 0-9 and A-Z
// ("No.4206…") has a serial hashed from it (serialOf): not the id, yet
// hashing the masked number with each possible birth date (some 45,000)
// finds the one that gives the serial. Such a serial is hidden whole.
// Either way the identifier's check character is hidden too.
func maskSerial(id, number, holderID, masked string) string {
	p, err := ident.ParseLicenceID(id)
	if err != nil {
		return maskIn(id, holderID, masked)
	}
	serial := maskIn(p.Serial, holderID, masked)
	if serial == p.Serial && maskIn(number, holderID, masked) != number {
		serial = strings.Repeat("*", len(p.Serial))
	}
	if serial != p.Serial {
		// The check character is computed over the serial in clear: with
		// the id's own check digit it cut the ~45,000 birth dates the mask
		// leaves open to about a hundred.
		p.Check = '*'
	}
	p.Serial = serial
	return p.String()
}

func pad3(v int) string {
	s := "00" + strconv.Itoa(v)
	return s[len(s)-3:]
}

// TokenJWKS returns the token public keys as a JWK set (RFC 8037 OKP
// keys), retired ones included, for offline verification of QR tokens.
func (s *Service) TokenJWKS(ctx context.Context) ([]byte, error) {
	if s.cfg.Keys == nil {
		return nil, errs.Unavailable(nil, "no hub key ring configured")
	}
	if _, err := s.tokenKey(ctx); err != nil { // make sure one exists
		return nil, err
	}
	ks, err := s.cfg.Keys.Public(ctx, keys.PurposeToken)
	if err != nil {
		return nil, err
	}
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range ks {
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public), Kid: k.ID, Use: "sig", Alg: "EdDSA"})
	}
	return json.Marshal(set)
}

// KeysFromJWKS reads a JWK set made by TokenJWKS, for ParseToken offline.
func KeysFromJWKS(data []byte) (func(kid string) ed25519.PublicKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, errs.Invalid("not a JWK set: %v", err)
	}
	m := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if pub, ok := k.Key.(ed25519.PublicKey); ok {
			m[k.KeyID] = pub
		}
	}
	return func(kid string) ed25519.PublicKey { return m[kid] }, nil
}

// maskIn replaces every occurrence of id in s, whatever the letter case
// of its ASCII letters (a 身份证号 may end in x or X), with masked.
func maskIn(s, id, masked string) string {
	if len(id) < 6 {
		return s
	}
	// Upper-casing ASCII letters only keeps every byte where it was.
	upper, id := asciiUpper(s), asciiUpper(id)
	var b strings.Builder
	for {
		i := strings.Index(upper, id)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(masked)
		s, upper = s[i+len(id):], upper[i+len(id):]
	}
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
