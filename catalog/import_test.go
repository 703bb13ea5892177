package catalog_test

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

var itemHeader = []any{"资源代码", "信息资源名称", "类", "项", "目", "细目", "提供方", "提供方代码", "信息资源摘要", "信息资源格式",
	"共享类型", "共享条件", "共享依据", "共享方式", "开放类型", "更新周期", "发布日期", "所属库", "关联资源代码"}

var fieldHeader = []any{"资源代码", "信息资源名称", "信息项名称", "信息项代码", "数据类型", "数据长度", "描述", "是否个人信息", "是否敏感"}

// itemCells is a good items-sheet row.
func itemCells(name, provider string) []any {
	return []any{"", name, "1", "01", "001", "", provider, "", name + "的摘要", "数据库",
		"无条件共享", "", "", "接口服务", "不予开放", "每日", "2024-03-01", "人口基础库", ""}
}

func fieldCells(itemName, fname, fcode string) []any {
	return []any{"", itemName, fname, fcode, "字符型", "50", "", "是", "否"}
}

// rawNumber is a number cell with exactly this stored value, as Excel
// writes it ("1.14206E+17").
type rawNumber string

type sheetRows struct {
	name string
	rows [][]any
}

// writeXLSX writes a workbook with the sheets, cells as given (strings
// become text cells, numbers number cells).
func writeXLSX(t *testing.T, sheets ...sheetRows) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, sh := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", sh.name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(sh.name); err != nil {
			t.Fatal(err)
		}
		for r, row := range sh.rows {
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := f.SetSheetRow(sh.name, cell, &row); err != nil {
				t.Fatal(err)
			}
			for c, v := range row {
				if raw, ok := v.(rawNumber); ok {
					cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
					if err := f.SetCellDefault(sh.name, cell, string(raw)); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	p := filepath.Join(t.TempDir(), "catalog.xlsx")
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// goodFile is a valid workbook of three items with fields.
func goodFile(t *testing.T, edit ...func(items, fields *[][]any)) string {
	t.Helper()
	items := [][]any{itemHeader,
		itemCells("户籍人口信息", "襄阳市公安局"),
		itemCells("居民身份证信息", "襄阳市公安局"),
		itemCells("婚姻登记信息", "襄阳市民政局"),
	}
	fields := [][]any{fieldHeader,
		fieldCells("户籍人口信息", "姓名", "xm"),
		fieldCells("户籍人口信息", "公民身份号码", "gmsfhm"),
		fieldCells("居民身份证信息", "证件号码", "zjhm"),
		fieldCells("婚姻登记信息", "男方姓名", "nfxm"),
	}
	for _, e := range edit {
		e(&items, &fields)
	}
	return writeXLSX(t, sheetRows{catalog.SheetItems, items}, sheetRows{catalog.SheetFields, fields})
}

func importFile(t *testing.T, s *catalog.Service, path string, opts catalog.ImportOptions) *sheet.Report {
	t.Helper()
	if opts.By == nil {
		opts.By = admin
	}
	rep, err := s.Import(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return rep
}

func countItems(t *testing.T, s *catalog.Service) int {
	t.Helper()
	n := 0
	if err := s.EachItem(context.Background(), catalog.Filter{}, func(catalog.Item) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantProblem fails unless the report has an error at the cell whose
// reason contains want.
func wantProblem(t *testing.T, rep *sheet.Report, cell, want string) {
	t.Helper()
	for _, p := range rep.Errors {
		if p.Pointer() == cell && strings.Contains(p.Reason, want) {
			return
		}
	}
	t.Fatalf("no error at %s saying %q; errors: %+v", cell, want, rep.Errors)
}

func TestImportRoundTrip(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		// One item in two libraries, written as a user would.
		path := goodFile(t, func(items, _ *[][]any) { (*items)[2][17] = "人口基础库、电子证照基础库" })

		// Dry run by default: a report, nothing written.
		rep := importFile(t, s, path, catalog.ImportOptions{})
		if !rep.OK() || !rep.DryRun || rep.Committed || rep.Created != 3 || rep.Rows[catalog.SheetItems] != 3 || rep.Rows[catalog.SheetFields] != 4 {
			t.Fatalf("dry run report %+v", rep)
		}
		if n := countItems(t, s); n != 0 {
			t.Fatalf("dry run wrote %d items", n)
		}
		rep = importFile(t, s, path, catalog.ImportOptions{Commit: true, Publish: true})
		if !rep.Committed || rep.Created != 3 {
			t.Fatalf("commit report %+v", rep)
		}
		items, _, _ := s.Items(ctx, catalog.Filter{})
		if len(items) != 3 || items[0].Status != catalog.StatusPublished || len(items[0].Fields) != 2 || items[0].Fields[1].Code != "gmsfhm" || !items[0].Fields[0].Personal {
			t.Fatalf("imported %+v", items)
		}
		if r, _ := s.Search(ctx, catalog.SearchQuery{Q: "户籍"}); len(r.Items) != 1 {
			t.Fatalf("imported item not searchable: %+v", r)
		}

		// The same file again changes nothing.
		rep = importFile(t, s, path, catalog.ImportOptions{Commit: true, Publish: true})
		if rep.Created != 0 || rep.Updated != 0 || rep.Unchanged != 3 {
			t.Fatalf("re-import report %+v", rep)
		}
		for _, it := range items {
			if vs, _ := s.Versions(ctx, it.Code); len(vs) != 1 {
				t.Fatalf("re-import made versions of %s: %+v", it.Code, vs)
			}
		}

		// Export, then import the export: nothing changes.
		var buf bytes.Buffer
		if n, err := s.Export(ctx, catalog.Filter{}, &buf); err != nil || n != 3 {
			t.Fatalf("export: %d, %v", n, err)
		}
		exp := filepath.Join(t.TempDir(), "export.xlsx")
		if err := os.WriteFile(exp, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		rep = importFile(t, s, exp, catalog.ImportOptions{Commit: true})
		if !rep.OK() || rep.Unchanged != 3 || rep.Updated+rep.Created != 0 {
			t.Fatalf("re-import of export: %+v", rep)
		}
		// The hub's own file needs no normalising (a multi-library cell is
		// written with "；").
		if len(rep.Notes) != 0 {
			t.Fatalf("re-import of export made notes: %+v", rep.Notes)
		}

		// An edited export: a new version of the changed item only.
		x, err := excelize.OpenFile(exp)
		if err != nil {
			t.Fatal(err)
		}
		_ = x.SetCellValue(catalog.SheetItems, "I2", "改过的摘要")
		_ = x.SetSheetRow(catalog.SheetFields, "A6", &[]any{items[0].Code, "", "出生日期", "csrq", "日期型", "", "", "是", "否"})
		if err := x.Save(); err != nil {
			t.Fatal(err)
		}
		x.Close()
		rep = importFile(t, s, exp, catalog.ImportOptions{Commit: true})
		if !rep.OK() || rep.Updated != 1 || rep.Unchanged != 2 {
			t.Fatalf("edited import: %+v", rep)
		}
		vs, _ := s.Versions(ctx, items[0].Code)
		if len(vs) != 2 || len(vs[1].Changes) != 2 || vs[1].Changes[0].Field != "summary" || vs[1].Changes[1].Field != "fields/csrq" {
			t.Fatalf("versions after edit: %+v", vs)
		}
		if vs, _ := s.Versions(ctx, items[1].Code); len(vs) != 1 {
			t.Fatalf("unchanged item got a version: %+v", vs)
		}
	})
}

func TestImportBadFiles(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		dir := t.TempDir()
		t.Run("not a zip", func(t *testing.T) {
			p := filepath.Join(dir, "fake.xlsx")
			os.WriteFile(p, []byte("名称,代码\n这不是xlsx,1\n"), 0o600)
			_, err := s.Import(ctx, p, catalog.ImportOptions{By: admin})
			wantField(t, err, "file")
			if !strings.Contains(err.(*errs.Error).Fields[0].Reason, "zip") {
				t.Errorf("reason %q does not say it is not a zip", err.(*errs.Error).Fields[0].Reason)
			}
		})
		t.Run("damaged zip", func(t *testing.T) {
			p := filepath.Join(dir, "damaged.xlsx")
			os.WriteFile(p, append([]byte("PK\x03\x04"), bytes.Repeat([]byte{1}, 100)...), 0o600)
			_, err := s.Import(ctx, p, catalog.ImportOptions{By: admin})
			wantField(t, err, "file")
		})
		t.Run("old xls", func(t *testing.T) {
			p := filepath.Join(dir, "old.xls")
			os.WriteFile(p, append([]byte{0xD0, 0xCF, 0x11, 0xE0}, make([]byte, 100)...), 0o600)
			_, err := s.Import(ctx, p, catalog.ImportOptions{By: admin})
			wantField(t, err, "file")
		})
		t.Run("empty file", func(t *testing.T) {
			p := filepath.Join(dir, "empty.csv")
			os.WriteFile(p, nil, 0o600)
			_, err := s.Import(ctx, p, catalog.ImportOptions{By: admin})
			wantField(t, err, "file")
		})
		t.Run("zip bomb", func(t *testing.T) {
			// A workbook whose sheet unpacks to 64 MiB from about 64 KiB.
			p := filepath.Join(dir, "bomb.xlsx")
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for _, name := range []string{"[Content_Types].xml", "xl/workbook.xml"} {
				w, _ := zw.Create(name)
				w.Write([]byte("<x/>"))
			}
			w, _ := zw.Create("xl/worksheets/sheet1.xml")
			chunk := bytes.Repeat([]byte(" "), 1<<20)
			for i := 0; i < 64; i++ {
				w.Write(chunk)
			}
			zw.Close()
			os.WriteFile(p, buf.Bytes(), 0o600)
			_, err := s.Import(ctx, p, catalog.ImportOptions{By: admin, UnzipSizeLimit: 16 << 20})
			wantKind(t, err, errs.KindTooLarge)
		})
		t.Run("missing sheet", func(t *testing.T) {
			p := writeXLSX(t, sheetRows{"数据", [][]any{itemHeader, itemCells("户籍人口信息", "襄阳市公安局")}})
			rep := importFile(t, s, p, catalog.ImportOptions{Commit: true})
			wantProblem(t, rep, catalog.SheetItems, "sheet 信息资源 is missing")
			if !strings.Contains(rep.Errors[0].Reason, "数据") {
				t.Errorf("reason %q does not list the sheets found", rep.Errors[0].Reason)
			}
		})
		t.Run("wrong header row", func(t *testing.T) {
			p := goodFile(t, func(items, _ *[][]any) { (*items)[0] = []any{"名称", "代码", "部门"} })
			rep := importFile(t, s, p, catalog.ImportOptions{Commit: true})
			wantProblem(t, rep, catalog.SheetItems+"!1:1", "missing 信息资源名称")
			wantProblem(t, rep, catalog.SheetItems+"!1:1", "unknown 名称")
		})
		t.Run("empty sheet", func(t *testing.T) {
			p := writeXLSX(t, sheetRows{catalog.SheetItems, nil})
			rep := importFile(t, s, p, catalog.ImportOptions{Commit: true})
			wantProblem(t, rep, catalog.SheetItems, "empty")
		})
		if n := countItems(t, s); n != 0 {
			t.Fatalf("bad files wrote %d items", n)
		}
	})
}

func TestImportBadRows(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		// One item in the database, to collide with.
		existing := mustCreate(t, s, admin, content("xy-gaj", "已有资源"))
		for _, tc := range []struct {
			name string
			edit func(items, fields *[][]any)
			cell string
			want string
		}{
			{"number where a code is expected", func(items, _ *[][]any) { (*items)[1][3] = 1 }, "信息资源!D2", "two digits"},
			{"18-digit code Excel rounded", func(items, _ *[][]any) {
				(*items)[1][6], (*items)[1][7] = "", rawNumber("1.14206000000000E+17")
			}, "信息资源!H2", "rounded"},
			{"18-digit code rounded, shown in full", func(items, _ *[][]any) {
				(*items)[1][6], (*items)[1][7] = "", "114206000000000512"
			}, "信息资源!H2", "loses its last digits"},
			{"duplicate codes in the file", func(items, _ *[][]any) {
				(*items)[1][0], (*items)[2][0] = "101001-000050", "101001-000050"
			}, "信息资源!A3", "duplicate code: row 2"},
			{"duplicate names in the file", func(items, _ *[][]any) { (*items)[2][1] = "户籍人口信息" }, "信息资源!B3", "duplicate: row 2"},
			{"duplicate against the database", func(items, _ *[][]any) {
				(*items)[1][0], (*items)[1][1] = "101001-000077", "已有资源"
			}, "信息资源!B2", "item " + existing.Code},
			{"unknown department", func(items, _ *[][]any) { (*items)[1][6] = "襄阳市魔法局" }, "信息资源!G2", "no department"},
			{"unknown department code", func(items, _ *[][]any) { (*items)[1][6], (*items)[1][7] = "", "91420600MA4945PX8W" }, "信息资源!H2", ""},
			{"provider name and code disagree", func(items, _ *[][]any) { (*items)[1][7] = "11420600000000035G" }, "信息资源!H2", "belongs to 襄阳市民政局"},
			{"unknown library", func(items, _ *[][]any) { (*items)[1][17] = "人口基础库；魔法库" }, "信息资源!R2", "one of"},
			{"conditional sharing without legal basis", func(items, _ *[][]any) {
				(*items)[1][10], (*items)[1][11] = "有条件共享", "仅限户籍业务"
			}, "信息资源!M2", "legal basis"},
			{"not shared without legal basis", func(items, _ *[][]any) { (*items)[1][10], (*items)[1][13] = "不予共享", "" }, "信息资源!M2", "legal basis"},
			{"unknown share type", func(items, _ *[][]any) { (*items)[1][10] = "随便共享" }, "信息资源!K2", "one of"},
			{"bad date", func(items, _ *[][]any) { (*items)[1][16] = "2024-13-45" }, "信息资源!Q2", "date"},
			{"10 MB cell", func(items, _ *[][]any) { (*items)[1][8] = strings.Repeat("长", 10<<20/3) }, "信息资源!I2", "at most 2000"},
			{"code of another classification", func(items, _ *[][]any) { (*items)[1][0] = "202002-000001" }, "信息资源!A2", "classification"},
			{"unknown related code", func(items, _ *[][]any) { (*items)[1][18] = "101001-999999" }, "信息资源!S2", "no item has this code"},
			{"missing name", func(items, _ *[][]any) { (*items)[3][1] = "   " }, "信息资源!B4", "required"},
			{"field of no item", func(_, fields *[][]any) { (*fields)[1][1] = "不存在的资源" }, "信息项!B2", "no row"},
			{"duplicate field code", func(_, fields *[][]any) { (*fields)[2][3] = "xm" }, "信息项!D3", "same code"},
			{"bad field type", func(_, fields *[][]any) { (*fields)[1][4] = "文本" }, "信息项!E2", "one of"},
			{"bad yes/no", func(_, fields *[][]any) { (*fields)[1][7] = "也许" }, "信息项!H2", "是 or 否"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rep := importFile(t, s, goodFile(t, tc.edit), catalog.ImportOptions{Commit: true})
				if rep.OK() || rep.Committed {
					t.Fatalf("accepted: %+v", rep)
				}
				wantProblem(t, rep, tc.cell, tc.want)
				if err := rep.Err(); !errs.Is(err, errs.KindInvalid) || !strings.Contains(err.Error(), "nothing was written") {
					t.Errorf("Err() = %v", err)
				}
				// Whole file or nothing: the good rows were not written either.
				if n := countItems(t, s); n != 1 {
					t.Fatalf("%d items after a rejected file", n)
				}
			})
		}
	})
}

