package licence

import (
	"crypto/sha256"
	"strings"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// NewLicence is what an issuer supplies to issue a licence.
type NewLicence struct {
	TypeCode string `json:"type_code"`
	// Number is the 证照编号; empty means the serial of the identifier.
	Number string `json:"number,omitempty"`
	// IssuerID is the issuing department; empty means the caller's.
	IssuerID string `json:"issuer_id,omitempty"`
	Holder   Holder `json:"holder"`
	// IssuedOn defaults to today; ValidFrom to IssuedOn; ValidUntil to
	// the type's fixed validity from ValidFrom (none when it has none).
	IssuedOn   string            `json:"issued_on,omitempty"`
	ValidFrom  string            `json:"valid_from,omitempty"`
	ValidUntil string            `json:"valid_until,omitempty"`
	Region     string            `json:"region,omitempty"`
	Face       map[string]string `json:"face"`
	Replaces   string            `json:"replaces,omitempty"`
}

// MaxNumber is the longest 证照编号 accepted, in characters.
const MaxNumber = 64

// validateHolder checks the holder against the type: its id type matches
// the type's holder kind and the id's check character is right.
func validateHolder(t *Type, h *Holder, pointer string) []errs.FieldError {
	h.Name, h.IDType, h.ID = strings.TrimSpace(h.Name), strings.TrimSpace(h.IDType), strings.ToUpper(strings.TrimSpace(h.ID))
	var fe []errs.FieldError
	if h.Name == "" || utf8.RuneCountInString(h.Name) > 100 || hasControl(h.Name) {
		fe = append(fe, errs.FieldError{Pointer: pointer + "/name", Reason: "required, at most 100 characters"})
	}
	if h.IDType == "" {
		h.IDType = t.HolderKind.HolderIDType()
	}
	if h.IDType != t.HolderKind.HolderIDType() {
		fe = append(fe, errs.FieldError{Pointer: pointer + "/id_type", Reason: t.Name + " is held by a " + string(t.HolderKind) + ": id type " + t.HolderKind.HolderIDType(), Value: h.IDType})
		return fe
	}
	if err := ValidateHolderID(h.IDType, h.ID); err != nil {
		fe = append(fe, errs.FieldError{Pointer: pointer + "/id", Reason: err.Error(), Value: ident.Mask(kindOf(h.IDType), h.ID)})
	}
	return fe
}

// ValidateHolderID checks a holder id of the id type (111 居民身份证号 with
// its MOD 11-2 check digit, 001 统一社会信用代码 with its check character).
func ValidateHolderID(idType, id string) error {
	k, ok := ident.KindForHolderCodeType(idType)
	if !ok {
		return errs.Invalid("holder id type must be 111 (居民身份证号) or 001 (统一社会信用代码)")
	}
	return ident.Validate(k, id)
}

func kindOf(idType string) ident.Kind {
	k, _ := ident.KindForHolderCodeType(idType)
	return k
}

// validate fills defaults and checks n against t, returning the licence it
// describes (without ID, issuer names or version). today is YYYY-MM-DD.
func (n *NewLicence) validate(t *Type, today string) (Licence, []errs.FieldError) {
	n.Number = strings.TrimSpace(n.Number)
	n.IssuedOn, n.ValidFrom, n.ValidUntil = strings.TrimSpace(n.IssuedOn), strings.TrimSpace(n.ValidFrom), strings.TrimSpace(n.ValidUntil)
	n.Region, n.Replaces = strings.TrimSpace(n.Region), strings.TrimSpace(n.Replaces)
	fe := validateHolder(t, &n.Holder, "/holder")
	if utf8.RuneCountInString(n.Number) > MaxNumber || hasControl(n.Number) {
		fe = append(fe, errs.FieldError{Pointer: "/number", Reason: "at most 64 characters", Value: clip(n.Number, 80)})
	}
	if n.IssuedOn == "" {
		n.IssuedOn = today
	}
	if _, ok := parseDate(n.IssuedOn); !ok {
		fe = append(fe, errs.FieldError{Pointer: "/issued_on", Reason: "a date YYYY-MM-DD", Value: clip(n.IssuedOn, 40)})
	} else if n.IssuedOn > today {
		fe = append(fe, errs.FieldError{Pointer: "/issued_on", Reason: "must not be in the future", Value: n.IssuedOn})
	}
	if n.ValidFrom == "" {
		n.ValidFrom = n.IssuedOn
	}
	if _, ok := parseDate(n.ValidFrom); !ok {
		fe = append(fe, errs.FieldError{Pointer: "/valid_from", Reason: "a date YYYY-MM-DD", Value: clip(n.ValidFrom, 40)})
	}
	if n.ValidUntil == "" && t.ValidityYears > 0 {
		n.ValidUntil = addYears(n.ValidFrom, t.ValidityYears)
	}
	if n.ValidUntil != "" {
		if _, ok := parseDate(n.ValidUntil); !ok {
			fe = append(fe, errs.FieldError{Pointer: "/valid_until", Reason: "a date YYYY-MM-DD", Value: clip(n.ValidUntil, 40)})
		} else if n.ValidUntil < n.ValidFrom {
			fe = append(fe, errs.FieldError{Pointer: "/valid_until", Reason: "must not be before valid_from " + n.ValidFrom, Value: n.ValidUntil})
		}
	}
	if n.ValidFrom < n.IssuedOn && n.ValidFrom != "" {
		// A licence may not be valid before it was issued.
		fe = append(fe, errs.FieldError{Pointer: "/valid_from", Reason: "must not be before issued_on " + n.IssuedOn, Value: n.ValidFrom})
	}
	if n.Region != "" && !digits(n.Region, 6) {
		fe = append(fe, errs.FieldError{Pointer: "/region", Reason: "a 6-digit division code", Value: clip(n.Region, 20)})
	}
	if n.Replaces != "" {
		if _, err := ident.ParseLicenceID(n.Replaces); err != nil {
			fe = append(fe, errs.FieldError{Pointer: "/replaces", Reason: err.Error(), Value: clip(n.Replaces, 100)})
		}
	}
	face := make(map[string]string, len(n.Face))
	for k, v := range n.Face {
		if v = strings.TrimSpace(v); v != "" {
			face[k] = v
		}
	}
	fe = append(fe, t.CheckFace(face, "/face")...)
	t.canonical(face)
	return Licence{
		TypeCode: t.Code, TypeName: t.Name, Number: n.Number, Holder: n.Holder,
		IssuedOn: n.IssuedOn, ValidFrom: n.ValidFrom, ValidUntil: n.ValidUntil, Region: n.Region,
		Face: face, Status: StatusValid, Version: 1, Replaces: n.Replaces,
	}, fe
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// serialOf derives a licence's serial from its type and number, so that
// importing the same (type, number) twice names the same licence: the
// number itself when it is made of 0-9 and A-Z (most are, and then
// identifiers sort as numbers do, which keeps bulk inserts at the right
// edge of the indexes), else 16 characters of base 36 from SHA-256.
func serialOf(typeCode, number string) string {
	if plainSerial(number) {
		return number
	}
	sum := sha256.Sum256([]byte(typeCode + "\x00" + number))
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var b [16]byte
	for i := range b {
		b[i] = alphabet[int(sum[i])%36]
	}
	return string(b[:])
}

// newIDFor returns the identifier of the first version of the licence of
// the type numbered number, issued by the body with issuerCode.
func newIDFor(typeCode, issuerCode, number string) (string, error) {
	return ident.NewLicenceID(typeCode, issuerCode, serialOf(typeCode, number), 1)
}

func plainSerial(s string) bool {
	if len(s) == 0 || len(s) > ident.MaxSerialLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
