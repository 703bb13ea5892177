package licence

import (
	"context"
	"crypto/rand"
	"database/sql"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// Issue issues a new licence (新发), sealed by the issuing department's
// seal. The caller needs the issuer role in a department that issues the
// type (errs.Forbidden); an unknown type or bad fields are errs.Invalid,
// among them a replaced licence (Replaces) that is not registered, of
// another type or of another holder (pointer /replaces); a licence of the
// type with the same number is errs.Conflict; a department without an
// active seal is errs.Conflict.
func (s *Service) Issue(ctx context.Context, by *exchange.Principal, n NewLicence) (Licence, error) {
	t, err := s.Type(ctx, strings.TrimSpace(n.TypeCode))
	if errs.Is(err, errs.KindNotFound) {
		return Licence{}, errs.InvalidFields("licence is not valid", errs.FieldError{Pointer: "/type_code", Reason: "no such licence type", Value: clip(n.TypeCode, 40)})
	}
	if err != nil {
		return Licence{}, err
	}
	if err := requireIssuer(by, &t); err != nil {
		return Licence{}, err
	}
	if n.IssuerID == "" {
		n.IssuerID = by.DepartmentID
	}
	if n.IssuerID != by.DepartmentID {
		return Licence{}, errs.Forbidden("an issuer of %s cannot issue for %s", by.DepartmentID, n.IssuerID)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	l, fe := n.validate(&t, today(now))
	// The licence it replaces is looked up only for an otherwise valid
	// request: a probe of another department's licences then issues a
	// real, sealed, audited licence when it guesses right.
	if l.Replaces != "" && len(fe) == 0 {
		rfe, err := s.replacesField(ctx, &l, by.DepartmentID)
		if err != nil {
			return Licence{}, err
		}
		fe = append(fe, rfe...)
	}
	if len(fe) > 0 {
		return Licence{}, errs.InvalidFields("licence is not valid", fe...)
	}
	l.IssuerID = n.IssuerID
	if err := s.complete(ctx, &l, now); err != nil {
		return Licence{}, err
	}
	if err := s.commit(ctx, by, &l, EventIssue, "", 0); err != nil {
		return Licence{}, err
	}
	return l, nil
}

// complete fills the identifier, issuer names and times of a new licence.
func (s *Service) complete(ctx context.Context, l *Licence, now time.Time) error {
	dep, err := s.department(ctx, l.IssuerID)
	if err != nil {
		return err
	}
	l.IssuerName, l.IssuerCode = dep.Name, dep.Code
	var serial string
	if l.Number == "" {
		serial = randomSerial()
		l.Number = serial
	} else {
		serial = serialOf(l.TypeCode, l.Number)
	}
	id, err := ident.NewLicenceID(l.TypeCode, l.IssuerCode, serial, 1)
	if err != nil {
		return errs.Invalid("licence identifier: %v", err)
	}
	l.ID, l.UpdatedAt = id, now
	return nil
}

func randomSerial() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var b [16]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%36]
	}
	return string(b[:])
}

// commit seals l and writes it: a new licence when prev is 0, else a new
// version over prev.
func (s *Service) commit(ctx context.Context, by *exchange.Principal, l *Licence, ev Event, reason string, prev int) error {
	doc, digest, err := encode(l)
	if err != nil {
		return err
	}
	jws, err := s.sealDoc(ctx, by, l, ev, doc, digest)
	if err != nil {
		return err
	}
	v := &versionRow{l: l, event: ev, by: by.ID, reason: reason, doc: doc, digest: digest, jws: jws}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if prev == 0 {
			return insertLicence(ctx, tx, v)
		}
		return updateLicence(ctx, tx, v, prev)
	})
	return db.Interpret(err, "licence "+l.Key())
}

// Change is a lifecycle operation on an existing licence.
type Change struct {
	Event  Event  `json:"event"`
	Reason string `json:"reason"`
	// Face (amend): fields to set; an empty value removes an optional field.
	Face map[string]string `json:"face,omitempty"`
	// HolderName (amend): the holder's new name (the id cannot change).
	HolderName string `json:"holder_name,omitempty"`
	// ValidUntil (renew): the new end of validity; empty means the type's
	// fixed validity from today.
	ValidUntil string `json:"valid_until,omitempty"`
	// Withdraw (revoke): 吊销 (07, a penalty) rather than 撤销 (03).
	Withdraw bool `json:"withdraw,omitempty"`
}

// MaxReason is the longest reason for a change, in characters.
const MaxReason = 500

