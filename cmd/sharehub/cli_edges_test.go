package main

// Tests for defects found in an adversarial review of the command line.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// `sharehub COMMAND -h` of a command with subcommands prints its usage and
// exits 0, as `sharehub -h` and `sharehub migrate -h` do; it is not an
// unknown subcommand "-h" (exit 2).
func TestCLIGroupHelp(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	for _, cmd := range []string{"audit", "auditor", "import", "seal", "export", "generate", "licence", "sync"} {
		for _, h := range []string{"-h", "--help"} {
			code, out, errOut := cli(t, ctx, cmd, h)
			if code != 0 || !strings.Contains(out, "usage") || strings.Contains(errOut, "sharehub:") {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want exit 0 and the usage", cmd, h, code, out, errOut)
			}
		}
	}
	// Without a subcommand the message names every one there is.
	if code, _, errOut := cli(t, ctx, "import"); code != 2 || !strings.Contains(errOut, "seals") || !strings.Contains(errOut, "licences") {
		t.Errorf("import: exit %d, %q; want exit 2 naming catalog, seals and licences", code, errOut)
	}
	if code, _, errOut := cli(t, ctx, "licence"); code != 2 || !strings.Contains(errOut, "say setup, generate, import or attach") {
		t.Errorf("licence: exit %d, %q; want exit 2 naming every subcommand", code, errOut)
	}
}

