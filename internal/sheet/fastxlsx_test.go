package sheet

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xuri/excelize/v2"
)

// excelizeRows reads a sheet with excelize, as File.open did before the
// fast reader.
func excelizeRows(t *testing.T, path, sheet string) [][]string {
	t.Helper()
	x, err := excelize.OpenFile(path, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	rows, err := x.Rows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	src := &xlsxRows{r: rows}
	defer src.close()
	var out [][]string
	for {
		r, ok := src.next()
		if !ok {
			break
		}
		out = append(out, r)
	}
	return out
}

func fastRowsOf(t *testing.T, path, sheet string) [][]string {
	t.Helper()
	fr, err := openFast(path, sheet, DefaultUnzipSizeLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.close()
	var out [][]string
	for {
		r, ok := fr.next()
		if !ok {
			break
		}
		out = append(out, r)
	}
	if err := fr.err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRows(t *testing.T, name string, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, excelize %d:\n got %q\nwant %q", name, len(got), len(want), got, want)
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) && !(len(got[i]) == 0 && len(want[i]) == 0) {
			t.Fatalf("%s: row %d = %q, excelize %q", name, i+1, got[i], want[i])
		}
	}
}

// TestFastRowsMatchExcelize: the fast reader yields what excelize's rows
// yield, for a workbook written by excelize itself (shared strings, gaps,
// formulas, numbers, booleans, rich text, escapes) and one written by our
// streaming Writer (inline strings).
func TestFastRowsMatchExcelize(t *testing.T) {
	dir := t.TempDir()
	x := excelize.NewFile()
	sh := "信息资源"
	x.SetSheetName("Sheet1", sh)
	set := func(cell string, v any) {
		if err := x.SetCellValue(sh, cell, v); err != nil {
			t.Fatal(err)
		}
	}
	set("A1", "名称")
	set("B1", "代码")
	set("D1", "说明 & <注> \"引号\" 'a'")
	set("A2", "不动产登记信息")
	set("B2", 1.14206e17)
	set("C2", true)
	set("E2", "line1\r\nline2\rline3")
	set("A3", "  spaced  ")
	set("B3", "_x0041_ and _x005F_x0041_")
	// Row 4 missing; row 6 has a formula with no cached value.
	set("A5", 42)
	set("C5", "x")
	if err := x.SetCellFormula(sh, "B6", "A5*2"); err != nil {
		t.Fatal(err)
	}
	set("A7", "")
	set("A8", "末行")
	if err := x.SetCellRichText(sh, "B8", []excelize.RichTextRun{{Text: "粗"}, {Text: "体&"}}); err != nil {
		t.Fatal(err)
	}
	set("AA9", "far")
	x.NewSheet("第二")
	x.SetCellValue("第二", "B2", "second")
	p1 := filepath.Join(dir, "excelize.xlsx")
	if err := x.SaveAs(p1); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "excelize workbook", fastRowsOf(t, p1, sh), excelizeRows(t, p1, sh))
	sameRows(t, "excelize workbook, second sheet", fastRowsOf(t, p1, "第二"), excelizeRows(t, p1, "第二"))

	spec := Spec{Sheets: []Sheet{{Name: "数据", Columns: []Column{{Key: "a", Header: "甲"}, {Key: "b", Header: "乙"}, {Key: "c", Header: "丙"}}}}}
	w, err := NewWriter(spec, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Append("数据", []string{"一", "", "三 & <四>"})
	w.Append("数据", []string{"", "", ""})
	w.Append("数据", []string{"001", "1.5E+17", "x\ny"})
	p2 := filepath.Join(dir, "writer.xlsx")
	fh, err := os.Create(p2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(fh); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	w.Close()
	sameRows(t, "Writer workbook", fastRowsOf(t, p2, "数据"), excelizeRows(t, p2, "数据"))
}
