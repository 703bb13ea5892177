package sheet

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Options tune reading.
type Options struct {
	// UnzipSizeLimit caps the total unpacked size of an xlsx (a zip bomb
	// stops here). Default 512 MiB.
	UnzipSizeLimit int64
	// TempDir holds the temp files excelize spools large sheets to.
	TempDir string
	// Progress, when set, is called every ProgressEvery rows and at the end
	// of each sheet.
	Progress func(Progress)
}

// DefaultUnzipSizeLimit is the default Options.UnzipSizeLimit.
const DefaultUnzipSizeLimit = 512 << 20

// ProgressEvery is how many rows pass between Progress calls.
const ProgressEvery = 500

// Progress says how far a long job has come. Total is 0 when unknown.
type Progress struct {
	Phase string // "read", "check", "commit", ...
	Sheet string
	Done  int
	Total int
}

// File is an opened spreadsheet: an xlsx workbook, or one CSV file per
// sheet. Close it.
type File struct {
	spec   Spec
	opts   Options
	format string
	path   string
	xlsx   *excelize.File    // opened only for a workbook the fast reader cannot read
	sheets []string          // the workbook's sheet names
	csv    map[string]string // sheet name → path
	notes  []Problem
	// date1904: the workbook counts date serials from 1904 (older Mac
	// Excel), not from 1900.
	date1904 bool
}

// Format is "xlsx" or "csv".
func (f *File) Format() string { return f.format }

var (
	zipMagic = []byte("PK\x03\x04")
	oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0}
)

// Open opens the file at path: an xlsx (by content, whatever its name) or
// a CSV holding the spec's first sheet. A file that is neither gets a
// precise invalid-input error; an xlsx that unpacks to more than
// UnzipSizeLimit is too large.
func Open(path string, spec Spec, opts Options) (f *File, err error) {
	if opts.UnzipSizeLimit <= 0 {
		opts.UnzipSizeLimit = DefaultUnzipSizeLimit
	}
	head := make([]byte, 8192)
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	n, _ := io.ReadFull(fh, head)
	fh.Close()
	head = head[:n]
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case n == 0:
		return nil, errs.InvalidFields("the file is empty", errs.FieldError{Pointer: "file", Reason: "empty file"})
	case bytes.HasPrefix(head, zipMagic):
		return openXLSX(path, spec, opts)
	case bytes.HasPrefix(head, oleMagic):
		return nil, errs.InvalidFields("old-style .xls workbooks are not read", errs.FieldError{Pointer: "file", Reason: "save the workbook as .xlsx (Excel 2007 or later) and upload it again"})
	case ext == ".xlsx" || ext == ".xlsm":
		return nil, errs.InvalidFields("the file is not an xlsx workbook", errs.FieldError{Pointer: "file", Reason: "an .xlsx file is a zip archive and this one is not: it may be damaged or renamed"})
	case bytes.IndexByte(head, 0) >= 0:
		return nil, errs.InvalidFields("the file is neither xlsx nor CSV", errs.FieldError{Pointer: "file", Reason: "binary content: upload an .xlsx workbook or a CSV file"})
	}
	if len(spec.Sheets) == 0 {
		return nil, errors.New("sheet: empty spec")
	}
	return &File{spec: spec, opts: opts, format: "csv", csv: map[string]string{spec.Sheets[0].Name: path}}, nil
}

// OpenCSV opens one CSV file per sheet (sheet name → path), as the demo
// data in testdata is kept.
func OpenCSV(paths map[string]string, spec Spec, opts Options) (*File, error) {
	return &File{spec: spec, opts: opts, format: "csv", csv: paths}, nil
}

// openXLSX checks the workbook's unpacked size and reads its sheet list
// from the zip directly, as the fast reader reads its rows: excelize,
// which reads every part but the worksheets into memory and decodes
// styles, theme and calculation chain whole, opens only a workbook whose
// parts the fast reader does not find (see openExcelize).
func openXLSX(path string, spec Spec, opts Options) (f *File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(fmt.Errorf("%v", r))
		}
	}()
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, damaged(err)
	}
	defer zr.Close()
	var size uint64
	for _, zf := range zr.File {
		if size += zf.UncompressedSize64; zf.UncompressedSize64 > uint64(opts.UnzipSizeLimit) || size > uint64(opts.UnzipSizeLimit) {
			return nil, errs.TooLarge("the workbook unpacks to more than %d bytes (a zip bomb, or far more data than one import takes)", opts.UnzipSizeLimit)
		}
	}
	f = &File{spec: spec, opts: opts, format: "xlsx", path: path}
	fr := &fastRows{zr: zr}
	if sheets, _, err := fr.workbook(); err == nil {
		for _, s := range sheets {
			f.sheets = append(f.sheets, s.name)
		}
		f.date1904 = fr.date1904
		return f, nil
	}
	if err := f.openExcelize(); err != nil {
		return nil, err
	}
	return f, nil
}

