package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestDisputeAcceptanceAndCorrectionAreOneWrite: POST
// /v1/disputes/{id}/accept with a correction either corrects the record
// and accepts the dispute, or does neither. The correction was committed
// in a transaction of its own before the acceptance was written: when
// that write failed (here a trigger fails it) the answer was an error but
// the record had been corrected under a dispute still open. A correction
// that fails likewise leaves the dispute open.
func TestDisputeAcceptanceAndCorrectionAreOneWrite(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			ctx := context.Background()
			gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			it := syncedItem(t, h, gaj, "人口基础信息（异议更正原子）")

			const rec = "P0000004"
			r0, err := h.Sync.Record(ctx, it.Code, rec)
			if err != nil {
				t.Fatal(err)
			}
			history := func() int {
				t.Helper()
				vs, _, err := h.Sync.RecordVersions(ctx, it.Code, rec, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				return len(vs)
			}
			h0 := history()
			unchanged := func(when string, dispute string) {
				t.Helper()
				r, err := h.Sync.Record(ctx, it.Code, rec)
				if err != nil {
					t.Fatal(err)
				}
				if r.Version != r0.Version || string(r.Data) != string(r0.Data) || history() != h0 {
					t.Errorf("%s: record version %d %s (%d versions), want it as it was: version %d %s (%d versions)",
						when, r.Version, r.Data, history(), r0.Version, r0.Data, h0)
				}
				d, err := h.Sharing.Dispute(ctx, dispute)
				if err != nil {
					t.Fatal(err)
				}
				if d.Status != exchange.DisputeOpen || d.Resolution != "" || d.Correction != "" || d.ResolvedBy != "" || d.ResolvedAt != nil || !d.Flagged {
					t.Errorf("%s: dispute %+v, want it open and unsettled", when, d)
				}
			}

			var d exchange.Dispute
			h.Do(t, "POST", "/v1/disputes", h.AppKey, exchange.NewDispute{ItemCode: it.Code, RecordKey: rec, Reason: "住址有误"}).
				Want(t, http.StatusCreated).JSON(t, &d)
			accept := "/v1/disputes/" + d.ID + "/accept"
			correction := map[string]any{"address": "襄阳市樊城区更正地址4号"}
			body := map[string]any{"resolution": "已核实更正", "correction": correction}

			// The acceptance's write fails: nothing changes.
			restore := dbtest.FailWrites(t, h.DB, "fail_dispute_settle", "UPDATE OF status ON disputes")
			h.Do(t, "POST", accept, gaj, body).Want(t, http.StatusInternalServerError).Problem(t)
			restore()
			unchanged("after a failed acceptance", d.ID)

			// The correction's last write fails: the dispute stays open.
			restore = dbtest.FailWrites(t, h.DB, "fail_record_history", "INSERT ON dataset_record_versions")
			h.Do(t, "POST", accept, gaj, body).Want(t, http.StatusInternalServerError).Problem(t)
			restore()
			unchanged("after a failed correction", d.ID)
			// Neither failed correction holds the item's resume point for
			// incremental pulls back: its write registration is gone.
			var inflight int
			if err := h.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM sync_inflight WHERE item_code = $1`, it.Code).Scan(&inflight); err != nil || inflight != 0 {
				t.Errorf("%d write registrations left after failed corrections (err %v), want 0", inflight, err)
			}

			// Nothing fails: corrected and accepted, one new version.
			var got exchange.Dispute
			h.Do(t, "POST", accept, gaj, body).Want(t, http.StatusOK).JSON(t, &got)
			want, _ := json.Marshal(correction)
			if got.Status != exchange.DisputeAccepted || got.Correction != string(want) || !got.Flagged {
				t.Fatalf("accepted dispute %+v", got)
			}
			r, err := h.Sync.Record(ctx, it.Code, rec)
			if err != nil {
				t.Fatal(err)
			}
			var data map[string]any
			if err := json.Unmarshal(r.Data, &data); err != nil {
				t.Fatal(err)
			}
			if r.Version != r0.Version+1 || data["address"] != correction["address"] || history() != h0+1 {
				t.Fatalf("record after the acceptance: version %d %s (%d versions), want version %d with the correction (%d versions)",
					r.Version, r.Data, history(), r0.Version+1, h0+1)
			}
		})
	}
}
