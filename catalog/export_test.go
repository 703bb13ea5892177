package catalog_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

func TestTemplate(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		var buf bytes.Buffer
		if err := s.Template(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if got := strings.Join(f.GetSheetList(), ","); got != "信息资源,信息项,选项" {
			t.Fatalf("sheets %s", got)
		}
		rows, _ := f.GetRows(catalog.SheetItems)
		if len(rows) != 2 || rows[0][1] != "*信息资源名称" || rows[0][0] != "资源代码" || rows[1][1] != "户籍人口迁入登记信息" {
			t.Fatalf("items sheet %q", rows)
		}
		fr, _ := f.GetRows(catalog.SheetFields)
		if len(fr) != 2 || fr[0][2] != "*信息项名称" {
			t.Fatalf("fields sheet %q", fr)
		}
		dvs, err := f.GetDataValidations(catalog.SheetItems)
		if err != nil {
			t.Fatal(err)
		}
		byCol := map[string]string{}
		for _, dv := range dvs {
			byCol[dv.Sqref[:1]] = dv.Formula1
		}
		// 信息资源格式 J, 共享类型 K, 共享方式 N, 开放类型 O, 更新周期 P, 所属库 R.
		for _, col := range []string{"J", "K", "N", "O", "P", "R"} {
			if byCol[col] == "" {
				t.Errorf("no drop-down on column %s: %v", col, byCol)
			}
		}
		list, _ := f.GetRows("选项")
		var shareTypes []string
		for _, r := range list[1:] {
			if len(r) > 1 && r[1] != "" {
				shareTypes = append(shareTypes, r[1])
			}
		}
		if strings.Join(shareTypes, ",") != "无条件共享,有条件共享,不予共享" {
			t.Errorf("share type choices %v", shareTypes)
		}
		if dvs, _ := f.GetDataValidations(catalog.SheetFields); len(dvs) != 1 {
			t.Errorf("fields sheet drop-downs: %d", len(dvs))
		}
		// The template imports as is: its example row is a valid item.
		p := filepath.Join(t.TempDir(), "template.xlsx")
		var again bytes.Buffer
		_ = s.Template(ctx, &again)
		os.WriteFile(p, again.Bytes(), 0o600)
		rep := importFile(t, s, p, catalog.ImportOptions{})
		if !rep.OK() || rep.Created != 1 {
			t.Fatalf("template example row: %+v", rep)
		}
	})
}

func TestExportFilter(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		mustCreate(t, s, admin, content("xy-gaj", "人口基本信息"))
		mustCreate(t, s, admin, content("xy-mzj", "婚姻登记信息"))
		var buf bytes.Buffer
		n, err := s.Export(ctx, catalog.Filter{Department: "xy-mzj"}, &buf)
		if err != nil || n != 1 {
			t.Fatalf("export: %d %v", n, err)
		}
		f, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, _ := f.GetRows(catalog.SheetItems)
		if len(rows) != 2 || rows[1][1] != "婚姻登记信息" || rows[1][6] != "襄阳市民政局" || rows[1][7] != "11420600000000035G" {
			t.Fatalf("exported %q", rows)
		}
		fr, _ := f.GetRows(catalog.SheetFields)
		if len(fr) != 3 || fr[1][0] != rows[1][0] {
			t.Fatalf("exported fields %q", fr)
		}
	})
}
