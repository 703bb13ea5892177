package api_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestCatalogImportReviewsGrants: an item turned 有条件共享 by a catalogue
// import loses its registration grants, as it does through PUT.
func TestCatalogImportReviewsGrants(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			it := peopleItem(t, h, "人口基础信息（导入变更）", catalog.ShareUnconditional)
			var reg exchange.Application
			h.Do(t, "POST", "/v1/applications", h.AppKey, exchange.NewApplication{ItemCode: it.Code, Purpose: "户籍核验", ValidUntil: time.Now().AddDate(0, 6, 0)}).
				Want(t, http.StatusCreated).JSON(t, &reg)
			if reg.GrantID == "" {
				t.Fatalf("registration without a grant: %+v", reg)
			}

			// Export the provider's unconditional items, flip ours to
			// 有条件共享 in the sheet, import it back.
			q := url.Values{"department": {"xy-gaj"}, "share_type": {catalog.ShareUnconditional}}
			x := h.Do(t, "GET", "/v1/catalog/export?"+q.Encode(), h.Admin, nil).Want(t, http.StatusOK)
			f, err := excelize.OpenReader(bytes.NewReader(x.Body))
			if err != nil {
				t.Fatal(err)
			}
			sh := f.GetSheetList()[0]
			rows, err := f.GetRows(sh)
			if err != nil {
				t.Fatal(err)
			}
			shareCol, itemRow := -1, -1
			for i, row := range rows {
				for j, v := range row {
					switch {
					case strings.Contains(v, "共享类型") && shareCol < 0:
						shareCol = j
					case v == it.Code:
						itemRow = i
					}
				}
			}
			if shareCol < 0 || itemRow < 0 {
				t.Fatalf("export has no 共享类型 column (%d) or no row for %s (%d)", shareCol, it.Code, itemRow)
			}
			cell, _ := excelize.CoordinatesToCellName(shareCol+1, itemRow+1)
			if err := f.SetCellValue(sh, cell, catalog.ShareConditional); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := f.Write(&buf); err != nil {
				t.Fatal(err)
			}
			resp := h.Do(t, "POST", "/v1/catalog/import?commit=true&filename=items.xlsx", h.Admin, buf.Bytes()).Want(t, http.StatusOK)
			if rep := resp.Map(t); rep["updated"] != float64(1) {
				t.Fatalf("import report %v: want 1 updated", rep)
			}
			if got := resp.Header.Get("X-Grants-Reviewed"); got != "1" {
				t.Fatalf("X-Grants-Reviewed = %q, want 1", got)
			}
			if g, err := h.Exchange.Grant(t.Context(), reg.GrantID); err != nil || g.RevokedAt == nil {
				t.Fatalf("registration grant %+v, %v: want revoked", g, err)
			}
		})
	}
}
