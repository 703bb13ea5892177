package api_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// The audit search's time bounds take the RFC 3339 form its own error
// message suggests, 2026-11-25T08:00:00+08:00, also when the caller did not
// escape the '+' (curl, a browser's address bar): a query string decodes
// it into a space, which no RFC 3339 time holds.
func TestAuditSearchTimeWithUnescapedPlus(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	h.Do(t, "GET", "/v1/me", h.AppKey, nil, "X-Request-ID: plus-time-1").Want(t, 200)
	es := entriesFor(t, h, "plus-time-1")
	if len(es) != 1 {
		t.Fatalf("entries for plus-time-1: %+v", es)
	}
	at := es[0].Time.In(time.FixedZone("CST", 8*3600))
	from, to := at.Format(time.RFC3339Nano), at.Add(time.Microsecond).Format(time.RFC3339Nano)
	var escaped, unescaped struct {
		Items []struct {
			RequestID string `json:"request_id"`
		}
	}
	h.Do(t, "GET", "/v1/audit/entries?from="+url.QueryEscape(from)+"&to="+url.QueryEscape(to)+"&route=/v1/me", h.Auditor, nil).Want(t, 200).JSON(t, &escaped)
	if len(escaped.Items) != 1 || escaped.Items[0].RequestID != "plus-time-1" {
		t.Fatalf("escaped from=%s to=%s: %+v, want the one entry", from, to, escaped.Items)
	}
	h.Do(t, "GET", "/v1/audit/entries?from="+from+"&to="+to+"&route=/v1/me", h.Auditor, nil).Want(t, 200).JSON(t, &unescaped)
	if len(unescaped.Items) != 1 || unescaped.Items[0].RequestID != "plus-time-1" {
		t.Fatalf("unescaped from=%s to=%s: %+v, want the one entry", from, to, unescaped.Items)
	}
	// Still a 400 naming the parameter for what is not a time.
	p := h.Do(t, "GET", "/v1/audit/entries?from=2026-11-25%2008:00", h.Auditor, nil).Want(t, 400).Problem(t)
	if es, _ := p["errors"].([]any); len(es) != 1 || es[0].(map[string]any)["pointer"] != "?from" {
		t.Errorf("bad from: %v", p)
	}
}
