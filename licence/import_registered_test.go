package licence_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestImportRowRegisteredForAnotherHolder: a row whose type and number are
// already registered is skipped as unchanged only when it is the same
// licence (same holder, same issuer): a row naming another holder or
// issuer is a bad row, found by the dry run, and not a licence silently
// left out of the registry. The dry run counts the rows a commit would
// skip as it does.
func TestImportRowRegisteredForAnotherHolder(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		// 民政局 issues 居民身份证 too, for this test.
		f.alsoIssues(t, "居民身份证", "xy-mzj")
		tp := f.types["居民身份证"]
		zhang, li := person(), person()
		for _, number := range []string{"REG1", "REG2", "REG4"} {
			n := f.idCard(zhang)
			n.Number = number
			mustIssue(t, f, n)
		}
		face := `"{""gender"":""男"",""ethnicity"":""汉"",""birth_date"":""1980-01-02"",""address"":""湖北省襄阳市襄城区檀溪路1号""}"`
		hdr := "证照类型代码,证照编号,颁发机构代码,持证主体,持证主体代码类型,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,属地代码,照面信息\n"
		row := func(number, issuerCode, name, holder string) string {
			return tp.Code + "," + number + "," + issuerCode + "," + name + ",111," + holder + ",2020-01-01,,,420602," + face + "\n"
		}
		const gaj, mzj = "11420600000000027M", "11420600000000035G"
		write := func(rows ...string) string {
			path := filepath.Join(t.TempDir(), "registered.csv")
			if err := os.WriteFile(path, []byte(hdr+strings.Join(rows, "")), 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}
		bad := write(
			row("REG1", gaj, "李四", li),                      // registered for 张三丰
			row("REG2", gaj, "张三丰", strings.ToLower(zhang)), // the registered licence again
			row("REG3", gaj, "李四", li),                      // new
			row("REG4", mzj, "张三丰", zhang),                  // registered by 公安局
		)
		dry, err := f.svc.Import(ctx, bad, licence.ImportOptions{By: importer})
		if err != nil {
			t.Fatal(err)
		}
		if dry.ErrorCount != 2 || len(dry.Errors) != 2 {
			t.Fatalf("dry run: %d errors %+v, want rows 2 and 5", dry.ErrorCount, dry.Errors)
		}
		for i, want := range []struct {
			row  int
			says string
		}{{2, "another holder"}, {5, "another department"}} {
			if p := dry.Errors[i]; p.Row != want.row || p.Column != "证照编号" || !strings.Contains(p.Reason, want.says) {
				t.Errorf("error %+v, want row %d, 证照编号, saying %q", p, want.row, want.says)
			}
		}
		rep, err := f.svc.Import(ctx, bad, licence.ImportOptions{By: importer, Commit: true})
		if err != nil || rep.Committed || rep.Created != 0 {
			t.Fatalf("commit of the file: %v %+v, want it refused", err, rep)
		}
		var n int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences WHERE number = 'REG3'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("REG3 written by a refused file (%d, %v)", n, err)
		}
		ls, err := f.svc.Lookup(ctx, licence.HolderIDResident, zhang, "")
		if err != nil || len(ls) != 3 {
			t.Fatalf("张三丰's licences: %d, %v", len(ls), err)
		}

		good := write(row("REG2", gaj, "张三丰", zhang), row("REG3", gaj, "李四", li))
		dry, err = f.svc.Import(ctx, good, licence.ImportOptions{By: importer})
		if err != nil || !dry.OK() || dry.Unchanged != 1 {
			t.Fatalf("dry run of the good file: %v %+v, want no errors and 1 row unchanged", err, dry)
		}
		rep, err = f.svc.Import(ctx, good, licence.ImportOptions{By: importer, Commit: true})
		if err != nil || !rep.Committed || rep.Created != 1 || rep.Unchanged != 1 {
			t.Fatalf("commit of the good file: %v %+v, want 1 created and 1 unchanged", err, rep)
		}
	})
}
