package hub_test

import (
	"archive/zip"
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestLicenceLimitsReachTheRegistry: the hub's licence limits are the
// ones POST /v1/licence-attachments applies.
func TestLicenceLimitsReachTheRegistry(t *testing.T) {
	h := hubtest.Start(t, db.SQLite, func(c *hub.Config) { // the limits are not the database's business
		c.LicenceFileMax, c.LicenceZipMax, c.LicenceZipEntries = 5, 10, 2
	})
	ctx := context.Background()
	l, err := h.Licences.Get(ctx, h.Demo.LicenceID)
	if err != nil {
		t.Fatal(err)
	}
	zipOf := func(names ...string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, n := range names {
			w, err := zw.Create(n)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("%PDF-1.7\n%%EOF\n")) // 15 bytes
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	path := "/v1/licence-attachments?type_code=" + url.QueryEscape(l.TypeCode)

	// Three entries are over --licence-zip-entries 2.
	p := h.Do(t, "POST", path, h.Admin, zipOf("a/"+l.Number+".pdf", "b/"+l.Number+".pdf", "c/"+l.Number+".pdf")).Want(t, 413).Problem(t)
	if d, _ := p["detail"].(string); !strings.Contains(d, "the archive has 3 entries; at most 2") {
		t.Errorf("three entries: %v", p)
	}

	// The first entry is read to one byte past --licence-file-max 5 (6
	// bytes); the second takes the archive past --licence-zip-max 10.
	var r struct {
		Items []struct{ File, Error string }
	}
	h.Do(t, "POST", path, h.Admin, zipOf("a/"+l.Number+".pdf", "b/"+l.Number+".pdf")).Want(t, 200).JSON(t, &r)
	if len(r.Items) != 2 ||
		!strings.Contains(r.Items[0].Error, "the file is over the limit of 5 bytes") ||
		!strings.Contains(r.Items[1].Error, "the archive inflates to more than 10 bytes") {
		t.Errorf("two entries: %+v", r.Items)
	}
	if cur, err := h.Licences.Get(ctx, l.ID); err != nil || cur.Version != l.Version || cur.File != nil {
		t.Fatalf("refused uploads changed the licence: %+v %v", cur, err)
	}
}
