package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/xiangyang-gov/sharehub/internal/hub"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	cfg.LogFormat = "text"
	cfg.LogLevel = "warn"
	fs := newFlagSet("demo", stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	reset := fs.Bool("reset", false, "delete the data directory first and start clean")
	demoData := fs.String("demo-data", "testdata", "directory holding the demo data files")
	if err := parse(fs, args, check); err != nil {
		return err
	}
	if !cfg.Embedded() {
		return &exitError{2, fmt.Errorf("demo runs on the embedded defaults (SQLite and a local directory); use serve for PostgreSQL or S3")}
	}
	if *reset {
		abs, _ := filepath.Abs(cfg.DataDir)
		if abs == "/" || abs == "" {
			return fmt.Errorf("--reset: refusing to delete %q", cfg.DataDir)
		}
		if err := onlyHubFiles(cfg.DataDir); err != nil {
			return &exitError{2, fmt.Errorf("--reset: %w", err)}
		}
		if err := os.RemoveAll(cfg.DataDir); err != nil {
			return fmt.Errorf("--reset: %w", err)
		}
	}
	app, err := hub.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	res, err := app.SeedDemo(ctx, *demoData)
	if err != nil {
		app.Close(context.Background())
		return err
	}
	printDemo(stdout, app, res)
	return app.Run(ctx)
}

// hubFiles are the names the hub puts in a data directory.
var hubFiles = map[string]bool{
	"sharehub.db": true, "sharehub.db-wal": true, "sharehub.db-shm": true, "sharehub.db-journal": true,
	"blobs": true, "master.key": true, "demo-keys.json": true, "spool": true, // spool: S3 uploads in flight (--spool-dir)
}

// onlyHubFiles refuses a data directory that holds anything the hub did not
// put there (--data-dir . or ~ by mistake): --reset deletes the whole of it.
func onlyHubFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !hubFiles[e.Name()] {
			return fmt.Errorf("refusing to delete %s: it holds %s, which is not the hub's (delete the directory yourself, or pick another --data-dir)", dir, e.Name())
		}
	}
	return nil
}

func printDemo(w io.Writer, app *hub.App, res hub.DemoResult) {
	u := app.URL()
	key := map[string]string{}
	for _, k := range res.Keys {
		key[k.Role] = k.Secret
	}
	fmt.Fprintf(w, `
sharehub demo is running at %s
  data:        %s (database, blobs, master key; --reset starts clean)
  departments: %d (Xiangyang city departments, counties and districts)

Keys (kept in %s for the demo only):
  admin    %s
  auditor  %s
  app      %s   (民政局 civil-affairs app)

Web console: %s/console/   (sign in with a key above; the auditor key opens the audit log)

Try:
  curl -s %s/v1/me -H 'Authorization: Bearer %s'
  curl -s %s/v1/departments -H 'Authorization: Bearer %s'
  curl -s '%s/v1/access?resource_kind=%s&resource_id=%s&fields=name,birth_date' \
       -H 'Authorization: Bearer %s' -H 'X-Purpose: 婚姻登记核验' -H 'X-Case-Number: MZ2026-0001'
  curl -s '%s/v1/access?resource_kind=%s&resource_id=%s&fields=id_number' -H 'Authorization: Bearer %s'   # 403: field not granted
  curl -s '%s/v1/audit/entries?limit=5' -H 'Authorization: Bearer %s'
  curl -s %s/v1/audit/checkpoint
  go run ./cmd/sharehub audit verify --data-dir %s    # (in another terminal)

OpenAPI: %s/openapi.json   Metrics: %s/metrics   Press Ctrl-C to stop.
`, u, app.Config.DataDir, res.Departments, filepath.Join(app.Config.DataDir, "demo-keys.json"),
		key["admin"], key["auditor"], key["app"], u,
		u, key["app"], u, key["app"],
		u, res.Resource.Kind, res.Resource.ID, key["app"],
		u, res.Resource.Kind, res.Resource.ID, key["app"],
		u, key["auditor"], u, app.Config.DataDir, u, u)
	if res.LicenceQRURL != "" {
		fmt.Fprintf(w, "\nE-licences: %d demo licences of %d types. Scan or open this QR verify page (a 居民身份证, valid 24h):\n  %s\n  curl -s -H 'Accept: application/json' %s\n",
			res.Licences, res.LicenceTypes, res.LicenceQRURL, res.LicenceQRURL)
		fmt.Fprintf(w, "  curl -s '%s/v1/licences?holder_id=%s&type_code=%s' -H 'Authorization: Bearer %s' -H 'X-Purpose: 婚姻登记核验'   # holder lookup, id masked\n",
			u, res.LicenceHolder, res.LicenceType, key["app"])
	}
	if res.CatalogItems > 0 {
		fmt.Fprintf(w, "\nData directory: %d catalogue items in 6 base and 12 theme libraries.\n", res.CatalogItems)
		fmt.Fprintf(w, "  curl -s '%s/v1/catalog/tree' -H 'Authorization: Bearer %s'\n", u, key["app"])
		fmt.Fprintf(w, "  curl -s '%s/v1/catalog/search?q=%%E7%%99%%BB%%E8%%AE%%B0' -H 'Authorization: Bearer %s'   # q=登记\n", u, key["app"])
		fmt.Fprintf(w, "  curl -s '%s/v1/catalog/items/%s' -H 'Authorization: Bearer %s'\n", u, res.Resource.ID, key["app"])
		fmt.Fprintf(w, "  curl -s '%s/v1/catalog/template' -H 'Authorization: Bearer %s' -o catalog-template.xlsx\n", u, key["admin"])
	}
	printSealDemo(w, u, res)
}
