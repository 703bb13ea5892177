package seal

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Reason says why a signature is not valid.
type Reason string

// Reasons a signature fails verification, most basic first.
const (
	ReasonMalformed       Reason = "malformed signature"
	ReasonAlgorithm       Reason = "algorithm not allowed"
	ReasonForeignCA       Reason = "certificate not from this hub's CA"
	ReasonCertMismatch    Reason = "certificate does not match the signature header"
	ReasonBadSignature    Reason = "bad signature"
	ReasonCertNotYetValid Reason = "certificate not yet valid at signing time"
	ReasonCertExpired     Reason = "certificate expired at signing time"
	ReasonSigningTime     Reason = "implausible signing time"
	ReasonUnknownKey      Reason = "unknown key"
	ReasonKeyRetired      Reason = "key retired at signing time"
	ReasonSealRevoked     Reason = "seal revoked at signing time"
	ReasonSealSuspended   Reason = "seal suspended at signing time"
	ReasonDigestMismatch  Reason = "digest mismatch"
	ReasonDuplicateSeal   Reason = "seal already on the document"
)

// allowedAlgs is the explicit list of JWS algorithms a verifier accepts;
// "none", HMAC and everything else fail with ReasonAlgorithm.
var allowedAlgs = map[string]Alg{"EdDSA": AlgEd25519, "ES256": AlgES256}

// Result is the outcome of verifying a sealed document.
type Result struct {
	// Valid is true when there is at least one signature and every one is valid.
	Valid bool `json:"valid"`
	// Document is the signed statement.
	Document Document `json:"document"`
	// DocumentChecked is true when the document itself was given and hashed.
	DocumentChecked bool              `json:"document_checked"`
	Signatures      []SignatureResult `json:"signatures"`
}

// SignatureResult is the outcome for one seal on a document. Fields other
// than Index, Valid, Reason and Detail are filled as far as verification
// got before it failed.
type SignatureResult struct {
	Index  int    `json:"index"`
	Valid  bool   `json:"valid"`
	Reason Reason `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`

	SealID     string    `json:"seal_id,omitempty"`
	SealName   string    `json:"seal_name,omitempty"`
	Kind       Kind      `json:"kind,omitempty"`
	Kid        string    `json:"kid,omitempty"`
	Alg        string    `json:"alg,omitempty"`
	Thumbprint string    `json:"x5t#S256,omitempty"`
	SignedAt   time.Time `json:"signed_at,omitzero"`
	Purpose    string    `json:"purpose,omitempty"`
	// Organisation is as certified by the hub CA (ID only when online).
	Organisation Organisation `json:"organisation,omitzero"`
	// KeyChecked is true when the verifier knew the hub's keys and seal
	// statuses (online, or offline with a JWKS); with only the CA
	// certificate, revocation and key retirement cannot be checked.
	KeyChecked      bool   `json:"key_checked"`
	StatusAtSigning Status `json:"status_at_signing,omitempty"`
	StatusNow       Status `json:"status_now,omitempty"`
}

// keyInfo is what a verifier knows about a kid beyond its certificate.
type keyInfo struct {
	kid        string
	thumbprint string
	org        Organisation
	createdAt  time.Time
	retiredAt  time.Time
	history    []StatusChange
	statusNow  Status
}

// keySource finds keys by kid: the hub's database (through its cache) or
// a published JWKS. It returns nil for an unknown kid.
type keySource interface {
	key(ctx context.Context, kid string) (*keyInfo, error)
}

// trustStore holds the trusted CA certificates and the seal certificates
// already found to chain to them, keyed by their x5c text.
type trustStore struct {
	mu    sync.RWMutex
	cas   []*authority
	caB64 map[string]bool
	certs map[string]*certEntry
}

// maxCachedCerts bounds the certificate cache (each hub key has one
// certificate; this is far above 6,000 seals rotated several times).
const maxCachedCerts = 200_000

func newTrustStore(cas []*authority) *trustStore {
	t := &trustStore{certs: map[string]*certEntry{}}
	t.setCAs(cas)
	return t
}

func (t *trustStore) setCAs(cas []*authority) {
	m := make(map[string]bool, len(cas))
	for _, a := range cas {
		m[a.b64] = true
	}
	t.mu.Lock()
	t.cas, t.caB64 = cas, m
	t.mu.Unlock()
}

func (t *trustStore) authorities() []*authority {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.cas
}

func (t *trustStore) isCA(b64 []byte) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.caB64[string(b64)]
}

var b64std = base64.StdEncoding.Strict()

