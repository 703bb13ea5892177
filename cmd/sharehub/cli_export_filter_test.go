package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A mistyped --status or --share-type matches no item; export must refuse
// it, naming the flag, rather than write an empty catalogue and exit 0.
func TestExportCatalogRefusesUnknownFilter(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct{ flag, value string }{
		{"--status", "publish"},
		{"--status", "Published"},
		{"--share-type", "无条件"},
	} {
		out := filepath.Join(dir, "catalog.xlsx")
		code, _, errOut := cli(t, ctx, "export", "catalog", "--data-dir", dir, "--out", out, tc.flag, tc.value)
		if code != 2 || !strings.Contains(errOut, tc.flag) || !strings.Contains(errOut, tc.value) {
			t.Errorf("export catalog %s %s: exit %d, %q; want 2 naming the flag and value", tc.flag, tc.value, code, errOut)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("export catalog %s %s wrote %s", tc.flag, tc.value, out)
			os.Remove(out)
		}
	}
	// The real values are taken.
	if code, _, errOut := cli(t, ctx, "export", "catalog", "--data-dir", dir, "--out", filepath.Join(dir, "ok.xlsx"), "--status", "published", "--share-type", "有条件共享"); code != 0 {
		t.Fatalf("export catalog with good filters: exit %d, %s", code, errOut)
	}
}
