package sheet_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// TestProblemCSV: with a ProblemCSV as the report's OnError, every error
// of a read lands in the file, also those beyond the MaxProblems the
// report keeps: UTF-8 with a byte order mark, the bilingual header, a row
// per problem with sheet, row, cell, column, reason and value; a value
// that Excel would run as a formula is made inert.
func TestProblemCSV(t *testing.T) {
	var csvIn strings.Builder
	csvIn.WriteString("姓名,证件号码,日期,数量,类别\n")
	const bad = 25
	for i := 1; i <= bad; i++ {
		fmt.Fprintf(&csvIn, "张%d,X%d,2024-01-01,%d,甲\n", i, i, i)
		fmt.Fprintf(&csvIn, "李%d,Y%d,明天,1,甲\n", i, i) // a bad date
	}
	csvIn.WriteString("王五,Z1,2024-01-01,=1+2,甲\n") // a bad number that looks like a formula
	path := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(path, []byte(csvIn.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := sheet.Open(path, spec, sheet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	pc := sheet.NewProblemCSV(&out)
	rep := sheet.NewReport()
	rep.MaxProblems = 5
	rep.OnError = pc.Add
	if err := f.Read(context.Background(), "人员", rep, func(*sheet.Row) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rep.FileError("人员", "a finding about the whole sheet")
	if err := pc.Flush(); err != nil {
		t.Fatal(err)
	}
	if rep.ErrorCount != bad+2 || len(rep.Errors) != 5 || pc.Count() != rep.ErrorCount {
		t.Fatalf("report has %d errors (%d kept), the file %d; want %d, 5 kept, all in the file", rep.ErrorCount, len(rep.Errors), pc.Count(), bad+2)
	}
	b := out.Bytes()
	if !bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		t.Fatalf("no UTF-8 byte order mark: %q", b[:min(len(b), 10)])
	}
	recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], sheet.ProblemHeader) || len(recs) != 1+rep.ErrorCount {
		t.Fatalf("header %q and %d rows; want %q and %d", recs[0], len(recs)-1, sheet.ProblemHeader, rep.ErrorCount)
	}
	for i := 1; i <= bad; i++ {
		want := []string{"人员", fmt.Sprint(2*i + 1), fmt.Sprintf("C%d", 2*i+1), "日期", "a date such as 2024-01-31", "明天"}
		if !slices.Equal(recs[i], want) {
			t.Errorf("problem %d: %q, want %q", i, recs[i], want)
		}
	}
	if got := recs[bad+1]; got[1] != fmt.Sprint(2*bad+2) || got[3] != "数量" || got[5] != "'=1+2" {
		t.Errorf("formula-like value: %q, want row %d, column 数量 and the value '=1+2", got, 2*bad+2)
	}
	if got := recs[bad+2]; !slices.Equal(got, []string{"人员", "", "", "", "a finding about the whole sheet", ""}) {
		t.Errorf("sheet-wide problem: %q", got)
	}
}
