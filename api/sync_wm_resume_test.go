package api_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

type resumeResp struct {
	Records []struct {
		Key       string         `json:"key"`
		UpdatedAt time.Time      `json:"updated_at"`
		Data      map[string]any `json:"data"`
	} `json:"records"`
	NextChangedSince time.Time `json:"next_changed_since"`
}

// TestRecordsResumePointAcrossLateCommit: a change stamped before a
// consumer's pull and committed after it (here a record correction whose
// transaction is held open during the pull) was lost to the consumer
// that next asked for changed_since = the time of its pull. The list now
// says where to resume (next_changed_since, and the X-Next-Changed-Since
// header, also on the exports), and resuming there finds the change.
//
// On PostgreSQL the pull is answered while the writer's transaction is
// open. On SQLite the pull's own writes (quota, audit) wait for the one
// writer connection, so it is answered after the commit; the resume point
// must hold there too.
func TestRecordsResumePointAcrossLateCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
		it := syncedItem(t, h, gaj, "人口基础信息（续拉）")
		purpose := "X-Purpose: 户籍核验"
		list := "/v1/data/" + it.Code + "/records?fields=id,address"
		get := func(since time.Time) (r resumeResp, hdr string) {
			t.Helper()
			resp := h.Do(t, "GET", list+"&changed_since="+url.QueryEscape(since.Format(time.RFC3339Nano)), h.AppKey, nil, purpose).Want(t, http.StatusOK)
			resp.JSON(t, &r)
			return r, resp.Header.Get("X-Next-Changed-Since")
		}
		first, hdr := get(time.Unix(0, 0))
		if len(first.Records) != 10 || first.NextChangedSince.IsZero() || hdr != first.NextChangedSince.Format(time.RFC3339Nano) {
			t.Fatalf("first pull: %d records, next_changed_since %s, header %q", len(first.Records), first.NextChangedSince, hdr)
		}
		if d := time.Since(first.NextChangedSince); d < 4*time.Second || d > time.Minute {
			t.Fatalf("idle resume point %s is %s behind the clock", first.NextChangedSince, d)
		}

		// A provider's correction of P0000003, its transaction held open.
		gajP := &exchange.Principal{ID: "prn_gaj_wm", DepartmentID: "xy-gaj", Roles: []exchange.Role{exchange.RoleDataAdmin}}
		fix, err := h.Sync.CheckCorrection(ctx, gajP, it.Code, "P0000003", map[string]any{"address": "襄阳市襄城区更正后住址"})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := h.DB.W.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := h.Sync.CorrectRecordTx(ctx, tx, fix); err != nil {
			t.Fatal(err)
		}
		// Open longer than the clock-skew margin, as a big run's is: the
		// margin alone does not cover it.
		time.Sleep(datasync.DefaultClockSkewMargin + 500*time.Millisecond)
		pulledAt := time.Now().UTC() // the old resume point: the time of the pull
		type pulled struct {
			r   resumeResp
			hdr string
		}
		got := make(chan pulled, 1)
		go func() {
			r, hdr := get(first.NextChangedSince)
			got <- pulled{r, hdr}
		}()
		var during pulled
		answered := false
		wait := 300 * time.Millisecond
		if h.DB.Dialect == db.Postgres {
			wait = 20 * time.Second // nothing of the pull waits for the open transaction
		}
		select {
		case during = <-got:
			answered = true
		case <-time.After(wait):
		}
		if h.DB.Dialect == db.Postgres && !answered {
			t.Fatal("the pull waited for the writer's transaction on PostgreSQL")
		}
		if err := tx.Commit(); err != nil && err != sql.ErrTxDone {
			t.Fatal(err)
		}
		if !answered {
			during = <-got
		}
		has := func(r resumeResp) bool {
			for _, x := range r.Records {
				if x.Key == "P0000003" && x.Data["address"] == "襄阳市襄城区更正后住址" {
					return true
				}
			}
			return false
		}
		if answered && has(during.r) {
			t.Fatal("a pull while the correction was not committed saw it")
		}
		rec, err := h.Sync.Record(ctx, it.Code, "P0000003")
		if err != nil || rec.Version != 2 {
			t.Fatalf("corrected record: %+v %v", rec, err)
		}
		if !rec.UpdatedAt.Before(pulledAt) {
			t.Fatalf("correction stamped %s, not before the pull at %s", rec.UpdatedAt, pulledAt)
		}
		if during.r.NextChangedSince.After(rec.UpdatedAt) || during.hdr != during.r.NextChangedSince.Format(time.RFC3339Nano) {
			t.Fatalf("resume point %s (header %q) is after the change stamped %s", during.r.NextChangedSince, during.hdr, rec.UpdatedAt)
		}
		if answered {
			// The old way, resuming at the time of the pull, loses it.
			if old, _ := get(pulledAt); has(old) {
				t.Fatalf("changed_since=time of the pull found the late commit: the test shows nothing")
			}
		}
		if next, _ := get(during.r.NextChangedSince); !has(next) {
			t.Fatalf("changed_since=next_changed_since %s misses the correction: %+v", during.r.NextChangedSince, next)
		}

		// The exports say where to resume too.
		for _, format := range []string{"csv", "xlsx"} {
			resp := h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format="+format, h.AppKey, nil, purpose).Want(t, http.StatusOK)
			at, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-Next-Changed-Since"))
			if err != nil || time.Since(at) < 4*time.Second || time.Since(at) > time.Minute {
				t.Errorf("%s export: X-Next-Changed-Since %q %v", format, resp.Header.Get("X-Next-Changed-Since"), err)
			}
		}
	})
}
