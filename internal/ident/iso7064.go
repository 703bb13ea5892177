package ident

import "unicode/utf8"

// Mod3736Alphabet is the character set of ISO 7064 MOD 37,36: digits then
// capital letters, a character's value being its index.
const Mod3736Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// alnumValue is the value of a digit (0-9) or capital letter (A=10 ... Z=35)
// as used by GB 11714 and ISO 7064 MOD 37,36, or -1.
func alnumValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

// mod3736 runs the ISO 7064 hybrid system with M = 36 over s and returns
// the final P (1..36), or the 0-based index of the first character outside
// Mod3736Alphabet.
//
// The hybrid system: P = M; for each character, S = (P + value) mod M, with
// S = M when that is 0, then P = 2S mod (M+1).
func mod3736(s string) (p int, bad int) {
	p = 36
	for i := 0; i < len(s); i++ {
		v := alnumValue(s[i])
		if v < 0 {
			return 0, i
		}
		sum := (p + v) % 36
		if sum == 0 {
			sum = 36
		}
		p = sum * 2 % 37
	}
	return p, -1
}

// Mod3736CheckChar returns the ISO 7064 MOD 37,36 check character for s,
// which must be non-empty and consist of digits and capital letters. The
// check character c is the one for which (P + value(c)) mod 36 = 1.
func Mod3736CheckChar(s string) (byte, error) {
	if s == "" {
		return 0, &Error{Subject: "ISO 7064 MOD 37,36 input", Err: ErrLength, Want: "at least 1 character", Got: "0"}
	}
	p, bad := mod3736(s)
	if bad >= 0 {
		r, _ := utf8.DecodeRuneInString(s[bad:])
		return 0, charErr("ISO 7064 MOD 37,36 input", utf8.RuneCountInString(s[:bad])+1, "one of 0-9 and A-Z", r)
	}
	return Mod3736Alphabet[(37-p)%36], nil
}
