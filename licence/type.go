package licence

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// HolderKind says who holds licences of a type.
type HolderKind string

// Holder kinds.
const (
	HolderPerson       HolderKind = "person"       // holder id: 居民身份证号 (code type 111)
	HolderOrganisation HolderKind = "organisation" // holder id: 统一社会信用代码 (code type 001)
)

// Holder id types (持证主体代码类型).
const (
	HolderIDResident = "111" // 居民身份证号
	HolderIDCredit   = "001" // 统一社会信用代码
)

// HolderIDType is the 持证主体代码类型 of the kind's holders.
func (k HolderKind) HolderIDType() string {
	if k == HolderOrganisation {
		return HolderIDCredit
	}
	return HolderIDResident
}

// FieldFormat is how a face field (照面信息) value is written.
type FieldFormat string

// Face field formats.
const (
	FormatText   FieldFormat = "text"   // free text, at most MaxLen characters
	FormatDate   FieldFormat = "date"   // YYYY-MM-DD
	FormatNumber FieldFormat = "number" // decimal number
	FormatEnum   FieldFormat = "enum"   // one of Choices
)

// Field is one face field of a licence type.
type Field struct {
	Code     string      `json:"code"` // lower-case ASCII, used in grants ("face.CODE")
	Name     string      `json:"name"` // Chinese label
	Format   FieldFormat `json:"format"`
	Required bool        `json:"required,omitempty"`
	MaxLen   int         `json:"max_len,omitempty"` // text; default 200
	Choices  []string    `json:"choices,omitempty"` // enum
}

// Type is a licence type (证照类型).
type Type struct {
	Code string `json:"code"` // 21 characters: definer's credit code + 3 digits
	Name string `json:"name"`
	// DefinerID is the department that defined the type.
	DefinerID string `json:"definer_id"`
	// IssuerIDs are the departments whose issuers may issue it.
	IssuerIDs  []string   `json:"issuer_ids"`
	HolderKind HolderKind `json:"holder_kind"`
	// ValidityYears is the fixed validity from the issue date; 0: none (长期).
	ValidityYears int     `json:"validity_years"`
	Fields        []Field `json:"fields"`
}

var fieldCode = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// decimal is a number face field's value: digits, optionally signed and
// with a fraction (no exponent, hexadecimal or digit separators, which
// strconv.ParseFloat reads too).
var decimal = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

// maxNumberLen is the longest number face field value, in characters.
const maxNumberLen = 40

// Validate checks a type definition. Errors are errs.Invalid with pointers.
func (t *Type) Validate() error {
	t.Code, t.Name, t.DefinerID = strings.TrimSpace(t.Code), strings.TrimSpace(t.Name), strings.TrimSpace(t.DefinerID)
	var fe []errs.FieldError
	if err := ident.ValidateTypeCode(t.Code); err != nil {
		fe = append(fe, errs.FieldError{Pointer: "/code", Reason: err.Error(), Value: t.Code})
	}
	if t.Name == "" || utf8.RuneCountInString(t.Name) > 100 {
		fe = append(fe, errs.FieldError{Pointer: "/name", Reason: "required, at most 100 characters"})
	}
	if t.DefinerID == "" {
		fe = append(fe, errs.FieldError{Pointer: "/definer_id", Reason: "required"})
	}
	if len(t.IssuerIDs) == 0 {
		fe = append(fe, errs.FieldError{Pointer: "/issuer_ids", Reason: "at least one issuing department"})
	}
	if t.HolderKind != HolderPerson && t.HolderKind != HolderOrganisation {
		fe = append(fe, errs.FieldError{Pointer: "/holder_kind", Reason: "person or organisation", Value: string(t.HolderKind)})
	}
	if t.ValidityYears < 0 || t.ValidityYears > 100 {
		fe = append(fe, errs.FieldError{Pointer: "/validity_years", Reason: "0 (no fixed validity) to 100"})
	}
	seen := map[string]bool{}
	for i, f := range t.Fields {
		p := "/fields/" + strconv.Itoa(i)
		if !fieldCode.MatchString(f.Code) || seen[f.Code] {
			fe = append(fe, errs.FieldError{Pointer: p + "/code", Reason: "unique, lower-case letters, digits and _", Value: f.Code})
		}
		seen[f.Code] = true
		if f.Name == "" {
			fe = append(fe, errs.FieldError{Pointer: p + "/name", Reason: "required"})
		}
		switch f.Format {
		case FormatText, FormatDate, FormatNumber:
		case FormatEnum:
			if len(f.Choices) == 0 {
				fe = append(fe, errs.FieldError{Pointer: p + "/choices", Reason: "an enum needs choices"})
			}
		default:
			fe = append(fe, errs.FieldError{Pointer: p + "/format", Reason: "text, date, number or enum", Value: string(f.Format)})
		}
	}
	if len(fe) > 0 {
		return errs.InvalidFields("licence type is not valid", fe...)
	}
	return nil
}

