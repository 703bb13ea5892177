package licence_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unicode"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/licence"
)

// catalogueSize is how many licence types the built-in catalogue has
// (REFERENCE.md: the city registry's 224 types).
const catalogueSize = 224

// TestCatalogue: the built-in catalogue has the registry's 224 types, each
// with a unique code, a unique Chinese name and face fields.
func TestCatalogue(t *testing.T) {
	codes := departmentCodes(t)
	types, err := licence.Catalogue(func(id string) string { return codes[id] })
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != catalogueSize {
		t.Fatalf("catalogue has %d types, want %d", len(types), catalogueSize)
	}
	seenCode, seenName := map[string]bool{}, map[string]bool{}
	for _, ty := range types {
		if seenCode[ty.Code] {
			t.Errorf("type code %s twice", ty.Code)
		}
		if seenName[ty.Name] {
			t.Errorf("type name %s twice", ty.Name)
		}
		seenCode[ty.Code], seenName[ty.Name] = true, true
		if len(ty.Code) != 21 {
			t.Errorf("%s: code %q is not 21 characters", ty.Name, ty.Code)
		}
		han := 0
		for _, r := range ty.Name {
			if unicode.Is(unicode.Han, r) {
				han++
			}
		}
		if han < 3 || len(ty.Fields) == 0 || len(ty.IssuerIDs) == 0 {
			t.Errorf("type %q (%s): want a Chinese name, face fields and an issuer; got %d Han characters, %d fields, issuers %v",
				ty.Name, ty.Code, han, len(ty.Fields), ty.IssuerIDs)
		}
	}
}

// departmentCodes reads the demo departments' credit codes from testdata.
func departmentCodes(t *testing.T) map[string]string {
	t.Helper()
	fh, err := os.Open(filepath.Join("..", "testdata", "departments.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, rec := range recs[1:] {
		codes[rec[0]] = rec[1]
	}
	return codes
}

// TestGenerateCoversCatalogue: a generated file of 20,000 licences (the
// generator's default catalogue) has licences of every one of the 224
// types, and the import finds nothing wrong with any row, as CSV and as
// xlsx.
func TestGenerateCoversCatalogue(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f, codes := catalogueFixture(t, d)
		ctx := context.Background()
		types, err := licence.Catalogue(func(id string) string { return codes[id] })
		if err != nil {
			t.Fatal(err)
		}
		const n = 20000
		opts := licence.GenerateOptions{Count: n, Seed: 1, IssuerCode: func(id string) string { return codes[id] }}
		for _, format := range []string{"csv", "xlsx"} {
			t.Run(format, func(t *testing.T) {
				var b bytes.Buffer
				gen := licence.Generate
				if format == "xlsx" {
					gen = licence.GenerateXLSX
				}
				if err := gen(&b, opts); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "licences."+format)
				if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
				if format == "csv" {
					perType := map[string]int{}
					recs, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					for _, rec := range recs[1:] {
						perType[rec[0]]++
					}
					if len(recs)-1 != n {
						t.Errorf("%d rows generated, want %d", len(recs)-1, n)
					}
					var missing []string
					for _, ty := range types {
						if perType[ty.Code] == 0 {
							missing = append(missing, ty.Name)
						}
					}
					if len(missing) > 0 || len(perType) != catalogueSize {
						t.Errorf("%d types have licences, want %d; none of: %v", len(perType), catalogueSize, missing)
					}
				}
				rep, err := f.svc.Import(ctx, path, licence.ImportOptions{By: importer})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK() || rep.Rows[licence.SheetName] != n || rep.Created != 0 {
					t.Fatalf("dry run of the generated %s: %d rows, %d errors (want %d rows, none), first: %+v",
						format, rep.Rows[licence.SheetName], rep.ErrorCount, n, rep.Errors[:min(len(rep.Errors), 5)])
				}
			})
		}
	})
}

// TestGenerateXLSXFiles: past a sheet's row limit the generator writes
// several workbooks; together they hold the very licences of the CSV, in
// order, and each one imports without a problem.
func TestGenerateXLSXFiles(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	f, codes := catalogueFixture(t, d)
	ctx := context.Background()
	const n, per = 2500, 1000
	opts := licence.GenerateOptions{Count: n, Seed: 7, IssuerCode: func(id string) string { return codes[id] }}
	var whole bytes.Buffer
	if err := licence.Generate(&whole, opts); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&whole).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	parts, err := licence.GenerateXLSXFiles(func(i int) (io.WriteCloser, error) {
		return os.Create(filepath.Join(dir, fmt.Sprintf("part-%d.xlsx", i)))
	}, per, opts)
	if err != nil || parts != 3 {
		t.Fatalf("GenerateXLSXFiles = %d parts, %v; want 3", parts, err)
	}
	next := 1 // the CSV record the next workbook row must equal
	for i := 1; i <= parts; i++ {
		path := filepath.Join(dir, fmt.Sprintf("part-%d.xlsx", i))
		rep, err := f.svc.Import(ctx, path, licence.ImportOptions{By: importer})
		if err != nil {
			t.Fatal(err)
		}
		want := min(per, n-(i-1)*per)
		if !rep.OK() || rep.Rows[licence.SheetName] != want {
			t.Fatalf("part %d: %d rows, %d errors; want %d rows, none", i, rep.Rows[licence.SheetName], rep.ErrorCount, want)
		}
		xf, err := excelize.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := xf.GetRows(licence.SheetName)
		xf.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows[1:] {
			if row[1] != recs[next][1] || row[0] != recs[next][0] {
				t.Fatalf("part %d: licence %v, want the CSV's record %d %v", i, row[:2], next, recs[next][:2])
			}
			next++
		}
	}
	if next != n+1 {
		t.Fatalf("the workbooks hold %d licences, want %d", next-1, n)
	}
}

// catalogueFixture is a fixture with the 224 catalogue types loaded and
// the departments' credit codes by id, for the generator.
func catalogueFixture(t *testing.T, d *db.DB) (*fixture, map[string]string) {
	t.Helper()
	f := newFixture(t, d)
	ctx := context.Background()
	deps, err := f.ex.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every department seals: an import refuses rows of an issuer that
	// cannot seal them.
	var all []string
	for _, dp := range deps {
		all = append(all, dp.ID)
	}
	if _, err := f.svc.LoadCatalogue(ctx, f.admin, f.seals, all); err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, dp := range deps {
		codes[dp.ID] = dp.Code
	}
	return f, codes
}
