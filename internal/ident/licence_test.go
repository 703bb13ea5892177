package ident

import (
	"errors"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Identifiers published by e-licence systems; their check characters were
// computed by those systems, not by this package.
var publishedLicenceIDs = []string{
	"1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F", // REFERENCE.md
	"1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
	"1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
}

func TestMod3736CheckChar(t *testing.T) {
	for in, want := range map[string]byte{
		"A12425GABC1234002": 'M', // example of ISO 7064 MOD 37,36
		"11100000000013338W03211220000013544541J2430599001":    'F',
		"11100000000013338W00911330105002500287C2025052201002": '0',
		"0": '2', // by hand: P = 2*36 mod 37 = 35, (35+2) mod 36 = 1
	} {
		got, err := Mod3736CheckChar(in)
		if err != nil || got != want {
			t.Errorf("Mod3736CheckChar(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "A-1", "A１"} {
		if _, err := Mod3736CheckChar(in); err == nil {
			t.Errorf("Mod3736CheckChar(%q) succeeded", in)
		}
	}
	// Every single-character substitution and adjacent transposition of a
	// 20-character input changes the check character.
	base := "11100000000013338W03"
	c0, _ := Mod3736CheckChar(base)
	for i := range len(base) {
		for j := 0; j < len(Mod3736Alphabet); j++ {
			if Mod3736Alphabet[j] == base[i] {
				continue
			}
			s := base[:i] + string(Mod3736Alphabet[j]) + base[i+1:]
			if c, _ := Mod3736CheckChar(s); c == c0 {
				t.Fatalf("substitution %q not detected", s)
			}
		}
		if i+1 < len(base) && base[i] != base[i+1] {
			s := base[:i] + string(base[i+1]) + string(base[i]) + base[i+2:]
			if c, _ := Mod3736CheckChar(s); c == c0 {
				t.Fatalf("transposition %q not detected", s)
			}
		}
	}
}

func TestParseLicenceIDPublished(t *testing.T) {
	for _, s := range publishedLicenceIDs {
		l, err := ParseLicenceID(s)
		if err != nil {
			t.Errorf("ParseLicenceID(%q) = %v", s, err)
			continue
		}
		if l.String() != s {
			t.Errorf("round trip %q -> %q", s, l.String())
		}
	}
	l, _ := ParseLicenceID(publishedLicenceIDs[0])
	want := LicenceID{TypeCode: "11100000000013338W032", IssuerCode: "11220000013544541J", Serial: "2430599", Version: 1, Check: 'F'}
	if l != want {
		t.Errorf("ParseLicenceID = %+v, want %+v", l, want)
	}
}

func TestNewLicenceID(t *testing.T) {
	got, err := NewLicenceID("11100000000013338W032", "11220000013544541J", "2430599", 1)
	if err != nil || got != publishedLicenceIDs[0] {
		t.Fatalf("NewLicenceID = %q, %v", got, err)
	}
	issuer := NewCreditCode('1', '1', "420600", 7)
	for _, serial := range []string{"1", "2024000001", "209FA4E88F9E4C878F3E9BED2CE7EA49", strings.Repeat("Z", MaxSerialLen)} {
		for _, v := range []int{1, 2, 10, 999} {
			s, err := NewLicenceID("11100000000013338W001", issuer, serial, v)
			if err != nil {
				t.Fatalf("NewLicenceID(%q, %d): %v", serial, v, err)
			}
			l, err := ParseLicenceID(s)
			if err != nil || l.Serial != serial || l.Version != v || l.IssuerCode != issuer {
				t.Fatalf("ParseLicenceID(%q) = %+v, %v", s, l, err)
			}
		}
	}
	for _, tc := range []struct {
		typeCode, issuer, serial string
		version                  int
		field                    string
		want                     error
	}{
		{"11100000000013338W03", "11220000013544541J", "1", 1, "type code", ErrLength},
		{"11100000000013338X032", "11220000013544541J", "1", 1, "type code", ErrCheck},
		{"11100000000013338W03A", "11220000013544541J", "1", 1, "type code", ErrCharacter},
		{"11100000000013338W032", "11220000013544541K", "1", 1, "issuer code", ErrCheck},
		{"11100000000013338W032", "11220000013544541J", "", 1, "serial", ErrLength},
		{"11100000000013338W032", "11220000013544541J", strings.Repeat("1", MaxSerialLen+1), 1, "serial", ErrLength},
		{"11100000000013338W032", "11220000013544541J", "abc", 1, "serial", ErrCharacter},
		{"11100000000013338W032", "11220000013544541J", "A.B", 1, "serial", ErrCharacter},
		{"11100000000013338W032", "11220000013544541J", "1", 0, "version", ErrFormat},
		{"11100000000013338W032", "11220000013544541J", "1", 1000, "version", ErrFormat},
	} {
		_, err := NewLicenceID(tc.typeCode, tc.issuer, tc.serial, tc.version)
		var e *Error
		if !errors.Is(err, tc.want) || !errors.As(err, &e) || e.Field != tc.field {
			t.Errorf("NewLicenceID(%q, %q, %q, %d) = %v, want %v in %s", tc.typeCode, tc.issuer, tc.serial, tc.version, err, tc.want, tc.field)
		}
	}
}

func TestParseLicenceIDInvalid(t *testing.T) {
	const ok = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
	for _, tc := range []struct {
		name, in string
		want     error
		message  string
	}{
		{"empty", "", ErrFormat, `licence identifier: root: malformed: want "1.2.156.3005.2." at the start`},
		{"other root", strings.Replace(ok, "3005", "3006", 1), ErrFormat, ""},
		{"no root", ok[len("1.2.156.3005.2."):], ErrFormat, ""},
		{"missing check", ok[:len(ok)-2], ErrFormat, "licence identifier: malformed: want 5 dot-separated fields after the root, got 4"},
		{"extra field", ok + ".F", ErrFormat, ""},
		{"empty serial", strings.Replace(ok, "2430599", "", 1), ErrLength, ""},
		{"short type code", strings.Replace(ok, "W032", "W32", 1), ErrLength, ""},
		{"type code check", strings.Replace(ok, "13338W", "13338X", 1), ErrCheck, ""},
		{"issuer check", strings.Replace(ok, "41J", "41K", 1), ErrCheck,
			"licence identifier: issuer code: unified social credit code: wrong check character at position 18: want J, got K"},
		{"lower-case serial", strings.Replace(ok, "2430599", "243059a", 1), ErrCharacter,
			`licence identifier: serial: bad character at position 7: want one of 0-9 and A-Z, got 'a'`},
		{"version 2 digits", strings.Replace(ok, ".001.", ".01.", 1), ErrFormat, ""},
		{"version 4 digits", strings.Replace(ok, ".001.", ".0001.", 1), ErrFormat, ""},
		{"version 000", strings.Replace(ok, ".001.", ".000.", 1), ErrFormat, ""},
		{"version letter", strings.Replace(ok, ".001.", ".00A.", 1), ErrFormat, ""},
		{"wrong check", ok[:len(ok)-1] + "G", ErrCheck, "licence identifier: check character: wrong check character: want F, got G"},
		{"check lower case", ok[:len(ok)-1] + "f", ErrCharacter, ""},
		{"check two chars", ok + "F", ErrLength, ""},
		{"check empty", ok[:len(ok)-1], ErrLength, ""},
		{"check non-ASCII", ok[:len(ok)-1] + "Ｆ", ErrCharacter, ""},
		{"serial changed", strings.Replace(ok, "2430599", "2430598", 1), ErrCheck, ""},
		{"version changed", strings.Replace(ok, ".001.", ".002.", 1), ErrCheck, ""},
	} {
		_, err := ParseLicenceID(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseLicenceID(%q) = %v, want %v", tc.name, tc.in, err, tc.want)
			continue
		}
		if tc.message != "" && err.Error() != tc.message {
			t.Errorf("%s: message\n got %s\nwant %s", tc.name, err, tc.message)
		}
		var e *errs.Error
		if !errors.As(err, &e) || e.Kind != errs.KindInvalid || e.Message != err.Error() {
			t.Errorf("%s: errs.Error = %+v, want KindInvalid with the full message", tc.name, e)
		}
	}
}

func TestValidateTypeCode(t *testing.T) {
	for _, s := range []string{"11100000000013338W032", "11100000000013661B006", "11420600000000000X999"} {
		if err := ValidateTypeCode(s); err != nil {
			t.Errorf("ValidateTypeCode(%q) = %v", s, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrLength},
		{"11100000000013338W", ErrLength},
		{"11100000000013338W0320", ErrLength},
		{"11100000000013338W03X", ErrCharacter},
		{"11100000000013338W03２", ErrCharacter},
		{"11100000000013338Y032", ErrCheck},
		{"91350100M000100Y56001", ErrOrgCodeCheck},
	} {
		if err := ValidateTypeCode(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("ValidateTypeCode(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
	err := ValidateTypeCode("11100000000013338Y032")
	const msg = "licence type code: defining body's credit code (positions 1-18): unified social credit code: wrong check character at position 18: want W, got Y"
	if err.Error() != msg {
		t.Errorf("message\n got %s\nwant %s", err, msg)
	}
}
