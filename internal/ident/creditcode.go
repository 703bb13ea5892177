package ident

import "fmt"

// CreditCodeAlphabet is the GB 32100 character set in value order: digits
// and capital letters without I, O, S, V and Z. A character's value is its
// index.
const CreditCodeAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// Layout of a unified social credit code (1-based positions):
//
//	1      registration authority (登记管理部门代码), e.g. 1 机构编制, 5 民政, 9 工商
//	2      organisation type (机构类别代码), e.g. 1 机关 under authority 1
//	3-8    administrative division of the registering authority (GB/T 2260), digits
//	9-17   organisation code (主体标识码, GB 11714): 8 characters + its check character
//	18     check character over positions 1-17 (GB 32100, ISO 7064 MOD 31-3 style)
const (
	CreditCodeLen = 18
	OrgCodeLen    = 9
)

const (
	wantCreditChar = "one of 0-9 and A-Z except I, O, S, V, Z"
	wantDigit      = "a digit"
	wantOrgChar    = "one of 0-9 and A-Z"
)

// creditValue maps a byte to its value in CreditCodeAlphabet, -1 if absent.
var creditValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(CreditCodeAlphabet); i++ {
		t[CreditCodeAlphabet[i]] = int8(i)
	}
	return t
}()

// creditWeights are 3^(i-1) mod 31 for positions 1-17 (GB 32100).
var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// orgWeights are the GB 11714 weights for the 8 characters before the
// organisation code's check character.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// CreditCodeCheckChar returns the check character (position 18) for the
// first 17 characters of a unified social credit code. It only requires the
// 17 characters to be in CreditCodeAlphabet; ValidateCreditCode checks the
// rest of the structure.
func CreditCodeCheckChar(first17 string) (byte, error) {
	if len(first17) != CreditCodeLen-1 {
		return 0, shapeErr(SubjectCreditCode, first17, CreditCodeLen-1, wantCreditChar)
	}
	sum := 0
	for i := 0; i < len(first17); i++ {
		v := creditValue[first17[i]]
		if v < 0 {
			return 0, badCreditChar(first17, CreditCodeLen-1, i, wantCreditChar)
		}
		sum += int(v) * creditWeights[i]
	}
	return creditCheck(sum), nil
}

func creditCheck(sum int) byte { return CreditCodeAlphabet[(31-sum%31)%31] }

func badCreditChar(s string, n, i int, want string) *Error {
	if s[i] >= 0x80 {
		return shapeErr(SubjectCreditCode, s, n, want)
	}
	return charErr(SubjectCreditCode, i+1, want, rune(s[i]))
}

// ValidateCreditCode reports whether s is a valid unified social credit code
// (统一社会信用代码, GB 32100-2015), in this order: 18 characters; every
// character in CreditCodeAlphabet and positions 3-8 digits; the check
// character at position 18; the GB 11714 check character of the embedded
// organisation code at position 17 (ErrOrgCodeCheck). The registration
// authority and organisation type characters are not checked against a
// list: registration authorities keep adding codes.
//
// s must be canonical (upper case, no spaces); see NormalizeCreditCode.
func ValidateCreditCode(s string) error {
	if len(s) != CreditCodeLen {
		return shapeErr(SubjectCreditCode, s, CreditCodeLen, wantCreditChar)
	}
	sum := 0
	for i := 0; i < CreditCodeLen; i++ {
		c := s[i]
		if i >= 2 && i < 8 {
			if c < '0' || c > '9' {
				return badCreditChar(s, CreditCodeLen, i, wantDigit)
			}
		} else if creditValue[c] < 0 {
			return badCreditChar(s, CreditCodeLen, i, wantCreditChar)
		}
		if i < CreditCodeLen-1 {
			sum += int(creditValue[c]) * creditWeights[i]
		}
	}
	if want := creditCheck(sum); s[17] != want {
		return checkErr(ErrCheck, SubjectCreditCode, 18, want, s[17])
	}
	// Every character of the credit alphabet is a valid GB 11714 character,
	// so only the organisation code's check character can be wrong here.
	want, _ := orgCheckChar(s[8:16])
	if s[16] != want {
		return checkErr(ErrOrgCodeCheck, SubjectCreditCode, 17, want, s[16])
	}
	return nil
}

