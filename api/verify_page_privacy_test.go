package api_test

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestVerifyPageHidesIDInIdentifier: a 居民身份证 numbered by its holder's
// 公民身份号码 has that number as the serial of its identifier (证照标识);
// the public page and its JSON mask it there as they do in the number and
// the holder's id.
func TestVerifyPageHidesIDInIdentifier(t *testing.T) {
	h := newLicenceHub(t, hubtest.Start(t, dbtest.Backends[0]))
	holder := newHolder()
	body := idCard(h, holder)
	body["number"] = holder
	l := h.Do(t, "POST", "/v1/licences", h.police, body).Want(t, 201).Map(t)
	id := l["id"].(string)
	if !strings.Contains(id, holder) {
		t.Fatalf("the identifier %s does not hold the number %s: the test needs another licence", id, holder)
	}
	masked := holder[:6] + "********" + holder[14:]
	u, _ := url.Parse(h.Do(t, "POST", "/v1/licences/"+url.PathEscape(id)+"/qr", h.police, nil).Want(t, 200).Map(t)["url"].(string))
	// The token is a JWS: signed, readable. Its claims must not name the
	// licence, whose serial here is the holder's number.
	claims, err := base64.RawURLEncoding.DecodeString(strings.Split(strings.TrimPrefix(u.Path, "/verify/"), ".")[1])
	if err != nil || strings.Contains(string(claims), holder) || strings.Contains(u.String(), holder) {
		t.Errorf("the QR code's URL carries the holder's 公民身份号码: %s (%v)", claims, err)
	}
	page := string(h.Do(t, "GET", u.Path, "", nil).Want(t, 200).Body)
	if !strings.Contains(page, ">有效<") {
		t.Fatalf("page: %s", page)
	}
	// The identifier's check character, computed over the serial in
	// clear, would narrow down the masked digits: it is hidden as well.
	shown := strings.Replace(id[:len(id)-1], holder, masked, 1) + "*"
	if strings.Contains(page, holder) || !strings.Contains(page, shown) || strings.Contains(page, strings.Replace(id, holder, masked, 1)) {
		t.Errorf("the page shows the holder's full 公民身份号码 %s, or not the masked identifier:\n%s", holder, page)
	}
	j := h.Do(t, "GET", u.Path, "", nil, "Accept: application/json").Want(t, 200)
	if strings.Contains(string(j.Body), holder) {
		t.Errorf("the JSON shows the holder's full 公民身份号码 %s:\n%s", holder, j.Body)
	}
	// The audit entry still names the licence by its real identifier, and
	// by its key as every other licence route does.
	var found, byKey bool
	key := (&licence.Licence{ID: id}).Key()
	for _, e := range consoleEntries(t, h.Hub, "/verify/:token") {
		for _, r := range e.Resources {
			found = found || r == "licence:"+id
			byKey = byKey || r == "licence:"+key
		}
	}
	if !found || !byKey {
		t.Errorf("the page view's audit entry names the licence by identifier %v, by key %s %v; want both", found, key, byKey)
	}
}

// TestVerifyPageHeaders: the public page (valid or not) forbids framing,
// sniffing, referrers and anything but its own inline style.
func TestVerifyPageHeaders(t *testing.T) {
	h := newLicenceHub(t, hubtest.Start(t, dbtest.Backends[0]))
	l := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, newHolder())).Want(t, 201).Map(t)
	u, _ := url.Parse(h.Do(t, "POST", "/v1/licences/"+url.PathEscape(l["id"].(string))+"/qr", h.police, nil).Want(t, 200).Map(t)["url"].(string))
	for _, path := range []string{u.Path, "/verify/not-a-token"} {
		p := h.Do(t, "GET", path, "", nil).Want(t, 200)
		if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("%s: content type %q", path, ct)
		}
		for k, v := range map[string]string{
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
		} {
			if got := p.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		csp := p.Header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: Content-Security-Policy %q lacks %s", path, csp, d)
			}
		}
		if strings.Contains(csp, "script-src") {
			t.Errorf("%s: Content-Security-Policy %q allows script", path, csp)
		}
	}
}

// TestVerifyPageNotYetInForce: a licence registered 有效 whose validity
// begins later is headed 尚未生效 on the page, with the day it begins (its
// registry status, shown below, stays 有效).
func TestVerifyPageNotYetInForce(t *testing.T) {
	h := newLicenceHub(t, hubtest.Start(t, dbtest.Backends[0]))
	from := time.Now().AddDate(0, 0, 10).Format(time.DateOnly)
	body := idCard(h, newHolder())
	body["valid_from"] = from
	id := h.Do(t, "POST", "/v1/licences", h.police, body).Want(t, 201).Map(t)["id"].(string)
	u, _ := url.Parse(h.Do(t, "POST", "/v1/licences/"+url.PathEscape(id)+"/qr", h.police, nil).Want(t, 200).Map(t)["url"].(string))
	page := string(h.Do(t, "GET", u.Path, "", nil).Want(t, 200).Body)
	if !strings.Contains(page, `class="badge warn" data-outcome="valid" data-status="01">尚未生效<`) || !strings.Contains(page, from+" 起生效") {
		t.Errorf("page of a licence valid from %s:\n%s", from, page)
	}
	// The JSON answer says so too: a scanner app read outcome "valid" and
	// status 01 and nothing more.
	var check struct {
		Outcome string
		InForce bool `json:"in_force"`
		Reason  string
	}
	h.Do(t, "GET", u.Path, "", nil, "Accept: application/json").Want(t, 200).JSON(t, &check)
	if check.Outcome != "valid" || check.InForce || !strings.Contains(check.Reason, from) {
		t.Errorf("JSON for a licence valid from %s: %+v; want valid, not in force, the day in the reason", from, check)
	}
	// One in force today still reads 有效.
	id = h.Do(t, "POST", "/v1/licences", h.police, idCard(h, newHolder())).Want(t, 201).Map(t)["id"].(string)
	u, _ = url.Parse(h.Do(t, "POST", "/v1/licences/"+url.PathEscape(id)+"/qr", h.police, nil).Want(t, 200).Map(t)["url"].(string))
	if page := string(h.Do(t, "GET", u.Path, "", nil).Want(t, 200).Body); !strings.Contains(page, `class="badge ok" data-outcome="valid" data-status="01">有效<`) {
		t.Errorf("page of a licence in force:\n%s", page)
	}
	check.InForce, check.Reason = false, ""
	h.Do(t, "GET", u.Path, "", nil, "Accept: application/json").Want(t, 200).JSON(t, &check)
	if check.Outcome != "valid" || !check.InForce || check.Reason != "" {
		t.Errorf("JSON for a licence in force: %+v", check)
	}
}
