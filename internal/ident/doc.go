// Package ident validates, generates and masks the identifiers the hub
// handles:
//
//   - 统一社会信用代码, the 18-character unified social credit code of
//     GB 32100-2015, including the GB 11714 organisation code (组织机构代码)
//     embedded at positions 9-17;
//   - 居民身份证号, the 18-digit resident identity number of GB 11643;
//   - 证照标识, the e-licence identifier of GB/T 36901-36905, whose last
//     character is an ISO 7064 MOD 37,36 check character.
//
// Validation is strict: nothing is trimmed or case-folded, except that
// ValidateResidentID accepts a lower-case check character x. The Normalize
// functions turn user input (surrounding spaces, full-width characters,
// lower case) into the canonical form and then validate it.
//
// Every validation failure is an *Error. It matches one of the sentinel
// errors (ErrLength, ErrCharacter, ErrCheck, ErrOrgCodeCheck, ErrDate,
// ErrFormat) with errors.Is, and it is an errs.KindInvalid error for the
// api layer. Messages give positions and characters but never the whole
// value, so they can be logged without leaking personal data.
//
// Positions in messages and in Error.Pos are 1-based character positions,
// as in the standards.
package ident
