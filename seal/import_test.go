package seal

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

func TestImportSeals(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		civil := h.org(t, "襄阳市民政局")
		police := h.org(t, "襄阳市公安局")
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "mzj.svg"), DemoImage(civil.Name), 0o600)
		os.WriteFile(filepath.Join(dir, "evil.svg"), []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>`), 0o600)
		write := func(name string, rows ...string) string {
			p := filepath.Join(dir, name)
			head := "统一社会信用代码,机构编号,机构名称,印章名称,印章类别,算法,生效日期,失效日期,印模文件\n"
			if err := os.WriteFile(p, []byte(head+strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		good := write("good.csv",
			civil.Code+",,襄阳市民政局,襄阳市民政局合同专用章,合同专用章,,2026-01-01,2030-12-31,mzj.svg",
			","+police.ID+",,襄阳市公安局公章,公章,ES256,,,",
		)
		opts := ImportOptions{By: h.admin, ImageDir: dir}

		// Without pictures for every row, the file is rejected.
		rep, err := h.svc.Import(ctx, good, opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() || rep.ErrorCount != 1 || rep.Errors[0].Column != "印模文件" || rep.Errors[0].Row != 3 {
			t.Fatalf("missing picture: %+v", rep.Errors)
		}
		// A dry run with generated pictures creates nothing.
		opts.GenerateImages = true
		rep, err = h.svc.Import(ctx, good, opts)
		if err != nil || !rep.OK() || rep.Created != 2 || rep.Committed {
			t.Fatalf("dry run: %v %+v", err, rep)
		}
		if ss, _, _ := h.svc.List(ctx, ListFilter{}); len(ss) != 0 {
			t.Fatalf("dry run wrote %d seals", len(ss))
		}
		opts.Commit = true
		rep, err = h.svc.Import(ctx, good, opts)
		if err != nil || !rep.OK() || rep.Created != 2 || !rep.Committed {
			t.Fatalf("commit: %v %+v", err, rep)
		}
		ss, _, err := h.svc.List(ctx, ListFilter{OrganisationID: civil.ID})
		if err != nil || len(ss) != 1 || ss[0].Kind != KindContract || ss[0].ValidUntil.Format("2006-01-02") != "2030-12-31" || ss[0].ImageMediaType != "image/svg+xml" {
			t.Fatalf("imported seal: %v %+v", err, ss)
		}
		ps, _, _ := h.svc.List(ctx, ListFilter{OrganisationID: police.ID})
		if len(ps) != 1 || ps[0].Alg != AlgES256 {
			t.Fatalf("imported ES256 seal: %+v", ps)
		}
		// The imported seal signs.
		jws := mustSign(t, h, keeper(civil), ss[0].ID, SignRequest{Document: testDoc("x"), Purpose: "导入后用印"})
		if res := mustVerify(t, h, jws); !res.Valid {
			t.Fatalf("verify: %+v", res)
		}
		// Importing again changes nothing.
		rep, err = h.svc.Import(ctx, good, opts)
		if err != nil || !rep.OK() || rep.Created != 0 || rep.Unchanged != 2 {
			t.Fatalf("again: %v %+v", err, rep)
		}

		// Bad rows: each reported at its cell, nothing written.
		bad := write("bad.csv",
			"11420600000000099X,,,某某章,公章,,,,",                      // unknown credit code (and an invalid one)
			civil.Code+",,襄阳市民政厅,襄阳市民政局财务章,财务专用章,,,,",              // name mismatch
			civil.Code+",,,襄阳市民政局印章,私章,,,,",                        // kind
			civil.Code+",,,襄阳市民政局发票专用章,发票专用章,,,,../mzj.svg",        // outside the image dir
			civil.Code+",,,襄阳市民政局业务章,业务专用章,,,,evil.svg",            // unsafe SVG
			civil.Code+",,,襄阳市民政局业务章,业务专用章,,,,",                    // same name twice in the file
			civil.Code+",,,襄阳市民政局旧章,业务专用章,,2020-01-01,2021-01-01,", // expired
			civil.Code+",,,襄阳市民政局新章,业务专用章,RSA,,,",                  // algorithm
		)
		rep, err = h.svc.Import(ctx, bad, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]string{2: "统一社会信用代码", 3: "机构名称", 4: "印章类别", 5: "印模文件", 6: "印模文件", 7: "印章名称", 8: "失效日期", 9: "算法"}
		got := map[int]string{}
		for _, p := range rep.Errors {
			got[p.Row] = p.Column
		}
		for row, col := range want {
			if got[row] != col {
				t.Errorf("row %d: error in %q, want %q (all: %+v)", row, got[row], col, rep.Errors)
			}
		}
		if rep.Committed || rep.Created != 0 {
			t.Fatalf("bad file committed: %+v", rep)
		}
		if all, _, _ := h.svc.List(ctx, ListFilter{}); len(all) != 2 {
			t.Fatalf("bad file wrote seals: %d", len(all))
		}
		// Only administrators import.
		if _, err := h.svc.Import(ctx, good, ImportOptions{By: keeper(civil)}); err == nil {
			t.Fatal("a seal keeper imported seals")
		}
	})
}

// A seal whose validity ends after the hub CA's is found by the dry run,
// not refused halfway through a commit that has created the rows before it.
func TestImportSealsBeyondTheCA(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		civil := h.org(t, "襄阳市民政局")
		p := filepath.Join(t.TempDir(), "seals.csv")
		far := time.Now().Add(CAValidity + 400*24*time.Hour).Format(time.DateOnly)
		rows := "统一社会信用代码,机构编号,机构名称,印章名称,印章类别,算法,生效日期,失效日期,印模文件\n" +
			civil.Code + ",,,襄阳市民政局合同专用章,合同专用章,,,2030-12-31,\n" +
			civil.Code + ",,,襄阳市民政局财务专用章,财务专用章,,," + far + ",\n"
		if err := os.WriteFile(p, []byte(rows), 0o600); err != nil {
			t.Fatal(err)
		}
		opts := ImportOptions{By: h.admin, GenerateImages: true}
		for _, commit := range []bool{false, true} {
			opts.Commit = commit
			rep, err := h.svc.Import(ctx, p, opts)
			if err != nil || rep.OK() || rep.ErrorCount != 1 || rep.Errors[0].Row != 3 || rep.Errors[0].Column != "失效日期" || rep.Committed {
				t.Fatalf("commit %v: %v %+v", commit, err, rep)
			}
		}
		if ss, _, _ := h.svc.List(ctx, ListFilter{}); len(ss) != 0 {
			t.Fatalf("%d seals created from a refused file", len(ss))
		}
	})
}