// Apply makes a lifecycle change (变更, 延续, 暂扣, 暂扣发还, 撤销/吊销, 注销)
// as a new sealed version. Only issuers of the licence's own department
// may (errs.Forbidden). A change the licence's status does not allow (a
// revoked licence cannot be renewed) is errs.Conflict; bad input is
// errs.Invalid.
func (s *Service) Apply(ctx context.Context, by *exchange.Principal, id string, c Change) (Licence, error) {
	l, err := s.Get(ctx, id)
	if err != nil {
		return Licence{}, err
	}
	t, err := s.Type(ctx, l.TypeCode)
	if err != nil {
		return Licence{}, err
	}
	if err := requireIssuer(by, &t); err != nil {
		return Licence{}, err
	}
	if by.DepartmentID != l.IssuerID {
		return Licence{}, errs.Forbidden("licence %s was issued by %s; only its issuer may change it", l.Key(), l.IssuerID)
	}
	c.Reason = strings.TrimSpace(c.Reason)
	if c.Reason == "" || utf8.RuneCountInString(c.Reason) > MaxReason || hasControl(c.Reason) {
		return Licence{}, errs.InvalidFields("change is not valid", errs.FieldError{Pointer: "/reason", Reason: "required, at most 500 characters"})
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	prev := l.Version
	if err := s.transition(&t, &l, c, now); err != nil {
		return Licence{}, err
	}
	if prev >= 999 {
		return Licence{}, errs.Conflict("licence %s has reached version 999", l.Key())
	}
	l.Version = prev + 1
	parsed, _ := ident.ParseLicenceID(l.ID)
	if l.ID, err = ident.NewLicenceID(parsed.TypeCode, parsed.IssuerCode, parsed.Serial, l.Version); err != nil {
		return Licence{}, errs.Internal(err, "licence identifier")
	}
	l.UpdatedAt = now
	if err := s.commit(ctx, by, &l, c.Event, c.Reason, prev); err != nil {
		return Licence{}, err
	}
	return l, nil
}

// transition checks that c is allowed in l's current status and applies it.
func (s *Service) transition(t *Type, l *Licence, c Change, now time.Time) error {
	st := l.StatusAt(now)
	bad := func() error {
		return errs.Conflict("cannot %s licence %s: it is %s (%s)", c.Event, l.Key(), st.Name(), st)
	}
	switch c.Event {
	case EventAmend:
		if st != StatusValid && st != StatusSuspended {
			return bad()
		}
		face := maps.Clone(l.Face)
		if face == nil {
			face = map[string]string{}
		}
		for k, v := range c.Face {
			if v = strings.TrimSpace(v); v == "" {
				delete(face, k)
			} else {
				face[k] = v
			}
		}
		fe := t.CheckFace(face, "/face")
		if c.HolderName != "" {
			h := l.Holder
			h.Name = c.HolderName
			for _, e := range validateHolder(t, &h, "/holder") {
				if e.Pointer == "/holder/name" {
					e.Pointer = "/holder_name" // the member of Change that sets it
				}
				fe = append(fe, e)
			}
			l.Holder = h
		}
		if len(fe) > 0 {
			return errs.InvalidFields("change is not valid", fe...)
		}
		if len(c.Face) == 0 && c.HolderName == "" {
			return errs.InvalidFields("change is not valid", errs.FieldError{Pointer: "/face", Reason: "an amendment changes face fields or the holder's name"})
		}
		t.canonical(face)
		l.Face = face
	case EventRenew:
		if st != StatusValid && st != StatusExpired {
			return bad()
		}
		until := strings.TrimSpace(c.ValidUntil)
		if until == "" {
			if t.ValidityYears == 0 {
				return errs.InvalidFields("change is not valid", errs.FieldError{Pointer: "/valid_until", Reason: t.Name + " has no fixed validity: give valid_until"})
			}
			until = addYears(today(now), t.ValidityYears)
		}
		if _, ok := parseDate(until); !ok {
			return errs.InvalidFields("change is not valid", errs.FieldError{Pointer: "/valid_until", Reason: "a date YYYY-MM-DD", Value: clip(until, 40)})
		}
		if until < today(now) || (l.ValidUntil != "" && until <= l.ValidUntil) || until < l.ValidFrom {
			return errs.InvalidFields("change is not valid", errs.FieldError{Pointer: "/valid_until", Reason: "must be after the current validity (" + l.ValidUntil + ") and not in the past", Value: until})
		}
		l.ValidUntil, l.Status = until, StatusValid
	case EventSuspend:
		if st != StatusValid {
			return bad()
		}
		l.Status = StatusSuspended
	case EventReturn:
		if st != StatusSuspended {
			return bad()
		}
		l.Status = StatusValid
	case EventRevoke:
		if st != StatusValid && st != StatusSuspended && st != StatusExpired {
			return bad()
		}
		l.Status = StatusRevoked
		if c.Withdraw {
			l.Status = StatusWithdrawn
		}
	case EventCancel:
		if st != StatusValid && st != StatusSuspended && st != StatusExpired {
			return bad()
		}
		l.Status = StatusCancelled
	default:
		return errs.InvalidFields("change is not valid", errs.FieldError{Pointer: "/event", Reason: "amend, renew, suspend, return, revoke or cancel", Value: clip(string(c.Event), 20)})
	}
	return nil
}
