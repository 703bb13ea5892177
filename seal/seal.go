package seal

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Kind is the kind of a seal (印章类别).
type Kind string

// The seal kinds the hub issues.
const (
	KindOfficial  Kind = "公章"
	KindContract  Kind = "合同专用章"
	KindFinance   Kind = "财务专用章"
	KindInvoice   Kind = "发票专用章"
	KindBusiness  Kind = "业务专用章"
	KindLegalName Kind = "法定名称章"
)

// Kinds lists every seal kind, for validation and documentation.
var Kinds = []Kind{KindOfficial, KindContract, KindFinance, KindInvoice, KindBusiness, KindLegalName}

// ValidKind reports whether k is a known seal kind.
func ValidKind(k Kind) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Status is where a seal is in its life. Active seals sign; suspended seals
// do not until reinstated; revoked seals never sign again.
type Status string

const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusRevoked   Status = "revoked"
)

// Alg is a seal's key algorithm.
type Alg string

const (
	AlgEd25519 Alg = "Ed25519" // JWS alg EdDSA (RFC 8037); the default
	AlgES256   Alg = "ES256"   // ECDSA P-256 with SHA-256 (RFC 7518)
)

// jwsAlg is the JWS "alg" header value of a key algorithm.
func (a Alg) jwsAlg() string {
	if a == AlgES256 {
		return "ES256"
	}
	return "EdDSA"
}

// Organisation is the body a seal belongs to: a department or another
// registered organisation, identified by its 统一社会信用代码.
type Organisation struct {
	ID         string `json:"id,omitempty"` // department id; empty when only the certificate is known (offline)
	Name       string `json:"name"`
	CreditCode string `json:"credit_code"`
}

// Seal is an electronic seal (电子印章).
type Seal struct {
	ID             string         `json:"id"`
	Organisation   Organisation   `json:"organisation"`
	Name           string         `json:"name"`
	Kind           Kind           `json:"kind"`
	ImageKey       string         `json:"image_key"` // blob store key
	ImageMediaType string         `json:"image_media_type"`
	Alg            Alg            `json:"alg"`
	ValidFrom      time.Time      `json:"valid_from"`
	ValidUntil     time.Time      `json:"valid_until"`
	Status         Status         `json:"status"`
	StatusHistory  []StatusChange `json:"status_history"` // oldest first; the first entry is the creation
	Keys           []Key          `json:"keys"`           // oldest first; the last unretired one signs
	CreatedAt      time.Time      `json:"created_at"`
	CreatedBy      string         `json:"created_by"`
}

// StatusChange is one entry of a seal's status history.
type StatusChange struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	By     string    `json:"by"` // principal id
}

// Key is the public part of one of a seal's key pairs and its certificate.
type Key struct {
	Kid        string    `json:"kid"` // RFC 7638 JWK thumbprint
	Alg        Alg       `json:"alg"`
	Thumbprint string    `json:"x5t#S256"` // base64url SHA-256 of the certificate
	CreatedAt  time.Time `json:"created_at"`
	RetiredAt  time.Time `json:"retired_at,omitzero"`
	// Certificate is the DER certificate issued by the hub CA.
	Certificate []byte `json:"certificate"`
}

// StatusAt returns the seal's status at time t according to history, and
// false when t is before the seal existed.
func StatusAt(history []StatusChange, t time.Time) (Status, bool) {
	var st Status
	ok := false
	for _, h := range history {
		if h.At.After(t) {
			break
		}
		st, ok = h.Status, true
	}
	return st, ok
}

// currentKey returns the key that signs now: the newest unretired one.
func (s *Seal) currentKey() (Key, bool) {
	for i := len(s.Keys) - 1; i >= 0; i-- {
		if s.Keys[i].RetiredAt.IsZero() {
			return s.Keys[i], true
		}
	}
	return Key{}, false
}

