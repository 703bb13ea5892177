package main

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
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

// TestLicenceAttachLimitsCLI: `sharehub licence attach` applies
// --licence-zip-entries, --licence-file-max (also from its SHAREHUB_*
// variable, and to a directory's files) and --licence-zip-max; the same
// archive attaches once the limits are left at their defaults.
func TestLicenceAttachLimitsCLI(t *testing.T) {
	clearEnv(t)
	h := hubtest.Start(t, db.SQLite) // the limits are not the database's business
	ctx := context.Background()
	l, err := h.Licences.Get(ctx, h.Demo.LicenceID)
	if err != nil {
		t.Fatal(err)
	}
	pdf := "%PDF-1.7\n%%EOF\n" // 15 bytes
	tmp := t.TempDir()
	writeZip := func(name string, entries ...string) string {
		t.Helper()
		path := filepath.Join(tmp, name)
		fh, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(fh)
		for _, e := range entries {
			w, err := zw.Create(e)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(pdf))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	one := writeZip("one.zip", l.Number+".pdf")
	two := writeZip("two.zip", l.Number+".pdf", "XY000000.pdf")
	dir := filepath.Join(tmp, "scans")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, l.Number+".pdf"), []byte(pdf), 0o644); err != nil {
		t.Fatal(err)
	}
	attach := func(src string, flags ...string) (int, string, string) {
		t.Helper()
		args := []string{"licence", "attach", "--type", l.TypeCode,
			"--data-dir", h.Config.DataDir, "--database", h.Config.Database, "--master-key-file", h.Config.MasterKeyFile}
		return cli(t, ctx, append(append(args, flags...), src)...)
	}
	unchanged := func(what string) {
		t.Helper()
		cur, err := h.Licences.Get(ctx, l.ID)
		if err != nil || cur.Version != l.Version || cur.File != nil {
			t.Fatalf("%s changed the licence: version %d (was %d), file %+v, %v", what, cur.Version, l.Version, cur.File, err)
		}
	}

	for _, tc := range []struct {
		name  string
		env   string // NAME=VALUE, or ""
		flags []string
		src   string
		want  []string // each in stdout or stderr
	}{
		{"too many entries", "", []string{"--licence-zip-entries", "1"}, two,
			[]string{"the archive has 2 entries; at most 1 are accepted at once"}},
		{"file over --licence-file-max in an archive", "", []string{"--licence-file-max", "10"}, one,
			[]string{"not attached: " + l.Number + ".pdf", "the file is over the limit of 10 bytes"}},
		{"file over --licence-file-max in a directory", "", []string{"--licence-file-max", "10"}, dir,
			[]string{"not attached: " + l.Number + ".pdf", "the file is over the limit of 10 bytes"}},
		{"file over SHAREHUB_LICENCE_FILE_MAX", "SHAREHUB_LICENCE_FILE_MAX=14", nil, one,
			[]string{"the file is over the limit of 14 bytes"}},
		{"archive over --licence-zip-max", "", []string{"--licence-zip-max", "10"}, one,
			[]string{"the archive inflates to more than 10 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k, v, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(k, v)
			}
			code, out, errOut := attach(tc.src, tc.flags...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output does not say %q\n%s%s", w, out, errOut)
				}
			}
			unchanged(tc.name)
		})
	}

	// Without the limits the same archive attaches: the refusals above
	// were the limits'.
	code, out, errOut := attach(one)
	if code != 0 || !strings.Contains(out, "1 files attached, 0 not") {
		t.Fatalf("attach with default limits: exit %d\n%s%s", code, out, errOut)
	}
	if cur, err := h.Licences.Get(ctx, l.ID); err != nil || cur.File == nil || cur.Version != l.Version+1 {
		t.Fatalf("after attach: %+v %v", cur, err)
	}
}
