package datasync_test

import (
	"context"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestRecordsFilterSameOnBothBackends: a field filter compares the
// field's value as text the same way on SQLite and PostgreSQL: JSON true
// and false read "true" and "false" (SQLite's json_extract turns them into
// 1 and 0), strings and numbers read as written.
func TestRecordsFilterSameOnBothBackends(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		for k, data := range map[string]string{
			"A": `{"id":"A","address":true}`,
			"B": `{"id":"B","address":false}`,
			"C": `{"id":"C","address":"1"}`,
			"D": `{"id":"D","address":12}`,
			"E": `{"id":"E","address":"true"}`,
		} {
			if _, err := d.W.ExecContext(ctx, `INSERT INTO dataset_records (item_code, record_key, version, hash, deleted, data, run_id, updated_at)
				VALUES ($1, $2, 1, 1, 0, $3, 'run_review', $4)`, f.item.Code, k, data, time.Now().UnixMicro()); err != nil {
				t.Fatal(err)
			}
		}
		for v, want := range map[string]string{"true": "AE", "false": "B", "1": "C", "0": "", "12": "D"} {
			recs, _, err := f.sync.Records(ctx, f.item.Code, datasync.RecordQuery{Filters: map[string]string{"address": v}})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, r := range recs {
				got += r.Key
			}
			if got != want {
				t.Errorf("address = %q: records %q, want %q", v, got, want)
			}
		}
	})
}