// `demo --reset --data-dir DIR` deletes DIR whole: a DIR that holds files
// the hub did not put there (--data-dir . or ~ by mistake) is refused.
func TestCLIDemoResetKeepsForeignFiles(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	thesis := filepath.Join(dir, "thesis.docx")
	if err := os.WriteFile(thesis, []byte("five years of work"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, _, errOut := cli(t, ctx, "demo", "--reset", "--data-dir", dir, "--listen", "127.0.0.1:0", "--demo-data", hubtest.Testdata())
	if code != 2 || !strings.Contains(errOut, "--reset") || !strings.Contains(errOut, "thesis.docx") {
		t.Errorf("demo --reset on a directory with other files: exit %d, %q; want exit 2 naming the file", code, errOut)
	}
	if b, err := os.ReadFile(thesis); err != nil || string(b) != "five years of work" {
		t.Fatalf("demo --reset deleted a file that is not the hub's: %v", err)
	}
}

// An output file is written whole or not at all: a command that fails
// leaves no part of a file and an earlier file of that name as it was.
func TestCLIOutputKeptOnFailure(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	out := filepath.Join(dir, "licences.csv")
	if err := os.WriteFile(out, []byte("last week's licences\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A new database has no departments, so there is nothing to generate.
	code, _, errOut := cli(t, ctx, "licence", "generate", "--count", "10", "--out", out, "--data-dir", filepath.Join(dir, "data"))
	if code == 0 {
		t.Fatalf("licence generate without departments: exit 0: %s", errOut)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "last week's licences\n" {
		t.Errorf("a failed licence generate left %s as %q (%v); want it as it was", out, b, err)
	}
	if _, err := os.Stat(out + ".tmp"); err == nil {
		t.Errorf("a failed licence generate left %s.tmp", out)
	}
}

// `import catalog FILE --report FILE` would write the annotated copy over
// the file being read: it is refused, and the file is left alone.
func TestCLIImportCatalogReportIsInput(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	h := hubtest.Start(t, db.SQLite)
	file := filepath.Join(t.TempDir(), "catalog.xlsx")
	if code, _, errOut := cli(t, ctx, "generate", "catalog", "--items", "5", "--out", file, "--departments", filepath.Join(hubtest.Testdata(), "departments.csv")); code != 0 {
		t.Fatalf("generate catalog: exit %d: %s", code, errOut)
	}
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, ctx, "import", "catalog", file, "--report", file, "--quiet",
		"--data-dir", h.Config.DataDir, "--database", h.Config.Database, "--master-key-file", h.Config.MasterKeyFile)
	if code != 2 || !strings.Contains(errOut, "that is the file being imported") {
		t.Errorf("import catalog FILE --report FILE: exit %d, %q; want exit 2", code, errOut)
	}
	if after, err := os.ReadFile(file); err != nil || !bytes.Equal(after, before) {
		t.Errorf("import catalog FILE --report FILE changed FILE (%d bytes, was %d; %v)", len(after), len(before), err)
	}
}

// `generate catalog` refuses what it cannot write, saying why, instead of
// a panic (--items -1) or excelize's "invalid cell name" after the work.
func TestCLIGenerateCatalogLimits(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	deps := filepath.Join(hubtest.Testdata(), "departments.csv")
	out := filepath.Join(t.TempDir(), "catalog.xlsx")
	code, _, errOut := cli(t, ctx, "generate", "catalog", "--items", "-1", "--out", out, "--departments", deps)
	if code != 2 || !strings.Contains(errOut, "--items") {
		t.Errorf("generate catalog --items -1: exit %d, %q; want exit 2 naming --items", code, errOut)
	}
	code, _, errOut = cli(t, ctx, "generate", "catalog", "--items", "5", "--out", out, "--departments", filepath.Join(t.TempDir(), "nope.csv"))
	if code == 0 || !strings.Contains(errOut, "--departments") {
		t.Errorf("generate catalog with a missing --departments file: exit %d, %q; want the flag named", code, errOut)
	}
}

// Ctrl-C stops `licence generate` and leaves no part of its file.
func TestCLILicenceGenerateInterrupt(t *testing.T) {
	clearEnv(t)
	h := hubtest.Start(t, db.SQLite)
	out := filepath.Join(t.TempDir(), "lic.csv")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := cli(t, ctx, "licence", "generate", "--count", "20000000", "--out", out,
			"--data-dir", h.Config.DataDir, "--database", h.Config.Database, "--master-key-file", h.Config.MasterKeyFile)
		done <- code
	}()
	// Wait until it writes.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, err := os.Stat(out + ".tmp"); err == nil && st.Size() > 0 {
			break
		}
		if st, err := os.Stat(out); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("licence generate wrote nothing within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code == 0 {
			t.Errorf("interrupted licence generate: exit 0")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("licence generate went on for 5s after Ctrl-C")
	}
	for _, f := range []string{out, out + ".tmp"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("interrupted licence generate left %s", f)
		}
	}
}

// A second Ctrl-C ends a command at once, even in a stretch of work that
// does not watch for the first.
func TestCLISecondInterruptKills(t *testing.T) {
	clearEnv(t)
	bin := filepath.Join(t.TempDir(), "sharehub")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	// Making 100,000 items in memory takes seconds and does not look at
	// the context.
	cmd := exec.Command(bin, "generate", "catalog", "--items", "100000", "--out", filepath.Join(t.TempDir(), "c.xlsx"),
		"--departments", filepath.Join(hubtest.Testdata(), "departments.csv"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("after two Ctrl-C: %v; want it ended", err)
		}
	case <-time.After(time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("a second Ctrl-C did not end the command within 1s")
	}
}

// `audit verify` on a mistyped --data-dir says there is no database there
// (exit 2); it does not create one and fail on a raw SQL error.
func TestCLIAuditVerifyMissingDatabase(t *testing.T) {
	clearEnv(t)
	dir := filepath.Join(t.TempDir(), "typo")
	code, out, errOut := cli(t, context.Background(), "audit", "verify", "--data-dir", dir, "--quiet")
	if code != 2 || !strings.Contains(errOut, "no database at "+filepath.Join(dir, "sharehub.db")) || strings.Contains(errOut, "SQL") {
		t.Errorf("audit verify on a missing database: exit %d, %q %q; want exit 2 saying there is no database", code, out, errOut)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("audit verify created %s", dir)
	}
}

// bootstrap refuses a negative --expires (it made a key that never
// expires) and a --department-code that is not the existing department's.
func TestCLIBootstrapFlags(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	code := ident.NewCreditCode('1', '1', "420600", 424243)
	args := []string{"bootstrap", "--data-dir", dir, "--log-level", "error", "--department-code", code}
	c, out, errOut := cli(t, ctx, append(args, "--expires", "-1h")...)
	if c != 2 || !strings.Contains(errOut, "--expires") || strings.Contains(out, "shk_") {
		t.Errorf("bootstrap --expires -1h: exit %d, %q %q; want exit 2 and no key", c, out, errOut)
	}
	if c, _, errOut := cli(t, ctx, args...); c != 0 {
		t.Fatalf("bootstrap: exit %d: %s", c, errOut)
	}
	other := ident.NewCreditCode('1', '1', "420600", 424244)
	c, out, errOut = cli(t, ctx, "bootstrap", "--data-dir", dir, "--log-level", "error", "--department-code", other)
	if c != 2 || !strings.Contains(errOut, "--department-code") || strings.Contains(out, "shk_") {
		t.Errorf("bootstrap with another department's code: exit %d, %q %q; want exit 2 and no key", c, out, errOut)
	}
}

// `sync edit JOB` without --spec says --spec is needed, not "open : no
// such file or directory".
func TestCLISyncEditNeedsSpec(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	code, _, errOut := cli(t, context.Background(), "sync", "edit", "job-1", "--data-dir", dir)
	if code != 2 || !strings.Contains(errOut, "--spec") || strings.Contains(errOut, "open :") {
		t.Errorf("sync edit without --spec: exit %d, %q; want exit 2 naming --spec", code, errOut)
	}
}

// An import of a file that is not there (or is a directory) exits 2
// naming it, and leaves no data directory, database or master key behind:
// it made all three, migrated, and only then failed to open the file.
func TestCLIImportMissingFileCreatesNothing(t *testing.T) {
	clearEnv(t)
	for _, what := range []string{"catalog", "licences", "seals"} {
		dir := filepath.Join(t.TempDir(), "data")
		for _, file := range []string{filepath.Join(t.TempDir(), "不存在.xlsx"), t.TempDir()} {
			code, out, errOut := cli(t, context.Background(), "import", what, file, "--data-dir", dir, "--quiet")
			if code != 2 || !strings.Contains(errOut, "FILE") {
				t.Errorf("import %s %s: exit %d, %q %q; want exit 2 naming FILE", what, file, code, out, errOut)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("import %s of a missing file created %s", what, dir)
			}
		}
	}
}
