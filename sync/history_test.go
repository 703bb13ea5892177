package datasync_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

func address(t *testing.T, r datasync.DatasetRecord) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Data, &m); err != nil {
		t.Fatalf("version %d data %s: %v", r.Version, r.Data, err)
	}
	s, _ := m["address"].(string)
	return s
}

// TestRecordHistory: a record changed twice and then gone from a full
// refresh has four versions, each with the content it had; records the
// runs did not touch keep their one version.
func TestRecordHistory(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 1500)
		j := f.job(t, httpSpec(up, datasync.ModeFull))
		key := "P0000042"
		var want []string
		r1 := f.run(t, j.ID)
		wantCounts(t, r1, datasync.Counts{Read: 1500, Inserted: 1500})
		want = append(want, up.Get(key).Address)
		up.Change(5, 40)
		r2 := f.run(t, j.ID)
		wantCounts(t, r2, datasync.Counts{Read: 1500, Updated: 5, Unchanged: 1495})
		want = append(want, up.Get(key).Address)
		up.Change(5, 40)
		r3 := f.run(t, j.ID)
		wantCounts(t, r3, datasync.Counts{Read: 1500, Updated: 5, Unchanged: 1495})
		want = append(want, up.Get(key).Address)
		up.Delete(3, 42)
		r4 := f.run(t, j.ID)
		wantCounts(t, r4, datasync.Counts{Read: 1497, Unchanged: 1497, Deleted: 3})
		if want[0] == want[1] || want[1] == want[2] {
			t.Fatalf("upstream did not change the record: %q", want)
		}

		vs, next, err := f.sync.RecordVersions(ctx, f.item.Code, key, 0, 0)
		if err != nil || next != "" {
			t.Fatalf("versions: %v (next %q)", err, next)
		}
		if len(vs) != 4 {
			t.Fatalf("%d versions, want 4: %+v", len(vs), vs)
		}
		runs := []string{r1.ID, r2.ID, r3.ID, r4.ID}
		for i, v := range vs {
			wantAddr := want[min(i, 2)] // the deletion keeps the last content
			if v.Version != int64(i+1) || v.Deleted != (i == 3) || v.RunID != runs[i] || address(t, v) != wantAddr || v.Key != key {
				t.Errorf("version %d: %+v (address %q), want version %d deleted %v run %s address %q",
					i+1, v, address(t, v), i+1, i == 3, runs[i], wantAddr)
			}
		}
		if !vs[1].UpdatedAt.After(vs[0].UpdatedAt) || vs[3].UpdatedAt.Before(vs[2].UpdatedAt) {
			t.Errorf("version times out of order: %v %v %v %v", vs[0].UpdatedAt, vs[1].UpdatedAt, vs[2].UpdatedAt, vs[3].UpdatedAt)
		}
		cur, err := f.sync.Record(ctx, f.item.Code, key)
		if err != nil || cur.Version != 4 || !cur.Deleted || address(t, cur) != want[2] {
			t.Fatalf("current record %+v, %v", cur, err)
		}

		// Paging.
		page, next, err := f.sync.RecordVersions(ctx, f.item.Code, key, 0, 3)
		if err != nil || len(page) != 3 || next != "3" {
			t.Fatalf("first page: %d versions, next %q, %v", len(page), next, err)
		}
		page, next, err = f.sync.RecordVersions(ctx, f.item.Code, key, 3, 3)
		if err != nil || len(page) != 1 || page[0].Version != 4 || next != "" {
			t.Fatalf("second page: %+v, next %q, %v", page, next, err)
		}

		// An untouched record has its one version.
		vs, _, err = f.sync.RecordVersions(ctx, f.item.Code, "P0001000", 0, 0)
		if err != nil || len(vs) != 1 || vs[0].Version != 1 || vs[0].RunID != r1.ID {
			t.Fatalf("untouched record: %+v, %v", vs, err)
		}
		if _, _, err := f.sync.RecordVersions(ctx, f.item.Code, "P9999999", 0, 0); !errs.Is(err, errs.KindNotFound) {
			t.Fatalf("unknown key: %v, want not found", err)
		}

		// A direct correction (a dispute's) is a version too.
		if _, err := f.sync.CorrectRecord(ctx, gajAdmin, f.item.Code, "P0000041", map[string]any{"address": "襄阳市襄城区更正地址1号"}); err != nil {
			t.Fatal(err)
		}
		vs, _, err = f.sync.RecordVersions(ctx, f.item.Code, "P0000041", 0, 0)
		if err != nil || len(vs) != 4 {
			t.Fatalf("corrected record: %d versions, %v", len(vs), err)
		}
		if last := vs[3]; last.Version != 4 || last.Deleted || !strings.HasPrefix(last.RunID, "correction:") || address(t, last) != "襄阳市襄城区更正地址1号" {
			t.Fatalf("correction version: %+v", last)
		}

		// Every version made so far is in the history, and each record's
		// newest one is its current state.
		var total, mismatched int64
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM dataset_record_versions WHERE item_code = $1`, f.item.Code).Scan(&total); err != nil {
			t.Fatal(err)
		}
		if want := int64(1500 + 5 + 5 + 3 + 1); total != want {
			t.Fatalf("%d history rows, want %d", total, want)
		}
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM dataset_records r LEFT JOIN dataset_record_versions v
			ON v.item_code = r.item_code AND v.record_key = r.record_key AND v.version = r.version
			WHERE r.item_code = $1 AND (v.version IS NULL OR v.data <> r.data OR v.deleted <> r.deleted OR v.hash <> r.hash)`, f.item.Code).Scan(&mismatched); err != nil {
			t.Fatal(err)
		}
		if mismatched != 0 {
			t.Fatalf("%d records whose current version is not in their history", mismatched)
		}
	})
}

