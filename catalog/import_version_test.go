package catalog_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// TestImportOfStaleExportKeepsOthersEdits: an admin exports the
// catalogue, a department's data admin then changes one of its items, and
// the admin imports the export with an edit to another item. The
// department's change must not be silently reverted to what the export
// holds: the row is refused (naming its version cell) as a PUT with a
// stale version is, and nothing is written. A row whose version cell is
// cleared still overwrites, on purpose.
func TestImportOfStaleExportKeepsOthersEdits(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		a := mustCreate(t, s, gajAdmin, content("xy-gaj", "户籍人口信息"))
		b := mustCreate(t, s, mzjAdmin, content("xy-mzj", "婚姻登记信息"))

		var buf bytes.Buffer
		if _, err := s.Export(ctx, catalog.Filter{}, &buf); err != nil {
			t.Fatal(err)
		}
		exp := filepath.Join(t.TempDir(), "export.xlsx")
		if err := os.WriteFile(exp, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}

		// Meanwhile 公安局 changes its item.
		u := catalog.ItemUpdate{Version: a.Version, Content: a.Content}
		u.Summary = "公安局刚改过的摘要"
		if _, err := s.Update(ctx, gajAdmin, a.Code, u); err != nil {
			t.Fatal(err)
		}

		// The admin edits 婚姻登记信息 in the export and imports it whole.
		x, err := excelize.OpenFile(exp)
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := x.GetRows(catalog.SheetItems)
		if rows[1][0] != a.Code || rows[2][0] != b.Code {
			t.Fatalf("export rows %q", rows)
		}
		_ = x.SetCellValue(catalog.SheetItems, "I3", "管理员改过的摘要")
		if err := x.Save(); err != nil {
			t.Fatal(err)
		}
		x.Close()
		rep := importFile(t, s, exp, catalog.ImportOptions{Commit: true})
		if rep.OK() || rep.Committed {
			t.Fatalf("stale export imported: %+v", rep)
		}
		wantProblem(t, rep, "信息资源!T2", "version 2")
		if got, _ := s.Item(ctx, a.Code); got.Summary != "公安局刚改过的摘要" || got.Version != 2 {
			t.Fatalf("公安局's change was overwritten: %q, version %d", got.Summary, got.Version)
		}
		if got, _ := s.Item(ctx, b.Code); got.Version != 1 {
			t.Fatalf("rejected file wrote %s: version %d", b.Code, got.Version)
		}

		// Cleared version cell: the admin means to overwrite.
		x, _ = excelize.OpenFile(exp)
		_ = x.SetCellValue(catalog.SheetItems, "T2", "")
		_ = x.Save()
		x.Close()
		rep = importFile(t, s, exp, catalog.ImportOptions{Commit: true})
		if !rep.Committed || rep.Updated != 2 {
			t.Fatalf("import with the version cleared: %+v", rep)
		}
		if got, _ := s.Item(ctx, a.Code); got.Summary == "公安局刚改过的摘要" {
			t.Fatalf("cleared version did not overwrite")
		}
	})
}
