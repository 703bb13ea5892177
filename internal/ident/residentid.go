package ident

import (
	"fmt"
	"time"
)

// ResidentIDLen is the length of a resident identity number.
const ResidentIDLen = 18

// Layout of a resident identity number (居民身份证号, GB 11643-1999),
// 1-based positions:
//
//	1-6    address code (GB/T 2260 division of first registration)
//	7-14   birth date YYYYMMDD
//	15-17  order code (顺序码): odd for men, even for women
//	18     check character, ISO 7064 MOD 11-2: 0-9 or X
var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// residentChecks[sum%11] is the check character.
const residentChecks = "10X98765432"

const (
	wantResidentDigit = "a digit"
	wantResidentCheck = "a digit or X"
)

// chinaTime is China Standard Time (UTC+8, no daylight saving). A fixed zone
// avoids depending on the tz database being installed.
var chinaTime = time.FixedZone("CST", 8*60*60)

// ResidentID is a parsed resident identity number.
type ResidentID struct {
	// Number is the canonical number, with an upper-case X check character.
	Number string
	// Division is the 6-digit address code. It is not checked against the
	// list of divisions: codes of abolished divisions stay in use.
	Division string
	// Birth is the birth date at midnight UTC.
	Birth time.Time
	// Order is the 3-digit order code (顺序码).
	Order int
	// Female is true when Order is even.
	Female bool
}

// ResidentIDCheckChar returns the ISO 7064 MOD 11-2 check character for the
// first 17 digits of a resident identity number.
func ResidentIDCheckChar(first17 string) (byte, error) {
	if len(first17) != ResidentIDLen-1 {
		return 0, shapeErr(SubjectResidentID, first17, ResidentIDLen-1, wantResidentDigit)
	}
	sum := 0
	for i := 0; i < len(first17); i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, badResidentChar(first17, ResidentIDLen-1, i, wantResidentDigit)
		}
		sum += int(c-'0') * residentWeights[i]
	}
	return residentChecks[sum%11], nil
}

func badResidentChar(s string, n, i int, want string) *Error {
	if s[i] >= 0x80 {
		return shapeErr(SubjectResidentID, s, n, want)
	}
	return charErr(SubjectResidentID, i+1, want, rune(s[i]))
}

// ValidateResidentID reports whether s is a valid 18-character resident
// identity number, in this order: length; 17 digits then a digit or X (a
// lower-case x is accepted); the check character; the birth date, which
// must be a real date from 1900-01-01 up to today in China (UTC+8).
// Old 15-digit numbers are not accepted.
func ValidateResidentID(s string) error {
	_, err := parseResident(s)
	return err
}

// ParseResidentID validates s as ValidateResidentID does and returns its
// parts, with the number in canonical form (upper-case X).
func ParseResidentID(s string) (ResidentID, error) {
	birth, err := parseResident(s)
	if err != nil {
		return ResidentID{}, err
	}
	if s[17] == 'x' {
		s = s[:17] + "X"
	}
	order := int(s[14]-'0')*100 + int(s[15]-'0')*10 + int(s[16]-'0')
	return ResidentID{Number: s, Division: s[:6], Birth: birth, Order: order, Female: order%2 == 0}, nil
}

// NormalizeResidentID trims surrounding white space, turns full-width
// characters into ASCII and x into X, validates the result and returns it.
func NormalizeResidentID(s string) (string, error) {
	n := normalize(s)
	if err := ValidateResidentID(n); err != nil {
		return "", err
	}
	return n, nil
}

// parseResident returns the birth date of a valid number. It returns a nil
// error interface, not a nil *Error, on success.
func parseResident(s string) (time.Time, error) {
	if len(s) != ResidentIDLen {
		return time.Time{}, shapeErr(SubjectResidentID, s, ResidentIDLen, wantResidentDigit)
	}
	sum := 0
	for i := 0; i < ResidentIDLen-1; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return time.Time{}, badResidentChar(s, ResidentIDLen, i, wantResidentDigit)
		}
		sum += int(c-'0') * residentWeights[i]
	}
	got := s[17]
	if got == 'x' {
		got = 'X'
	}
	if got != 'X' && (got < '0' || got > '9') {
		return time.Time{}, badResidentChar(s, ResidentIDLen, 17, wantResidentCheck)
	}
	if want := residentChecks[sum%11]; got != want {
		return time.Time{}, checkErr(ErrCheck, SubjectResidentID, 18, want, got)
	}
	birth, err := birthDate(s[6:14], time.Now())
	if err != nil {
		return time.Time{}, err
	}
	return birth, nil
}

// birthDate parses 8 digits YYYYMMDD (already checked to be digits) and
// checks that the date exists, is not before 1900 and not after the date in
// China at now.
func birthDate(d string, now time.Time) (time.Time, *Error) {
	y := int(d[0]-'0')*1000 + int(d[1]-'0')*100 + int(d[2]-'0')*10 + int(d[3]-'0')
	m := int(d[4]-'0')*10 + int(d[5]-'0')
	day := int(d[6]-'0')*10 + int(d[7]-'0')
	t := time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || day < 1 || t.Day() != day {
		return time.Time{}, &Error{Subject: SubjectResidentID, Err: ErrDate, Pos: 7,
			Want: "a real calendar date YYYYMMDD"}
	}
	if y < 1900 {
		return time.Time{}, &Error{Subject: SubjectResidentID, Err: ErrDate, Pos: 7,
			Want: "a year from 1900 on"}
	}
	n := now.In(chinaTime)
	if t.After(time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, &Error{Subject: SubjectResidentID, Err: ErrDate, Pos: 7,
			Want: "a date not after today", Got: "a date in the future"}
	}
	return t, nil
}

// NewResidentID returns a resident identity number for demo and test data:
// the 6-digit division, the birth date (year, month and day as seen in
// birth's own location), an order code derived from seq and the check
// character. The order code is 2n+1 for a man and 2n+2 for a woman with
// n = seq mod 499, so it runs from 001 to 998 and the numbers repeat every
// 499 values of seq for the same division, date and sex.
//
// It panics if division is not 6 digits or the birth year is outside
// 1900-9999. A birth date after today gives a number that does not validate.
func NewResidentID(division string, birth time.Time, seq int, female bool) string {
	if !allDigits(division, 6) {
		panic(fmt.Sprintf("ident.NewResidentID: division %q is not 6 digits", division))
	}
	y, m, d := birth.Date()
	if y < 1900 || y > 9999 {
		panic(fmt.Sprintf("ident.NewResidentID: birth year %d outside 1900-9999", y))
	}
	n := seq % 499
	if n < 0 {
		n += 499
	}
	order := 2*n + 1
	if female {
		order = 2*n + 2
	}
	first17 := fmt.Sprintf("%s%04d%02d%02d%03d", division, y, int(m), d, order)
	c, err := ResidentIDCheckChar(first17)
	if err != nil {
		panic("ident.NewResidentID: " + err.Error()) // not reached: all digits
	}
	return first17 + string(c)
}
