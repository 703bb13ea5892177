package seal

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// SignRequest is what to seal and why.
type SignRequest struct {
	// Document describes the document: its SHA-256, size, media type and
	// name (DigestDocument computes them from the content). It may be left
	// zero when Existing is given; if set, it must match Existing's.
	Document Document
	// Purpose says why the seal is applied (at most MaxPurpose characters).
	Purpose string
	// Existing, when not nil, is a sealed document (JWS JSON) to which this
	// seal adds its signature, e.g. the second party's seal on a contract.
	// Its signatures must all be valid and must not include this seal.
	Existing []byte
}

// Sign applies a seal and returns the sealed document: a JWS in JSON
// serialization (see the profile in jws.go).
//
// The caller must hold the seal-user role (or admin) in the seal's own
// organisation, else errs.Forbidden; a suspended, revoked or expired seal
// is errs.Conflict; bad input is errs.Invalid.
//
// Every signature is recorded as a usage record (用印记录). Records are
// buffered and written in batches (Config.UsageFlush) so that signing does
// not wait for the database; the audit log, written by the API for the
// same call, is the durable account. FlushUsage and Close write them out.
func (s *Service) Sign(ctx context.Context, by *exchange.Principal, sealID string, req SignRequest) ([]byte, error) {
	if by == nil {
		return nil, errs.Unauthenticated("sign in to apply a seal")
	}
	st, err := s.state(ctx, sealID)
	if err != nil {
		return nil, err
	}
	seal := &st.seal
	if by.Disabled || !by.Has(exchange.RoleSealUser, exchange.RoleAdmin) {
		return nil, errs.Forbidden("applying a seal needs the seal-user or admin role")
	}
	if by.DepartmentID != seal.Organisation.ID {
		return nil, errs.Forbidden("seal %s belongs to %s; only its own organisation may apply it", seal.ID, seal.Organisation.Name)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	switch {
	case seal.Status != StatusActive:
		return nil, errs.Conflict("seal %s is %s", seal.ID, seal.Status)
	case now.Before(seal.ValidFrom):
		return nil, errs.Conflict("seal %s is valid from %s", seal.ID, seal.ValidFrom.Format(time.RFC3339))
	case !now.Before(seal.ValidUntil):
		return nil, errs.Conflict("seal %s expired at %s", seal.ID, seal.ValidUntil.Format(time.RFC3339))
	}
	// A purpose of spaces says nothing (用印事由 is required), and the
	// audit entry keeps it trimmed: sign what the log says.
	req.Purpose = strings.TrimSpace(req.Purpose)
	if r := checkText(req.Purpose, MaxPurpose, true); r != "" {
		return nil, errs.InvalidFields("a purpose is needed", errs.FieldError{Pointer: "/purpose", Reason: r})
	}
	k, err := s.signerOf(ctx, st)
	if err != nil {
		return nil, err
	}
	var out []byte
	doc := req.Document
	if req.Existing == nil {
		if err := doc.validate("/document", checkText); err != nil {
			return nil, err
		}
		out, err = signNew(k, &doc, now, req.Purpose)
	} else {
		out, doc, err = s.addSignature(ctx, k, seal, req, now)
	}
	if err != nil {
		return nil, err
	}
	if err := s.usage.add(ctx, UsageRecord{
		ID: newUsageID(now), SealID: seal.ID, Kid: k.kid, PrincipalID: by.ID, DepartmentID: by.DepartmentID,
		Document: doc, Purpose: req.Purpose, SignedAt: now,
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// signNew makes a JWS with one signature over the statement of doc.
func signNew(k *signer, doc *Document, at time.Time, purpose string) ([]byte, error) {
	bp := signBufs.Get().(*[]byte)
	defer signBufs.Put(bp)
	stmt := appendStatement((*bp)[:0], doc)
	n := len(stmt)
	buf := b64url.AppendEncode(stmt, stmt)
	*bp = buf
	payloadB64 := buf[n:]
	out := make([]byte, 0, 2*len(payloadB64)+len(k.hdrPrefix)+len(k.unprotected)+len(purpose)*2+300)
	out = append(out, `{"payload":"`...)
	out = append(out, payloadB64...)
	out = append(out, `","signatures":[`...)
	out, err := k.appendEntry(out, payloadB64, at, purpose)
	if err != nil {
		return nil, errs.Internal(err, "signing")
	}
	return append(out, "]}"...), nil
}

// addSignature adds k's signature to the sealed document req.Existing.
func (s *Service) addSignature(ctx context.Context, k *signer, seal *Seal, req SignRequest, at time.Time) ([]byte, Document, error) {
	if len(req.Existing) > MaxJWSSize {
		return nil, Document{}, errs.TooLarge("the sealed document is over %d bytes", MaxJWSSize)
	}
	j, err := parseJWS(req.Existing)
	if err != nil {
		return nil, Document{}, errs.InvalidFields("existing is not a sealed document", errs.FieldError{Pointer: "/existing", Reason: err.Error()})
	}
	if len(j.sigs) >= MaxSignatures {
		return nil, Document{}, errs.Conflict("the document already carries %d seals", len(j.sigs))
	}
	if err := s.loadCAs(ctx, false); err != nil {
		return nil, Document{}, err
	}
	v := verifier{trust: s.trust, keys: s, now: at}
	res, err := v.verifyParsed(ctx, j, nil)
	if err != nil {
		return nil, Document{}, errs.Under("/existing", err)
	}
	if req.Document != (Document{}) {
		d := req.Document
		if err := d.validate("/document", checkText); err != nil {
			return nil, Document{}, err
		}
		if d.SHA256 != res.Document.SHA256 || d.Size != res.Document.Size {
			return nil, Document{}, errs.InvalidFields("the document is not the one already sealed",
				errs.FieldError{Pointer: "/document/sha256", Reason: "differs from the sealed document's digest or size"})
		}
	}
	var fe []errs.FieldError
	for _, r := range res.Signatures {
		if !r.Valid {
			fe = append(fe, errs.FieldError{Pointer: "/existing/signatures/" + strconv.Itoa(r.Index), Reason: string(r.Reason) + ": " + r.Detail})
		} else if r.SealID == seal.ID {
			return nil, Document{}, errs.Conflict("seal %s is already on this document", seal.ID)
		}
	}
	if len(fe) > 0 {
		return nil, Document{}, errs.InvalidFields("the existing signatures are not all valid", fe...)
	}
	entries := make([][]byte, 0, len(j.sigs)+1)
	for i := range j.sigs {
		entries = append(entries, appendSigEntry(nil, &j.sigs[i]))
	}
	e, err := k.appendEntry(nil, j.payloadB64, at, req.Purpose)
	if err != nil {
		return nil, Document{}, errs.Internal(err, "signing")
	}
	entries = append(entries, e)
	out := appendJWS(nil, j.payloadB64, entries...)
	if len(out) > MaxJWSSize {
		// Verify would refuse it: do not hand out a seal nobody can check.
		return nil, Document{}, errs.TooLarge("with this seal the sealed document would be %d bytes; the limit is %d", len(out), MaxJWSSize)
	}
	return out, res.Document, nil
}

// signerOf returns the seal's current signing key, decrypting it on first
// use; it stays in memory (never on disk) while the seal is cached.
func (s *Service) signerOf(ctx context.Context, st *sealState) (*signer, error) {
	if k := st.signer.Load(); k != nil {
		return k, nil
	}
	cur, ok := st.seal.currentKey()
	if !ok {
		return nil, errs.Conflict("seal %s has no current key", st.seal.ID)
	}
	var enc, certDER []byte
	var caID string
	err := s.db.R.QueryRowContext(ctx, `SELECT private_enc, cert_der, ca_id FROM seal_keys WHERE kid = $1`, cur.Kid).Scan(&enc, &certDER, &caID)
	if err != nil {
		return nil, db.Interpret(err, "seal key")
	}
	pkcs8, err := s.master.Open(enc, "seal_keys/"+cur.Kid)
	if err != nil {
		return nil, errs.Internal(err, "seal key %s", cur.Kid)
	}
	priv, err := parsePrivate(pkcs8)
	clear(pkcs8)
	if err != nil {
		return nil, errs.Internal(err, "seal key %s", cur.Kid)
	}
	if kid, _ := keyID(priv.Public()); kid != cur.Kid {
		return nil, errs.Internal(nil, "seal key %s does not match its kid", cur.Kid)
	}
	if err := s.loadCAs(ctx, false); err != nil {
		return nil, err
	}
	var caDER []byte
	for _, a := range s.trust.authorities() {
		if a.id == caID {
			caDER = a.der
		}
	}
	if caDER == nil {
		if err := s.loadCAs(ctx, true); err != nil {
			return nil, err
		}
		for _, a := range s.trust.authorities() {
			if a.id == caID {
				caDER = a.der
			}
		}
	}
	k, err := newSigner(priv, st.seal.ID, st.seal.Organisation.CreditCode, certDER, caDER)
	if err != nil {
		return nil, errs.Internal(err, "seal key %s", cur.Kid)
	}
	st.signer.Store(k)
	return k, nil
}
