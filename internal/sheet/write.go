package sheet

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// WriterOptions tune NewWriter.
type WriterOptions struct {
	// Template adds each column's example value as a first data row (in
	// grey italics) and its note as a header comment.
	Template bool
	// Extra headers appended to a sheet (by sheet name), e.g. an error column.
	Extra map[string][]string
	// NoValidation leaves out the drop-down lists.
	NoValidation bool
}

// choicesSheet holds the drop-down lists; Excel caps an inline list at 255
// characters, so lists live in cells of this hidden sheet.
const choicesSheet = "选项"

// Writer streams an xlsx workbook in a Spec's format: one worksheet per
// spec sheet, the header row in bold with "*" on required columns, column
// widths, drop-down validation on columns with Choices, and rows appended
// in order. Memory stays flat: excelize spools rows to temp files.
type Writer struct {
	f       *excelize.File
	spec    Spec
	streams map[string]*excelize.StreamWriter
	next    map[string]int
	width   map[string]int
	closed  bool
	grey    int
}

// NewWriter starts a workbook for spec.
func NewWriter(spec Spec, opts WriterOptions) (*Writer, error) {
	f := excelize.NewFile()
	w := &Writer{f: f, spec: spec, streams: map[string]*excelize.StreamWriter{}, next: map[string]int{}, width: map[string]int{}}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}})
	if err != nil {
		return nil, err
	}
	if w.grey, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Italic: true, Color: "808080"}}); err != nil {
		return nil, err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // "@": cells are text, so codes keep their digits
	if err != nil {
		return nil, err
	}
	for si, sh := range spec.Sheets {
		if si == 0 {
			if err := f.SetSheetName("Sheet1", sh.Name); err != nil {
				return nil, err
			}
		} else if _, err := f.NewSheet(sh.Name); err != nil {
			return nil, err
		}
	}
	// Choice lists go on a hidden last sheet, so validations can point at them.
	listCol := 0
	lists := map[string]string{} // sheet/column key → range
	hasChoices := false
	for _, sh := range spec.Sheets {
		for _, c := range sh.Columns {
			hasChoices = hasChoices || len(c.Choices) > 0
		}
	}
	if hasChoices && !opts.NoValidation {
		if _, err := f.NewSheet(choicesSheet); err != nil {
			return nil, err
		}
		for _, sh := range spec.Sheets {
			for _, c := range sh.Columns {
				if len(c.Choices) == 0 {
					continue
				}
				listCol++
				colName, _ := excelize.ColumnNumberToName(listCol)
				_ = f.SetCellValue(choicesSheet, colName+"1", c.Header)
				for i, ch := range c.Choices {
					_ = f.SetCellValue(choicesSheet, fmt.Sprintf("%s%d", colName, i+2), ch)
				}
				lists[sh.Name+"/"+c.Key] = fmt.Sprintf("'%s'!$%s$2:$%s$%d", choicesSheet, colName, colName, len(c.Choices)+1)
			}
		}
		_ = f.SetSheetVisible(choicesSheet, false)
	}
	for _, sh := range spec.Sheets {
		cols := len(sh.Columns) + len(opts.Extra[sh.Name])
		for i, c := range sh.Columns {
			colName, _ := excelize.ColumnNumberToName(i + 1)
			if r, ok := lists[sh.Name+"/"+c.Key]; ok {
				dv := excelize.NewDataValidation(true)
				dv.SetSqref(fmt.Sprintf("%s2:%s1048576", colName, colName))
				dv.SetSqrefDropList(r)
				if c.Multi {
					// Several values may be typed, separated by ；, so Excel only warns.
					dv.SetError(excelize.DataValidationErrorStyleInformation, c.Header, "可选多项，以“；”分隔："+strings.Join(c.Choices, "；"))
				} else {
					dv.SetError(excelize.DataValidationErrorStyleStop, c.Header, "请从下拉列表中选择")
				}
				if err := f.AddDataValidation(sh.Name, dv); err != nil {
					return nil, err
				}
			}
			if opts.Template && c.Note != "" {
				_ = f.AddComment(sh.Name, excelize.Comment{Cell: colName + "1", Author: "sharehub", Text: c.Note})
			}
		}
		sw, err := f.NewStreamWriter(sh.Name)
		if err != nil {
			return nil, err
		}
		for i, c := range sh.Columns {
			wd := c.Width
			if wd == 0 {
				wd = 14
			}
			if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
				return nil, err
			}
			if c.Kind == Code || c.Kind == Text {
				_ = sw.SetColStyle(i+1, i+1, text)
			}
		}
		for j := len(sh.Columns); j < cols; j++ {
			_ = sw.SetColWidth(j+1, j+1, 60)
		}
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return nil, err
		}
		head := make([]any, 0, cols)
		for _, c := range sh.Columns {
			h := c.Header
			if c.Required {
				h = "*" + h
			}
			head = append(head, excelize.Cell{StyleID: bold, Value: h})
		}
		for _, h := range opts.Extra[sh.Name] {
			head = append(head, excelize.Cell{StyleID: bold, Value: h})
		}
		if err := sw.SetRow("A1", head); err != nil {
			return nil, err
		}
		w.streams[sh.Name], w.next[sh.Name], w.width[sh.Name] = sw, 2, cols
		if opts.Template {
			ex := make([]string, len(sh.Columns))
			for i, c := range sh.Columns {
				ex[i] = c.Example
			}
			if err := w.appendStyled(sh.Name, ex, w.grey); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

// Append writes one row to sheet; values are in the spec's column order
// (then any Extra columns). Every value is written as text.
func (w *Writer) Append(sheet string, values []string) error {
	return w.appendStyled(sheet, values, 0)
}

func (w *Writer) appendStyled(sheet string, values []string, style int) error {
	sw := w.streams[sheet]
	if sw == nil {
		return fmt.Errorf("sheet: no sheet %q in this workbook", sheet)
	}
	row := make([]any, len(values))
	for i, v := range values {
		if style != 0 {
			row[i] = excelize.Cell{StyleID: style, Value: v}
		} else {
			row[i] = v
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, w.next[sheet])
	w.next[sheet]++
	return sw.SetRow(cell, row)
}

// WriteTo finishes the workbook and writes it to out. The Writer cannot
// be used afterwards.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	defer w.Close()
	for _, sh := range w.spec.Sheets {
		if err := w.streams[sh.Name].Flush(); err != nil {
			return 0, err
		}
	}
	w.f.SetActiveSheet(0)
	return w.f.WriteTo(out)
}

// Close releases the workbook's temp files.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.f.Close()
}

