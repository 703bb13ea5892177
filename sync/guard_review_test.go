package datasync_test

// The full-refresh deletion guard judged against the dataset before the
// run, with the upstream's own deletion flags counted (found in review).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	gosync "sync"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// switchUpstream serves n people whose ids start with prefix; deleted
// marks every one of them deleted (a tombstone when the job has a
// deleted_field).
type switchUpstream struct {
	mu      gosync.Mutex
	prefix  string
	n       int
	deleted bool
	srv     *httptest.Server
}

func newSwitchUpstream(t *testing.T, prefix string, n int) *switchUpstream {
	u := &switchUpstream{prefix: prefix, n: n}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		defer u.mu.Unlock()
		recs := make([]map[string]any, 0, u.n)
		for i := 1; i <= u.n; i++ {
			m := map[string]any{"id": fmt.Sprintf("%s%04d", u.prefix, i), "name": "居民", "sfzh": "420602199001010029", "address": "襄阳"}
			if u.deleted {
				m["deleted"] = true
			}
			recs = append(recs, m)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"records": recs, "total": len(recs)})
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *switchUpstream) set(fn func(*switchUpstream)) { u.mu.Lock(); fn(u); u.mu.Unlock() }

func fullSpec(url string) datasync.Spec {
	return datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"}, Drift: datasync.DriftIgnore,
		Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: url, PageSize: 1000, Auth: "none"}}
}

// TestGuardNotDilutedByRunsOwnInserts: the guard's percentage is taken
// of the live records counted AFTER the run's upsert, so the run's own new
// records dilute it. An upstream that changes its key format (or a
// mapping/key_fields mistake) replaces all 100 records: every one of the
// 100 records consumers had is marked deleted, 100 % of the dataset
// before the run, yet the guard (50 %) lets it through: 100*100 > 50*200
// is false.
func TestGuardNotDilutedByRunsOwnInserts(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := newSwitchUpstream(t, "A", 100)
		j := f.job(t, fullSpec(up.srv.URL+"/people"))
		if r := f.run(t, j.ID); r.Status != datasync.StatusSucceeded || r.Counts.Inserted != 100 {
			t.Fatalf("first run: %+v", r)
		}
		up.set(func(u *switchUpstream) { u.prefix = "B" }) // every key changes
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusFailed {
			t.Errorf("run that marks all 100 previously live records deleted (100%% > limit 50%%) was let through: status %s counts %+v",
				r.Status, r.Counts)
		}
	})
}

// TestGuardCountsFlaggedDeletionsInFullMode: in a full refresh,
// tombstones (deleted_field) are applied before deleteUnstaged counts
// the live records, and are never counted against the guard: an
// upstream answering every record with deleted=true empties the dataset.
func TestGuardCountsFlaggedDeletionsInFullMode(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := newSwitchUpstream(t, "A", 100)
		spec := fullSpec(up.srv.URL + "/people")
		spec.DeletedField = "deleted"
		j := f.job(t, spec)
		if r := f.run(t, j.ID); r.Status != datasync.StatusSucceeded || r.Counts.Inserted != 100 {
			t.Fatalf("first run: %+v", r)
		}
		up.set(func(u *switchUpstream) { u.deleted = true })
		r := f.run(t, j.ID)
		n, _ := f.sync.RecordCount(t.Context(), f.item.Code)
		if r.Status != datasync.StatusFailed || n != 100 {
			t.Errorf("full refresh marking 100 of 100 deleted via tombstones: status %s deleted %d, live left %d", r.Status, r.Counts.Deleted, n)
		}
	})
}

// TestDeleteAllowanceNone: 0 is "the default" (10), as for every limit,
// so "no absolute allowance" is -1: then a refresh of 8 records that
// would delete 5 (62%) is refused although 5 is under the default 10.
func TestDeleteAllowanceNone(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := newSwitchUpstream(t, "A", 8)
		spec := fullSpec(up.srv.URL + "/people")
		spec.Limits.DeleteAllowance = 0
		if j := f.job(t, spec); j.Spec.Limits.DeleteAllowance != datasync.DefaultDeleteAllowance {
			t.Errorf("delete_allowance 0 stored as %d, want the default", j.Spec.Limits.DeleteAllowance)
		}
		spec.Limits.DeleteAllowance = -1
		j := f.job(t, spec)
		if j.Spec.Limits.DeleteAllowance != -1 {
			t.Fatalf("delete_allowance -1 stored as %d", j.Spec.Limits.DeleteAllowance)
		}
		if r := f.run(t, j.ID); r.Status != datasync.StatusSucceeded {
			t.Fatalf("first run: %+v", r)
		}
		up.set(func(u *switchUpstream) { u.n = 3 })
		if r := f.run(t, j.ID); r.Status != datasync.StatusFailed || r.Counts.Deleted != 0 {
			t.Fatalf("run deleting 5 of 8 with no allowance: status %s counts %+v error %q", r.Status, r.Counts, r.Error)
		}
	})
}