func TestImportNormalisesAndSkipsEmptyRows(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		p := goodFile(t, func(items, fields *[][]any) {
			(*items)[1][1] = "  户籍　人口信息 " // ideographic space inside, spaces around
			(*fields)[1][1], (*fields)[2][1] = "户籍 人口信息", "户籍　人口信息"
			(*items)[1][10] = "无条件共享　"
			(*items)[2][7] = "１１４２０６０００００００００２７Ｍ" // full-width credit code
			*items = append((*items)[:3], append([][]any{{"", "", " "}, {}}, (*items)[3:]...)...)
		})
		rep := importFile(t, s, p, catalog.ImportOptions{Commit: true})
		if !rep.OK() || rep.Created != 3 {
			t.Fatalf("report %+v", rep)
		}
		var normalised, skipped int
		for _, n := range rep.Notes {
			if strings.Contains(n.Reason, "normalised") || strings.Contains(n.Reason, "trimmed") {
				normalised++
			}
			if n.Reason == "empty row skipped" {
				skipped++
			}
		}
		if normalised < 3 || skipped != 2 {
			t.Fatalf("notes %+v", rep.Notes)
		}
		if _, err := s.Search(ctx, catalog.SearchQuery{Q: "户籍 人口", Status: catalog.StatusDraft}); err != nil {
			t.Fatal(err)
		}
		items, _, _ := s.Items(ctx, catalog.Filter{Department: "xy-gaj"})
		if len(items) != 2 || items[0].Name != "户籍 人口信息" {
			t.Fatalf("items %+v", items)
		}
	})
}

