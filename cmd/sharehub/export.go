package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/hub"
)

const exportUsage = `usage: sharehub export catalog --out FILE.xlsx [--department ID] [--library ID] [--status S] [flags]
       sharehub export template --out FILE.xlsx
`

// cmdExport runs `sharehub export catalog` and `sharehub export template`.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, exportUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "catalog" && args[0] != "template") {
		fmt.Fprint(stderr, exportUsage)
		return &exitError{2, errors.New("export: say what to export: catalog or template")}
	}
	what := args[0]
	cfg := hub.Defaults()
	fs := newFlagSet("export "+what, stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	out := fs.String("out", "", "file to write (required)")
	var f catalog.Filter
	fs.StringVar(&f.Department, "department", "", "only this provider department's items")
	fs.StringVar(&f.Library, "library", "", "only this library's items")
	fs.StringVar(&f.ShareType, "share-type", "", "only items of this share type ("+strings.Join(catalog.ShareTypes, ", ")+")")
	status := fs.String("status", "", "only items of this status (draft, published, withdrawn)")
	if err := parse(fs, args[1:], check); err != nil {
		return err
	}
	if *out == "" {
		return &exitError{2, errors.New("--out is required")}
	}
	// A mistyped value matches no item: the command would write an empty
	// catalogue and exit 0, as if that were the export asked for.
	switch f.Status = catalog.Status(*status); f.Status {
	case "", catalog.StatusDraft, catalog.StatusPublished, catalog.StatusWithdrawn:
	default:
		return &exitError{2, fmt.Errorf("--status %q: want draft, published or withdrawn", *status)}
	}
	if f.ShareType != "" && !slices.Contains(catalog.ShareTypes, f.ShareType) {
		return &exitError{2, fmt.Errorf("--share-type %q: want one of %s", f.ShareType, strings.Join(catalog.ShareTypes, ", "))}
	}
	d, err := hub.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	svc := catalog.New(d, catalog.Config{})
	w, err := createOutput(*out)
	if err != nil {
		return err
	}
	defer w.abort()
	n := 0
	if what == "template" {
		err = svc.Template(ctx, ctxWriter{ctx, w})
	} else {
		n, err = svc.Export(ctx, f, ctxWriter{ctx, w})
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return err
	}
	if what == "catalog" {
		fmt.Fprintf(stdout, "wrote %d items to %s\n", n, *out)
	} else {
		fmt.Fprintf(stdout, "wrote the catalogue template to %s\n", *out)
	}
	return nil
}
