package ident

import (
	"errors"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// withCheck appends the check character to 17 digits.
func withCheck(t testing.TB, first17 string) string {
	t.Helper()
	c, err := ResidentIDCheckChar(first17)
	if err != nil {
		t.Fatalf("ResidentIDCheckChar(%q): %v", first17, err)
	}
	return first17 + string(c)
}

func todayInChina() time.Time {
	n := time.Now().In(chinaTime)
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
}

func TestValidateResidentIDValid(t *testing.T) {
	for _, s := range []string{
		"11010519491231002X",                              // textbook example of GB 11643
		"11010519491231002x",                              // lower-case x accepted
		"420602200002290161",                              // 29 February of a leap year
		"420602190001010010",                              // earliest accepted date
		NewResidentID("420606", todayInChina(), 3, false), // born today
	} {
		if err := ValidateResidentID(s); err != nil {
			t.Errorf("ValidateResidentID(%q) = %v", s, err)
		}
	}
}

func TestValidateResidentIDInvalid(t *testing.T) {
	tomorrow := todayInChina().AddDate(0, 0, 1)
	for _, tc := range []struct {
		name    string
		in      string
		want    error
		pos     int
		message string
	}{
		{"empty", "", ErrLength, 0, "resident ID number: wrong length: want 18 characters, got 0"},
		{"17 digits", "11010519491231002", ErrLength, 0, ""},
		{"19 characters", "11010519491231002X0", ErrLength, 0, ""},
		{"old 15-digit number", "110105491231002", ErrLength, 0, ""},
		{"letter inside", "1101A519491231002X", ErrCharacter, 5, "resident ID number: bad character at position 5: want a digit, got 'A'"},
		{"X not last", "X1010519491231002X", ErrCharacter, 1, ""},
		{"bad check character", "11010519491231002Y", ErrCharacter, 18, "resident ID number: bad character at position 18: want a digit or X, got 'Y'"},
		{"full-width digit", "１1010519491231002X", ErrCharacter, 1, ""},
		{"space", "110105 9491231002X", ErrCharacter, 7, ""},
		{"wrong check", "110105194912310021", ErrCheck, 18, "resident ID number: wrong check character at position 18: want X, got 1"},
		{"wrong check lower x", "11010519491231003x", ErrCheck, 18, "resident ID number: wrong check character at position 18: want 8, got X"},
		{"transposed digits", "11010519491213002X", ErrCheck, 18, ""},
		{"30 February", "110105194902300020", ErrDate, 7, "resident ID number: bad birth date at position 7: want a real calendar date YYYYMMDD"},
		{"month 13", "110105194913310021", ErrDate, 7, ""},
		{"day 00", "110105194912000021", ErrDate, 7, ""},
		{"month 00", withCheck(t, "11010519490015002"), ErrDate, 7, ""},
		{"31 April", withCheck(t, "11010519490431002"), ErrDate, 7, ""},
		{"29 February 1900", "110105190002290025", ErrDate, 7, ""},
		{"29 February 2023", withCheck(t, "42060220230229002"), ErrDate, 7, ""},
		{"before 1900", "110105189912310023", ErrDate, 7, "resident ID number: bad birth date at position 7: want a year from 1900 on"},
		{"year 0000", withCheck(t, "11010500000101002"), ErrDate, 7, ""},
		{"far future", "110105299912310020", ErrDate, 7, "resident ID number: bad birth date at position 7: want a date not after today, got a date in the future"},
		{"tomorrow", NewResidentID("420602", tomorrow, 1, true), ErrDate, 7, ""},
	} {
		err := ValidateResidentID(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ValidateResidentID(%q) = %v, want %v", tc.name, tc.in, err, tc.want)
			continue
		}
		var e *Error
		if errors.As(err, &e); e.Pos != tc.pos {
			t.Errorf("%s: position %d, want %d", tc.name, e.Pos, tc.pos)
		}
		if tc.message != "" && err.Error() != tc.message {
			t.Errorf("%s: message\n got %s\nwant %s", tc.name, err, tc.message)
		}
		if !errs.Is(err, errs.KindInvalid) {
			t.Errorf("%s: not errs.KindInvalid", tc.name)
		}
	}
}

func TestBirthDateBoundaryInChina(t *testing.T) {
	// 16:30 UTC on 1 March is already 2 March in China.
	now := time.Date(2024, 3, 1, 16, 30, 0, 0, time.UTC)
	if _, err := birthDate("20240302", now); err != nil {
		t.Errorf("2 March at 00:30 China time: %v", err)
	}
	if _, err := birthDate("20240303", now); !errors.Is(err, ErrDate) {
		t.Errorf("3 March: %v, want ErrDate", err)
	}
}

func TestParseResidentID(t *testing.T) {
	got, err := ParseResidentID("11010519491231002x")
	if err != nil {
		t.Fatal(err)
	}
	want := ResidentID{
		Number:   "11010519491231002X",
		Division: "110105",
		Birth:    time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC),
		Order:    2,
		Female:   true,
	}
	if got != want {
		t.Errorf("ParseResidentID = %+v, want %+v", got, want)
	}
	if _, err := ParseResidentID("11010519491231002Y"); err == nil {
		t.Error("ParseResidentID accepted a bad number")
	}
}

