package licence_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
	"github.com/xiangyang-gov/sharehub/licence"
)

var importer = &exchange.Principal{ID: "p-importer", DepartmentID: "xy-sjj", Name: "importer", Roles: []exchange.Role{exchange.RoleImporter}}

func (f *fixture) generate(t *testing.T, n int, xlsx bool) string {
	t.Helper()
	var types []licence.Type
	for _, name := range []string{"居民身份证", "结婚证", "营业执照", "食品经营许可证"} {
		types = append(types, f.types[name])
	}
	codes := map[string]string{"xy-gaj": "11420600000000027M", "xy-mzj": "11420600000000035G", "xy-scjgj": "11420600000000078X"}
	var b bytes.Buffer
	opts := licence.GenerateOptions{Count: n, Seed: 7, Types: types, IssuerCode: func(id string) string { return codes[id] }}
	name := "licences.csv"
	var err error
	if xlsx {
		name = "licences.xlsx"
		err = licence.GenerateXLSX(&b, opts)
	} else {
		err = licence.Generate(&b, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImport(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		for _, xlsx := range []bool{false, true} {
			path := f.generate(t, 4500, xlsx)
			if xlsx {
				// Different numbers: the generator's sequence restarts, so use another seed's file.
				if _, err := d.W.ExecContext(ctx, `DELETE FROM licence_versions`); err != nil {
					t.Fatal(err)
				}
				if _, err := d.W.ExecContext(ctx, `DELETE FROM licences`); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := f.svc.Import(ctx, path, licence.ImportOptions{By: importer})
			if err != nil || !rep.OK() || !rep.DryRun || rep.Rows[licence.SheetName] != 4500 {
				t.Fatalf("dry run: %v %+v", err, rep)
			}
			var n int
			d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences`).Scan(&n)
			if n != 0 {
				t.Fatalf("dry run wrote %d licences", n)
			}
			// Chunks of 100 rows: 45 of them, which DeferSync on SQLite
			// commits several at a time (spanChunks), the last span short.
			defer func(n int) { licence.ImportChunk = n }(licence.ImportChunk)
			licence.ImportChunk = 100
			var progress int
			rep, err = f.svc.Import(ctx, path, licence.ImportOptions{By: importer, Commit: true, DeferSync: true, Progress: func(p sheet.Progress) {
				if p.Phase == "commit" {
					progress = p.Done
				}
			}})
			if err != nil || !rep.Committed || rep.Created != 4500 || progress != 4500 {
				t.Fatalf("commit: %v %+v (progress %d)", err, rep, progress)
			}
			d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences`).Scan(&n)
			if n != 4500 {
				t.Fatalf("%d licences after import", n)
			}
			// DeferSync put the writer connection back to fsyncing every
			// commit, as the audit log needs.
			if d.Dialect == db.SQLite {
				var sync int
				if err := d.W.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
					t.Fatalf("synchronous after a DeferSync import = %d, %v; want 2 (FULL)", sync, err)
				}
			}
			// Again: nothing new.
			rep, err = f.svc.Import(ctx, path, licence.ImportOptions{By: importer, Commit: true})
			if err != nil || rep.Created != 0 || rep.Unchanged != 4500 {
				t.Fatalf("re-import: %v %+v", err, rep)
			}
		}
		// Imported licences verify (sealed in batches) and show up in lookups.
		var key string
		var holder string
		d.R.QueryRowContext(ctx, `SELECT id, holder_id FROM licences ORDER BY id LIMIT 1`).Scan(&key, &holder)
		ls, err := f.svc.Lookup(ctx, "111", holder, "")
		if err != nil || len(ls) == 0 {
			t.Fatalf("lookup %s: %v %v", holder, ls, err)
		}
		v, err := f.svc.Verify(ctx, ls[0].ID)
		if err != nil || !v.Valid {
			t.Fatalf("imported licence does not verify: %+v %v", v, err)
		}
		// Tamper with the batch manifest: the licence no longer verifies.
		if _, err := d.W.ExecContext(ctx, `UPDATE licence_versions SET digest = $1 WHERE licence_id = $2`, strings.Repeat("0", 64), ls[0].Key()); err != nil {
			t.Fatal(err)
		}
		if v, _ := f.svc.Verify(ctx, ls[0].ID); v.Valid {
			t.Fatal("licence with a wrong digest verifies")
		}
		// Lifecycle on an imported licence works.
		var dept string
		for _, l := range ls {
			if l.IssuerID == "xy-gaj" {
				dept = l.IssuerID
				if _, err := f.svc.Apply(ctx, issuer(dept), l.ID, licence.Change{Event: licence.EventRevoke, Reason: "撤销"}); err != nil {
					t.Fatal(err)
				}
				break
			}
		}

		t.Run("bad rows", func(t *testing.T) { testImportBadRows(t, f) })
	})
}

