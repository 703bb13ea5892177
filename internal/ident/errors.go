package ident

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Sentinel errors. Every *Error returned by this package matches exactly one
// of them with errors.Is.
var (
	// ErrLength: the value has the wrong number of characters.
	ErrLength = errors.New("wrong length")
	// ErrCharacter: a character is not allowed at its position.
	ErrCharacter = errors.New("bad character")
	// ErrCheck: the value's own check character is wrong.
	ErrCheck = errors.New("wrong check character")
	// ErrOrgCodeCheck: a credit code whose structure and whole-code check
	// character are right, but whose embedded organisation code (positions
	// 9-17) fails its GB 11714 check. Callers that must accept such codes
	// from a legacy source can test for this error alone: ValidateCreditCode
	// reports it only after every other check has passed.
	ErrOrgCodeCheck = errors.New("wrong organisation code check character")
	// ErrDate: a resident ID number's birth date is impossible, in the future
	// or before 1900.
	ErrDate = errors.New("bad birth date")
	// ErrFormat: a structured value (licence identifier, kind) is malformed
	// in a way not covered by the errors above.
	ErrFormat = errors.New("malformed")
)

// Subjects used in Error.Subject.
const (
	SubjectCreditCode = "unified social credit code"
	SubjectOrgCode    = "organisation code"
	SubjectResidentID = "resident ID number"
	SubjectLicenceID  = "licence identifier"
	SubjectTypeCode   = "licence type code"
)

// Error describes why a value is not a valid identifier.
type Error struct {
	// Subject is what was being validated, one of the Subject constants.
	Subject string
	// Field names the part of a structured value that is wrong ("issuer
	// code", "version"); empty for simple values.
	Field string
	// Err is the sentinel (ErrLength, ...) or, for a part of a structured
	// value, the *Error describing that part.
	Err error
	// Pos is the 1-based position of the offending character, 0 if the
	// problem is not a single character.
	Pos int
	// Want and Got describe the expected and actual content, when useful.
	Want, Got string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Subject)
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	var inner *Error
	if errors.As(e.Err, &inner) {
		b.WriteString(inner.Error())
		return b.String()
	}
	b.WriteString(e.Err.Error())
	if e.Pos > 0 {
		fmt.Fprintf(&b, " at position %d", e.Pos)
	}
	switch {
	case e.Want != "" && e.Got != "":
		fmt.Fprintf(&b, ": want %s, got %s", e.Want, e.Got)
	case e.Want != "":
		fmt.Fprintf(&b, ": want %s", e.Want)
	case e.Got != "":
		fmt.Fprintf(&b, ": got %s", e.Got)
	}
	return b.String()
}

// Unwrap returns an errs.KindInvalid error carrying this error's message
// (first, so errors.As finds the outermost, most complete message) and the
// underlying sentinel or part error.
func (e *Error) Unwrap() []error {
	return []error{&errs.Error{Kind: errs.KindInvalid, Message: e.Error()}, e.Err}
}

func lengthErr(subject string, want, got int) *Error {
	return &Error{Subject: subject, Err: ErrLength,
		Want: fmt.Sprintf("%d characters", want), Got: fmt.Sprintf("%d", got)}
}

func charErr(subject string, pos int, want string, got rune) *Error {
	return &Error{Subject: subject, Err: ErrCharacter, Pos: pos, Want: want, Got: fmt.Sprintf("%q", got)}
}

func checkErr(sentinel error, subject string, pos int, want, got byte) *Error {
	return &Error{Subject: subject, Err: sentinel, Pos: pos, Want: string(want), Got: string(got)}
}

// shapeErr explains why s is not exactly n ASCII characters: a length error
// if it does not have n characters (invalid UTF-8 bytes count as one each),
// otherwise a character error at its first non-ASCII character. Callers use
// it when len(s) != n or when they meet a byte >= 0x80.
func shapeErr(subject, s string, n int, want string) *Error {
	if count := utf8.RuneCountInString(s); count != n {
		return lengthErr(subject, n, count)
	}
	pos := 0
	for _, r := range s {
		pos++
		if r >= utf8.RuneSelf {
			return charErr(subject, pos, want, r)
		}
	}
	return lengthErr(subject, n, len(s)) // not reached for valid callers
}
