package sheet

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// ProblemHeader is the header row of a ProblemCSV file, in Chinese and
// English.
var ProblemHeader = []string{"工作表 sheet", "行号 row", "单元格 cell", "列 column", "错误说明 reason", "值 value"}

// ProblemCSV writes errors to a CSV file one by one as an import finds
// them (give Add as Report.OnError), so that every error of a file of
// millions of rows can be listed while the memory the import needs stays
// the same. The file is UTF-8 with a byte order mark, so that Excel opens
// it as UTF-8, and starts with ProblemHeader; a row is a problem in the
// order found: sheet, row (empty for the file or a whole sheet), cell,
// column header, reason and the value (clipped as in a Report). A value,
// reason, sheet or column Excel would take for a formula (=, +, -, @, tab,
// CR) is written after an apostrophe, so that opening the file runs
// nothing: a reason may quote the file (a licence's face field names).
type ProblemCSV struct {
	bw  *bufio.Writer
	cw  *csv.Writer
	n   int
	err error
}

// NewProblemCSV starts a problem file on w: the byte order mark and the
// header row. Errors writing to w are returned by Flush.
func NewProblemCSV(w io.Writer) *ProblemCSV {
	bw := bufio.NewWriterSize(w, 1<<16)
	p := &ProblemCSV{bw: bw, cw: csv.NewWriter(bw)}
	_, p.err = bw.WriteString("\ufeff")
	p.write(ProblemHeader)
	return p
}

// Add writes one problem.
func (p *ProblemCSV) Add(pr Problem) {
	row := ""
	if pr.Row > 0 {
		row = strconv.Itoa(pr.Row)
	}
	p.write([]string{inert(pr.Sheet), row, pr.Cell, inert(pr.Column), inert(pr.Reason), inert(pr.Value)})
	p.n++
}

func (p *ProblemCSV) write(rec []string) {
	if p.err == nil {
		p.err = p.cw.Write(rec)
	}
}

// Count is how many problems were added.
func (p *ProblemCSV) Count() int { return p.n }

// Flush writes out what is buffered and returns the first error met
// writing the file.
func (p *ProblemCSV) Flush() error {
	if p.err != nil {
		return p.err
	}
	p.cw.Flush()
	if p.err = p.cw.Error(); p.err == nil {
		p.err = p.bw.Flush()
	}
	return p.err
}

// inert is InertCell.
func inert(v string) string { return InertCell(v) }

// InertCell keeps a spreadsheet that opens a CSV from running a cell as a
// formula (=HYPERLINK(...), +cmd|..., @SUM(...)): a value that starts
// with = + - @, a tab or a carriage return gets a leading apostrophe,
// unless it is a plain number such as -5.
func InertCell(v string) string {
	if v == "" || strings.IndexByte("=+-@\t\r", v[0]) < 0 {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return "'" + v
}
