package ident

import (
	"errors"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

func TestValidateCreditCodeValid(t *testing.T) {
	for _, s := range []string{
		"91350100M000100Y43", // well-known example (企业, 福州)
		"11100000000013338W", // 国务院办公厅, defines national licence types
		"11220000013544541J", // issuer in the REFERENCE.md licence example
		"11430000006122244L",
		"11330105002500287C",
		"12440600MB2C07549J", // 事业单位, letters in the organisation code
		"9135021359498494XQ", // organisation code check character X
		"11420600000000000X", // organisation code check 11 -> '0'
		"114206000000000B09", // whole-code check 31 -> '0'
	} {
		if err := ValidateCreditCode(s); err != nil {
			t.Errorf("ValidateCreditCode(%q) = %v, want nil", s, err)
		}
	}
}

func TestValidateCreditCodeInvalid(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    error
		pos     int
		message string
	}{
		{"", ErrLength, 0, "unified social credit code: wrong length: want 18 characters, got 0"},
		{"91350100M000100Y4", ErrLength, 0, "unified social credit code: wrong length: want 18 characters, got 17"},
		{"91350100M000100Y433", ErrLength, 0, ""},
		{"91350100M000100Y43 ", ErrLength, 0, ""},
		{"９1350100M000100Y43", ErrCharacter, 1, `unified social credit code: bad character at position 1: want one of 0-9 and A-Z except I, O, S, V, Z, got '９'`},
		{"91350100M000100Y4３", ErrCharacter, 18, ""},
		{"91350100m000100Y43", ErrCharacter, 9, `unified social credit code: bad character at position 9: want one of 0-9 and A-Z except I, O, S, V, Z, got 'm'`},
		{"91350100MI00100Y43", ErrCharacter, 10, ""}, // I is not in the alphabet
		{"91350100M000100O43", ErrCharacter, 16, ""}, // nor is O
		{"S1350100M000100Y43", ErrCharacter, 1, ""},
		{"913A0100M000100Y43", ErrCharacter, 4, `unified social credit code: bad character at position 4: want a digit, got 'A'`},
		{"9135010-M000100Y43", ErrCharacter, 8, ""},
		{"91350100M000100Y4Z", ErrCharacter, 18, ""},
		{"91350100M000100Y44", ErrCheck, 18, "unified social credit code: wrong check character at position 18: want 3, got 4"},
		{"91350100M000100Y34", ErrCheck, 18, ""}, // transposed
		{"11100000000013338X", ErrCheck, 18, ""},
		// Whole-code check right, organisation code check wrong.
		{"91350100M000100Y56", ErrOrgCodeCheck, 17, "unified social credit code: wrong organisation code check character at position 17: want 4, got 5"},
	} {
		err := ValidateCreditCode(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ValidateCreditCode(%q) = %v, want %v", tc.in, err, tc.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Pos != tc.pos {
			t.Errorf("ValidateCreditCode(%q): position %d, want %d", tc.in, e.Pos, tc.pos)
		}
		if tc.message != "" && err.Error() != tc.message {
			t.Errorf("ValidateCreditCode(%q) message\n got %s\nwant %s", tc.in, err, tc.message)
		}
		if errs.KindOf(err) != errs.KindInvalid {
			t.Errorf("ValidateCreditCode(%q): kind %s, want invalid", tc.in, errs.KindOf(err))
		}
	}
}

func TestErrorIsInvalidForAPI(t *testing.T) {
	err := ValidateCreditCode("91350100M000100Y44")
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatal("not an *errs.Error")
	}
	if e.Kind != errs.KindInvalid || e.Message != err.Error() {
		t.Errorf("errs.Error = %+v", e)
	}
	// The message must not carry the whole value (personal data in logs).
	if strings.Contains(e.Message, "91350100M000100Y44") {
		t.Errorf("message leaks the value: %s", e.Message)
	}
}