// NewSeal is what an administrator supplies to create a seal.
type NewSeal struct {
	OrganisationID string    `json:"organisation_id"` // department id
	Name           string    `json:"name"`            // e.g. 襄阳市数据局合同专用章
	Kind           Kind      `json:"kind"`
	Alg            Alg       `json:"alg"`         // empty means Ed25519
	ValidFrom      time.Time `json:"valid_from"`  // zero means now
	ValidUntil     time.Time `json:"valid_until"` // zero means ValidFrom + DefaultValidity
	// Image is the seal's picture, PNG or SVG (see ValidateImage).
	Image []byte `json:"image"`
}

// DefaultValidity is a new seal's validity window when none is given.
const DefaultValidity = 5 * 365 * 24 * time.Hour

// Limits on text the hub stores and signs.
const (
	MaxSealName     = 100 // characters
	MaxPurpose      = 200 // characters, like a licence's 用证事由
	MaxReason       = 500 // characters
	MaxDocumentName = 255 // characters
	MaxMediaType    = 127 // bytes
)

// validate fills defaults and checks every field but the image, which
// CreateSeal validates separately.
func (n *NewSeal) validate(now time.Time) error {
	n.OrganisationID = strings.TrimSpace(n.OrganisationID)
	n.Name = strings.TrimSpace(n.Name)
	var fe []errs.FieldError
	if n.OrganisationID == "" {
		fe = append(fe, errs.FieldError{Pointer: "/organisation_id", Reason: "required"})
	}
	if r := checkText(n.Name, MaxSealName, true); r != "" {
		fe = append(fe, errs.FieldError{Pointer: "/name", Reason: r})
	}
	if !ValidKind(n.Kind) {
		fe = append(fe, errs.FieldError{Pointer: "/kind", Reason: "one of 公章, 合同专用章, 财务专用章, 发票专用章, 业务专用章, 法定名称章", Value: string(n.Kind)})
	}
	if n.Alg == "" {
		n.Alg = AlgEd25519
	}
	if n.Alg != AlgEd25519 && n.Alg != AlgES256 {
		fe = append(fe, errs.FieldError{Pointer: "/alg", Reason: "Ed25519 or ES256", Value: string(n.Alg)})
	}
	if n.ValidFrom.IsZero() {
		n.ValidFrom = now
	}
	n.ValidFrom = n.ValidFrom.UTC().Truncate(time.Second)
	if n.ValidUntil.IsZero() {
		n.ValidUntil = n.ValidFrom.Add(DefaultValidity)
	}
	n.ValidUntil = n.ValidUntil.UTC().Truncate(time.Second)
	switch {
	case !n.ValidUntil.After(n.ValidFrom):
		fe = append(fe, errs.FieldError{Pointer: "/valid_until", Reason: "must be after valid_from"})
	case !n.ValidUntil.After(now):
		fe = append(fe, errs.FieldError{Pointer: "/valid_until", Reason: "must be in the future"})
	}
	if len(n.Image) == 0 {
		fe = append(fe, errs.FieldError{Pointer: "/image", Reason: "required: a PNG or SVG picture of the seal"})
	}
	if len(fe) > 0 {
		return errs.InvalidFields("seal is not valid", fe...)
	}
	return nil
}

// checkText returns why s is not acceptable as a short single-line text of
// at most max characters, or "".
func checkText(s string, max int, required bool) string {
	if r := checkSignedText(s, max, required); r != "" {
		return r
	}
	if i := strings.IndexFunc(s, isBidiControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Sprintf("must not contain bidirectional formatting characters (U+%04X)", r)
	}
	return ""
}

// checkSignedText is checkText for text inside a statement already
// signed: documents sealed before bidirectional formatting characters
// were refused still verify.
func checkSignedText(s string, max int, required bool) string {
	if s == "" {
		if required {
			return "required"
		}
		return ""
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	if utf8.RuneCountInString(s) > max {
		return "too long: at most " + strconv.Itoa(max) + " characters"
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "must not contain control characters or line breaks"
		}
	}
	return ""
}

// isBidiControl reports the embedding, override and isolate characters
// (U+202A–U+202E, U+2066–U+2069). They reorder how the text after them is
// shown, so a document named "合同\u202Efdp.exe" would read as another
// name in a verifier's report; no seal, document or purpose name needs
// them.
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}
