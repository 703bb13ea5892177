package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestDataKeyLookupKeepsConditions: a lookup by key still honours the
// call's other conditions — filters, changed_since — instead of answering
// every key as if they had not been given (a record unchanged since T
// shown as changed); a filter on a masked field is refused with a key
// as without; a key asked for twice is one record.
func TestDataKeyLookupKeepsConditions(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			it := registeredItem(t, h, "人口基础信息（按键查）", map[string]string{
				"P1": `{"id":"P1","sfzh":"420602199001010002","address":"樊城区"}`,
				"P2": `{"id":"P2","sfzh":"420602199001010029","address":"襄城区"}`,
			})
			purpose := "X-Purpose: 户籍核验"
			data := "/v1/data/" + it.Code + "/records"
			later := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
			for q, want := range map[string]string{
				"?key=P1&key=P2&f.address=" + url.QueryEscape("樊城区"): "P1",
				"?key=P1&key=P2&changed_since=" + later:              "",
				"?key=P2&key=P1&key=P2":                              "P1,P2",
			} {
				var page dataResp
				h.Do(t, "GET", data+q, h.AppKey, nil, purpose).Want(t, http.StatusOK).JSON(t, &page)
				var got []string
				for _, r := range page.Records {
					got = append(got, r.Key)
				}
				if strings.Join(got, ",") != want {
					t.Errorf("%s: records %q, want %q", q, got, want)
				}
			}
			h.Do(t, "GET", data+"?key=P1&f.sfzh=420602199001010002", h.AppKey, nil, purpose).Want(t, http.StatusForbidden)
		})
	}
}