// NormalizeCreditCode trims surrounding white space, turns full-width
// characters into their ASCII forms and letters into upper case, then
// validates the result and returns it.
func NormalizeCreditCode(s string) (string, error) {
	n := normalize(s)
	if err := ValidateCreditCode(n); err != nil {
		return "", err
	}
	return n, nil
}

// NewCreditCode returns a valid unified social credit code for demo and test
// data: the given registration authority, organisation type and 6-digit
// division, and an organisation code derived deterministically from seq
// (seq written in base 31 over CreditCodeAlphabet as 8 characters, so
// distinct below 31^8 ≈ 8.5e11; larger values wrap), followed by its GB 11714
// check character and the whole-code check character.
//
// It panics if authority or orgType is not in CreditCodeAlphabet or division
// is not 6 digits: the arguments are fixed by the program, not user input.
func NewCreditCode(authority, orgType byte, division string, seq uint64) string {
	if creditValue[authority] < 0 || creditValue[orgType] < 0 {
		panic(fmt.Sprintf("ident.NewCreditCode: authority %q and organisation type %q must be in %s",
			authority, orgType, CreditCodeAlphabet))
	}
	if !allDigits(division, 6) {
		panic(fmt.Sprintf("ident.NewCreditCode: division %q is not 6 digits", division))
	}
	var b [CreditCodeLen]byte
	b[0], b[1] = authority, orgType
	copy(b[2:8], division)
	for i := 15; i >= 8; i-- {
		b[i] = CreditCodeAlphabet[seq%31]
		seq /= 31
	}
	b[16], _ = orgCheckChar(string(b[8:16]))
	c, _ := CreditCodeCheckChar(string(b[:17]))
	b[17] = c
	return string(b[:])
}

// OrgCodeCheckChar returns the GB 11714 check character for the first 8
// characters (digits and capital letters) of an organisation code
// (组织机构代码): with values 0-9 for digits and 10-35 for A-Z, weights
// 3,7,9,10,5,8,4,2, C = 11 - (sum mod 11), written 0-9, X for 10 and 0 for 11.
func OrgCodeCheckChar(first8 string) (byte, error) {
	if len(first8) != OrgCodeLen-1 {
		return 0, shapeErr(SubjectOrgCode, first8, OrgCodeLen-1, wantOrgChar)
	}
	return orgCheckChar(first8)
}

func orgCheckChar(first8 string) (byte, error) {
	sum := 0
	for i := 0; i < 8; i++ {
		v := alnumValue(first8[i])
		if v < 0 {
			if first8[i] >= 0x80 {
				return 0, shapeErr(SubjectOrgCode, first8, OrgCodeLen-1, wantOrgChar)
			}
			return 0, charErr(SubjectOrgCode, i+1, wantOrgChar, rune(first8[i]))
		}
		sum += v * orgWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X', nil
	case 11:
		return '0', nil
	default:
		return byte('0' + c), nil
	}
}

// ValidateOrgCode reports whether s is a valid GB 11714 organisation code:
// 8 digits or capital letters and the check character, either run together
// ("MA4KXXXX1") or in the printed form with a hyphen before the check
// character ("MA4KXXXX-1").
func ValidateOrgCode(s string) error {
	if len(s) == OrgCodeLen+1 && s[8] == '-' {
		s = s[:8] + s[9:]
	}
	if len(s) != OrgCodeLen || !isASCII(s) {
		return shapeErr(SubjectOrgCode, s, OrgCodeLen, wantOrgChar)
	}
	want, err := orgCheckChar(s[:8])
	if err != nil {
		return err
	}
	if s[8] != want {
		if s[8] != 'X' && (s[8] < '0' || s[8] > '9') {
			return charErr(SubjectOrgCode, 9, "a digit or X", rune(s[8]))
		}
		return checkErr(ErrCheck, SubjectOrgCode, 9, want, s[8])
	}
	return nil
}

func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
