package api_test

import (
	"net/url"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestVerifyPageOnAPhone opens the public verify page in Chromium emulating
// a 360-pixel-wide phone: the page lays out at the phone's width (no
// sideways scrolling), the status is on the first screen in large type, and
// the text is readable without zooming.
func TestVerifyPageOnAPhone(t *testing.T) {
	wd := startChromeDriverWith(t, map[string]any{"mobileEmulation": map[string]any{
		"deviceMetrics": map[string]any{"width": 360, "height": 740, "pixelRatio": 3, "mobile": true, "touch": true},
		"userAgent":     "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
	}})
	h := newLicenceHub(t, hubtest.Start(t, dbtest.Backends[0]))
	l := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, newHolder())).Want(t, 201).Map(t)
	u := h.Do(t, "POST", "/v1/licences/"+url.PathEscape(l["id"].(string))+"/qr", h.police, nil).Want(t, 200).Map(t)["url"].(string)
	wd.open(u)
	if got := wd.text(wd.one("#status")); got != "有效" {
		t.Fatalf("status %q, want 有效", got)
	}
	var m struct {
		Inner, Scroll       float64
		StatusTop, StatusPx float64
		TextPx, SmallestPx  float64
	}
	wd.must("POST", "/execute/sync", map[string]any{"args": []any{}, "script": `
		const px = el => parseFloat(getComputedStyle(el).fontSize);
		const st = document.getElementById('status');
		let smallest = 1e9;
		for (const el of document.querySelectorAll('dt, dd, p, h1')) smallest = Math.min(smallest, px(el));
		return {Inner: window.innerWidth, Scroll: document.documentElement.scrollWidth,
			StatusTop: st.getBoundingClientRect().bottom, StatusPx: px(st),
			TextPx: px(document.querySelector('dd')), SmallestPx: smallest};`}, &m)
	switch {
	case m.Inner != 360:
		t.Errorf("layout viewport %v px wide, want the phone's 360 (is the viewport meta tag there?)", m.Inner)
	case m.Scroll > m.Inner:
		t.Errorf("page is %v px wide on a %v px screen: it scrolls sideways", m.Scroll, m.Inner)
	}
	if m.StatusTop > 740 || m.StatusPx < 24 {
		t.Errorf("status ends at %v px with %v px type; want it on the first screen (740 px) in large type", m.StatusTop, m.StatusPx)
	}
	if m.TextPx < 14 || m.SmallestPx < 12 {
		t.Errorf("text %v px, smallest %v px: too small to read on a phone", m.TextPx, m.SmallestPx)
	}
}