// maxExcelizePart bounds each part excelize holds in memory (all but the
// worksheets) when it has to open a workbook: it decodes styles, theme,
// calculation chain and shared strings whole, into structures a hundred
// times their size or more (a megabyte of "<xf/>" took it 930 MB).
const maxExcelizePart = 1 << 20

// openExcelize opens the workbook with excelize, for the sheet list and
// rows of a workbook whose parts are not where the fast reader looks.
func (f *File) openExcelize() error {
	zr, err := zip.OpenReader(f.path)
	if err != nil {
		return damaged(err)
	}
	for _, zf := range zr.File {
		name := strings.ToLower(strings.ReplaceAll(zf.Name, "\\", "/"))
		if !strings.HasPrefix(name, "xl/worksheets/sheet") && zf.UncompressedSize64 > maxExcelizePart {
			zr.Close()
			return errs.TooLarge("the workbook's part %s unpacks to %d bytes, more than the %d this workbook's layout allows: save it again from Excel or WPS", zf.Name, zf.UncompressedSize64, maxExcelizePart)
		}
	}
	zr.Close()
	x, err := excelize.OpenFile(f.path, excelize.Options{
		UnzipSizeLimit:    f.opts.UnzipSizeLimit,
		UnzipXMLSizeLimit: min(f.opts.UnzipSizeLimit, 16<<20),
		TmpDir:            f.opts.TempDir,
		RawCellValue:      true,
	})
	if err != nil {
		if strings.Contains(err.Error(), "unzip size exceeds") || strings.Contains(err.Error(), "unzip size limit") {
			return errs.TooLarge("the workbook unpacks to more than %d bytes (a zip bomb, or far more data than one import takes)", f.opts.UnzipSizeLimit)
		}
		return damaged(err)
	}
	// RawCellValue gives date cells as serials, converted by parseDate:
	// it needs the workbook's date system.
	props, err := x.GetWorkbookProps()
	if err != nil {
		x.Close()
		return damaged(err)
	}
	f.date1904 = props.Date1904 != nil && *props.Date1904
	f.xlsx, f.sheets = x, x.GetSheetList()
	return nil
}

func damaged(err error) error {
	return &errs.Error{Kind: errs.KindInvalid, Message: "the workbook cannot be read",
		Fields: []errs.FieldError{{Pointer: "file", Reason: "damaged or not an xlsx workbook: save it again from Excel or WPS"}}, Err: err}
}

// Close releases the workbook and its temp files.
func (f *File) Close() error {
	if f.xlsx != nil {
		return f.xlsx.Close()
	}
	return nil
}

// Has reports whether the file holds the named sheet.
func (f *File) Has(sheet string) bool {
	_, ok := f.resolve(sheet)
	return ok
}

// resolve finds the workbook's sheet for a spec sheet (by name or alias).
func (f *File) resolve(name string) (string, bool) {
	sh := f.spec.Sheet(name)
	if sh == nil {
		return "", false
	}
	if f.csv != nil {
		_, ok := f.csv[name]
		return name, ok
	}
	names := append([]string{sh.Name}, sh.Aliases...)
	for _, have := range f.sheets {
		c, _ := Clean(have)
		if slices.Contains(names, c) {
			return have, true
		}
	}
	return "", false
}

// rowSource yields raw rows of one sheet.
type rowSource interface {
	next() ([]string, bool)
	// formulaCols lists the 0-based columns of the last row's cells that
	// hold a formula without its result (nil when the source cannot tell).
	formulaCols() []int
	err() error
	close() error
}

type xlsxRows struct{ r *excelize.Rows }

