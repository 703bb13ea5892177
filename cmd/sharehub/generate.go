package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

const generateUsage = `usage: sharehub generate catalog --items N [--seed S] [--departments testdata/departments.csv] (--out FILE.xlsx | --csv DIR)

Makes N realistic catalogue items with fields across the departments, in
the import template's format: an xlsx, or DIR/items.csv and DIR/fields.csv.
The same seed gives the same file.
`

// cmdGenerate runs `sharehub generate catalog`.
func cmdGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, generateUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "catalog" {
		fmt.Fprint(stderr, generateUsage)
		return &exitError{2, errors.New("generate: say what to generate; today: catalog")}
	}
	fs := newFlagSet("generate catalog", stderr)
	n := fs.Int("items", 18000, "how many items")
	seed := fs.Uint64("seed", 1, "random seed")
	depFile := fs.String("departments", "testdata/departments.csv", "departments CSV (id,code,name,kind,parent_id)")
	out := fs.String("out", "", "xlsx file to write")
	csvDir := fs.String("csv", "", "directory to write items.csv and fields.csv into")
	if err := parse(fs, args[1:], nil); err != nil {
		return err
	}
	if (*out == "") == (*csvDir == "") {
		return &exitError{2, errors.New("give exactly one of --out and --csv")}
	}
	if *n < 1 {
		return &exitError{2, fmt.Errorf("--items: want at least 1, got %d", *n)}
	}
	deps, err := readGenDepartments(*depFile)
	if err != nil {
		return fmt.Errorf("--departments: %w", err)
	}
	items := catalog.Generate(*n, *seed, deps)
	spec := catalog.SpecFor(catalog.LibraryNames)
	if *csvDir != "" {
		if err := os.MkdirAll(*csvDir, 0o755); err != nil {
			return err
		}
		if err := writeCSV(ctx, filepath.Join(*csvDir, "items.csv"), spec.Sheets[0], items, false); err != nil {
			return err
		}
		if err := writeCSV(ctx, filepath.Join(*csvDir, "fields.csv"), spec.Sheets[1], items, true); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d items to %s\n", len(items), *csvDir)
		return nil
	}
	fieldRows := 0
	for i := range items {
		fieldRows += len(items[i].FieldRows())
	}
	if rows := max(len(items), fieldRows); rows > xlsxMaxDataRows {
		return &exitError{2, fmt.Errorf("--items %d: a sheet would need %d rows, more than the %d an xlsx sheet holds; write CSV with --csv DIR, or ask for fewer items", *n, rows, xlsxMaxDataRows)}
	}
	w, err := sheet.NewWriter(spec, sheet.WriterOptions{})
	if err != nil {
		return err
	}
	defer w.Close()
	for i := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.Append(catalog.SheetItems, items[i].Row()); err != nil {
			return err
		}
		for _, fr := range items[i].FieldRows() {
			if err := w.Append(catalog.SheetFields, fr); err != nil {
				return err
			}
		}
	}
	fh, err := createOutput(*out)
	if err != nil {
		return err
	}
	defer fh.abort()
	if _, err := w.WriteTo(ctxWriter{ctx, fh}); err != nil {
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d items to %s\n", len(items), *out)
	return nil
}

// xlsxMaxDataRows is how many rows an xlsx sheet holds under its header.
const xlsxMaxDataRows = 1<<20 - 1

func writeCSV(ctx context.Context, path string, sh sheet.Sheet, items []catalog.Generated, fields bool) error {
	fh, err := createOutput(path)
	if err != nil {
		return err
	}
	defer fh.abort()
	w := csv.NewWriter(fh)
	head := make([]string, len(sh.Columns))
	for i, c := range sh.Columns {
		head[i] = c.Header
	}
	w.Write(head)
	for i := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if fields {
			for _, fr := range items[i].FieldRows() {
				w.Write(fr)
			}
		} else {
			w.Write(items[i].Row())
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return fh.Close()
}

func readGenDepartments(path string) ([]catalog.GenDepartment, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("%s: no departments", path)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[strings.TrimPrefix(h, "\ufeff")] = i
	}
	var out []catalog.GenDepartment
	for _, r := range recs[1:] {
		out = append(out, catalog.GenDepartment{Name: r[col["name"]], Code: r[col["code"]]})
	}
	return out, nil
}