// WriteAnnotated writes a copy of the file's data rows, sheet by sheet in
// the spec's format, with an extra column "错误说明" giving each row's
// errors from rep, so the person fixing the file sees them in place.
// Rows keep their original row numbers' order; the header is the spec's;
// a date cell stored as a serial is written as its date.
func WriteAnnotated(ctx context.Context, f *File, rep *Report, out io.Writer) error {
	const errCol = "错误说明"
	byRow := map[string]map[int][]string{}
	for _, p := range rep.Errors {
		if byRow[p.Sheet] == nil {
			byRow[p.Sheet] = map[int][]string{}
		}
		msg := p.Reason
		if p.Column != "" {
			msg = p.Column + "：" + msg
		}
		byRow[p.Sheet][p.Row] = append(byRow[p.Sheet][p.Row], msg)
	}
	extra := map[string][]string{}
	for _, sh := range f.spec.Sheets {
		extra[sh.Name] = []string{errCol}
	}
	w, err := NewWriter(f.spec, WriterOptions{Extra: extra, NoValidation: true})
	if err != nil {
		return err
	}
	defer w.Close()
	scratch := NewReport()
	for _, sh := range f.spec.Sheets {
		if !f.Has(sh.Name) {
			continue
		}
		err := f.Read(ctx, sh.Name, scratch, func(r *Row) error {
			vals := append(append([]string{}, r.orig...), strings.Join(byRow[sh.Name][r.Line], "；"))
			for i, c := range sh.Columns {
				// A date cell is a serial in the workbook's date system;
				// the copy is text in a 1900-system workbook, where the
				// serial of a 1904 workbook would read 4 years early.
				// It gets the date the serial stands for.
				if c.Kind == Date && r.vals[i] != "" && reSerial.MatchString(strings.TrimSpace(r.orig[i])) {
					vals[i] = r.vals[i]
				}
			}
			return w.Append(sh.Name, vals)
		})
		if err != nil {
			return err
		}
	}
	_, err = w.WriteTo(out)
	return err
}
