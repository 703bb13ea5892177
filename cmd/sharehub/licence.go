package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/licence"
	"github.com/xiangyang-gov/sharehub/seal"
)

const licenceUsage = `usage:
  sharehub import licences FILE.csv|FILE.xlsx [--commit] [--report PROBLEMS.csv] [--json] [flags]
      check every row and print a report (dry run); --commit issues the
      licences in sealed batches if the file has no errors. Rows whose
      (type, number) is registered already are skipped. The report lists
      the first 1000 errors and counts the rest; --report writes every
      one (sheet, row, cell, column, reason, value) to a CSV file that
      Excel opens (UTF-8 with a byte order mark), as they are found.
  sharehub licence setup [flags]
      load the built-in catalogue of 224 licence types and give every
      issuing department a 业务专用章 if it has none (departments must exist:
      run the demo once, or bootstrap and create them).
  sharehub licence attach --type CODE DIR|FILE.zip [flags]
      attach the files in DIR or in the zip archive (PDF, OFD, PNG, JPEG)
      to licences of the type, matched by number: NUMBER.pdf goes to the
      licence numbered NUMBER; each attachment is a new sealed version.
      Every file is reported; one that cannot be attached (path-like name
      in the archive, too big, content not what its name says, no such
      licence) does not stop the others. Limits: --licence-file-max bytes
      per file (default 20 MiB; files are also bounded by --max-upload),
      --licence-zip-max bytes inflated from one archive (default 2 GiB),
      --licence-zip-entries entries in one archive (default 20000);
      serve and demo take the same flags for uploaded licence files.
  sharehub licence generate --count N --out FILE.csv|FILE.xlsx [--seed S] [flags]
      write N realistic licences in the import format: one of each of the
      catalogue's 224 types first (all of them when N is at least 224),
      the rest drawn by how common each type is (reads the departments'
      credit codes from the database). An xlsx sheet holds about a
      million rows: past 1,000,000 licences FILE.xlsx becomes FILE-1.xlsx,
      FILE-2.xlsx, … (the same licences as the CSV, in order).
`

// cmdLicence runs `sharehub licence ...`.
func cmdLicence(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, licenceUsage)
		return nil
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, licenceUsage)
		return &exitError{2, errors.New("licence: say setup, generate, import or attach")}
	}
	switch args[0] {
	case "setup":
		return cmdLicenceSetup(ctx, args[1:], stdout, stderr)
	case "generate":
		return cmdLicenceGenerate(ctx, args[1:], stdout, stderr)
	case "import":
		return cmdImportLicences(ctx, args[1:], stdout, stderr)
	case "attach":
		return cmdLicenceAttach(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, licenceUsage)
	return &exitError{2, fmt.Errorf("licence: unknown command %q", args[0])}
}

// licenceServices opens what the licence commands need: the database, the
// seal service (for sealing imports) and the registry.
type licenceServices struct {
	db    *db.DB
	ex    *exchange.Service
	seals *seal.Service
	svc   *licence.Service
}

func openLicence(ctx context.Context, cfg hub.Config) (*licenceServices, error) {
	cfg.Fill()
	d, err := hub.OpenDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	master, err := hub.LoadMaster(cfg)
	if err != nil {
		d.Close()
		return nil, err
	}
	blobs, err := blob.Open(ctx, cfg.Blobs, blob.Options{MaxSize: cfg.MaxUpload})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("--blobs: %w", err)
	}
	ex := exchange.New(d, exchange.Config{})
	seals, err := seal.New(seal.Config{DB: d, Master: master, Directory: ex, Images: blobs})
	if err != nil {
		d.Close()
		return nil, err
	}
	svc, err := licence.New(licence.Config{DB: d, Directory: ex, Sealer: seals, Files: blobs,
		MaxFileSize: cfg.LicenceFileMax, MaxZipBytes: cfg.LicenceZipMax, MaxZipEntries: cfg.LicenceZipEntries})
	if err != nil {
		d.Close()
		return nil, err
	}
	return &licenceServices{db: d, ex: ex, seals: seals, svc: svc}, nil
}

func (l *licenceServices) Close() {
	l.seals.Close()
	l.ex.Close()
	l.db.Close()
}