func TestImportPermissions(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		for _, p := range []*exchange.Principal{gajAdmin, importer, mzjApp} {
			rep := importFile(t, s, goodFile(t), catalog.ImportOptions{By: p, Commit: true})
			if rep.OK() {
				t.Fatalf("%s imported another department's items", p.ID)
			}
			wantProblem(t, rep, "信息资源!G4", "may not change")
		}
		if n := countItems(t, s); n != 0 {
			t.Fatalf("%d items written", n)
		}
		// Its own department's rows only: accepted.
		own := goodFile(t, func(items, fields *[][]any) { *items = (*items)[:3]; *fields = (*fields)[:4] })
		if rep := importFile(t, s, own, catalog.ImportOptions{By: gajAdmin, Commit: true}); !rep.Committed || rep.Created != 2 {
			t.Fatalf("own rows: %+v", rep)
		}
	})
}

func TestImportCSV(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		dir := t.TempDir()
		header := "资源代码,信息资源名称,类,项,目,细目,提供方,提供方代码,信息资源摘要,信息资源格式,共享类型,共享条件,共享依据,共享方式,开放类型,更新周期,发布日期,所属库,关联资源代码\n"
		row := ",户籍人口信息,1,01,001,,襄阳市公安局,,摘要,数据库,无条件共享,,,接口服务,不予开放,每日,2024/3/1,人口基础库；法人基础库,\n"
		utf := filepath.Join(dir, "items.csv")
		os.WriteFile(utf, []byte("\ufeff"+header+row), 0o600)
		rep := importFile(t, s, utf, catalog.ImportOptions{Commit: true})
		if !rep.Committed || rep.Created != 1 || rep.Format != "csv" {
			t.Fatalf("csv report %+v", rep)
		}
		it, _, _ := s.Items(ctx, catalog.Filter{})
		if it[0].PublishDate != "2024-03-01" || len(it[0].Libraries) != 2 {
			t.Fatalf("csv item %+v", it[0])
		}
		// GBK, as Excel in China saves CSV: read as GB18030, and said so.
		gbk, _ := encodeGBK(header + strings.Replace(row, "户籍人口信息", "流动人口信息", 1))
		gp := filepath.Join(dir, "gbk.csv")
		os.WriteFile(gp, gbk, 0o600)
		rep = importFile(t, s, gp, catalog.ImportOptions{Commit: true})
		if !rep.Committed || rep.Created != 1 || len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0].Reason, "GB18030") {
			t.Fatalf("gbk report %+v", rep)
		}
		// A CSV without the fields sheet keeps the items' fields.
		full := it[0]
		u := catalog.ItemUpdate{Version: full.Version, Content: full.Content}
		u.Fields = []catalog.Field{{Name: "姓名", Code: "xm", DataType: "字符型"}}
		if _, err := s.Update(ctx, admin, full.Code, u); err != nil {
			t.Fatal(err)
		}
		rep = importFile(t, s, utf, catalog.ImportOptions{Commit: true})
		if rep.Unchanged != 1 || rep.Updated != 0 {
			t.Fatalf("re-import of CSV: %+v", rep)
		}
		// Broken CSV quoting is a row error.
		bad := filepath.Join(dir, "bad.csv")
		os.WriteFile(bad, []byte(header+`,"未闭合的引号,1,01,001`+"\n"), 0o600)
		rep = importFile(t, s, bad, catalog.ImportOptions{Commit: true})
		if rep.OK() {
			t.Fatalf("broken CSV accepted: %+v", rep)
		}
	})
}
