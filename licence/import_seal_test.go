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
	"github.com/xiangyang-gov/sharehub/seal"
)

// TestImportIssuerWithoutSeal: a row whose issuing department has no
// active seal to seal licences with is a bad row, found by the dry run
// and refusing the file whole, rather than a commit that fails partway
// with the rows before it written.
func TestImportIssuerWithoutSeal(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		// 卫健委 (no seal in the fixture) issues 居民身份证 too, for this test.
		f.alsoIssues(t, "居民身份证", "xy-wjw")
		tp := f.types["居民身份证"]
		face := `"{""gender"":""男"",""ethnicity"":""汉"",""birth_date"":""1980-01-02"",""address"":""湖北省襄阳市襄城区檀溪路1号""}"`
		var b strings.Builder
		b.WriteString("证照类型代码,证照编号,颁发机构代码,持证主体,持证主体代码类型,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,属地代码,照面信息\n")
		for _, r := range []struct{ number, issuerCode string }{
			{"WS1", "11420600000000027M"}, // 公安局, sealed
			{"WS2", "11420600000000043B"}, // 卫健委, no seal
			{"WS3", "11420600000000043B"},
		} {
			b.WriteString(tp.Code + "," + r.number + "," + r.issuerCode + ",张三,111," + person() + ",2020-01-01,,,420602," + face + "\n")
		}
		path := filepath.Join(t.TempDir(), "unsealed.csv")
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			var n int
			if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences WHERE number LIKE 'WS%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		dry, err := f.svc.Import(ctx, path, licence.ImportOptions{By: importer})
		if err != nil {
			t.Fatal(err)
		}
		if dry.ErrorCount != 2 {
			t.Fatalf("dry run: %d errors, want the two rows of 卫健委: %+v", dry.ErrorCount, dry.Errors)
		}
		for i, p := range dry.Errors {
			if p.Row != i+3 || p.Column != "颁发机构代码" || !strings.Contains(p.Reason, "xy-wjw") || !strings.Contains(p.Reason, "公章") {
				t.Errorf("error %d: %+v, want row %d, 颁发机构代码, naming xy-wjw and its missing seal", i, p, i+3)
			}
		}

		// One row a chunk: before this check the first chunk was
		// committed and the second failed.
		defer func(n int) { licence.ImportChunk = n }(licence.ImportChunk)
		licence.ImportChunk = 1
		rep, err := f.svc.Import(ctx, path, licence.ImportOptions{By: importer, Commit: true})
		if err != nil || rep.Committed || rep.ErrorCount != 2 || rep.Created != 0 {
			t.Fatalf("commit: %v %+v, want the file refused with the dry run's errors", err, rep)
		}
		if n := count(); n != 0 {
			t.Fatalf("%d licences written by a refused file", n)
		}

		// With a seal, the same file goes in whole.
		if _, err := f.seals.CreateSeal(ctx, f.admin, seal.NewSeal{OrganisationID: "xy-wjw", Name: "卫健委 证照专用章", Kind: seal.KindBusiness,
			Image: seal.DemoImage("襄阳市")}); err != nil {
			t.Fatal(err)
		}
		rep, err = f.svc.Import(ctx, path, licence.ImportOptions{By: importer, Commit: true})
		if err != nil || !rep.Committed || rep.Created != 3 || count() != 3 {
			t.Fatalf("commit after the seal was made: %v %+v", err, rep)
		}
	})
}
