package sheet_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		changed  bool
	}{
		{"户籍人口", "户籍人口", false},
		{"  户籍　人口 ", "户籍 人口", true},
		{"ＡＢＣ１２３", "ABC123", true},
		{"a\t\nb", "a b", true},
		{"x\u200by", "xy", true},
		{"", "", false},
		{"（本级）", "(本级)", true},
	} {
		got, ch := sheet.Clean(tc.in)
		if got != tc.want || ch != tc.changed {
			t.Errorf("Clean(%q) = %q, %v; want %q, %v", tc.in, got, ch, tc.want, tc.changed)
		}
	}
}

var spec = sheet.Spec{Sheets: []sheet.Sheet{{Name: "人员", Columns: []sheet.Column{
	{Key: "name", Header: "姓名", Required: true, Max: 10},
	{Key: "id", Header: "证件号码", Kind: sheet.Code},
	{Key: "day", Header: "日期", Kind: sheet.Date},
	{Key: "n", Header: "数量", Kind: sheet.Int},
	{Key: "kind", Header: "类别", Choices: []string{"甲", "乙"}},
}}}}

func TestReadAndAnnotate(t *testing.T) {
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", "人员")
	rows := [][]any{
		{"姓名", "证件号码", "日期", "数量", "类别"},
		{"张三", "420602199001011234", "2024/1/5", "3", "甲"},
		{"", "1.2345E+17", "明天", "three", "丙"},
		{},
		{"李四名字太长太长太长太长", "", 45292, "", ""},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		f.SetSheetRow("人员", cell, &r)
	}
	f.SetCellDefault("人员", "B3", "1.2345E+17")
	p := filepath.Join(t.TempDir(), "people.xlsx")
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	file, err := sheet.Open(p, spec, sheet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	rep := sheet.NewReport()
	var got []string
	err = file.Read(context.Background(), "人员", rep, func(r *sheet.Row) error {
		got = append(got, r.Get("name")+"|"+r.Get("day"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "张三|2024-01-05,|,|2024-01-01" {
		t.Fatalf("rows %v", got)
	}
	want := map[string]string{"人员!A3": "required", "人员!B3": "rounded", "人员!C3": "date", "人员!D3": "whole number", "人员!E3": "one of 甲, 乙", "人员!A5": "at most 10"}
	for _, p := range rep.Errors {
		if w, ok := want[p.Pointer()]; ok && strings.Contains(p.Reason, w) {
			delete(want, p.Pointer())
		}
	}
	if len(want) > 0 || rep.ErrorCount != 6 {
		t.Fatalf("missing %v; errors %+v", want, rep.Errors)
	}
	if rep.NoteCount != 1 || rep.Notes[0].Reason != "empty row skipped" {
		t.Fatalf("notes %+v", rep.Notes)
	}
	// The annotated copy has an error column with each row's reasons.
	var buf bytes.Buffer
	if err := sheet.WriteAnnotated(context.Background(), file, rep, &buf); err != nil {
		t.Fatal(err)
	}
	out, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ar, _ := out.GetRows("人员")
	if len(ar) != 4 || ar[0][5] != "错误说明" || len(ar[1]) > 5 && ar[1][5] != "" || !strings.Contains(ar[2][5], "证件号码：") || ar[2][1] != "1.2345E+17" {
		t.Fatalf("annotated rows %q", ar)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "6 errors") {
		t.Fatalf("Err() = %v", err)
	}
}

func TestReportCapsAndClips(t *testing.T) {
	rep := sheet.NewReport()
	rep.MaxProblems = 3
	for i := 0; i < 10; i++ {
		rep.AddProblem(sheet.Problem{Sheet: "s", Row: i + 2, Value: strings.Repeat("长", 1000), Reason: "bad"})
	}
	if rep.ErrorCount != 10 || len(rep.Errors) != 3 {
		t.Fatalf("count %d kept %d", rep.ErrorCount, len(rep.Errors))
	}
	if v := rep.Errors[0].Value; len([]rune(v)) > 120 || !strings.Contains(v, "1000 characters") {
		t.Fatalf("value not clipped: %d runes", len([]rune(v)))
	}
	if !strings.Contains(rep.Err().Error(), "the first 3 are listed") {
		t.Fatal(rep.Err())
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string][]byte{
		"x.xlsx":  []byte("plain text"),
		"x.bin":   {0, 1, 2, 3},
		"x.csv":   nil,
		"old.xls": {0xD0, 0xCF, 0x11, 0xE0, 0, 0},
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, body, 0o600)
		if _, err := sheet.Open(p, spec, sheet.Options{}); err == nil {
			t.Errorf("%s opened", name)
		}
	}
	// SaveTemp enforces its limit.
	if _, _, err := sheet.SaveTemp(bytes.NewReader(make([]byte, 100)), dir, ".csv", 99); err == nil {
		t.Error("SaveTemp over the limit")
	}
	p, rm, err := sheet.SaveTemp(bytes.NewReader(make([]byte, 99)), dir, ".csv", 99)
	if err != nil {
		t.Fatal(err)
	}
	rm()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("temp file not removed")
	}
}

// TestDate1904: a workbook in the 1904 date system (older Mac Excel,
// workbookPr date1904 "true" or "1") has its date serials counted from
// 1904, on the fast reader and on the excelize fallback, and its annotated
// copy gives the date, not a serial that would read 4 years early in the
// copy's 1900 system; before, every date was read 4 years and a day early
// (2024-01-05 as 2020-01-04).
func TestDate1904(t *testing.T) {
	x := excelize.NewFile()
	x.SetSheetName("Sheet1", "人员")
	on := true
	if err := x.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &on}); err != nil {
		t.Fatal(err)
	}
	x.SetSheetRow("人员", "A1", &[]any{"姓名", "证件号码", "日期"})
	x.SetSheetRow("人员", "A2", &[]any{"张三", "X1"})
	// Set after the flag, the cell holds the serial of the 1904 system.
	if err := x.SetCellValue("人员", "C2", time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	parts := partsOf(t, x)
	if s := string(parts["xl/worksheets/sheet1.xml"]); !strings.Contains(s, "<v>43834</v>") {
		t.Fatalf("C2 is not the 1904 serial of 2024-01-05 (43834):\n%s", s)
	}
	wb := string(parts["xl/workbook.xml"])
	if !strings.Contains(wb, `date1904="true"`) {
		t.Fatalf("no date1904 flag:\n%s", wb)
	}
	for _, flag := range []string{"true", "1"} {
		parts["xl/workbook.xml"] = []byte(strings.Replace(wb, `date1904="true"`, `date1904="`+flag+`"`, 1))
		for _, layout := range []string{"fast", "excelize rows", "excelize"} {
			p := parts
			if layout != "fast" {
				// Parts under Windows paths, which only excelize reads:
				// the worksheet (excelize reads the rows, the fast reader
				// the workbook part) or both (excelize reads all).
				p = maps.Clone(parts)
				move := []string{"xl/worksheets/sheet1.xml"}
				if layout == "excelize" {
					move = append(move, "xl/workbook.xml")
				}
				for _, name := range move {
					p[strings.ReplaceAll(name, "/", `\`)] = p[name]
					delete(p, name)
				}
			}
			path := zipParts(t, p, "", nil)
			rep, got := readPeople(t, path, "name", "day")
			if !rep.OK() || strings.Join(got, ",") != "张三|2024-01-05" {
				t.Errorf("date1904=%q, %s: rows %q, errors %+v", flag, layout, got, rep.Errors)
			}
			f, err := sheet.Open(path, spec, sheet.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			err = sheet.WriteAnnotated(context.Background(), f, sheet.NewReport(), &buf)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			out, err := excelize.OpenReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := out.GetCellValue("人员", "C2"); v != "2024-01-05" {
				t.Errorf("date1904=%q, %s: the annotated copy has %q for 2024-01-05", flag, layout, v)
			}
			out.Close()
		}
	}
}

// TestColumnWithoutHeader: values in a column whose header cell is empty
// (or beyond the header row's last cell) are an error at the column's
// first such cell, naming the column; before, they were dropped without a
// word. A column without a header and without values, blank or trailing,
// is fine.
func TestColumnWithoutHeader(t *testing.T) {
	t.Run("csv", func(t *testing.T) {
		rep, got := readCSV(t, "姓名,日期,,\n张三,2024-01-05,,\n李四,2024-01-06,,备注\n王五,2024-01-07,,又一条,多出来\n")
		if strings.Join(got, ",") != "张三|2024-01-05,李四|2024-01-06,王五|2024-01-07" {
			t.Fatalf("rows %q", got)
		}
		want := map[string]string{"人员!D3": "column D has values but no header", "人员!E4": "column E has values but no header"}
		for _, p := range rep.Errors {
			if w, ok := want[p.Pointer()]; ok && strings.Contains(p.Reason, w) && p.Value != "" {
				delete(want, p.Pointer())
			}
		}
		if len(want) > 0 || rep.ErrorCount != 2 {
			t.Fatalf("missing %v; errors %+v", want, rep.Errors)
		}
		// The import's error carries it like any cell error.
		if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "2 errors") {
			t.Fatalf("Err() = %v", err)
		}
	})
	t.Run("xlsx", func(t *testing.T) {
		parts := workbookParts(t, []any{"姓名", nil, "日期"}, []any{"张三", nil, "2024-01-05"}, []any{"李四", "备注", "2024-01-06"})
		rep, got := readPeople(t, zipParts(t, parts, "", nil), "name", "day")
		if strings.Join(got, ",") != "张三|2024-01-05,李四|2024-01-06" {
			t.Fatalf("rows %q", got)
		}
		if rep.ErrorCount != 1 || rep.Errors[0].Pointer() != "人员!B3" || !strings.Contains(rep.Errors[0].Reason, "column B has values but no header") || rep.Errors[0].Value != "备注" {
			t.Fatalf("errors %+v, want one at 人员!B3 naming column B", rep.Errors)
		}
	})
	t.Run("empty columns", func(t *testing.T) {
		rep, got := readCSV(t, "姓名,,日期,,\n张三,,2024-01-05,,\n李四, ,2024-01-06,,,,\n")
		if !rep.OK() || strings.Join(got, ",") != "张三|2024-01-05,李四|2024-01-06" {
			t.Fatalf("rows %q, errors %+v", got, rep.Errors)
		}
	})
}

// TestCSVCROnlyLineEnds: a CSV whose lines end with a lone CR (classic
// Mac OS) is read line by line, with a note, and a line break inside a
// quoted field (CR or LF) stays in its cell; before, encoding/csv took
// the whole file for one record and the header did not match. A stray CR
// in a file with CRLF line ends is still part of its field.
func TestCSVCROnlyLineEnds(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string
		note       bool
	}{
		{"CR only", "姓名,日期\r张三,2024-01-05\r李四,2024-01-06", "张三|2024-01-05,李四|2024-01-06", true},
		{"CR only, trailing CR", "姓名,日期\r张三,2024-01-05\r李四,2024-01-06\r", "张三|2024-01-05,李四|2024-01-06", true},
		{"quoted line breaks", "\"姓名\",\"日期\"\r\"张\r三\",2024-01-05\r\"李\n四\",\"2024-01-06\"\r\"王\"\"五\"\"\",2024-01-07\r", `张 三|2024-01-05,李 四|2024-01-06,王"五"|2024-01-07`, true},
		{"CRLF with a stray CR", "姓名,日期\r\n张\r三,2024-01-05\r\n", "张 三|2024-01-05", false},
	} {
		rep, got := readCSV(t, tc.body)
		if !rep.OK() || strings.Join(got, ",") != tc.want {
			t.Errorf("%s: rows %q, errors %+v; want %q", tc.name, got, rep.Errors, tc.want)
		}
		note := false
		for _, n := range rep.Notes {
			note = note || strings.Contains(n.Reason, "carriage return")
		}
		if note != tc.note {
			t.Errorf("%s: notes %+v", tc.name, rep.Notes)
		}
	}
	// Longer than the reads and the 64 KiB looked at first, so that
	// line ends fall at the end of a read; a CRLF line end mixed in
	// stays one line end.
	var b strings.Builder
	b.WriteString("姓名,日期\r")
	const n = 10000
	for i := 0; i < n; i++ {
		b.WriteString("张三,2024-01-05\r")
	}
	b.WriteString("李四,2024-01-06\r\n王五,2024-01-07\r")
	rep, got := readCSV(t, b.String())
	if !rep.OK() || len(got) != n+2 || got[n-1] != "张三|2024-01-05" || got[n] != "李四|2024-01-06" || got[n+1] != "王五|2024-01-07" {
		t.Fatalf("%d rows (want %d), errors %+v", len(got), n+2, rep.Errors)
	}
	if rep.NoteCount != 1 {
		t.Fatalf("notes %+v", rep.Notes)
	}
	// A syntax error after it is reported at its line, the CRLF counted
	// once.
	long := b.String()
	rep, _ = readCSV(t, long[:len(long)-len("王五,2024-01-07\r")]+"王五,\"x\"y\r")
	if rep.ErrorCount != 1 || rep.Errors[0].Row != n+3 || !strings.Contains(rep.Errors[0].Reason, "CSV syntax") {
		t.Fatalf("errors %+v, want a CSV syntax error on row %d", rep.Errors, n+3)
	}
}
