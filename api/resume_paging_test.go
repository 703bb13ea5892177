package api_test

// Review test for commit ac8ca29: next_changed_since differs page by page.
// Copy into /work/main/api/ and run: go test ./api -run TestResumePointIsTheFirstPagesOnEveryPage

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestResumePointIsTheFirstPagesOnEveryPage: every page of a paged records listing
// carries its own next_changed_since (and X-Next-Changed-Since), taken
// when that page was read. A consumer that follows the README ("pass the
// previous pull's next_changed_since") and keeps the value of the last
// page it read misses a change committed, between its pages, to a record
// on an earlier page.
func TestResumePointIsTheFirstPagesOnEveryPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		ctx := context.Background()
		gaj := key(t, h, "xy-gaj", "gaj-data-admin", exchange.RoleDataAdmin)
		it := syncedItem(t, h, gaj, "人口基础信息（分页续拉）")
		purpose := "X-Purpose: 户籍核验"
		base := "/v1/data/" + it.Code + "/records?fields=id,address&limit=5&changed_since=" + url.QueryEscape(time.Unix(0, 0).Format(time.RFC3339))
		var p1 struct {
			resumeResp
			NextCursor string `json:"next_cursor"`
		}
		h.Do(t, "GET", base, h.AppKey, nil, purpose).Want(t, http.StatusOK).JSON(t, &p1)
		if len(p1.Records) != 5 || p1.NextCursor == "" {
			t.Fatalf("page 1: %d records, cursor %q", len(p1.Records), p1.NextCursor)
		}
		// A correction of a record already read (page 1), committed between the pages.
		gajP := &exchange.Principal{ID: "prn_gaj_pg", DepartmentID: "xy-gaj", Roles: []exchange.Role{exchange.RoleDataAdmin}}
		rec, err := h.Sync.CorrectRecord(ctx, gajP, it.Code, "P0000002", map[string]any{"address": "更正"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(datasync.DefaultClockSkewMargin + 500*time.Millisecond)
		var p2 resumeResp
		h.Do(t, "GET", base+"&cursor="+url.QueryEscape(p1.NextCursor), h.AppKey, nil, purpose).Want(t, http.StatusOK).JSON(t, &p2)
		if p2.NextChangedSince.After(rec.UpdatedAt) {
			var next resumeResp
			h.Do(t, "GET", "/v1/data/"+it.Code+"/records?fields=id,address&changed_since="+url.QueryEscape(p2.NextChangedSince.Format(time.RFC3339Nano)),
				h.AppKey, nil, purpose).Want(t, http.StatusOK).JSON(t, &next)
			t.Errorf("page 2's next_changed_since %s is after the change to P0000002 stamped %s (page 1 said %s); "+
				"the next pull from it returns %d records and misses P0000002", p2.NextChangedSince, rec.UpdatedAt, p1.NextChangedSince, len(next.Records))
		}
	})
}