// entry returns the parsed certificate for an x5c element, checking a new
// one against the trusted CAs and remembering it when it chains.
func (t *trustStore) entry(x5c0 []byte) (*certEntry, Reason, string) {
	t.mu.RLock()
	e := t.certs[string(x5c0)]
	cas := t.cas
	t.mu.RUnlock()
	if e != nil {
		return e, "", ""
	}
	der, err := b64std.DecodeString(string(x5c0))
	if err != nil {
		return nil, ReasonMalformed, "x5c[0] is not standard base64"
	}
	e, reason, detail := parseSealCert(der, cas)
	if e == nil {
		return nil, reason, detail
	}
	t.mu.Lock()
	if len(t.certs) < maxCachedCerts {
		t.certs[string(x5c0)] = e
	}
	t.mu.Unlock()
	return e, "", ""
}

// verifier is one verification run's context.
type verifier struct {
	trust *trustStore
	keys  keySource // nil: certificate-only (offline with just the CA)
	now   time.Time
}

// verify checks a JWS and, when doc is not nil, the document it seals.
// Input that is not a JWS is errs.Invalid; over MaxJWSSize, errs.TooLarge.
// A JWS that parses always gives a Result, with a reason per signature.
func (v *verifier) verify(ctx context.Context, data []byte, doc io.Reader) (Result, error) {
	if len(data) > MaxJWSSize {
		return Result{}, errs.TooLarge("signed document is %d bytes; the limit is %d", len(data), MaxJWSSize)
	}
	j, err := parseJWS(data)
	if err != nil {
		return Result{}, notSealed("", err.Error())
	}
	return v.verifyParsed(ctx, j, doc)
}

// notSealed is the error for input that is not a sealed document: why, and
// where in the JWS (a JSON pointer into it, "" for the whole), which the
// caller puts under where its request carried the JWS (errs.Under), so
// that the problem says what was wrong and where.
func notSealed(pointer, reason string) error {
	return errs.InvalidFields("not a sealed document", errs.FieldError{Pointer: pointer, Reason: reason})
}

func (v *verifier) verifyParsed(ctx context.Context, j *jwsDoc, doc io.Reader) (Result, error) {
	payload, err := b64url.DecodeString(string(j.payloadB64))
	if err != nil {
		return Result{}, notSealed("/payload", "payload is not base64url")
	}
	stmt, err := parseStatement(payload)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && len(e.Fields) > 0 { // a member's value: /payload/sha256 ...
			return Result{}, errs.InvalidFields("not a sealed document: payload is not a seal statement", e.Fields...)
		}
		return Result{}, notSealed("/payload", "payload is not a seal statement: "+err.Error())
	}
	res := Result{Document: stmt, Signatures: make([]SignatureResult, 0, len(j.sigs))}
	digestOK := true
	if doc != nil {
		h := sha256.New()
		n, err := io.Copy(h, doc)
		if err != nil {
			return Result{}, errs.Invalid("reading document: %v", err)
		}
		res.DocumentChecked = true
		digestOK = n == stmt.Size && hex.EncodeToString(h.Sum(nil)) == stmt.SHA256
	}
	bp := signBufs.Get().(*[]byte)
	defer signBufs.Put(bp)
	res.Valid = len(j.sigs) > 0
	for i := range j.sigs {
		sr, err := v.verifySig(ctx, j.payloadB64, &j.sigs[i], bp)
		if err != nil {
			return Result{}, err
		}
		sr.Index = i
		if sr.Valid && !digestOK {
			sr.Valid, sr.Reason, sr.Detail = false, ReasonDigestMismatch, "the document's SHA-256 or size differs from the signed statement"
		}
		// A seal is applied to a document once (Sign refuses a second
		// time), so a repeated seal is a copied or forged entry.
		for _, prev := range res.Signatures {
			if sr.Valid && prev.Valid && prev.SealID == sr.SealID {
				sr.Valid, sr.Reason, sr.Detail = false, ReasonDuplicateSeal, "seal "+quote(sr.SealID)+" already signed this document (signature "+strconv.Itoa(prev.Index)+")"
			}
		}
		res.Valid = res.Valid && sr.Valid
		res.Signatures = append(res.Signatures, sr)
	}
	return res, nil
}

