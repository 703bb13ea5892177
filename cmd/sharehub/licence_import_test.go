package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestImportLicencesCLI runs `sharehub import licences` against a demo
// hub's database on generated files: a dry run of a file with bad rows
// names each (cell, column, reason) and writes nothing, nor does --commit
// of it; --commit of the good rows issues them and a second run issues
// none. Over 1000 errors, the output says how many it does not list and
// that --report lists them all, and --report FILE does.
func TestImportLicencesCLI(t *testing.T) {
	clearEnv(t)
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			ctx := context.Background()
			tmp := t.TempDir()
			flags := []string{"--data-dir", h.Config.DataDir, "--database", h.Config.Database, "--master-key-file", h.Config.MasterKeyFile, "--quiet"}
			importCLI := func(file string, args ...string) (int, string, string) {
				t.Helper()
				return cli(t, ctx, append(append([]string{"import", "licences", file}, args...), flags...)...)
			}
			count := func() int {
				t.Helper()
				var n int
				if err := h.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := count()

			good := generatedLicences(t, h, 40)
			rows := good[1:]
			// Bad rows, each a good row with one thing wrong; the cells
			// are the columns of the import format (A 证照类型代码 … F
			// 持证主体代码, G 颁发日期).
			badCheck := slices.Clone(rows[3])
			badCheck[1] += "X"
			badCheck[5] = otherCheckChar(badCheck[5])
			noType := slices.Clone(rows[4])
			noType[0] = noType[0][:18] + "999"
			noType[1] += "X"
			badDate := slices.Clone(rows[5])
			badDate[1] += "X"
			badDate[6] = "2020-13-01"
			// Rows 2..41 are the good ones, 42..45 the bad.
			bad := append(slices.Clone(good), badCheck, noType, badDate, slices.Clone(rows[7]))
			want := []struct{ pointer, column, reason string }{
				{"电子证照!F42", "持证主体代码", "wrong check character"},
				{"电子证照!A43", "证照类型代码", "no such licence type"},
				{"电子证照!G44", "颁发日期", "a date such as 2024-01-31"},
				{"电子证照!45:45", "证照编号", "the same licence type and number as row 9"},
			}
			goodFile := writeRecords(t, filepath.Join(tmp, "good.csv"), good)
			badFile := writeRecords(t, filepath.Join(tmp, "bad.csv"), bad)

			code, out, errOut := importCLI(badFile)
			if code != 1 || !strings.Contains(out, "rejected: nothing written") || !strings.Contains(out, fmt.Sprintf("errors (%d):", len(want))) {
				t.Fatalf("dry run of bad rows: exit %d\n%s%s", code, out, errOut)
			}
			for _, w := range want {
				if !lineWith(out, w.pointer, w.column+": ", w.reason) {
					t.Errorf("dry run output has no line with %s, %s and %q:\n%s", w.pointer, w.column, w.reason, out)
				}
			}
			if n := count(); n != before {
				t.Fatalf("dry run wrote %d licences", n-before)
			}
			if code, out, errOut := importCLI(badFile, "--commit"); code != 1 || !strings.Contains(out, "rejected: nothing written") || count() != before {
				t.Fatalf("--commit of a file with bad rows: exit %d, %d licences written\n%s%s", code, count()-before, out, errOut)
			}

			// A dry run of good rows says what --commit will do, not "0 would be created".
			code, out, errOut = importCLI(goodFile)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("%d licences checked: --commit issues those not yet registered", len(rows))) {
				t.Fatalf("dry run of the good rows: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = importCLI(goodFile, "--commit")
			if code != 0 || !strings.Contains(out, ": committed in ") || !strings.Contains(out, fmt.Sprintf("%d licences were created, 0 updated, 0 unchanged", len(rows))) {
				t.Fatalf("--commit of the good rows: exit %d\n%s%s", code, out, errOut)
			}
			if n := count(); n != before+len(rows) {
				t.Fatalf("%d licences written, want %d", n-before, len(rows))
			}
			code, out, errOut = importCLI(goodFile, "--commit")
			if code != 0 || !strings.Contains(out, fmt.Sprintf("0 licences were created, 0 updated, %d unchanged", len(rows))) || count() != before+len(rows) {
				t.Fatalf("second --commit: exit %d, %d licences in all (want %d)\n%s%s", code, count()-before, len(rows), out, errOut)
			}

			// More errors than a report lists: a bad holder id in every row.
			many := generatedLicences(t, h, sheet.DefaultMaxProblems+60)
			for _, rec := range many[1:] {
				rec[5] = otherCheckChar(rec[5])
			}
			manyFile := writeRecords(t, filepath.Join(tmp, "many.csv"), many)
			nErr := len(many) - 1
			code, out, errOut = importCLI(manyFile)
			if code != 1 || !strings.Contains(out, fmt.Sprintf("errors (%d):", nErr)) ||
				!strings.Contains(out, "… and 60 more errors not listed here; --report FILE lists them all") {
				t.Fatalf("dry run with %d errors: exit %d\n%s%s", nErr, code, out, errOut)
			}
			reportFile := filepath.Join(tmp, "problems.csv")
			code, out, errOut = importCLI(manyFile, "--report", reportFile)
			if code != 1 || !strings.Contains(out, fmt.Sprintf("every error (%d) is listed in %s", nErr, reportFile)) ||
				!strings.Contains(out, "… and 60 more errors not listed here; "+reportFile+" lists them all") {
				t.Fatalf("--report: exit %d\n%s%s", code, out, errOut)
			}
			raw, err := os.ReadFile(reportFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
				t.Errorf("report does not start with a UTF-8 byte order mark: %q", raw[:min(len(raw), 8)])
			}
			recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(recs[0], sheet.ProblemHeader) || len(recs)-1 != nErr {
				t.Fatalf("report: header %q, %d problems; want %q and %d", recs[0], len(recs)-1, sheet.ProblemHeader, nErr)
			}
			for i, rec := range recs[1:] {
				row := strconv.Itoa(i + 2)
				if rec[0] != licence.SheetName || rec[1] != row || rec[2] != "F"+row || rec[3] != "持证主体代码" || rec[4] == "" || rec[5] == "" {
					t.Fatalf("report line %d: %q; want sheet %s, row %s, cell F%s, column 持证主体代码, a reason and the (masked) value", i+2, rec, licence.SheetName, row, row)
				}
			}
			if n := count(); n != before+len(rows) {
				t.Fatalf("the dry runs wrote %d licences", n-before-len(rows))
			}

			// The report never overwrites the file being imported.
			code, _, errOut = importCLI(manyFile, "--report", manyFile)
			if after, _ := os.ReadFile(manyFile); code != 2 || !strings.Contains(errOut, "that is the file being imported") || len(after) == 0 {
				t.Fatalf("--report naming the import file: exit %d, file now %d bytes\n%s", code, len(after), errOut)
			}
		})
	}
}