// cmdImportLicences runs `sharehub import licences FILE`.
func cmdImportLicences(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	fs := newFlagSet("import licences", stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	commit := fs.Bool("commit", false, "issue the licences if the file has no errors (default: dry run)")
	reportOut := fs.String("report", "", "write every error (sheet, row, cell, column, reason, value) to this CSV file, also those beyond the first 1000 the report lists")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress bar")
	file, err := parseWithInputFile(fs, args, check)
	if err != nil {
		fmt.Fprint(stderr, licenceUsage)
		return err
	}
	opts := licence.ImportOptions{By: cliAdmin(), Commit: *commit, DeferSync: true}
	var problems *problemFile
	if *reportOut != "" {
		if problems, err = createProblemFile(*reportOut, file); err != nil {
			return err
		}
		defer problems.abandon()
		opts.OnError = problems.Add
	}
	ls, err := openLicence(ctx, cfg)
	if err != nil {
		return err
	}
	defer ls.Close()
	if os.Getenv("GOMEMLIMIT") == "" {
		// Millions of rows go through the heap; a soft limit makes the
		// collector keep the import's memory flat (under 300 MB RSS with
		// SQLite's 64 MB page cache, which is outside the Go heap)
		// instead of letting it double. At 160 MiB the peak came within
		// 5 MB of 300; at 128 MiB it is about 290 MB, no slower.
		debug.SetMemoryLimit(128 << 20)
	}
	start := time.Now()
	opts.Progress = sheetProgress(stderr, *quiet)
	rep, err := ls.svc.Import(ctx, file, opts)
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	rep.File = file
	more := "; --report FILE lists them all"
	var reportErr error
	if problems != nil {
		if reportErr = problems.finish(); reportErr == nil {
			more = "; " + *reportOut + " lists them all"
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		printReportOf(stdout, rep, time.Since(start), more, "licences")
		if problems != nil && reportErr == nil {
			fmt.Fprintf(stdout, "every error (%d) is listed in %s\n", problems.Count(), *reportOut)
		}
	}
	if reportErr != nil {
		return reportErr
	}
	if !rep.OK() {
		return &exitError{1, fmt.Errorf("%s has %d errors; nothing was written", file, rep.ErrorCount)}
	}
	return nil
}

func cmdLicenceSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	fs := newFlagSet("licence setup", stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	if err := parse(fs, args, check); err != nil {
		return err
	}
	ls, err := openLicence(ctx, cfg)
	if err != nil {
		return err
	}
	defer ls.Close()
	deps, err := ls.ex.Departments(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, d := range deps {
		if strings.HasPrefix(d.ID, "xy-") {
			ids = append(ids, d.ID)
		}
	}
	types, err := ls.svc.LoadCatalogue(ctx, cliAdmin(), ls.seals, ids)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d licence types loaded; %d departments have a seal for licences\n", len(types), len(ids))
	return nil
}

func cmdLicenceGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	fs := newFlagSet("licence generate", stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	count := fs.Int("count", 10000, "how many licences")
	out := fs.String("out", "", "FILE.csv or FILE.xlsx")
	seed := fs.Uint64("seed", 1, "random seed (the same seed gives the same file)")
	if err := parse(fs, args, check); err != nil {
		return err
	}
	if *out == "" || *count <= 0 {
		fmt.Fprint(stderr, licenceUsage)
		return &exitError{2, errors.New("licence generate: --out FILE and a positive --count are needed")}
	}
	cfg.Fill()
	d, err := hub.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	ex := exchange.New(d, exchange.Config{})
	deps, err := ex.Departments(ctx)
	ex.Close()
	d.Close()
	if err != nil {
		return err
	}
	codes := map[string]string{}
	for _, dp := range deps {
		codes[dp.ID] = dp.Code
	}
	opts := licence.GenerateOptions{Count: *count, Seed: *seed, IssuerCode: func(id string) string { return codes[id] }}
	start := time.Now()
	if strings.HasSuffix(strings.ToLower(*out), ".xlsx") && *count > xlsxRowsPerFile {
		// One sheet holds about a million rows: FILE-1.xlsx, FILE-2.xlsx, …
		// Each part is written under a temporary name and renamed when
		// whole; if the run fails, the parts it made are removed.
		base := strings.TrimSuffix(*out, filepath.Ext(*out))
		var names []string
		parts, err := licence.GenerateXLSXFiles(func(i int) (io.WriteCloser, error) {
			name := fmt.Sprintf("%s-%d.xlsx", base, i)
			f, err := createOutput(name)
			if err != nil {
				return nil, err
			}
			names = append(names, name)
			return struct {
				io.Writer
				io.Closer
			}{ctxWriter{ctx, f}, f}, nil
		}, xlsxRowsPerFile, opts)
		if err != nil {
			for _, n := range names {
				os.Remove(n)
				os.Remove(n + ".tmp")
			}
			return err
		}
		fmt.Fprintf(stdout, "%d licences written to %d workbooks of at most %d rows (%s) in %.1fs\n",
			*count, parts, xlsxRowsPerFile, strings.Join(names, ", "), time.Since(start).Seconds())
		if stale := fmt.Sprintf("%s-%d.xlsx", base, parts+1); fileExists(stale) {
			fmt.Fprintf(stdout, "note: %s (and any after it) is from an earlier run, not this one\n", stale)
		}
		return nil
	}
	f, err := createOutput(*out)
	if err != nil {
		return err
	}
	defer f.abort()
	if strings.HasSuffix(strings.ToLower(*out), ".xlsx") {
		err = licence.GenerateXLSX(ctxWriter{ctx, f}, opts)
	} else {
		err = licence.Generate(ctxWriter{ctx, f}, opts)
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d licences written to %s in %.1fs\n", *count, *out, time.Since(start).Seconds())
	return nil
}

func cmdLicenceAttach(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	fs := newFlagSet("licence attach", stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	typeCode := fs.String("type", "", "licence type code (证照类型代码)")
	src, err := parseWithFile(fs, args, check)
	if err != nil || *typeCode == "" {
		fmt.Fprint(stderr, licenceUsage)
		if err == nil {
			err = &exitError{2, errors.New("licence attach: --type CODE is needed")}
		}
		return err
	}
	ls, err := openLicence(ctx, cfg)
	if err != nil {
		return err
	}
	defer ls.Close()
	res, err := attachFrom(ctx, ls.svc, *typeCode, src)
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range res {
		if !r.Attached {
			bad++
			fmt.Fprintf(stdout, "  not attached: %-40s %s\n", r.File, r.Error)
		}
	}
	fmt.Fprintf(stdout, "%d files attached, %d not\n", len(res)-bad, bad)
	if bad > 0 {
		return &exitError{1, fmt.Errorf("%d files were not attached", bad)}
	}
	return nil
}

// attachFrom attaches the files of a directory or a zip archive.
func attachFrom(ctx context.Context, svc *licence.Service, typeCode, src string) ([]licence.AttachResult, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return svc.AttachDir(ctx, cliAdmin(), typeCode, src)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return svc.AttachZip(ctx, cliAdmin(), typeCode, f, st.Size())
}

// xlsxRowsPerFile is how many licences `licence generate` puts in one
// workbook (a variable for tests).
var xlsxRowsPerFile = licence.MaxXLSXRows

// renameOnClose is a file written under a temporary name and renamed to
// its own name once closed without error.
type renameOnClose struct {
	*os.File
	to     string
	closed bool
}

// createOutput creates an output file as path.tmp, renamed to path when
// closed: a command that fails or is interrupted leaves no part of a file,
// and any earlier file of that name as it was. Defer abort. A path that is
// not a regular file (/dev/stdout, a named pipe) is written directly.
func createOutput(path string) (*renameOnClose, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &renameOnClose{File: f}, nil
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return nil, err
	}
	return &renameOnClose{File: f, to: path}, nil
}

func (r *renameOnClose) Close() error {
	r.closed = true
	err := r.File.Close()
	if r.to == "" {
		return err
	}
	if err == nil {
		err = os.Rename(r.File.Name(), r.to)
	}
	if err != nil {
		os.Remove(r.File.Name())
	}
	return err
}

// abort removes the temporary file of an output not closed.
func (r *renameOnClose) abort() {
	if !r.closed {
		r.File.Close()
		if r.to != "" {
			os.Remove(r.File.Name())
		}
	}
}

// ctxWriter fails once ctx is done, so that Ctrl-C stops a command that
// streams its output.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