func TestCreditCodeCheckChar(t *testing.T) {
	for in, want := range map[string]byte{
		"91350100M000100Y4": '3',
		"11100000000013338": 'W',
		"9135021359498494X": 'Q',
		"114206000000000B0": '9',
	} {
		got, err := CreditCodeCheckChar(in)
		if err != nil || got != want {
			t.Errorf("CreditCodeCheckChar(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "91350100M000100Y", "91350100M000100Y43", "91350100M00010OY4", "91350100M000100Y世"} {
		if _, err := CreditCodeCheckChar(in); err == nil {
			t.Errorf("CreditCodeCheckChar(%q) succeeded", in)
		}
	}
}

func TestNormalizeCreditCode(t *testing.T) {
	for _, in := range []string{
		"91350100M000100Y43",
		" 91350100m000100y43\t",
		"\u3000９１３５０１００Ｍ０００１００Ｙ４３\u3000", // full-width, ideographic spaces
	} {
		got, err := NormalizeCreditCode(in)
		if err != nil || got != "91350100M000100Y43" {
			t.Errorf("NormalizeCreditCode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := NormalizeCreditCode("91350100M000100Y44"); !errors.Is(err, ErrCheck) {
		t.Errorf("NormalizeCreditCode(wrong check) = %v", err)
	}
}

func TestNewCreditCode(t *testing.T) {
	seen := map[string]uint64{}
	divisions := []string{"420600", "420602", "420684", "110105", "000000", "999999"}
	for _, d := range divisions {
		for seq := uint64(0); seq < 2000; seq++ {
			c := NewCreditCode('1', '1', d, seq)
			if err := ValidateCreditCode(c); err != nil {
				t.Fatalf("NewCreditCode('1','1',%q,%d) = %q: %v", d, seq, c, err)
			}
			if !strings.HasPrefix(c, "11"+d) {
				t.Fatalf("NewCreditCode prefix: %q", c)
			}
			if prev, dup := seen[c]; dup {
				t.Fatalf("NewCreditCode(%d) = NewCreditCode(%d) = %q", seq, prev, c)
			}
			seen[c] = seq
		}
	}
	// Large, boundary and every authority/type character.
	for _, seq := range []uint64{1<<64 - 1, 852891037440, 852891037441, 123456789012} {
		for i := 0; i < len(CreditCodeAlphabet); i++ {
			c := NewCreditCode(CreditCodeAlphabet[i], CreditCodeAlphabet[30-i], "420600", seq)
			if err := ValidateCreditCode(c); err != nil {
				t.Fatalf("NewCreditCode(seq %d) = %q: %v", seq, c, err)
			}
		}
	}
	if a, b := NewCreditCode('9', '1', "420600", 42), NewCreditCode('9', '1', "420600", 42); a != b {
		t.Errorf("not deterministic: %q %q", a, b)
	}
	if got := NewCreditCode('1', '1', "420600", 0); got != "11420600000000000X" {
		t.Errorf("NewCreditCode(0) = %q", got)
	}
}

func TestNewCreditCodePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"authority I":     func() { NewCreditCode('I', '1', "420600", 1) },
		"org type lower":  func() { NewCreditCode('1', 'a', "420600", 1) },
		"short division":  func() { NewCreditCode('1', '1', "42060", 1) },
		"letter division": func() { NewCreditCode('1', '1', "42060A", 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestOrgCode(t *testing.T) {
	for in, want := range map[string]byte{"M000100Y": '4', "59498494": 'X', "00000000": '0', "MA5CJQ4N": '5', "00001333": '8'} {
		got, err := OrgCodeCheckChar(in)
		if err != nil || got != want {
			t.Errorf("OrgCodeCheckChar(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, s := range []string{"M000100Y4", "M000100Y-4", "59498494X", "000000000", "MA5CJQ4N5"} {
		if err := ValidateOrgCode(s); err != nil {
			t.Errorf("ValidateOrgCode(%q) = %v", s, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrLength},
		{"M000100Y", ErrLength},
		{"M000100Y--4", ErrLength},
		{"M000100Y5", ErrCheck},
		{"M000100Y-5", ErrCheck},
		{"m000100Y4", ErrCharacter},
		{"M000100YA", ErrCharacter},
		{"M000100Y４", ErrCharacter},
	} {
		if err := ValidateOrgCode(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("ValidateOrgCode(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}
