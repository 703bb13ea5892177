package datasync_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/internal/blob/blobtest"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestS3FilesSource drops csv and xlsx files under a prefix of a real S3
// server ($SHAREHUB_TEST_S3, scripts/versitygw.sh) and checks each file is
// taken once, bad rows are reported by file and row, and a failed run
// gives its files back.
func TestS3FilesSource(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		spec, conn := blobtest.FreshBucketSpec(t, blobtest.S3Spec(t))
		if err := conn.Client.MakeBucket(ctx, conn.Bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		put := func(key string, body []byte) {
			t.Helper()
			if _, err := conn.Client.PutObject(ctx, conn.Bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		csvOf := func(from, to int) []byte {
			var b strings.Builder
			b.WriteString("\xef\xbb\xbfid,name,sfzh,address\n")
			for i := from; i <= to; i++ {
				fmt.Fprintf(&b, "P%07d,居民%d,4206021990%08d,樊城区%d号\n", i, i, i, i)
			}
			return []byte(b.String())
		}
		put("drop/2026-11-01.csv", csvOf(1, 7000))
		x := excelize.NewFile()
		_ = x.SetSheetRow("Sheet1", "A1", &[]any{"id", "name", "sfzh", "address"})
		for i := 7001; i <= 7100; i++ {
			_ = x.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i-7000+1), &[]any{fmt.Sprintf("P%07d", i), "居民", "420602199000000000", "襄城区"})
		}
		_ = x.SetSheetRow("Sheet1", "A102", &[]any{"", "无编号", "", ""}) // a bad row
		var xb bytes.Buffer
		if err := x.Write(&xb); err != nil {
			t.Fatal(err)
		}
		put("drop/2026-11-02.xlsx", xb.Bytes())
		put("drop/readme.txt", []byte("not data"))
		put("other/2026-11-01.csv", csvOf(9000, 9010))

		j := f.job(t, datasync.Spec{Mode: datasync.ModeIncremental, KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceS3Files, Blobs: spec, Prefix: "drop/"}})
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusPartly || r.Counts != (datasync.Counts{Read: 7101, Inserted: 7100, Rejected: 1}) {
			t.Fatalf("first run: %+v %s", r.Counts, r.Error)
		}
		es, _ := f.sync.RunErrors(ctx, r.ID)
		if len(es) != 1 || !strings.Contains(es[0].Position, "drop/2026-11-02.xlsx") || !strings.Contains(es[0].Reason, "key field id is empty") {
			t.Fatalf("errors: %+v", es)
		}
		// Nothing new: nothing read.
		wantCounts(t, f.run(t, j.ID), datasync.Counts{})
		// A new file is taken alone; a broken one fails the run and is retried later.
		put("drop/2026-11-03.csv", []byte("id,name,sfzh,address\nP0000001,居民1,420602199000000001,新地址\n"))
		put("drop/2026-11-04.xlsx", []byte("this is not a zip file"))
		r = f.run(t, j.ID)
		if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "drop/2026-11-04.xlsx") {
			t.Fatalf("broken file: %+v %s", r.Counts, r.Error)
		}
		if rec, _ := f.sync.Record(ctx, f.item.Code, "P0000001"); rec.Version != 1 {
			t.Fatalf("failed run changed the dataset: %+v", rec)
		}
		if err := conn.Client.RemoveObject(ctx, conn.Bucket, "drop/2026-11-04.xlsx", minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 1, Updated: 1})
	})
}
