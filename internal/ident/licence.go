package ident

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// E-licence identifier (证照标识), GB/T 36901-36905 as implemented by the
// national e-licence system:
//
//	1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>
//
//	type code    21 characters: the credit code of the body that defined the
//	             licence type + a 3-digit sequence (ValidateTypeCode)
//	issuer code  18-character credit code of the issuing authority
//	serial       1-64 digits and capital letters, chosen by the issuer
//	version      3 digits, 001-999
//	check        ISO 7064 MOD 37,36 check character (0-9, A-Z)
//
// The check character is computed over typeCode + issuerCode + serial +
// version, concatenated without the dots and without the root OID
// 1.2.156.3005.2. That is what public implementations hash, and it
// reproduces the check characters of published identifiers such as
// 1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F.
// Letters must be upper case.
const (
	// LicenceRootOID is the e-licence root object identifier.
	LicenceRootOID = "1.2.156.3005.2"
	// TypeCodeLen is the length of a licence type code.
	TypeCodeLen = 21
	// MaxSerialLen is the longest serial this package accepts. The standard
	// leaves the serial to the issuer; 64 covers the 32-character
	// hexadecimal UUIDs some issuers use with room to spare.
	MaxSerialLen = 64
)

// LicenceID is a parsed e-licence identifier.
type LicenceID struct {
	TypeCode   string
	IssuerCode string
	Serial     string
	Version    int
	Check      byte
}

// String returns the identifier in its dotted form. It does not recompute
// the check character.
func (l LicenceID) String() string {
	var b strings.Builder
	b.Grow(len(LicenceRootOID) + len(l.TypeCode) + len(l.IssuerCode) + len(l.Serial) + 10)
	b.WriteString(LicenceRootOID)
	b.WriteByte('.')
	b.WriteString(l.TypeCode)
	b.WriteByte('.')
	b.WriteString(l.IssuerCode)
	b.WriteByte('.')
	b.WriteString(l.Serial)
	b.WriteByte('.')
	b.WriteString(version3(l.Version))
	b.WriteByte('.')
	b.WriteByte(l.Check)
	return b.String()
}

func version3(v int) string {
	s := strconv.Itoa(v)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}

// ValidateTypeCode reports whether s is a valid 21-character licence type
// code (证照类型代码): a valid unified social credit code (that of the body
// that defined the type) followed by 3 digits.
func ValidateTypeCode(s string) error {
	if len(s) != TypeCodeLen || !isASCII(s) {
		return shapeErr(SubjectTypeCode, s, TypeCodeLen, "digits and capital letters")
	}
	if err := ValidateCreditCode(s[:CreditCodeLen]); err != nil {
		return &Error{Subject: SubjectTypeCode, Field: "defining body's credit code (positions 1-18)", Err: err}
	}
	for i := CreditCodeLen; i < TypeCodeLen; i++ {
		if s[i] < '0' || s[i] > '9' {
			return charErr(SubjectTypeCode, i+1, wantDigit, rune(s[i]))
		}
	}
	return nil
}

// NewLicenceID validates the parts and returns the dotted identifier with
// its check character. version must be 1-999.
func NewLicenceID(typeCode, issuerCode, serial string, version int) (string, error) {
	l := LicenceID{TypeCode: typeCode, IssuerCode: issuerCode, Serial: serial, Version: version}
	if err := l.validateParts(); err != nil {
		return "", err
	}
	l.Check = l.checkChar()
	return l.String(), nil
}

// ParseLicenceID parses a dotted e-licence identifier and validates the root
// OID, every part and the check character.
func ParseLicenceID(s string) (LicenceID, error) {
	rest, ok := strings.CutPrefix(s, LicenceRootOID+".")
	if !ok {
		return LicenceID{}, &Error{Subject: SubjectLicenceID, Field: "root", Err: ErrFormat,
			Want: `"` + LicenceRootOID + `." at the start`}
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 5 {
		return LicenceID{}, &Error{Subject: SubjectLicenceID, Err: ErrFormat,
			Want: "5 dot-separated fields after the root", Got: strconv.Itoa(len(parts))}
	}
	l := LicenceID{TypeCode: parts[0], IssuerCode: parts[1], Serial: parts[2]}
	if err := l.validateCodes(); err != nil {
		return LicenceID{}, err
	}
	v, err := parseVersion(parts[3])
	if err != nil {
		return LicenceID{}, err
	}
	l.Version = v
	if c := parts[4]; len(c) != 1 || alnumValue(c[0]) < 0 {
		if utf8.RuneCountInString(c) != 1 {
			return LicenceID{}, &Error{Subject: SubjectLicenceID, Field: "check character", Err: ErrLength,
				Want: "1 character", Got: strconv.Itoa(utf8.RuneCountInString(c))}
		}
		r, _ := utf8.DecodeRuneInString(c)
		return LicenceID{}, &Error{Subject: SubjectLicenceID, Field: "check character", Err: ErrCharacter,
			Want: "one of 0-9 and A-Z", Got: strconv.QuoteRune(r)}
	}
	l.Check = parts[4][0]
	if want := l.checkChar(); want != l.Check {
		return LicenceID{}, &Error{Subject: SubjectLicenceID, Field: "check character", Err: ErrCheck,
			Want: string(want), Got: string(l.Check)}
	}
	return l, nil
}

func parseVersion(s string) (int, error) {
	if !allDigits(s, 3) || s == "000" {
		return 0, &Error{Subject: SubjectLicenceID, Field: "version", Err: ErrFormat, Want: "3 digits from 001 to 999"}
	}
	v, _ := strconv.Atoi(s)
	return v, nil
}

// validateParts checks everything except the check character.
func (l LicenceID) validateParts() error {
	if err := l.validateCodes(); err != nil {
		return err
	}
	if l.Version < 1 || l.Version > 999 {
		return &Error{Subject: SubjectLicenceID, Field: "version", Err: ErrFormat,
			Want: "1 to 999", Got: strconv.Itoa(l.Version)}
	}
	return nil
}

// validateCodes checks the type code, issuer code and serial.
func (l LicenceID) validateCodes() error {
	if err := ValidateTypeCode(l.TypeCode); err != nil {
		return &Error{Subject: SubjectLicenceID, Field: "type code", Err: err}
	}
	if err := ValidateCreditCode(l.IssuerCode); err != nil {
		return &Error{Subject: SubjectLicenceID, Field: "issuer code", Err: err}
	}
	return validateSerial(l.Serial)
}

func validateSerial(s string) error {
	n := utf8.RuneCountInString(s)
	if n < 1 || n > MaxSerialLen {
		return &Error{Subject: SubjectLicenceID, Field: "serial", Err: ErrLength,
			Want: "1 to " + strconv.Itoa(MaxSerialLen) + " characters", Got: strconv.Itoa(n)}
	}
	pos := 0
	for _, r := range s {
		pos++
		if r > 0x7f || alnumValue(byte(r)) < 0 {
			return &Error{Subject: SubjectLicenceID, Field: "serial", Err: ErrCharacter, Pos: pos,
				Want: "one of 0-9 and A-Z", Got: strconv.QuoteRune(r)}
		}
	}
	return nil
}

// checkChar computes the check character of parts already validated.
func (l LicenceID) checkChar() byte {
	c, err := Mod3736CheckChar(l.TypeCode + l.IssuerCode + l.Serial + version3(l.Version))
	if err != nil {
		panic("ident: check character of validated licence parts: " + err.Error())
	}
	return c
}
