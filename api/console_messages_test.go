package api_test

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

var consoleMessage = regexp.MustCompile(`(?s)<p class="msg [a-z]+" id="message">(.*?)</p>`)

// englishWords finds English prose (two words in a row), as the services'
// error details are worded for API clients.
var englishWords = regexp.MustCompile(`[A-Za-z]{2,} [a-z]{2,}`)

// TestConsoleProblemsInChinese: what the console says about a refused
// search or a link that leads nowhere is in Chinese like the rest of it,
// not the English the services write for API clients ("search query is too
// long；?q：at most 100 characters"), and the page around it still works:
// the search form keeps what was typed, the access page its department list.
func TestConsoleProblemsInChinese(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	app, auditor, admin := newBrowser(t, h), newBrowser(t, h), newBrowser(t, h)
	app.mustLogin(h.AppKey)
	auditor.mustLogin(h.Auditor)
	admin.mustLogin(h.Admin)
	for _, tc := range []struct {
		b      *browser
		path   string
		status int
		says   []string // in the message
		keeps  []string // elsewhere on the page
	}{
		{app, "/console/catalog?q=" + url.QueryEscape(strings.Repeat("登", 150)), 400, []string{"检索词过长", "100"}, []string{`id="search"`}},
		{app, "/console/catalog?q=" + url.QueryEscape("户籍 婚姻 社保 医保 公积金 不动产 车辆 企业 法人"), 400, []string{"检索词过多", "8"}, []string{`value="户籍 婚姻`}},
		{app, "/console/catalog?q=" + url.QueryEscape("登记") + "&cursor=not-a-cursor", 400, []string{"翻页链接已失效"}, []string{`value="登记"`}},
		{auditor, "/console/audit?cursor=not-a-cursor&route=" + url.QueryEscape("/v1/me"), 400, []string{"翻页链接已失效"}, []string{`value="/v1/me"`, `id="checkpoint"`}},
		{auditor, "/console/audit?from=2026-11-25T08:00&to=2026-11-24T08:00", 400, []string{"结束时间", "不能早于开始时间"},
			[]string{`value="2026-11-25T08:00"`, `value="2026-11-24T08:00"`}},
		{admin, "/console/access?department_id=nope", 404, []string{"没有 ID 为“nope”的部门"}, []string{`id="departments"`, "襄阳市民政局"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			p := tc.b.get(tc.path).want(t, tc.status).has(t, tc.keeps...)
			checkConsoleHeaders(t, p)
			m := consoleMessage.FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("no message on the page:\n%s", p.Body)
			}
			msg := html.UnescapeString(m[1])
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
			if w := englishWords.FindString(msg); w != "" {
				t.Errorf("message %q is in English (%q)", msg, w)
			}
		})
	}
	// Department kinds are named in Chinese too, beside their codes.
	admin.get("/console/access").want(t, 200).has(t, "市人民政府（city）", "政府部门（office）")
}

// datetimeLocal is the value a datetime-local field keeps (HTML's "valid
// normalized local date and time string" and its shorter forms); a
// browser empties the field for anything else.
var datetimeLocal = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$`)

// TestConsoleAuditFilterTimesShowInForm: the audit filter takes a time as
// the browser's datetime-local sends it, or as a date or RFC 3339 (a link
// someone shares); whichever it gets, its form shows the time in the form
// the field keeps, so that the filter the page applies is visible and
// survives the next search (Chromium empties a field whose value attribute
// is "2026-01-02": the page said it filtered, the form said it did not, and
// searching again dropped the filter). A time it refuses is named in the
// message, as the field cannot show it.
func TestConsoleAuditFilterTimesShowInForm(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	b := newBrowser(t, h)
	b.mustLogin(h.Auditor)
	field := regexp.MustCompile(`<input type="datetime-local" name="(from|to)" value="([^"]*)">`)
	for _, tc := range []struct{ query, from, to string }{
		{"from=2026-11-25T08:00&to=2026-11-26T08:00:30", "2026-11-25T08:00", "2026-11-26T08:00:30"},
		{"from=2026-01-02&to=2027-01-01", "2026-01-02T00:00", "2027-01-01T00:00"},
		{"from=" + url.QueryEscape("2026-01-01T16:00:00Z") + "&to=" + url.QueryEscape("2026-01-03T00:00:00.5+08:00"), "2026-01-02T00:00", "2026-01-03T00:00:00.500"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			p := b.get("/console/audit?"+tc.query).want(t, 200)
			got := map[string]string{}
			for _, m := range field.FindAllStringSubmatch(p.Body, -1) {
				got[m[1]] = m[2]
			}
			for name, want := range map[string]string{"from": tc.from, "to": tc.to} {
				if !datetimeLocal.MatchString(got[name]) || got[name] != want {
					t.Errorf("%s field shows %q, want %q", name, got[name], want)
				}
			}
		})
	}
	// Both forms of a time select the same entries.
	for range 3 {
		h.Do(t, "GET", "/v1/me", h.AppKey, nil).Want(t, 200)
	}
	now := time.Now()
	day := now.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	rfc := now.Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	a := b.get("/console/audit?route=%2Fv1%2Fme&from="+day).want(t, 200)
	c := b.get("/console/audit?route=%2Fv1%2Fme&from="+url.QueryEscape(rfc)).want(t, 200)
	if na, nc := strings.Count(a.Body, `class="entry"`), strings.Count(c.Body, `class="entry"`); na < 3 || nc < na {
		t.Errorf("filter by date: %d entries, by RFC 3339 two days back: %d", na, nc)
	}
	b.get("/console/audit?from=yesterday").want(t, 400).has(t, "开始时间", "“yesterday”")
}
