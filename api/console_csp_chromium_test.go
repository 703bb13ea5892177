package api_test

import (
	"net/url"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestConsoleCSPBlocksUploadedScript: the console's CSP is the backstop
// should any markup ever slip into a page, so it must not trust the hub's
// own origin for scripts: that origin also serves the files blob writers
// (importers, issuers) upload. In real Chromium, an admin's console page
// that gains a <script src> pointing at an uploaded application/javascript
// (its signed download link, as an uploader would plant it) must not run it.
func TestConsoleCSPBlocksUploadedScript(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	up := h.Do(t, "POST", "/v1/blobs", h.Admin, "window.__ran = document.title;", "Content-Type: application/javascript").Want(t, 201).Map(t)
	link := h.Do(t, "POST", "/v1/blobs/"+up["key"].(string)+"/link", h.Admin, nil).Want(t, 200).Map(t)["url"].(string)
	u, err := url.Parse(link)
	if err != nil || u.Path == "" {
		t.Fatalf("download link %q: %v", link, err)
	}
	src := h.URL + u.RequestURI() // on the hub's origin, as the console page is
	if resp := h.Do(t, "GET", u.RequestURI(), "", nil).Want(t, 200); resp.Header.Get("Content-Type") != "application/javascript" {
		t.Fatalf("the uploaded script is served as %q", resp.Header.Get("Content-Type"))
	}

	wd := startChromeDriver(t)
	wd.open(h.URL + "/console/login")
	wd.must("POST", "/element/"+wd.one("#key")+"/value", map[string]string{"text": h.Admin}, nil)
	wd.must("POST", "/element/"+wd.one("#submit")+"/click", map[string]any{}, nil)
	wd.waitURL("/console/")
	// Markup added to the page (WebDriver stands in for an injection): the
	// page's CSP decides whether the script loads.
	var outcome string
	wd.must("POST", "/execute/async", map[string]any{"script": `
		const done = arguments[arguments.length - 1];
		const s = document.createElement('script');
		s.src = arguments[0];
		s.onload = () => done(window.__ran ? 'ran' : 'loaded');
		s.onerror = () => done(window.__ran ? 'ran' : 'blocked');
		document.body.appendChild(s);
		setTimeout(() => done(window.__ran ? 'ran' : 'timeout'), 5000);`, "args": []any{src}}, &outcome)
	if outcome != "blocked" {
		t.Errorf("an uploaded script added to a console page: %s, want blocked by the CSP", outcome)
	}
	// The console's own stylesheet still applies under the stricter policy.
	var bg string
	wd.must("GET", "/element/"+wd.one("header.top")+"/css/background-color", nil, &bg)
	if bg != "rgba(31, 58, 138, 1)" && bg != "rgb(31, 58, 138)" {
		t.Errorf("header background %q: console.css not applied", bg)
	}
}