func (x *xlsxRows) next() ([]string, bool) {
	if !x.r.Next() {
		return nil, false
	}
	cols, err := x.r.Columns()
	if err != nil {
		return nil, false
	}
	return cols, true
}
func (x *xlsxRows) formulaCols() []int { return nil }
func (x *xlsxRows) err() error         { return x.r.Error() }
func (x *xlsxRows) close() error       { return x.r.Close() }

type csvRows struct {
	f *os.File
	r *csv.Reader
	e error
}

func (c *csvRows) next() ([]string, bool) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return nil, false
	}
	if err != nil {
		c.e = err
		return nil, false
	}
	return rec, true
}
func (c *csvRows) formulaCols() []int { return nil }
func (c *csvRows) err() error         { return c.e }
func (c *csvRows) close() error       { return c.f.Close() }

func (f *File) open(sheet string) (rowSource, error) {
	if f.csv != nil {
		fh, err := os.Open(f.csv[sheet])
		if err != nil {
			return nil, err
		}
		br := bufio.NewReaderSize(fh, 64<<10)
		var rd io.Reader = br
		peek, perr := br.Peek(64 << 10)
		if crLineEnds(peek, perr != nil) {
			// Before decoding: CR, LF and '"' are single bytes in UTF-8
			// and GB18030 alike, never part of another character.
			rd = &crLines{r: br}
			f.notes = append(f.notes, Problem{Sheet: sheet, Reason: "the CSV's lines end with a carriage return only (classic Mac OS); each was read as a line end"})
		}
		bom := bytes.HasPrefix(peek, []byte("\ufeff"))
		if !utf8.Valid(trimPartialRune(bytes.TrimPrefix(peek, []byte("\ufeff")))) {
			rd = simplifiedchinese.GB18030.NewDecoder().Reader(rd)
			f.notes = append(f.notes, Problem{Sheet: sheet, Reason: "the CSV is not UTF-8; it was read as GB18030 (GBK)"})
		} else if bom {
			// Not part of the first field: a quoted first header after it
			// would be a bare quote to encoding/csv.
			br.Discard(3)
		}
		r := csv.NewReader(rd)
		r.FieldsPerRecord = -1
		r.ReuseRecord = false
		return &csvRows{f: fh, r: r}, nil
	}
	if fr, err := openFast(f.path, sheet, f.opts.UnzipSizeLimit); err == nil {
		return fr, nil
	}
	if f.xlsx == nil {
		if err := f.openExcelize(); err != nil {
			return nil, err
		}
	}
	r, err := f.xlsx.Rows(sheet)
	if err != nil {
		return nil, damaged(err)
	}
	return &xlsxRows{r: r}, nil
}

// crLineEnds reports whether head, the start of a CSV file (all of it
// when whole), ends its lines with a lone CR (classic Mac OS), which
// encoding/csv does not take for a line end: the whole file would be one
// record. That is when head has a CR outside quoted fields and no LF
// outside them (an LF inside quotes is a line break in a cell, which
// Excel writes as LF whatever the line ends). A stray CR inside an
// unquoted field of a file with LF or CRLF line ends stays part of the
// field, as before.
func crLineEnds(head []byte, whole bool) bool {
	quoted, cr := false, false
	for i, c := range head {
		switch {
		case c == '"':
			// Exact for valid CSV: a quote opens a field, closes it or
			// is doubled inside it; a bare quote elsewhere is a syntax
			// error encoding/csv reports at its line.
			quoted = !quoted
		case quoted:
		case c == '\n':
			return false
		case c == '\r' && (i+1 < len(head) || whole):
			cr = true
		}
	}
	return cr
}

// crLines reads a CSV whose lines end with a lone CR (see crLineEnds),
// turning every CR not followed by LF into LF. Inside a quoted field that
// is a line break in the cell either way; CRLF line ends, should the file
// mix them in, are left alone.
type crLines struct{ r *bufio.Reader }

func (c *crLines) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		switch {
		case b != '\r':
		case i+1 < n:
			if p[i+1] != '\n' {
				p[i] = '\n'
			}
		default: // the last byte read: look at the next one
			if next, perr := c.r.Peek(1); perr != nil || next[0] != '\n' {
				p[i] = '\n'
			}
		}
	}
	return n, err
}

func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		r, size := utf8.DecodeLastRune(b)
		if r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