func testImportBadRows(t *testing.T, f *fixture) {
	ctx := context.Background()
	id := f.types["居民身份证"].Code
	biz := f.types["营业执照"].Code
	good := person()
	face := `"{""gender"":""男"",""ethnicity"":""汉"",""birth_date"":""1980-01-02"",""address"":""湖北省襄阳市襄城区檀溪路1号""}"`
	hdr := "证照类型代码,证照编号,颁发机构代码,持证主体,持证主体代码类型,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,属地代码,照面信息\n"
	wrongCheck := good[:17] + map[bool]string{true: "1", false: "0"}[good[17] == '0'] // never the right check digit
	rows := []struct{ line, col string }{
		{id + ",N1,11420600000000027M,张三,111," + good + ",2020-01-01,,,420602," + face, ""},
		{id + ",N2,11420600000000027M,张三,111," + wrongCheck + ",2020-01-01,,,420602," + face, "持证主体代码"},
		{"11420600000000027M999,N3,11420600000000027M,张三,111," + good + ",2020-01-01,,,420602," + face, "证照类型代码"},
		{id + ",N4,11420600000000035G,张三,111," + good + ",2020-01-01,,,420602," + face, "颁发机构代码"},
		{id + ",N5,11420600000000027M,张三,111," + good + ",2020-01-01,2021-01-01,2020-06-01,420602," + face, "有效期截止日期"},
		{id + ",N6,11420600000000027M,张三,111," + good + ",2020-01-01,,,420602,{bad json", "照面信息"},
		{id + ",N7,11420600000000027M,张三,111," + good + `,2020-01-01,,,420602,"{""gender"":""X""}"`, "照面信息"},
		{id + ",N1,11420600000000027M,张三,111," + good + ",2020-01-01,,,420602," + face, "证照编号"},
		{biz + ",B1,11420600000000078X,某公司,111," + good + ",2020-01-01,,,420602,{}", "持证主体代码类型"},
		{id + ",N8,11420600000000027M,张三,111," + good + ",2020-13-01,,,420602," + face, "颁发日期"},
	}
	var b strings.Builder
	b.WriteString(hdr)
	for _, r := range rows {
		b.WriteString(r.line + "\n")
	}
	path := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(path, []byte(b.String()), 0o600)
	rep, err := f.svc.Import(ctx, path, licence.ImportOptions{By: importer, Commit: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Committed || rep.Created != 0 {
		t.Fatalf("a bad file was committed: %+v", rep)
	}
	for i, r := range rows {
		line := i + 2
		found := false
		for _, p := range rep.Errors {
			if p.Row == line && (r.col == "" || p.Column == r.col) {
				found = true
			}
		}
		if found != (r.col != "") {
			t.Errorf("row %d (%s): reported %v, want %v; errors %+v", line, r.col, found, r.col != "", rep.Errors)
		}
	}
	var n int
	f.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences WHERE number LIKE 'N%'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d rows of a bad file written", n)
	}
	_, err = f.svc.Import(ctx, path, licence.ImportOptions{By: issuer("xy-gaj")})
	wantKind(t, err, errs.KindForbidden)
}

// TestImportStoppedMidway stops a committing import partway (its context
// is cancelled once 2,500 of 4,500 rows have been written): the rows the
// report counts as created are exactly those in the database, none of the
// transaction that was open is left behind, and running the import again
// adds the rest.
func TestImportStoppedMidway(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		path := f.generate(t, 4500, false)
		defer func(n int) { licence.ImportChunk = n }(licence.ImportChunk)
		licence.ImportChunk = 100
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rep, err := f.svc.Import(ctx, path, licence.ImportOptions{By: importer, Commit: true, DeferSync: true, Progress: func(p sheet.Progress) {
			if p.Phase == "commit" && p.Done >= 2500 {
				cancel()
			}
		}})
		if err == nil || rep.Committed {
			t.Fatalf("import went through after its context was cancelled: %+v", rep)
		}
		var n int
		if err := d.R.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM licences`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != rep.Created || n == 0 || n >= 4500 {
			t.Fatalf("%d licences in the database, the report says %d created (of 4500)", n, rep.Created)
		}
		var versions int
		d.R.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM licence_versions`).Scan(&versions)
		if versions != n {
			t.Fatalf("%d licences but %d versions", n, versions)
		}
		again, err := f.svc.Import(context.Background(), path, licence.ImportOptions{By: importer, Commit: true, DeferSync: true})
		if err != nil || again.Created != 4500-n || again.Unchanged != n {
			t.Fatalf("second import: %v %+v, want %d created and %d unchanged", err, again, 4500-n, n)
		}
	})
}