func TestNormalizeResidentID(t *testing.T) {
	for _, in := range []string{"11010519491231002X", "11010519491231002x", " 11010519491231002x\n", "１１０１０５１９４９１２３１００２ｘ"} {
		got, err := NormalizeResidentID(in)
		if err != nil || got != "11010519491231002X" {
			t.Errorf("NormalizeResidentID(%q) = %q, %v", in, got, err)
		}
	}
}

func TestResidentIDCheckChar(t *testing.T) {
	for in, want := range map[string]byte{"11010519491231002": 'X', "42060220000229016": '1', "42060219000101001": '0'} {
		got, err := ResidentIDCheckChar(in)
		if err != nil || got != want {
			t.Errorf("ResidentIDCheckChar(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1101051949123100", "11010519491231002X", "1101051949123100A"} {
		if _, err := ResidentIDCheckChar(in); err == nil {
			t.Errorf("ResidentIDCheckChar(%q) succeeded", in)
		}
	}
}

func TestNewResidentID(t *testing.T) {
	births := []time.Time{
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1949, 10, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 2, 29, 23, 59, 0, 0, chinaTime),
		time.Date(2012, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	seen := map[string]bool{}
	for _, b := range births {
		for seq := -3; seq < 499; seq++ {
			for _, female := range []bool{false, true} {
				s := NewResidentID("420602", b, seq, female)
				p, err := ParseResidentID(s)
				if err != nil {
					t.Fatalf("NewResidentID(%v, %d, %v) = %q: %v", b, seq, female, s, err)
				}
				y, m, d := b.Date()
				if p.Female != female || p.Division != "420602" || p.Birth != time.Date(y, m, d, 0, 0, 0, 0, time.UTC) {
					t.Fatalf("NewResidentID(%v, %d, %v) = %q parses as %+v", b, seq, female, s, p)
				}
				if p.Order < 1 || p.Order > 998 {
					t.Fatalf("order code %d", p.Order)
				}
				if seq >= 0 {
					if seen[s] {
						t.Fatalf("duplicate %q", s)
					}
					seen[s] = true
				}
			}
		}
	}
	if a, b := NewResidentID("420602", births[1], 5, true), NewResidentID("420602", births[1], 5+499, true); a != b {
		t.Errorf("seq should wrap every 499: %q %q", a, b)
	}
}

func TestNewResidentIDPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"division":  func() { NewResidentID("4206", time.Now(), 1, false) },
		"year 1899": func() { NewResidentID("420602", time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC), 1, false) },
		"year 10000": func() {
			NewResidentID("420602", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), 1, false)
		},
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

func BenchmarkValidateResidentID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateResidentID("11010519491231002X"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateCreditCode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateCreditCode("91350100M000100Y43"); err != nil {
			b.Fatal(err)
		}
	}
}
