package sheet

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Problem is one finding about a cell, a row or the file.
type Problem struct {
	Sheet string `json:"sheet,omitempty"`
	// Row is the 1-based row in the sheet (the header is row 1 in files
	// made from the template); 0 for the file or the sheet as a whole.
	Row int `json:"row,omitempty"`
	// Column is the column's header text; Cell its address, e.g. "C7".
	Column string `json:"column,omitempty"`
	Cell   string `json:"cell,omitempty"`
	Value  string `json:"value,omitempty"`
	Reason string `json:"reason"`
}

// Pointer locates p the way errs.FieldError does: "信息资源!C7".
func (p Problem) Pointer() string {
	switch {
	case p.Cell != "":
		return p.Sheet + "!" + p.Cell
	case p.Row > 0:
		return p.Sheet + "!" + strconv.Itoa(p.Row) + ":" + strconv.Itoa(p.Row)
	case p.Sheet != "":
		return p.Sheet
	}
	return "file"
}

// DefaultMaxProblems bounds how many errors and how many notes a Report
// keeps in detail; the counts go on.
const DefaultMaxProblems = 1000

// Report is the outcome of reading (and maybe committing) a file. It is
// what the API returns and what the CLI prints.
type Report struct {
	File   string         `json:"file,omitempty"`
	Format string         `json:"format"` // xlsx or csv
	Rows   map[string]int `json:"rows"`   // data rows read, per sheet
	// Errors make the file unacceptable: nothing is written while there is one.
	Errors     []Problem `json:"errors"`
	ErrorCount int       `json:"error_count"`
	// Notes are changes the pipeline made on its own (normalised
	// full-width characters, trimmed spaces, skipped empty rows).
	Notes     []Problem `json:"notes"`
	NoteCount int       `json:"note_count"`
	DryRun    bool      `json:"dry_run"`
	Committed bool      `json:"committed"`
	// Outcome counts, filled in by the domain.
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// MaxProblems overrides DefaultMaxProblems when positive.
	MaxProblems int `json:"-"`
	// OnError, when set, is given every error as it is recorded, also
	// those beyond MaxProblems that the report only counts: a caller
	// that must list them all writes them out as they come (ProblemCSV)
	// instead of keeping them.
	OnError func(Problem) `json:"-"`
}

// NewReport returns an empty report.
func NewReport() *Report {
	return &Report{Rows: map[string]int{}, Errors: []Problem{}, Notes: []Problem{}}
}

func (r *Report) max() int {
	if r.MaxProblems > 0 {
		return r.MaxProblems
	}
	return DefaultMaxProblems
}

// OK reports whether the file has no errors.
func (r *Report) OK() bool { return r.ErrorCount == 0 }

// AddProblem records an error.
func (r *Report) AddProblem(p Problem) {
	r.ErrorCount++
	keep := len(r.Errors) < r.max()
	if !keep && r.OnError == nil {
		return
	}
	p.Value = ClipValue(p.Value)
	if keep {
		r.Errors = append(r.Errors, p)
	}
	if r.OnError != nil {
		r.OnError(p)
	}
}

// AddNote records a change the pipeline made.
func (r *Report) AddNote(p Problem) {
	r.NoteCount++
	if len(r.Notes) < r.max() {
		p.Value = ClipValue(p.Value)
		r.Notes = append(r.Notes, p)
	}
}

// Add records an error about the cell of column key in row (the whole row
// when key is empty or not a column).
func (r *Report) Add(row *Row, key, value, reason string) {
	r.AddProblem(row.Problem(key, value, reason))
}

// AddAt records an error about column key of a row read earlier.
func (r *Report) AddAt(ref Ref, key, value, reason string) {
	r.AddProblem(ref.Problem(key, value, reason))
}

// Addf is Add with a formatted reason.
func (r *Report) Addf(row *Row, key, value, format string, args ...any) {
	r.Add(row, key, value, fmt.Sprintf(format, args...))
}

// FileError records an error about the file or a whole sheet.
func (r *Report) FileError(sheet, reason string) {
	r.AddProblem(Problem{Sheet: sheet, Reason: reason})
}

// Err returns nil for a report without errors, else an invalid-input error
// carrying every detailed problem as a field error ("信息资源!C7").
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	fe := make([]errs.FieldError, len(r.Errors))
	for i, p := range r.Errors {
		reason := p.Reason
		if p.Column != "" {
			reason = p.Column + ": " + reason
		}
		fe[i] = errs.FieldError{Pointer: p.Pointer(), Reason: reason, Value: p.Value}
	}
	more := ""
	if r.ErrorCount > len(r.Errors) {
		more = fmt.Sprintf(" (the first %d are listed)", len(r.Errors))
	}
	return errs.InvalidFields(fmt.Sprintf("the file has %d errors%s; nothing was written", r.ErrorCount, more), fe...)
}

// ClipValue shortens a value quoted in a report: a 10 MB cell is not
// echoed back.
func ClipValue(s string) string {
	const n = 80
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for i = range s {
		if k == n {
			break
		}
		k++
	}
	return s[:i] + fmt.Sprintf("…(%d characters)", utf8.RuneCountInString(s))
}
