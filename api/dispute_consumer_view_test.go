package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

type disputeList struct {
	Items []exchange.Dispute `json:"items"`
}

// TestDisputeCorrectionShownThroughTheConsumersGrant: the department that
// raised a dispute sees the provider's correction only as its grant shows
// the record: personal fields the grant shows masked stay masked. The
// dispute list showed the corrected 姓名 and 公民身份号码 in clear to a
// department whose records showed them masked. The provider and the
// auditors still see the correction as written.
func TestDisputeCorrectionShownThroughTheConsumersGrant(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
			it := syncedItem(t, h, gaj, "人口基础信息（异议视图）")
			var d exchange.Dispute
			h.Do(t, "POST", "/v1/disputes", h.AppKey, exchange.NewDispute{ItemCode: it.Code, RecordKey: "P0000003", Reason: "姓名有误"}).
				Want(t, http.StatusCreated).JSON(t, &d)
			correction := map[string]any{"name": "王更正", "sfzh": "420602199001010099", "address": "襄阳市襄州区更正地址3号"}
			h.Do(t, "POST", "/v1/disputes/"+d.ID+"/accept", gaj, map[string]any{"resolution": "已核实更正", "correction": correction}).
				Want(t, http.StatusOK)

			// The consumer (the 民政 app, whose "*" grant masks personal fields).
			r := h.Do(t, "GET", "/v1/disputes", h.AppKey, nil).Want(t, http.StatusOK)
			for _, clear := range []string{"王更正", "420602199001010099"} {
				if strings.Contains(string(r.Body), clear) {
					t.Errorf("the consumer's dispute list shows %s: %s", clear, r.Body)
				}
			}
			var l disputeList
			r.JSON(t, &l)
			if len(l.Items) != 1 || !strings.Contains(l.Items[0].Correction, "襄阳市襄州区更正地址3号") || !strings.Contains(l.Items[0].Correction, `"name"`) {
				t.Errorf("the consumer's view of the correction: %+v; want the address in clear and the name masked", l.Items)
			}
			// The provider, and an auditor, see what was written.
			for _, who := range []struct{ key, query string }{{gaj, "?as=provider"}, {h.Auditor, ""}} {
				r = h.Do(t, "GET", "/v1/disputes"+who.query, who.key, nil).Want(t, http.StatusOK)
				if !strings.Contains(string(r.Body), "王更正") || !strings.Contains(string(r.Body), "420602199001010099") {
					t.Errorf("GET /v1/disputes%s: the correction is not shown as written: %s", who.query, r.Body)
				}
			}
		})
	}
}