// Ref points at a data row after it has been read: enough to report a
// problem about one of its cells later, without keeping the row's values.
type Ref struct {
	Sheet string
	// Line is the row's 1-based number in the sheet.
	Line  int
	sheet *Sheet
	addr  []int // spec column → 0-based file column, -1 if absent (shared by the sheet's rows)
}

// Problem builds a problem about column key's cell (the row when key is
// not a column).
func (r Ref) Problem(key, value, reason string) Problem {
	p := Problem{Sheet: r.Sheet, Row: r.Line, Value: value, Reason: reason}
	if r.sheet == nil {
		return p
	}
	if i, c := r.sheet.column(key); c != nil {
		p.Column = c.Header
		if r.addr[i] >= 0 {
			p.Cell = CellName(r.addr[i], r.Line)
		}
	}
	return p
}

// Row is one data row of a sheet, its cells cleaned and checked.
type Row struct {
	Ref
	vals []string // by spec column
	orig []string // the cells as found, by spec column
	bad  []bool   // spec column had an error
}

// Get returns the cleaned value of column key ("" when absent or empty).
func (r *Row) Get(key string) string {
	i, _ := r.sheet.column(key)
	if i < 0 {
		return ""
	}
	return r.vals[i]
}

// List returns the parts of a Multi column.
func (r *Row) List(key string) []string { return SplitMulti(r.Get(key)) }

// Bad reports whether the pipeline already found column key's cell wrong,
// so the domain need not report it twice.
func (r *Row) Bad(key string) bool {
	i, _ := r.sheet.column(key)
	return i >= 0 && r.bad[i]
}

// Problem builds a problem about column key's cell and marks it Bad.
func (r *Row) Problem(key, value, reason string) Problem {
	if i, _ := r.sheet.column(key); i >= 0 {
		r.bad[i] = true
	}
	return r.Ref.Problem(key, value, reason)
}

// CellName returns an A1-style address for a 0-based column and 1-based row.
func CellName(col, row int) string {
	s, _ := excelize.CoordinatesToCellName(col+1, row)
	return s
}

// Read streams the named sheet of the spec, calling visit for every
// non-empty data row after its cells are cleaned and checked (a row with
// cell errors is still visited, so the domain can report the rest of it;
// see Row.Bad). The first non-empty row is the header: a missing required
// column or an unknown one is an error and the sheet is not read further;
// a column with values but no header is an error at its first value.
// A missing sheet is an error unless the spec marks it Optional. A
// formula cell gives the result the file holds for it, as Excel and WPS
// save it; one whose result the file does not hold (written by a program
// that does not calculate) is an error, not an empty cell (the fast reader
// tells; excelize's Rows, for odd layouts, does not). visit
// returning an error stops the read with that error.
func (f *File) Read(ctx context.Context, sheet string, rep *Report, visit func(*Row) error) (err error) {
	sh := f.spec.Sheet(sheet)
	if sh == nil {
		return fmt.Errorf("sheet: spec has no sheet %q", sheet)
	}
	if rep.Format == "" {
		rep.Format = f.format
	}
	name, ok := f.resolve(sheet)
	if !ok {
		if !sh.Optional {
			have := ""
			if f.format == "xlsx" {
				have = "; the workbook has: " + strings.Join(f.sheets, ", ")
			}
			rep.FileError(sheet, "sheet "+sheet+" is missing"+have)
		}
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = damaged(fmt.Errorf("%v", r))
		}
	}()
	src, err := f.open(name)
	if err != nil {
		return err
	}
	defer src.close()
	for _, n := range f.notes {
		rep.AddNote(n)
	}
	f.notes = nil
	var (
		header   []int  // spec column → file column
		headed   []bool // file column has a header
		noHeader []bool // file column reported for values without a header
		line     = 0
		count    = 0
	)
	for {
		if line%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		raw, more := src.next()
		if !more {
			break
		}
		line++
		if blank(raw) {
			if header != nil {
				rep.AddNote(Problem{Sheet: sheet, Row: line, Reason: "empty row skipped"})
			}
			continue
		}
		if header == nil {
			if header, headed = f.header(sh, raw, line, rep); header == nil {
				return nil
			}
			continue
		}
		// A value in a column without a header belongs to no column: an
		// error at the column's first such cell, not a silent drop.
		for j, v := range raw {
			if v == "" || (j < len(headed) && headed[j]) || (j < len(noHeader) && noHeader[j]) {
				continue
			}
			if c, _ := Clean(v); c == "" {
				continue
			}
			if j >= len(noHeader) {
				noHeader = append(noHeader, make([]bool, j+1-len(noHeader))...)
			}
			noHeader[j] = true
			col, _ := excelize.ColumnNumberToName(j + 1)
			rep.AddProblem(Problem{Sheet: sheet, Row: line, Cell: CellName(j, line), Value: v,
				Reason: "column " + col + " has values but no header: give it its header from the template, or delete the column"})
		}
		row := &Row{Ref: Ref{Sheet: sheet, Line: line, sheet: sh, addr: header}, vals: make([]string, len(sh.Columns)), orig: make([]string, len(sh.Columns)), bad: make([]bool, len(sh.Columns))}
		formulas := src.formulaCols()
		for i := range sh.Columns {
			if header[i] >= 0 && header[i] < len(raw) {
				row.orig[i] = raw[header[i]]
				if slices.Contains(formulas, header[i]) {
					rep.Add(row, sh.Columns[i].Key, raw[header[i]], "a formula whose result the file does not hold: open and save the file in Excel or WPS, or paste the column as values")
				} else {
					row.vals[i] = f.cell(row, i, raw[header[i]], rep)
				}
			}
			if sh.Columns[i].Required && row.vals[i] == "" && !row.bad[i] {
				rep.Add(row, sh.Columns[i].Key, "", "required")
			}
		}
		count++
		if err := visit(row); err != nil {
			return err
		}
		if f.opts.Progress != nil && count%ProgressEvery == 0 {
			f.opts.Progress(Progress{Phase: "read", Sheet: sheet, Done: count})
		}
	}
	if err := src.err(); err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			rep.AddProblem(Problem{Sheet: sheet, Row: pe.Line, Reason: "CSV syntax: " + pe.Err.Error()})
			return nil
		}
		return damaged(err)
	}
	if header == nil {
		rep.FileError(sheet, "sheet "+sheet+" is empty: it needs the header row of the template")
	}
	rep.Rows[sheet] = count
	if f.opts.Progress != nil {
		f.opts.Progress(Progress{Phase: "read", Sheet: sheet, Done: count, Total: count})
	}
	return nil
}

