package main

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestLicenceAttachZipCLI runs `sharehub licence attach --type CODE
// FILE.zip` against a demo hub's database: the demo licence's file is
// attached, a path-like entry is reported and the exit code says so.
func TestLicenceAttachZipCLI(t *testing.T) {
	clearEnv(t)
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			ctx := context.Background()
			l, err := h.Licences.Get(ctx, h.Demo.LicenceID)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "scans.zip")
			fh, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			zw := zip.NewWriter(fh)
			for _, name := range []string{l.Number + ".pdf", "../" + l.Number + ".pdf"} {
				w, _ := zw.Create(name)
				w.Write([]byte("%PDF-1.7\n%%EOF\n"))
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			fh.Close()
			flags := []string{"--data-dir", h.Config.DataDir, "--database", h.Config.Database, "--master-key-file", h.Config.MasterKeyFile}
			code, out, errOut := cli(t, ctx, append([]string{"licence", "attach", "--type", l.TypeCode, path}, flags...)...)
			if code != 1 || !strings.Contains(out, "1 files attached, 1 not") || !strings.Contains(out, "not attached: ../"+l.Number+".pdf") ||
				!strings.Contains(out, "climbs out") {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			cur, err := h.Licences.Get(ctx, l.ID)
			if err != nil || cur.File == nil || cur.Version != l.Version+1 {
				t.Fatalf("after attach: %+v %v", cur, err)
			}
		})
	}
}
