// Package sheet is the hub's one spreadsheet pipeline (ARCHITECTURE.md §9),
// shared by every bulk import and export: the data directory, licences,
// seals and departments.
//
// A domain package describes its file with a Spec (sheets, Chinese column
// headers, required columns, drop-down choices, value kinds), then:
//
//   - Open (an xlsx or CSV upload, saved to a temp file with SaveTemp) and
//     File.Read each sheet row by row: excelize's streaming Rows() with an
//     unzip size limit and panic recovery, or encoding/csv (UTF-8 or GB18030).
//     Every cell is normalised with Clean and checked against its Column;
//     problems land in a Report with sheet, row, column, value and reason.
//     The domain adds its own findings with Report.Add and decides, after
//     the whole file is read, whether to commit: a file is accepted whole
//     or not at all, and a dry run is just "read, report, do not commit".
//   - NewWriter builds an xlsx in the same format, streamed row by row: a
//     template (drop-down validation, an example row, notes) or an export.
//   - WriteAnnotated copies an imported file with an extra column giving
//     each row's errors, for the person who has to fix it.
package sheet

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Kind says how a column's cells are read.
type Kind int

const (
	// Text is free text, normalised by Clean.
	Text Kind = iota
	// Code is an identifier made of digits and letters (a classification
	// code, a credit code). A cell Excel stored as a number, and so may have
	// rounded or lost leading zeros, is an error.
	Code
	// Date accepts 2024-01-31, 2024/1/31, 2024年1月31日 and Excel date
	// serials (in the workbook's date system, 1900 or 1904), and yields
	// YYYY-MM-DD.
	Date
	// Int is a whole number of at most 9 digits.
	Int
	// Bool accepts 是/否, Y/N, true/false, 1/0 and yields "true" or "false".
	Bool
)

// DefaultMaxCell is the longest cell accepted when a Column sets no Max:
// Excel's own limit is 32,767 characters.
const DefaultMaxCell = 32767

// Column describes one column of a sheet.
type Column struct {
	// Key is the name code uses (Row.Get).
	Key string
	// Header is the header text in the file, e.g. "信息资源名称".
	Header string
	// Aliases are other headers accepted for this column.
	Aliases  []string
	Required bool
	Kind     Kind
	// Choices, when set, are the only values accepted; templates offer them
	// as a drop-down.
	Choices []string
	// Multi allows several values in one cell, separated by ；; , 、 or
	// a newline (each must be one of Choices when Choices are set).
	Multi bool
	// Max is the longest value in characters (DefaultMaxCell when 0).
	Max int
	// Example is the template's example value.
	Example string
	// Note explains the column in the template's header comment.
	Note  string
	Width float64
}

// Sheet describes one worksheet. In a CSV upload the file is the first
// sheet of the Spec.
type Sheet struct {
	Name     string
	Aliases  []string
	Columns  []Column
	Optional bool
}

// Spec describes a workbook.
type Spec struct {
	Sheets []Sheet
}

// Sheet returns the sheet named name, nil if there is none.
func (s *Spec) Sheet(name string) *Sheet {
	for i := range s.Sheets {
		if s.Sheets[i].Name == name {
			return &s.Sheets[i]
		}
	}
	return nil
}

func (sh *Sheet) column(key string) (int, *Column) {
	for i := range sh.Columns {
		if sh.Columns[i].Key == key {
			return i, &sh.Columns[i]
		}
	}
	return -1, nil
}

// Clean normalises a text value the way every import and every search
// does: Unicode NFKC (full-width letters, digits, spaces and punctuation
// become their ordinary forms), control characters removed, runs of
// white space inside collapsed to one space and the ends trimmed. changed
// reports whether the result differs from s.
func Clean(s string) (out string, changed bool) {
	if isClean(s) {
		return s, false
	}
	n := norm.NFKC.String(s)
	var b strings.Builder
	b.Grow(len(n))
	space := false
	for _, r := range n {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r) || r == '\u200b' || r == '\ufeff':
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out = b.String()
	return out, out != s
}

// isClean is a fast path for the common value that needs nothing.
func isClean(s string) bool {
	if s == "" {
		return true
	}
	prevSpace := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return norm.NFKC.IsNormalString(s) && cleanRunes(s)
		}
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c == ' ' {
			if prevSpace {
				return false
			}
			prevSpace = true
			continue
		}
		prevSpace = false
	}
	return !prevSpace
}

func cleanRunes(s string) bool {
	prevSpace := true
	for _, r := range s {
		if unicode.IsSpace(r) {
			if prevSpace || r != ' ' {
				return false
			}
			prevSpace = true
			continue
		}
		if unicode.IsControl(r) || r == '\u200b' || r == '\ufeff' {
			return false
		}
		prevSpace = false
	}
	return !prevSpace
}

// SplitMulti splits a multi-value cell on ；; , 、 and newlines, dropping
// empty parts.
func SplitMulti(s string) []string {
	parts := strings.FieldsFunc(s, func(r rune) bool {
		return r == ';' || r == '；' || r == ',' || r == '，' || r == '、' || r == '\n'
	})
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
