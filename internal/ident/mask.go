package ident

import (
	"strings"
	"unicode/utf8"
)

// Kind names a kind of identifier for Mask and Validate.
type Kind string

// Kinds of identifier.
const (
	KindResidentID Kind = "resident_id" // 居民身份证号
	KindCreditCode Kind = "credit_code" // 统一社会信用代码
)

// KindForHolderCodeType maps an e-licence 持证主体代码类型 to a Kind: "111"
// (居民身份证号) and "001" (统一社会信用代码). Other types give "" and false.
func KindForHolderCodeType(t string) (Kind, bool) {
	switch t {
	case "111":
		return KindResidentID, true
	case "001":
		return KindCreditCode, true
	}
	return "", false
}

// Validate validates value as an identifier of the given kind. An unknown
// kind is an ErrFormat error.
func Validate(kind Kind, value string) error {
	switch kind {
	case KindResidentID:
		return ValidateResidentID(value)
	case KindCreditCode:
		return ValidateCreditCode(value)
	}
	return &Error{Subject: "identifier kind", Err: ErrFormat, Want: "resident_id or credit_code"}
}

// Mask hides most of value for display and logs, replacing each hidden
// character with '*' so the length stays visible:
//
//   - KindResidentID: MaskResidentID;
//   - KindCreditCode: MaskCreditCode;
//   - any other kind: the last 4 characters stay if the value has at least
//     8, otherwise everything is hidden.
//
// Values too short for their rule are hidden completely, so a truncated
// value never shows more than its rule allows. Mask does not validate.
func Mask(kind Kind, value string) string {
	switch kind {
	case KindResidentID:
		return MaskResidentID(value)
	case KindCreditCode:
		return MaskCreditCode(value)
	}
	return mask(value, 0, 4, 4)
}

// MaskResidentID keeps the first 6 characters (the division code) and the
// last 4 (order code and check character) of a resident identity number and
// hides the birth date: 420602********1234. A value of fewer than 15
// characters is hidden completely.
func MaskResidentID(s string) string { return mask(s, 6, 4, 5) }

// MaskCreditCode keeps the first 2 characters (registration authority and
// organisation type, which say what sort of body it is) and the last 4 of a
// unified social credit code: 91************0Y43. The division and most of
// the organisation code, which identify the body, are hidden. Credit codes
// of organisations are public, but those of sole traders (个体工商户) are
// close to personal data. A value of fewer than 14 characters is hidden
// completely.
func MaskCreditCode(s string) string { return mask(s, 2, 4, 8) }

// mask keeps head and tail runes of s if at least minHidden runes remain
// hidden between them; otherwise it hides every rune.
func mask(s string, head, tail, minHidden int) string {
	n := utf8.RuneCountInString(s)
	if n-head-tail < minHidden {
		head, tail = 0, 0
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for _, r := range s {
		if i < head || i >= n-tail {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}
