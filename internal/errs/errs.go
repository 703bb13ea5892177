// Package errs is the hub's one error vocabulary. Domain packages return
// these kinds; the api package maps each kind to an HTTP status in exactly
// one place. Anything that is not an *Error is treated as internal.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error for callers. The set is deliberately small.
type Kind string

const (
	KindNotFound        Kind = "not_found"
	KindInvalid         Kind = "invalid"
	KindConflict        Kind = "conflict"
	KindUnauthenticated Kind = "unauthenticated"
	KindForbidden       Kind = "forbidden"
	KindTooLarge        Kind = "too_large"
	KindMethod          Kind = "method_not_allowed" // the path exists; the method does not
	KindRateLimited     Kind = "rate_limited"
	KindUnavailable     Kind = "unavailable"
	KindInternal        Kind = "internal"
)

// FieldError says which input was wrong and why. Pointer is a JSON pointer
// ("/grants/0/purpose"), a query parameter ("?limit") or a spreadsheet cell
// ("Sheet1!C7"): whatever lets the caller find the spot.
type FieldError struct {
	Pointer string `json:"pointer"`
	Reason  string `json:"reason"`
	Value   string `json:"value,omitempty"`
}

// Error is a classified error with a message safe to show to the caller.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	// Err is the underlying cause. It is logged but never shown to callers.
	Err error
}

func (e *Error) Error() string {
	msg := e.Message
	for i, f := range e.Fields {
		sep := "; "
		if i == 0 {
			sep = " ("
		}
		if f.Pointer != "" { // "" is the whole input
			sep += f.Pointer + ": "
		}
		msg += sep + f.Reason
		if i == len(e.Fields)-1 {
			msg += ")"
		}
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

func newf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing resource.
func NotFound(format string, args ...any) *Error { return newf(KindNotFound, format, args...) }

// Invalid reports bad input.
func Invalid(format string, args ...any) *Error { return newf(KindInvalid, format, args...) }

// Conflict reports a request that clashes with the current state.
func Conflict(format string, args ...any) *Error { return newf(KindConflict, format, args...) }

// Unauthenticated reports a missing, wrong, expired or revoked credential.
func Unauthenticated(format string, args ...any) *Error {
	return newf(KindUnauthenticated, format, args...)
}

// Forbidden reports a known caller that may not do this.
func Forbidden(format string, args ...any) *Error { return newf(KindForbidden, format, args...) }

// TooLarge reports input over a configured size limit.
func TooLarge(format string, args ...any) *Error { return newf(KindTooLarge, format, args...) }

// RateLimited reports a caller over its rate or quota.
func RateLimited(format string, args ...any) *Error { return newf(KindRateLimited, format, args...) }

// Unavailable reports a dependency (database, blob store, audit log) that is down.
func Unavailable(cause error, format string, args ...any) *Error {
	e := newf(KindUnavailable, format, args...)
	e.Err = cause
	return e
}

// Internal wraps an unexpected failure; its cause is logged, not shown.
func Internal(cause error, format string, args ...any) *Error {
	e := newf(KindInternal, format, args...)
	e.Err = cause
	return e
}

// InvalidFields reports bad input at one or more places.
func InvalidFields(msg string, fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Message: msg, Fields: fields}
}

// Under puts the field pointers of an invalid-input error under prefix:
// where the caller's request carried the input they point into (a sealed
// document checked on its own, found at /existing of a request). Other
// errors are returned as they are.
func Under(prefix string, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Kind == KindInvalid {
		for i := range e.Fields {
			e.Fields[i].Pointer = prefix + e.Fields[i].Pointer
		}
	}
	return err
}

// KindOf returns the kind of err, KindInternal for unclassified errors.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
