package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// `licence generate --out FILE.xlsx` past the rows one workbook takes
// writes FILE-1.xlsx, FILE-2.xlsx, … (here 100 a workbook), leaves no
// temporary file, says which workbooks are left from an earlier, longer
// run, and each workbook imports.
func TestLicenceGenerateXLSXParts(t *testing.T) {
	clearEnv(t)
	old := xlsxRowsPerFile
	xlsxRowsPerFile = 100
	defer func() { xlsxRowsPerFile = old }()
	h := hubtest.Start(t, db.SQLite)
	ctx := context.Background()
	flags := []string{"--data-dir", h.Config.DataDir, "--database", h.Config.Database, "--master-key-file", h.Config.MasterKeyFile}
	dir := t.TempDir()
	// A part 4 from an earlier run.
	if err := os.WriteFile(filepath.Join(dir, "lic-4.xlsx"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, ctx, append([]string{"licence", "generate", "--count", "250", "--out", filepath.Join(dir, "lic.xlsx")}, flags...)...)
	if code != 0 || !strings.Contains(out, "250 licences written to 3 workbooks") || !strings.Contains(out, "lic-4.xlsx (and any after it) is from an earlier run") {
		t.Fatalf("generate: exit %d\n%s\n%s", code, out, errOut)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(matches) != 4 {
		t.Fatalf("files: %v; want lic-1..3.xlsx and the old lic-4.xlsx, no temporary ones", matches)
	}
	for i := 1; i <= 3; i++ {
		f := filepath.Join(dir, fmt.Sprintf("lic-%d.xlsx", i))
		code, out, errOut := cli(t, ctx, append([]string{"import", "licences", f, "--quiet"}, flags...)...)
		want := map[int]string{1: "100", 2: "100", 3: "50"}[i]
		if code != 0 || !strings.Contains(out, want+" rows") {
			t.Fatalf("dry run of %s: exit %d\n%s\n%s", f, code, out, errOut)
		}
	}
}
