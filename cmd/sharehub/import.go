package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

const importUsage = `usage: sharehub import catalog FILE [--commit] [--publish] [--report OUT.xlsx] [--json] [flags]

Reads FILE (xlsx, or CSV of the items sheet), checks every row and prints a
report: each bad row's sheet, row, column, value and reason. Without
--commit nothing is written (a dry run). With --commit the file is written
in one transaction if it has no errors, and not at all if it has any.

Seals and licences: sharehub import seals FILE -h, sharehub import licences FILE -h.
`

// cmdImport runs `sharehub import catalog FILE`.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, importUsage)
		return nil
	}
	if len(args) > 0 && args[0] == "licences" {
		return cmdImportLicences(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "seals" {
		return cmdImportSeals(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "catalog" {
		fmt.Fprint(stderr, importUsage)
		return &exitError{2, errors.New("import: say what to import: catalog, seals or licences")}
	}
	cfg := hub.Defaults()
	fs := newFlagSet("import catalog", stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	commit := fs.Bool("commit", false, "write the file if it has no errors (default: dry run)")
	publish := fs.Bool("publish", false, "publish new and changed items")
	reportOut := fs.String("report", "", "also write the file with an error column to this xlsx")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress bar")
	file, err := parseWithInputFile(fs, args[1:], check)
	if err != nil {
		fmt.Fprint(stderr, importUsage)
		return err
	}
	if *reportOut != "" && sameFile(*reportOut, file) {
		return &exitError{2, fmt.Errorf("--report %s: that is the file being imported", *reportOut)}
	}
	d, err := hub.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	svc := catalog.New(d, catalog.Config{})
	by := cliAdmin()
	start := time.Now()
	progress := sheetProgress(stderr, *quiet)
	rep, err := svc.Import(ctx, file, catalog.ImportOptions{By: by, Commit: *commit, Publish: *publish, Progress: progress})
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	rep.File = file
	if *reportOut != "" {
		if err := writeAnnotated(ctx, svc, file, rep, *reportOut); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		printReport(stdout, rep, time.Since(start), "")
		if *reportOut != "" {
			fmt.Fprintf(stdout, "annotated copy with an error column: %s\n", *reportOut)
		}
	}
	if !rep.OK() {
		return &exitError{1, fmt.Errorf("%s has %d errors; nothing was written", file, rep.ErrorCount)}
	}
	return nil
}

func writeAnnotated(ctx context.Context, svc *catalog.Service, file string, rep *sheet.Report, out string) error {
	spec, err := svc.Spec(ctx)
	if err != nil {
		return err
	}
	f, err := sheet.Open(file, spec, sheet.Options{})
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := createOutput(out)
	if err != nil {
		return err
	}
	defer w.abort()
	if err := sheet.WriteAnnotated(ctx, f, rep, w); err != nil {
		return err
	}
	return w.Close()
}

// problemFile is an import's --report PROBLEMS.csv: every error, written
// as the import finds it (sheet.ProblemCSV).
type problemFile struct {
	*sheet.ProblemCSV
	f        *os.File
	path     string
	finished bool
}

// createProblemFile creates the --report file of the import of input. It
// refuses to overwrite input itself.
func createProblemFile(path, input string) (*problemFile, error) {
	if sameFile(path, input) {
		return nil, &exitError{2, fmt.Errorf("--report %s: that is the file being imported", path)}
	}
	// 0600: the rows name the file's licence holders.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	return &problemFile{ProblemCSV: sheet.NewProblemCSV(f), f: f, path: path}, nil
}

// sameFile reports whether the paths a and b name one existing file.
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// finish writes out and closes the file; a file that could not be
// written whole is removed.
func (p *problemFile) finish() error {
	p.finished = true
	err := p.Flush()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p.path)
		return fmt.Errorf("--report %s: %w", p.path, err)
	}
	return nil
}

// abandon removes the file of an import that stopped before its end: a
// part of the list would pass for all of it.
func (p *problemFile) abandon() {
	if !p.finished {
		p.f.Close()
		os.Remove(p.path)
	}
}

// printReport prints an import's outcome and its problems; more is said
// after the count of errors not listed, if any (printProblems).
func printReport(w io.Writer, rep *sheet.Report, took time.Duration, more string) {
	printReportOf(w, rep, took, more, "items")
}

// printReportOf is printReport for an import of noun ("items",
// "licences"). A licence dry run checks every row but not which licences
// are registered already (the commit skips those): it says so instead of
// counting.
func printReportOf(w io.Writer, rep *sheet.Report, took time.Duration, more, noun string) {
	mode := "dry run (nothing written; add --commit to write)"
	switch {
	case rep.Committed:
		mode = "committed"
	case !rep.OK():
		mode = "rejected: nothing written"
	}
	fmt.Fprintf(w, "%s (%s): %s in %.1fs\n", rep.File, rep.Format, mode, took.Seconds())
	for sh, n := range rep.Rows {
		fmt.Fprintf(w, "  sheet %s: %d rows\n", sh, n)
	}
	switch {
	case !rep.OK():
	case noun == "licences" && !rep.Committed:
		rows := 0
		for _, n := range rep.Rows {
			rows += n
		}
		fmt.Fprintf(w, "  %d licences checked: --commit issues those not yet registered and skips the rest\n", rows)
	default:
		verb := "would be"
		if rep.Committed {
			verb = "were"
		}
		fmt.Fprintf(w, "  %d %s %s created, %d updated, %d unchanged\n", rep.Created, noun, verb, rep.Updated, rep.Unchanged)
	}
	printProblems(w, rep, more)
}

// cliAdmin is the principal the import commands act as: the operator at
// the console, who holds the database itself.
func cliAdmin() *exchange.Principal {
	return &exchange.Principal{ID: "cli:" + osUser(), Roles: []exchange.Role{exchange.RoleAdmin, exchange.RoleImporter}}
}

// sheetProgress draws the import progress bar on w (at most 5 times a
// second) with the rate of the current phase (read, check, commit).
func sheetProgress(w io.Writer, quiet bool) func(sheet.Progress) {
	var last time.Time
	began := map[string]time.Time{}
	return func(p sheet.Progress) {
		phaseStart, ok := began[p.Phase]
		if !ok {
			phaseStart = time.Now()
			began[p.Phase] = phaseStart
		}
		if quiet || time.Since(last) < 200*time.Millisecond && p.Done != p.Total {
			return
		}
		last = time.Now()
		rate := float64(p.Done) / max(time.Since(phaseStart).Seconds(), 1e-3)
		if p.Total > 0 {
			fmt.Fprintf(w, "\r%-7s %s %8.0f rows/s", p.Phase, bar(uint64(p.Done), uint64(p.Total)), rate)
		} else {
			fmt.Fprintf(w, "\r%-7s %s: %d rows %8.0f rows/s", p.Phase, p.Sheet, p.Done, rate)
		}
	}
}

// printProblems lists a spreadsheet report's errors (all that it kept) and
// its first 20 notes, one cell a line. The count of errors the report did
// not keep is followed by more, which can say where they are.
func printProblems(w io.Writer, rep *sheet.Report, more string) {
	if rep.ErrorCount > 0 {
		fmt.Fprintf(w, "errors (%d):\n", rep.ErrorCount)
		for _, p := range rep.Errors {
			fmt.Fprintf(w, "  %-14s %s%s%s\n", p.Pointer(), prefixed(p.Column, ": "), p.Reason, quoted(p.Value))
		}
		if rep.ErrorCount > len(rep.Errors) {
			fmt.Fprintf(w, "  … and %d more errors not listed here%s\n", rep.ErrorCount-len(rep.Errors), more)
		}
	}
	if rep.NoteCount > 0 {
		fmt.Fprintf(w, "notes (%d):\n", rep.NoteCount)
		for i, p := range rep.Notes {
			if i == 20 {
				fmt.Fprintf(w, "  … and %d more\n", rep.NoteCount-20)
				break
			}
			fmt.Fprintf(w, "  %-14s %s%s%s\n", p.Pointer(), prefixed(p.Column, ": "), p.Reason, quoted(p.Value))
		}
	}
}

func prefixed(s, sep string) string {
	if s == "" {
		return ""
	}
	return s + sep
}

func quoted(v string) string {
	if v == "" {
		return ""
	}
	return fmt.Sprintf(" (value %q)", v)
}

// parseWithInputFile is parseWithFile for a FILE that is read: one that
// is missing or a directory exits 2 before the command creates the data
// directory, the database or the master key for nothing.
func parseWithInputFile(fs *flag.FlagSet, args []string, check func() error) (string, error) {
	file, err := parseWithFile(fs, args, check)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(file)
	switch {
	case err != nil:
		return "", &exitError{2, fmt.Errorf("FILE: %w", err)}
	case st.IsDir():
		return "", &exitError{2, fmt.Errorf("FILE %s is a directory", file)}
	}
	return file, nil
}

// parseWithFile parses flags before and after one positional FILE argument.
func parseWithFile(fs *flag.FlagSet, args []string, check func() error) (string, error) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return "", err
		}
		return "", &exitError{2, err}
	}
	if fs.NArg() == 0 {
		return "", &exitError{2, errors.New("missing FILE")}
	}
	file := fs.Arg(0)
	if err := parse(fs, fs.Args()[1:], check); err != nil {
		return "", err
	}
	if strings.HasPrefix(file, "-") {
		return "", &exitError{2, fmt.Errorf("bad FILE %q", file)}
	}
	return file, nil
}
