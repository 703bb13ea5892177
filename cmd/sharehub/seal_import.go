package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
	"github.com/xiangyang-gov/sharehub/seal"
)

const sealImportUsage = `usage: sharehub import seals FILE [--commit] [--images DIR] [--generate-images] [--json] [flags]

Reads FILE (xlsx with a sheet 印章, or CSV of it): one seal per row with
统一社会信用代码 (or 机构编号), 机构名称 (optional check), 印章名称,
印章类别, 算法, 生效日期, 失效日期 and 印模文件 (a PNG or SVG file in
--images DIR, by default FILE's directory). Every row is checked and a
report printed; without --commit nothing is written. With --commit and
no errors each seal is created with its key pair and hub-CA certificate.
Rows whose organisation already has a live seal of that name are left
unchanged, so the file can be imported again.
`

// cmdImportSeals runs `sharehub import seals FILE`.
func cmdImportSeals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	fs := newFlagSet("import seals", stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	commit := fs.Bool("commit", false, "create the seals if the file has no errors (default: dry run)")
	images := fs.String("images", "", "directory holding the 印模文件 pictures (default: FILE's directory)")
	generate := fs.Bool("generate-images", false, "draw a seal picture for rows that name no 印模文件")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress bar")
	file, err := parseWithInputFile(fs, args, check)
	if err != nil {
		fmt.Fprint(stderr, sealImportUsage)
		return err
	}
	if *images == "" {
		*images = filepath.Dir(file)
	}
	cfg.Fill()
	d, err := hub.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	master, err := hub.LoadMaster(cfg)
	if err != nil {
		return err
	}
	blobs, err := blob.Open(ctx, cfg.Blobs, blob.Options{MaxSize: cfg.MaxUpload})
	if err != nil {
		return fmt.Errorf("--blobs: %w", err)
	}
	ex := exchange.New(d, exchange.Config{})
	defer ex.Close()
	seals, err := seal.New(seal.Config{DB: d, Master: master, Directory: ex, Images: blobs})
	if err != nil {
		return err
	}
	defer seals.Close()
	by := cliAdmin()
	start := time.Now()
	progress := sheetProgress(stderr, *quiet)
	rep, err := seals.Import(ctx, file, seal.ImportOptions{By: by, Commit: *commit, ImageDir: *images, GenerateImages: *generate, Progress: progress})
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	rep.File = file
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		printSealReport(stdout, rep, time.Since(start))
	}
	if !rep.OK() {
		if rep.Committed {
			return &exitError{1, fmt.Errorf("%s: %d seals created, %d rows failed", file, rep.Created, rep.ErrorCount)}
		}
		return &exitError{1, fmt.Errorf("%s has %d errors; nothing was written", file, rep.ErrorCount)}
	}
	return nil
}

func printSealReport(w io.Writer, rep *sheet.Report, took time.Duration) {
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
	verb := "would be"
	if rep.Committed {
		verb = "were"
	}
	fmt.Fprintf(w, "  %d seals %s created, %d already there (unchanged)\n", rep.Created, verb, rep.Unchanged)
	printProblems(w, rep, "")
}