// TestRecordHistoryIncremental: tombstones of an incremental job and
// records coming back after a deletion make versions too.
func TestRecordHistoryIncremental(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 300)
		j := f.job(t, httpSpec(up, datasync.ModeIncremental))
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 300, Inserted: 300})
		gone := up.Delete(2, 10)
		if r := f.run(t, j.ID); r.Counts.Deleted != 2 {
			t.Fatalf("tombstone run: %+v", r.Counts)
		}
		vs, _, err := f.sync.RecordVersions(ctx, f.item.Code, gone[0], 0, 0)
		if err != nil || len(vs) != 2 || vs[0].Deleted || !vs[1].Deleted || vs[1].Version != 2 {
			t.Fatalf("tombstoned record versions: %+v, %v", vs, err)
		}
	})
}

// TestRecordHistoryBackfill: records synced before migration 0009 get
// their current version as the start of their history.
func TestRecordHistoryBackfill(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ms, err := d.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		var m9 string
		for _, m := range ms {
			if m.Version == 9 {
				m9 = m.SQL
			}
		}
		if !strings.Contains(m9, "dataset_record_versions") {
			t.Fatalf("migration 0009 does not make the history table: %q", m9)
		}
		if _, err := d.W.ExecContext(ctx, `DROP TABLE dataset_record_versions`); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			if _, err := d.W.ExecContext(ctx, `INSERT INTO dataset_records (item_code, record_key, version, hash, deleted, data, run_id, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, "X1", "K"+strconv.Itoa(i), i+1, 100+i, i%2, `{"n":`+strconv.Itoa(i)+`}`, "run_old", 1000+i); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.W.ExecContext(ctx, m9); err != nil {
			t.Fatalf("migration 0009: %v", err)
		}
		rows, err := d.R.QueryContext(ctx, `SELECT record_key, version, hash, deleted, data, run_id, changed_at FROM dataset_record_versions ORDER BY record_key`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
			var (
				k, data, run                    string
				version, hash, deleted, changed int64
			)
			if err := rows.Scan(&k, &version, &hash, &deleted, &data, &run, &changed); err != nil {
				t.Fatal(err)
			}
			if k != "K"+strconv.Itoa(n) || version != int64(n+1) || hash != int64(100+n) || deleted != int64(n%2) || data != `{"n":`+strconv.Itoa(n)+`}` || run != "run_old" || changed != int64(1000+n) {
				t.Errorf("backfilled row %d: %s v%d hash %d deleted %d %s %s %d", n, k, version, hash, deleted, data, run, changed)
			}
		}
		if err := rows.Err(); err != nil || n != 3 {
			t.Fatalf("%d backfilled rows, %v", n, err)
		}
	})
}
