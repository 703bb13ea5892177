package ident

import (
	"strings"
	"unicode/utf8"
)

// normalize trims surrounding white space (including the ideographic space
// U+3000), turns full-width ASCII forms (U+FF01-U+FF5E, common in text
// typed with a Chinese input method) into ASCII and ASCII letters into upper
// case. Other characters are kept, so validation still reports them.
func normalize(s string) string {
	s = strings.TrimSpace(s)
	if isASCII(s) && !hasLower(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func hasLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'a' && s[i] <= 'z' {
			return true
		}
	}
	return false
}
