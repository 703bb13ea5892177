package main

import (
	"context"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/seal"
)

// TestImportSealsCLI imports testdata/seals/seals.csv into a demo hub's
// database: a dry run, a commit, and a second import that changes nothing.
func TestImportSealsCLI(t *testing.T) {
	clearEnv(t)
	h := hubtest.Start(t, db.SQLite)
	ctx := context.Background()
	file := hubtest.Testdata() + "/seals/seals.csv"
	flags := []string{"--data-dir", h.Config.DataDir, "--database", h.Config.Database, "--quiet"}
	code, out, errOut := cli(t, ctx, append([]string{"import", "seals", file}, flags...)...)
	if code != 1 || !strings.Contains(out, "印模文件: required") {
		t.Fatalf("without pictures: %d\n%s%s", code, out, errOut)
	}
	flags = append(flags, "--generate-images")
	code, out, errOut = cli(t, ctx, append([]string{"import", "seals", file}, flags...)...)
	if code != 0 || !strings.Contains(out, "6 seals would be created") {
		t.Fatalf("dry run: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, ctx, append([]string{"import", "seals", file, "--commit"}, flags...)...)
	if code != 0 || !strings.Contains(out, "6 seals were created") {
		t.Fatalf("commit: %d\n%s%s", code, out, errOut)
	}
	var page struct{ Items []seal.Seal }
	h.Do(t, "GET", "/v1/seals?organisation_id=xy-gaj&kind=业务专用章", h.Admin, nil).Want(t, 200).JSON(t, &page)
	found := false
	for _, s := range page.Items {
		found = found || s.Name == "襄阳市公安局户政业务专用章" && s.Alg == seal.AlgES256
	}
	if !found {
		t.Fatalf("imported seal not listed: %+v", page.Items)
	}
	code, out, errOut = cli(t, ctx, append([]string{"import", "seals", file, "--commit"}, flags...)...)
	if code != 0 || !strings.Contains(out, "0 seals were created, 6 already there") {
		t.Fatalf("again: %d\n%s%s", code, out, errOut)
	}
}
