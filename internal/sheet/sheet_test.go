package sheet_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