// Field returns the face field with the code.
func (t *Type) Field(code string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Code == code {
			return f, true
		}
	}
	return Field{}, false
}

// CheckFace validates face field values against the type: unknown fields,
// missing required ones and values that break their format. pointer
// prefixes the field pointers ("/face").
func (t *Type) CheckFace(face map[string]string, pointer string) []errs.FieldError {
	var fe []errs.FieldError
	for k := range face {
		if _, ok := t.Field(k); !ok {
			fe = append(fe, errs.FieldError{Pointer: pointer + "/" + k, Reason: "not a field of " + t.Name})
		}
	}
	for _, f := range t.Fields {
		v, have := face[f.Code]
		v = strings.TrimSpace(v)
		if !have || v == "" {
			if f.Required {
				fe = append(fe, errs.FieldError{Pointer: pointer + "/" + f.Code, Reason: "required (" + f.Name + ")"})
			}
			continue
		}
		if r := checkValue(f, v); r != "" {
			fe = append(fe, errs.FieldError{Pointer: pointer + "/" + f.Code, Reason: r, Value: clip(v, 80)})
		}
	}
	return fe
}

func checkValue(f Field, v string) string {
	switch f.Format {
	case FormatDate:
		if _, ok := parseDate(v); !ok {
			return "a date YYYY-MM-DD"
		}
	case FormatNumber:
		if len(v) > maxNumberLen || !decimal.MatchString(v) {
			return "a decimal number, at most " + strconv.Itoa(maxNumberLen) + " characters"
		}
	case FormatEnum:
		if _, ok := f.choice(v); ok {
			return ""
		}
		return "one of " + strings.Join(f.Choices, ", ")
	default:
		max := f.MaxLen
		if max == 0 {
			max = 200
		}
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > max {
			return "at most " + strconv.Itoa(max) + " characters"
		}
		if hasControl(v) {
			return "must not contain control characters"
		}
	}
	return ""
}

// hasControl reports whether s has a control character: C0, DEL, C1
// (unicode.IsControl), or a bidirectional mark, embedding, override or
// isolate, which makes text display in another order than it reads.
func hasControl(s string) bool {
	for _, r := range s {
		switch {
		case unicode.IsControl(r), r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// choice returns the choice v names, comparing NFKC forms: spreadsheet
// cells are NFKC-normalised, which turns （） into ().
func (f Field) choice(v string) (string, bool) {
	for _, c := range f.Choices {
		if c == v {
			return c, true
		}
	}
	nv := norm.NFKC.String(v)
	for _, c := range f.Choices {
		if norm.NFKC.String(c) == nv {
			return c, true
		}
	}
	return "", false
}

// canonical rewrites enum values to the type's spelling of the choice.
func (t *Type) canonical(face map[string]string) {
	for _, f := range t.Fields {
		if v, ok := face[f.Code]; ok && f.Format == FormatEnum {
			if c, ok := f.choice(v); ok {
				face[f.Code] = c
			}
		}
	}
}