// generatedLicences returns n generated licences of the demo's types
// (whose issuers the demo gave seals) as CSV records with the header,
// numbered apart from the demo's own.
func generatedLicences(t *testing.T, h *hubtest.Hub, n int) [][]string {
	t.Helper()
	ctx := context.Background()
	deps, err := h.Exchange.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, d := range deps {
		codes[d.ID] = d.Code
	}
	all, err := h.Licences.Types(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var types []licence.Type
	for _, ty := range all {
		if slices.Contains(licence.DemoTypes, ty.Name) {
			types = append(types, ty)
		}
	}
	var b bytes.Buffer
	if err := licence.Generate(&b, licence.GenerateOptions{Count: n, Seed: 5, Types: types, IssuerCode: func(id string) string { return codes[id] }}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		rec[1] = "CLI" + rec[1]
	}
	return recs
}

func writeRecords(t *testing.T, path string, recs [][]string) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// otherCheckChar changes the check character of a 居民身份证号 or a
// 统一社会信用代码 to a wrong one.
func otherCheckChar(id string) string {
	if strings.HasSuffix(id, "0") {
		return id[:len(id)-1] + "1"
	}
	return id[:len(id)-1] + "0"
}

// lineWith reports whether a line of out has every one of parts.
func lineWith(out string, parts ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}
