package ident

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkError asserts what every validation error promises: an *Error that
// matches exactly one sentinel.
func checkError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	n := 0
	for _, s := range []error{ErrLength, ErrCharacter, ErrCheck, ErrOrgCodeCheck, ErrDate, ErrFormat} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v matches %d sentinels", err, n)
	}
	_ = err.Error()
}

func FuzzValidateCreditCode(f *testing.F) {
	for _, s := range []string{"91350100M000100Y43", "11100000000013338W", "91350100M000100Y56", "", "９1350100M000100Y43", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateCreditCode(s)
		checkError(t, err)
		if err == nil {
			c, cerr := CreditCodeCheckChar(s[:17])
			if cerr != nil || c != s[17] {
				t.Fatalf("valid %q but CreditCodeCheckChar = %q, %v", s, c, cerr)
			}
			if err := ValidateOrgCode(s[8:17]); err != nil {
				t.Fatalf("valid %q but embedded organisation code: %v", s, err)
			}
			if n, err := NormalizeCreditCode(" " + strings.ToLower(s) + " "); err != nil || n != s {
				t.Fatalf("NormalizeCreditCode(lower %q) = %q, %v", s, n, err)
			}
		}
		if n, err := NormalizeCreditCode(s); err == nil && ValidateCreditCode(n) != nil {
			t.Fatalf("NormalizeCreditCode(%q) = %q which does not validate", s, n)
		}
		_, err = CreditCodeCheckChar(s)
		checkError(t, err)
	})
}

func FuzzValidateOrgCode(f *testing.F) {
	for _, s := range []string{"M000100Y4", "M000100Y-4", "59498494X", "", "M000100Y４"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkError(t, ValidateOrgCode(s))
		_, err := OrgCodeCheckChar(s)
		checkError(t, err)
	})
}

func FuzzNewCreditCode(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint32(420600), uint64(0))
	f.Add(uint8(30), uint8(9), uint32(999999), uint64(1<<64-1))
	f.Fuzz(func(t *testing.T, a, o uint8, div uint32, seq uint64) {
		authority := CreditCodeAlphabet[int(a)%len(CreditCodeAlphabet)]
		orgType := CreditCodeAlphabet[int(o)%len(CreditCodeAlphabet)]
		division := strings.Repeat("0", 6)
		d := []byte(division)
		for i, v := 5, div%1000000; i >= 0; i, v = i-1, v/10 {
			d[i] = byte('0' + v%10)
		}
		c := NewCreditCode(authority, orgType, string(d), seq)
		if err := ValidateCreditCode(c); err != nil {
			t.Fatalf("NewCreditCode = %q: %v", c, err)
		}
	})
}

func FuzzValidateResidentID(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "11010519491231002x", "110105194902300020", "110105299912310020", "", "１1010519491231002X"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateResidentID(s)
		checkError(t, err)
		p, perr := ParseResidentID(s)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Validate and Parse disagree on %q: %v, %v", s, err, perr)
		}
		if err == nil {
			if p.Number != strings.ToUpper(s) || p.Birth.Year() < 1900 {
				t.Fatalf("ParseResidentID(%q) = %+v", s, p)
			}
			if m := MaskResidentID(s); len(m) != len(s) || m[:6] != s[:6] || m[14:] != s[14:] {
				t.Fatalf("MaskResidentID(%q) = %q", s, m)
			}
		}
		if n, err := NormalizeResidentID(s); err == nil && ValidateResidentID(n) != nil {
			t.Fatalf("NormalizeResidentID(%q) = %q which does not validate", s, n)
		}
	})
}

func FuzzNewResidentID(f *testing.F) {
	f.Add(uint32(420602), int64(0), 0, false)
	f.Add(uint32(110105), int64(-2000000000), -7, true)
	f.Fuzz(func(t *testing.T, div uint32, unix int64, seq int, female bool) {
		d := []byte("000000")
		for i, v := 5, div%1000000; i >= 0; i, v = i-1, v/10 {
			d[i] = byte('0' + v%10)
		}
		// Map unix into 1900-01-01 .. today.
		lo := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		span := todayInChina().Unix() - lo + 1
		birth := time.Unix(lo+((unix%span)+span)%span, 0).UTC()
		s := NewResidentID(string(d), birth, seq, female)
		p, err := ParseResidentID(s)
		if err != nil {
			t.Fatalf("NewResidentID(%s, %v, %d, %v) = %q: %v", d, birth, seq, female, s, err)
		}
		if p.Female != female {
			t.Fatalf("%q: female %v, want %v", s, p.Female, female)
		}
	})
}

func FuzzParseLicenceID(f *testing.F) {
	for _, s := range publishedLicenceIDs {
		f.Add(s)
	}
	f.Add("1.2.156.3005.2.....")
	f.Add("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.000.F")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLicenceID(s)
		checkError(t, err)
		if err == nil {
			if l.String() != s {
				t.Fatalf("ParseLicenceID(%q).String() = %q", s, l.String())
			}
			again, err := NewLicenceID(l.TypeCode, l.IssuerCode, l.Serial, l.Version)
			if err != nil || again != s {
				t.Fatalf("NewLicenceID(parts of %q) = %q, %v", s, again, err)
			}
		}
		checkError(t, ValidateTypeCode(s))
		_, err = Mod3736CheckChar(s)
		checkError(t, err)
	})
}

func FuzzMask(f *testing.F) {
	f.Add("resident_id", "420602199001011234")
	f.Add("credit_code", "91350100M000100Y43")
	f.Add("other", "张三\xff")
	f.Fuzz(func(t *testing.T, kind, s string) {
		m := Mask(Kind(kind), s)
		if utf8.RuneCountInString(m) != utf8.RuneCountInString(s) {
			t.Fatalf("Mask(%q, %q) = %q changes the length", kind, s, m)
		}
		if n := utf8.RuneCountInString(s); n > 0 && strings.Count(m, "*") < (n+1)/2 && n < 8 {
			t.Fatalf("Mask(%q, %q) = %q shows too much", kind, s, m)
		}
	})
}
