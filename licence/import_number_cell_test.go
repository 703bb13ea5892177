package licence_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestImportRefusesNumberExcelRounded: a 证照编号 of more than 15 digits
// typed into a number cell is kept by Excel as a rounded number
// (4.20602202400001E+17 in the xlsx, "4.20602E+17" in a CSV it saves).
// Its digits are lost: the row is refused at the 证照编号 cell, as a
// rounded 持证主体代码 is, not imported as a licence numbered
// "4.20602E+17".
func TestImportRefusesNumberExcelRounded(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		typeCode := f.types["居民身份证"].Code
		face := `{"gender":"男","ethnicity":"汉","birth_date":"1980-01-02","address":"湖北省襄阳市襄城区檀溪路1号"}`
		header := []any{"证照类型代码", "证照编号", "颁发机构代码", "持证主体", "持证主体代码类型", "持证主体代码", "颁发日期", "有效期起始日期", "有效期截止日期", "属地代码", "照面信息"}

		// xlsx: the number cell as Excel stores it.
		x := excelize.NewFile()
		if err := x.SetSheetName("Sheet1", licence.SheetName); err != nil {
			t.Fatal(err)
		}
		x.SetSheetRow(licence.SheetName, "A1", &header)
		x.SetSheetRow(licence.SheetName, "A2", &[]any{typeCode, "", "11420600000000027M", "张三", "111", person(), "2020-01-01", "", "", "420602", face})
		if err := x.SetCellDefault(licence.SheetName, "B2", "4.20602202400001E+17"); err != nil {
			t.Fatal(err)
		}
		xlsx := filepath.Join(t.TempDir(), "licences.xlsx")
		if err := x.SaveAs(xlsx); err != nil {
			t.Fatal(err)
		}
		x.Close()

		// CSV: as Excel saves the same sheet, the number as it displays it.
		csvFace := `"` + strings.ReplaceAll(face, `"`, `""`) + `"`
		csv := filepath.Join(t.TempDir(), "licences.csv")
		if err := os.WriteFile(csv, []byte("证照类型代码,证照编号,颁发机构代码,持证主体,持证主体代码类型,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,属地代码,照面信息\n"+
			typeCode+",4.20602E+17,11420600000000027M,张三,111,"+person()+",2020-01-01,,,420602,"+csvFace+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}

		for _, path := range []string{xlsx, csv} {
			t.Run(filepath.Ext(path), func(t *testing.T) {
				rep, err := f.svc.Import(ctx, path, licence.ImportOptions{By: importer, Commit: true})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Committed || rep.Created != 0 || len(rep.Errors) != 1 || rep.Errors[0].Column != "证照编号" || rep.Errors[0].Row != 2 ||
					!strings.Contains(rep.Errors[0].Reason, "rounded") {
					t.Fatalf("a 证照编号 Excel rounded: created %d, errors %+v; want row 2 refused at 证照编号", rep.Created, rep.Errors)
				}
			})
		}
		var n int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences WHERE number LIKE '%E+%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d licences numbered with a rounded number (%v)", n, err)
		}
	})
}