func blank(raw []string) bool {
	for _, v := range raw {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// header maps the header row to the spec's columns (idx), and says which
// of the file's columns have a header (headed); nil when it does not fit
// the template (the problems are reported).
func (f *File) header(sh *Sheet, raw []string, line int, rep *Report) (idx []int, headed []bool) {
	idx = make([]int, len(sh.Columns))
	for i := range idx {
		idx[i] = -1
	}
	headed = make([]bool, len(raw))
	var unknown []string
	for j, h := range raw {
		h, _ = Clean(h)
		h = strings.TrimSuffix(strings.TrimPrefix(h, "*"), "*") // "*" marks required columns in templates
		if h == "" {
			continue
		}
		headed[j] = true
		found := false
		for i, c := range sh.Columns {
			if h == c.Header || slices.Contains(c.Aliases, h) {
				if idx[i] >= 0 {
					rep.AddProblem(Problem{Sheet: sh.Name, Row: line, Cell: CellName(j, line), Column: c.Header, Value: h, Reason: "this column appears twice"})
				}
				idx[i], found = j, true
				break
			}
		}
		if !found {
			unknown = append(unknown, h)
		}
	}
	var missing []string
	for i, c := range sh.Columns {
		if idx[i] < 0 && c.Required {
			missing = append(missing, c.Header)
		}
	}
	if len(missing) > 0 || len(unknown) > 0 {
		reason := "the header row does not match the template (download it from the hub):"
		if len(missing) > 0 {
			reason += " missing " + strings.Join(missing, ", ") + ";"
		}
		if len(unknown) > 0 {
			reason += " unknown " + strings.Join(unknown, ", ") + ";"
		}
		rep.AddProblem(Problem{Sheet: sh.Name, Row: line, Reason: strings.TrimSuffix(reason, ";")})
		return nil, nil
	}
	return idx, headed
}

var (
	// Excel shows a rounded number as 1.14206E+17: the exponent's sign is
	// required, so a valid credit code such as 91420606021445E835 passes.
	reExcelNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?[eE][+-][0-9]+$`)
	reDate        = regexp.MustCompile(`^([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?(\s+[0-9:]+)?$`)
	reSerial      = regexp.MustCompile(`^[0-9]{5}(\.[0-9]+)?$`)
)

// cell cleans and checks one value.
func (f *File) cell(row *Row, i int, v string, rep *Report) string {
	c := &row.sheet.Columns[i]
	max := c.Max
	if max == 0 {
		max = DefaultMaxCell
	}
	if c.Kind == Code && reExcelNumber.MatchString(strings.TrimSpace(v)) {
		rep.Add(row, c.Key, v, "Excel stored this code as a number and rounded it (numbers keep 15 digits): format the column as text and type the code again")
		return ""
	}
	if !utf8.ValidString(v) {
		rep.Add(row, c.Key, strings.ToValidUTF8(v, "\ufffd"), "not valid text (bytes that are not UTF-8): type it again, or save the CSV as UTF-8")
		return ""
	}
	if len(v) > max && utf8.RuneCountInString(v) > max {
		rep.Add(row, c.Key, v, fmt.Sprintf("%d characters; at most %d", utf8.RuneCountInString(v), max))
		return ""
	}
	clean, changed := Clean(v)
	if changed && c.Multi && strings.ReplaceAll(v, "；", ";") == clean {
		changed = false // the separator the hub's own files use (write.go), not a change
	}
	if changed && clean != "" {
		what := "spaces trimmed"
		if strings.TrimSpace(v) != clean {
			what = "full-width or special characters normalised"
		}
		rep.AddNote(Problem{Sheet: row.Sheet, Row: row.Line, Column: c.Header, Cell: CellName(row.addr[i], row.Line), Value: clean, Reason: what})
	}
	v = clean
	if v == "" {
		return ""
	}
	switch c.Kind {
	case Date:
		d, ok := parseDate(v, f.date1904)
		if !ok {
			rep.Add(row, c.Key, v, "a date such as 2024-01-31")
			return ""
		}
		v = d
	case Int:
		n, err := strconv.Atoi(strings.TrimSuffix(v, ".0"))
		if err != nil || n < 0 || n > 999_999_999 {
			rep.Add(row, c.Key, v, "a whole number")
			return ""
		}
		v = strconv.Itoa(n)
	case Bool:
		switch strings.ToLower(v) {
		case "是", "y", "yes", "true", "1", "√":
			v = "true"
		case "否", "n", "no", "false", "0", "×":
			v = "false"
		default:
			rep.Add(row, c.Key, v, "是 or 否")
			return ""
		}
	}
	if len(c.Choices) > 0 {
		parts := []string{v}
		if c.Multi {
			parts = SplitMulti(v)
		}
		for _, p := range parts {
			if !slices.Contains(c.Choices, p) {
				rep.Add(row, c.Key, p, "one of "+strings.Join(c.Choices, ", "))
				return ""
			}
		}
	}
	return v
}

// parseDate reads a date as text or as an Excel serial, counted from 1904
// when date1904 (the workbook's date system) is set.
func parseDate(v string, date1904 bool) (string, bool) {
	if m := reDate.FindStringSubmatch(v); m != nil {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
		if t.Year() != y || int(t.Month()) != mo || t.Day() != d {
			return "", false
		}
		return t.Format("2006-01-02"), true
	}
	if reSerial.MatchString(v) {
		f, _ := strconv.ParseFloat(v, 64)
		t, err := excelize.ExcelDateToTime(f, date1904)
		if err == nil && t.Year() >= 1950 && t.Year() <= 2100 {
			return t.Format("2006-01-02"), true
		}
	}
	return "", false
}

// SaveTemp copies r (an upload) into a temp file in dir, at most limit
// bytes, and returns its path and a function that removes it. The file is
// named with ext so Open's messages can use it.
func SaveTemp(r io.Reader, dir, ext string, limit int64) (path string, remove func(), err error) {
	fh, err := os.CreateTemp(dir, "sharehub-upload-*"+ext)
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.Remove(fh.Name()) }
	n, err := io.Copy(fh, io.LimitReader(r, limit+1))
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove()
		return "", nil, err
	}
	if n > limit {
		remove()
		return "", nil, errs.TooLarge("the upload is over the limit of %d bytes", limit)
	}
	return fh.Name(), remove, nil
}