// verifySig checks one signature. Only failures of the key source (the
// database) are returned as errors.
func (v *verifier) verifySig(ctx context.Context, payloadB64 []byte, s *jwsSig, bp *[]byte) (SignatureResult, error) {
	var r SignatureResult
	fail := func(reason Reason, detail string) (SignatureResult, error) {
		r.Valid, r.Reason, r.Detail = false, reason, detail
		return r, nil
	}
	prot, err := b64url.DecodeString(string(s.protectedB64))
	if err != nil {
		return fail(ReasonMalformed, "protected header is not base64url")
	}
	var h header
	if err := h.parse(prot, true); err != nil {
		return fail(ReasonMalformed, err.Error())
	}
	if s.header != nil {
		if err := h.parse(s.header, false); err != nil {
			return fail(ReasonMalformed, err.Error())
		}
	}
	r.Alg, r.Kid, r.SealID, r.Purpose, r.Thumbprint = h.alg, h.kid, h.seal, h.purpose, h.x5t
	alg, ok := allowedAlgs[h.alg]
	if !ok {
		return fail(ReasonAlgorithm, "alg "+quote(h.alg)+" is not EdDSA or ES256")
	}
	if h.typ != Typ {
		return fail(ReasonMalformed, "typ is not "+Typ)
	}
	const required = hKid | hX5t | hSeal | hSigT | hX5c
	if h.seen&required != required || len(h.x5c) == 0 {
		return fail(ReasonMalformed, "the header needs kid, x5t#S256, seal, sigT and x5c")
	}
	sigT, err := time.Parse(time.RFC3339Nano, h.sigT)
	if err != nil {
		return fail(ReasonMalformed, "sigT is not an RFC 3339 time")
	}
	r.SignedAt = sigT.UTC()
	sig, err := b64url.DecodeString(string(s.signatureB64))
	if err != nil {
		return fail(ReasonMalformed, "signature is not base64url")
	}

	ce, reason, detail := v.trust.entry(h.x5c[0])
	if ce == nil {
		return fail(reason, detail)
	}
	for _, extra := range h.x5c[1:] {
		if !v.trust.isCA(extra) {
			return fail(ReasonForeignCA, "x5c[1] is not this hub's seal CA certificate")
		}
	}
	r.SealName, r.Kind, r.Organisation = ce.sealName, ce.kind, ce.org
	if h.x5t != ce.thumbprint {
		return fail(ReasonCertMismatch, "x5t#S256 does not match the certificate in x5c")
	}
	if ce.alg != alg {
		return fail(ReasonAlgorithm, "alg "+h.alg+" does not match the certificate's "+string(ce.alg)+" key")
	}
	in := append((*bp)[:0], s.protectedB64...)
	in = append(in, '.')
	in = append(in, payloadB64...)
	*bp = in
	if !verifySignature(alg, ce.pub, in, sig) {
		return fail(ReasonBadSignature, "the signature does not verify with the certificate's key")
	}
	if h.seal != ce.sealID {
		return fail(ReasonCertMismatch, "the seal header names "+quote(h.seal)+" but the certificate is for "+quote(ce.sealID))
	}
	if h.seen&hOrg != 0 && h.org != ce.org.CreditCode {
		return fail(ReasonCertMismatch, "the org header differs from the certificate's credit code")
	}
	switch {
	case sigT.Before(ce.cert.NotBefore) || sigT.Before(ce.issuer.cert.NotBefore):
		return fail(ReasonCertNotYetValid, "signed "+sigT.Format(time.RFC3339)+", certificate valid from "+ce.cert.NotBefore.Format(time.RFC3339))
	case sigT.After(ce.cert.NotAfter) || sigT.After(ce.issuer.cert.NotAfter):
		return fail(ReasonCertExpired, "signed "+sigT.Format(time.RFC3339)+", certificate valid until "+ce.cert.NotAfter.Format(time.RFC3339))
	case sigT.After(v.now.Add(maxClockSkew)):
		return fail(ReasonSigningTime, "the signing time is in the future")
	}
	if v.keys == nil {
		r.Valid = true
		return r, nil
	}
	r.KeyChecked = true
	ki, err := v.keys.key(ctx, h.kid)
	if err != nil {
		return r, err
	}
	if ki == nil {
		return fail(ReasonUnknownKey, "kid "+quote(h.kid)+" is not a key of this hub")
	}
	if ki.thumbprint != ce.thumbprint {
		return fail(ReasonUnknownKey, "kid "+quote(h.kid)+" belongs to another certificate")
	}
	r.Organisation.ID = ki.org.ID
	r.StatusNow = ki.statusNow
	st, existed := StatusAt(ki.history, sigT)
	if !existed && len(ki.history) > 0 && !sigT.Before(ki.history[0].At.Add(-maxClockSkew)) {
		st, existed = ki.history[0].Status, true // clocks of replicas differ a little
	}
	r.StatusAtSigning = st
	switch {
	case sigT.Before(ki.createdAt.Add(-maxClockSkew)) || !existed:
		return fail(ReasonSigningTime, "the signing time is before the key was created")
	case !ki.retiredAt.IsZero() && !sigT.Before(ki.retiredAt.Add(retiredKeyGrace)):
		return fail(ReasonKeyRetired, "the key was replaced at "+ki.retiredAt.Format(time.RFC3339))
	case st == StatusRevoked:
		return fail(ReasonSealRevoked, "")
	case st == StatusSuspended:
		return fail(ReasonSealSuspended, "")
	}
	r.Valid = true
	return r, nil
}

// retiredKeyGrace is how long after a key was retired a signature by it
// still counts as made in time. Another replica trusts its cached seal
// state for up to Config.CacheTTL (default 5s, kept below this) and goes
// on signing with the old key meanwhile: those documents were sealed in
// good faith and must verify. It gives nothing to someone holding the old
// private key: the signing time is theirs to write anyway.
const retiredKeyGrace = 15 * time.Second

func quote(s string) string {
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80]) + "…"
	}
	return strconv.Quote(s)
}
