package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// webDriver speaks the W3C WebDriver protocol to chromedriver over plain
// HTTP: just the few commands the console test needs.
type webDriver struct {
	t       *testing.T
	base    string // http://127.0.0.1:PORT
	session string
	client  *http.Client
}

// w3cElement is the key W3C WebDriver puts element references under.
const w3cElement = "element-6066-11e4-a52e-4f735466cecf"

// call sends one command and decodes its "value" into out (when not nil).
func (wd *webDriver) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, wd.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := wd.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: status %d, %s", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Message string }
		_ = json.Unmarshal(env.Value, &e)
		return fmt.Errorf("%s %s: %s: %s", method, path, e.Error, e.Message)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (wd *webDriver) must(method, path string, body, out any) {
	wd.t.Helper()
	if err := wd.call(method, wd.sessionPath(path), body, out); err != nil {
		wd.t.Fatal(err)
	}
}

func (wd *webDriver) sessionPath(p string) string { return "/session/" + wd.session + p }

func (wd *webDriver) open(url string) {
	wd.t.Helper()
	wd.must("POST", "/url", map[string]string{"url": url}, nil)
}

func (wd *webDriver) url() string {
	wd.t.Helper()
	var u string
	wd.must("GET", "/url", nil, &u)
	return u
}

func (wd *webDriver) source() string {
	wd.t.Helper()
	var s string
	wd.must("GET", "/source", nil, &s)
	return s
}

// find returns the references of the elements matching a CSS selector.
func (wd *webDriver) find(css string) []string {
	wd.t.Helper()
	var els []map[string]string
	wd.must("POST", "/elements", map[string]string{"using": "css selector", "value": css}, &els)
	ids := make([]string, len(els))
	for i, e := range els {
		ids[i] = e[w3cElement]
	}
	return ids
}

func (wd *webDriver) one(css string) string {
	wd.t.Helper()
	ids := wd.find(css)
	if len(ids) != 1 {
		wd.t.Fatalf("%d elements match %q on %s:\n%s", len(ids), css, wd.url(), wd.source())
	}
	return ids[0]
}

func (wd *webDriver) text(el string) string {
	wd.t.Helper()
	var s string
	wd.must("GET", "/element/"+el+"/text", nil, &s)
	return s
}

// waitURL waits until the browser is on a page whose URL ends with suffix.
func (wd *webDriver) waitURL(suffix string) {
	wd.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.HasSuffix(wd.url(), suffix) {
		if time.Now().After(deadline) {
			wd.t.Fatalf("browser is on %s, want …%s:\n%s", wd.url(), suffix, wd.source())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startChromeDriver runs chromedriver on a free loopback port and opens a
// headless Chromium session; both end with the test.
func startChromeDriver(t *testing.T) *webDriver {
	t.Helper()
	return startChromeDriverWith(t, nil)
}

// startChromeDriverWith is startChromeDriver with extra goog:chromeOptions
// (for example mobileEmulation).
func startChromeDriverWith(t *testing.T, extra map[string]any) *webDriver {
	t.Helper()
	browser, driver := requireChromium(t, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(driver, fmt.Sprintf("--port=%d", port))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromedriver: %v", err)
	}
	wd := &webDriver{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), client: &http.Client{Timeout: 60 * time.Second}}
	t.Cleanup(func() {
		if wd.session != "" {
			_ = wd.call("DELETE", wd.sessionPath(""), nil, nil)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("chromedriver output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct{ Ready bool }
		if err := wd.call("GET", "/status", nil, &st); err == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not become ready on port %d:\n%s", port, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	opts := map[string]any{"binary": browser, "args": []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(),
	}}
	for k, v := range extra {
		opts[k] = v
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":        "chrome",
		"goog:chromeOptions": opts,
	}}}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := wd.call("POST", "/session", caps, &s); err != nil {
		t.Fatalf("new Chromium session: %v", err)
	}
	wd.session = s.SessionID
	return wd
}

// TestConsoleInChromium signs in to the console in real headless Chromium
// (through chromedriver): it types the auditor's key, submits the form,
// opens the audit log from the menu and sees entries, one of them its own
// sign-in. The browser enforces what the HTTP tests can only inspect: the
// CSP, SameSite=Strict and the origin check on a form posted under
// Referrer-Policy: no-referrer.
func TestConsoleInChromium(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	wd := startChromeDriver(t)

	wd.open(h.URL + "/console/login")
	key := wd.one("#key")
	wd.must("POST", "/element/"+key+"/value", map[string]string{"text": h.Auditor}, nil)
	wd.must("POST", "/element/"+wd.one("#submit")+"/click", map[string]any{}, nil)
	wd.waitURL("/console/")
	if who := wd.text(wd.one("#who-roles")); !strings.Contains(who, "审计员") {
		t.Fatalf("signed-in roles %q", who)
	}
	// The session cookie is HttpOnly: page script cannot read it.
	var cookie string
	wd.must("POST", "/execute/sync", map[string]any{"script": "return document.cookie", "args": []any{}}, &cookie)
	if strings.Contains(cookie, "sharehub_console") {
		t.Errorf("document.cookie shows the session: %q", cookie)
	}
	// The stylesheet loaded under the CSP (the header bar is styled).
	var bg string
	wd.must("GET", "/element/"+wd.one("header.top")+"/css/background-color", nil, &bg)
	if bg != "rgba(31, 58, 138, 1)" && bg != "rgb(31, 58, 138)" {
		t.Errorf("header background %q: console.css not applied", bg)
	}

	wd.must("POST", "/element/"+wd.one(`nav a[href="/console/audit"]`)+"/click", map[string]any{}, nil)
	wd.waitURL("/console/audit")
	rows := wd.find("#entries tr.entry")
	if len(rows) == 0 {
		t.Fatalf("no audit entries on the page:\n%s", wd.source())
	}
	var signIn bool
	for _, r := range rows {
		txt := wd.text(r)
		signIn = signIn || strings.Contains(txt, "POST /console/login") && strings.Contains(txt, h.Demo.Keys[1].PrincipalID)
	}
	if !signIn {
		t.Errorf("the audit page does not show this sign-in:\n%s", wd.source())
	}
	if cp := wd.text(wd.one("#checkpoint")); !strings.Contains(cp, "最新签名检查点") {
		t.Errorf("checkpoint section: %q", cp)
	}

	// Sign out from the menu: back on the sign-in page, and the audit page
	// now sends the browser there too.
	wd.must("POST", "/element/"+wd.one("#logout")+"/click", map[string]any{}, nil)
	wd.waitURL("/console/login?ended=out")
	wd.open(h.URL + "/console/audit")
	wd.waitURL("/console/login")
}
