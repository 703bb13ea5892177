package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/licence"
)

// licenceHub is a demo hub with the principals the licence tests need.
type licenceHub struct {
	*hubtest.Hub
	police, civilIssuer, healthApp, fullApp, noGrantApp string // keys
	idType, marriageType                                string // type codes
}

func newLicenceHub(t *testing.T, h *hubtest.Hub) *licenceHub {
	t.Helper()
	lh := &licenceHub{Hub: h, idType: h.Demo.LicenceType}
	for _, tp := range h.Do(t, "GET", "/v1/licence-types", h.Admin, nil).Want(t, 200).Map(t)["items"].([]any) {
		m := tp.(map[string]any)
		if m["name"] == "结婚证" {
			lh.marriageType = m["code"].(string)
		}
	}
	key := func(dept, name, role string) string {
		p := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": dept, "name": name, "roles": []string{role}}).Want(t, 201).Map(t)
		k := h.Do(t, "POST", "/v1/principals/"+p["id"].(string)+"/keys", h.Admin, map[string]any{"name": "t"}).Want(t, 201).Map(t)
		return k["secret"].(string)
	}
	grant := func(dept, typ string, fields ...string) {
		h.Do(t, "POST", "/v1/grants", h.Admin, map[string]any{"consumer_department_id": dept, "resource_kind": "licence_type", "resource_id": typ,
			"fields": fields, "purpose": "办理业务核验证照", "valid_until": time.Now().AddDate(0, 1, 0)}).Want(t, 201)
	}
	lh.police = key("xy-gaj", "police-issuer", "issuer")
	lh.civilIssuer = key("xy-mzj", "marriage-issuer", "issuer")
	lh.healthApp = key("xy-wjw", "health-app", "app")
	lh.fullApp = key("xy-rsj", "hr-app", "app")
	lh.noGrantApp = key("xy-jyj", "school-app", "app")
	grant("xy-mzj", lh.idType, licence.FieldNumber, licence.FieldHolderName) // the demo app of 民政局
	grant("xy-wjw", lh.marriageType, "*")                                    // another type only
	grant("xy-rsj", lh.idType, "*")
	return lh
}

func idCard(h *licenceHub, holder string) map[string]any {
	return map[string]any{"type_code": h.idType, "number": "XY" + holder[12:], "holder": map[string]any{"name": "王小明", "id": holder},
		"issued_on": "2021-03-04", "face": map[string]string{"gender": "男", "ethnicity": "汉", "birth_date": "1990-01-01", "address": "湖北省襄阳市樊城区人民路5号"}}
}

var holderSeq int

func newHolder() string {
	holderSeq++
	return ident.NewResidentID("420606", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, holderSeq), holderSeq%999+1, false)
}

func TestLicenceAPI(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := newLicenceHub(t, hubtest.Start(t, b))
			holder := newHolder()
			l := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, holder)).Want(t, 201).Map(t)
			id := l["id"].(string)
			esc := url.PathEscape(id)

			t.Run("issuers", func(t *testing.T) {
				h.Do(t, "POST", "/v1/licences", h.civilIssuer, idCard(h, newHolder())).Want(t, 403)
				h.Do(t, "POST", "/v1/licences", h.AppKey, idCard(h, newHolder())).Want(t, 403)
				h.Do(t, "POST", "/v1/licences", "", idCard(h, newHolder())).Want(t, 401)
				h.Do(t, "POST", "/v1/licences/"+esc+"/events", h.civilIssuer, map[string]any{"event": "revoke", "reason": "x"}).Want(t, 403)
				bad := idCard(h, newHolder())
				bad["holder"].(map[string]any)["id"] = holder[:17] + map[bool]string{true: "1", false: "2"}[holder[17] == '2']
				p := h.Do(t, "POST", "/v1/licences", h.police, bad).Want(t, 400).Problem(t)
				if !strings.Contains(string(licenceJSON(t, p)), "/holder/id") {
					t.Fatalf("problem does not point at the holder id: %v", p)
				}
				h.Do(t, "POST", "/v1/licences", h.police, map[string]any{"type_code": "11420600000000027M999", "holder": map[string]any{"name": "a", "id": holder}}).Want(t, 400)
				h.Do(t, "GET", "/v1/licences/"+esc+"/history", h.police, nil).Want(t, 200)
				h.Do(t, "GET", "/v1/licences/"+esc+"/history", h.civilIssuer, nil).Want(t, 403)
			})

			t.Run("consumers", func(t *testing.T) {
				purpose := "X-Purpose: 婚姻登记核验"
				h.Do(t, "GET", "/v1/licences/"+esc, h.AppKey, nil).Want(t, 400)                                         // no purpose
				h.Do(t, "GET", "/v1/licences/"+esc, h.AppKey, nil, "X-Purpose: "+strings.Repeat("因", 201)).Want(t, 400) // too long
				h.Do(t, "GET", "/v1/licences/"+esc, h.healthApp, nil, purpose).Want(t, 403)                             // grant for another type
				h.Do(t, "GET", "/v1/licences/"+esc, h.Auditor, nil, purpose).Want(t, 403)                               // role
				wrong := "Z"                                                                                            // a check character the identifier does not have
				if strings.HasSuffix(esc, wrong) {
					wrong = "Y"
				}
				h.Do(t, "GET", "/v1/licences/"+esc[:len(esc)-1]+wrong, h.AppKey, nil, purpose).Want(t, 400) // check character
				r := h.Do(t, "GET", "/v1/licences/"+esc, h.AppKey, nil, purpose, "X-Request-ID: lic-get-1").Want(t, 200)
				v := r.Map(t)
				if v["holder_id"] == holder || v["holder_id_masked"] != true || v["holder_name"] != "王小明" || v["number"] != "XY"+holder[12:] || v["face"] != nil || v["valid_until"] != nil {
					t.Fatalf("partial grant view: %v", v)
				}
				es := entriesFor(t, h.Hub, "lic-get-1")
				if len(es) != 1 || es[0].Purpose != "婚姻登记核验" || !strings.Contains(strings.Join(es[0].Resources, " "), "grant:") {
					t.Fatalf("audit entry: %+v", es)
				}
				full := h.Do(t, "GET", "/v1/licences/"+esc, h.fullApp, nil, purpose).Want(t, 200).Map(t)
				if full["holder_id"] != holder || full["face"] == nil {
					t.Fatalf("full grant view: %v", full)
				}
				// Holder lookup.
				q := "/v1/licences?holder_id=" + holder
				h.Do(t, "GET", q, h.AppKey, nil).Want(t, 400)
				h.Do(t, "GET", "/v1/licences?holder_id="+holder[:17]+"Y", h.AppKey, nil, purpose).Want(t, 400)
				// A grant for another type only: the holder's 身份证 is left
				// out, and nothing says there was one.
				if hidden := h.Do(t, "GET", q, h.healthApp, nil, purpose).Want(t, 200).Map(t); len(hidden["items"].([]any)) != 0 || len(hidden) != 1 {
					t.Fatalf("lookup by an app with a grant for another type: %v", hidden)
				}
				h.Do(t, "GET", q, h.noGrantApp, nil, purpose).Want(t, 403)
				h.Do(t, "GET", q+"&type_code="+h.idType, h.healthApp, nil, purpose).Want(t, 403)
				got := h.Do(t, "GET", q+"&type_code="+h.idType, h.AppKey, nil, purpose, "X-Request-ID: lic-lookup-1").Want(t, 200).Map(t)
				if es := entriesFor(t, h.Hub, "lic-lookup-1"); len(es) != 1 || strings.Count(strings.Join(es[0].Resources, " "), "grant:") != 1 || es[0].Rows != 1 {
					t.Fatalf("lookup audit entry (one grant check, one row): %+v", es)
				}
				items := got["items"].([]any)
				if len(items) != 1 || items[0].(map[string]any)["holder_id"] == holder {
					t.Fatalf("lookup: %v", got)
				}
			})

			t.Run("files", func(t *testing.T) {
				pdf := []byte("%PDF-1.7\n%%EOF\n")
				h.Do(t, "PUT", "/v1/licences/"+esc+"/file?name=id.pdf", h.police, pdf).Want(t, 200)
				h.Do(t, "PUT", "/v1/licences/"+esc+"/file?name=id.png", h.police, pdf).Want(t, 400)
				h.Do(t, "PUT", "/v1/licences/"+esc+"/file?name=..%2Fid.pdf", h.police, pdf).Want(t, 400)
				h.Do(t, "PUT", "/v1/licences/"+esc+"/file?name=id.pdf", h.civilIssuer, pdf).Want(t, 403)
				v := h.Do(t, "GET", "/v1/licences/"+esc, h.fullApp, nil, "X-Purpose: 核验").Want(t, 200).Map(t)
				link, _ := v["file_url"].(string)
				if !strings.Contains(link, "exp=") {
					t.Fatalf("no file link: %v", v)
				}
				u, _ := url.Parse(link)
				got := h.Do(t, "GET", u.RequestURI(), "", nil).Want(t, 200)
				if !bytes.Equal(got.Body, pdf) {
					t.Fatalf("downloaded %q", got.Body)
				}
				if v := h.Do(t, "GET", "/v1/licences/"+esc, h.AppKey, nil, "X-Purpose: 核验").Want(t, 200).Map(t); v["file_url"] != nil {
					t.Fatalf("file link without a file grant: %v", v)
				}
				ver := h.Do(t, "POST", "/v1/licences/"+esc+"/verify", h.AppKey, nil).Want(t, 200).Map(t)
				if ver["valid"] != true || ver["file_checked"] != true {
					t.Fatalf("verify: %v", ver)
				}
			})

			t.Run("import", func(t *testing.T) {
				imp := func() string {
					p := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": "xy-sjj", "name": "licence-importer", "roles": []string{"importer"}}).Want(t, 201).Map(t)
					return h.Do(t, "POST", "/v1/principals/"+p["id"].(string)+"/keys", h.Admin, map[string]any{"name": "t"}).Want(t, 201).Map(t)["secret"].(string)
				}()
				hdr := "证照类型代码,证照编号,颁发机构代码,持证主体,持证主体代码类型,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,属地代码,照面信息\n"
				face := `"{""gender"":""女"",""ethnicity"":""汉"",""birth_date"":""1990-01-01"",""address"":""襄阳市襄城区""}"`
				a, b := newHolder(), newHolder()
				good := hdr + h.idType + ",IMP1,11420600000000027M,李梅,111," + a + ",2022-01-01,,,420602," + face + "\n" +
					h.idType + ",IMP2,11420600000000027M,李兰,111," + b + ",2022-01-01,,,420602," + face + "\n"
				bad := good + h.idType + ",IMP3,11420600000000027M,李竹,111," + b[:17] + "Z,2022-01-01,,,420602," + face + "\n"
				rep := h.Do(t, "POST", "/v1/licence-imports?filename=bad.csv", imp, []byte(bad)).Want(t, 200).Map(t)
				if rep["error_count"].(float64) != 1 || rep["committed"] == true {
					t.Fatalf("dry run of a bad file: %v", rep)
				}
				p := h.Do(t, "POST", "/v1/licence-imports?filename=bad.csv&commit=true", imp, []byte(bad)).Want(t, 400).Problem(t)
				if !strings.Contains(string(licenceJSON(t, p)), "持证主体代码") {
					t.Fatalf("problem does not name the column: %v", p)
				}
				h.Do(t, "POST", "/v1/licence-imports?filename=good.csv&commit=true", h.police, []byte(good)).Want(t, 403)
				rep = h.Do(t, "POST", "/v1/licence-imports?filename=good.csv&commit=true", imp, []byte(good)).Want(t, 200).Map(t)
				if rep["created"].(float64) != 2 || rep["committed"] != true {
					t.Fatalf("commit: %v", rep)
				}
				rep = h.Do(t, "POST", "/v1/licence-imports?filename=good.csv&commit=true", imp, []byte(good)).Want(t, 200).Map(t)
				if rep["created"].(float64) != 0 || rep["unchanged"].(float64) != 2 {
					t.Fatalf("re-import: %v", rep)
				}
				got := h.Do(t, "GET", "/v1/licences?holder_id="+a, h.fullApp, nil, "X-Purpose: 核验").Want(t, 200).Map(t)
				if len(got["items"].([]any)) != 1 {
					t.Fatalf("imported licence not found: %v", got)
				}
			})

			t.Run("qr", func(t *testing.T) {
				h.Do(t, "POST", "/v1/licences/"+esc+"/qr", h.healthApp, nil).Want(t, 403)
				q := h.Do(t, "POST", "/v1/licences/"+esc+"/qr", h.police, nil).Want(t, 200).Map(t)
				png, _ := base64.StdEncoding.DecodeString(q["png_base64"].(string))
				if !bytes.HasPrefix(png, []byte("\x89PNG")) {
					t.Fatal("no PNG")
				}
				u, _ := url.Parse(q["url"].(string))
				if img := h.Do(t, "POST", "/v1/licences/"+esc+"/qr", h.AppKey, nil, "Accept: image/png").Want(t, 200); !bytes.HasPrefix(img.Body, []byte("\x89PNG")) {
					t.Fatal("Accept: image/png gave no PNG")
				}
				page := h.Do(t, "GET", u.Path, "", nil).Want(t, 200)
				if !strings.Contains(string(page.Body), "有效") || strings.Contains(string(page.Body), holder) {
					t.Fatalf("page: %s", page.Body)
				}
				j := h.Do(t, "GET", u.Path, "", nil, "Accept: application/json").Want(t, 200).Map(t)
				if j["outcome"] != "valid" {
					t.Fatalf("json: %v", j)
				}
				forged := u.Path[:len(u.Path)-3] + map[bool]string{true: "AAA", false: "BBB"}[!strings.HasSuffix(u.Path, "AAA")]
				j = h.Do(t, "GET", forged, "", nil, "Accept: application/json").Want(t, 200).Map(t)
				if j["outcome"] != "forged" || j["reason"] == "" || j["licence"] != nil {
					t.Fatalf("forged json: %v", j)
				}
				if p := h.Do(t, "GET", forged, "", nil).Want(t, 200); !strings.Contains(string(p.Body), "二维码无效") {
					t.Fatalf("forged page: %s", p.Body)
				}
				jwks := h.Do(t, "GET", "/.well-known/licence-token-jwks.json", "", nil).Want(t, 200)
				keys, err := licence.KeysFromJWKS(jwks.Body)
				if err != nil {
					t.Fatal(err)
				}
				if _, out, why := licence.ParseToken(strings.TrimPrefix(u.Path, "/verify/"), keys); out != licence.OutcomeValid {
					t.Fatalf("offline: %s %s", out, why)
				}
				// Expired: a one-second token, opened two seconds later.
				short := h.Do(t, "POST", "/v1/licences/"+esc+"/qr", h.police, map[string]any{"ttl_seconds": 1}).Want(t, 200).Map(t)
				su, _ := url.Parse(short["url"].(string))
				time.Sleep(2100 * time.Millisecond)
				if p := h.Do(t, "GET", su.Path, "", nil).Want(t, 200); !strings.Contains(string(p.Body), "二维码已过期") || strings.Contains(string(p.Body), "证照编号") {
					t.Fatalf("expired page: %s", p.Body)
				}
				if j := h.Do(t, "GET", su.Path, "", nil, "Accept: application/json").Want(t, 200).Map(t); j["outcome"] != "expired" || !strings.Contains(j["reason"].(string), "expired") {
					t.Fatalf("expired json: %v", j)
				}
				h.Do(t, "POST", "/v1/licences/"+esc+"/qr", h.police, map[string]any{"ttl_seconds": 90000}).Want(t, 400)
				// Replayed: a genuine, unexpired token for a version the licence
				// has left. The licence is suspended now, and the old code says so.
				h.Do(t, "POST", "/v1/licences/"+esc+"/events", h.police, map[string]any{"event": "suspend", "reason": "暂扣"}).Want(t, 200)
				j = h.Do(t, "GET", u.Path, "", nil, "Accept: application/json").Want(t, 200).Map(t)
				if reason, _ := j["reason"].(string); j["outcome"] != "superseded" || j["status"] != "02" || j["status_name"] != "暂扣" ||
					!strings.Contains(reason, "stale code") || !strings.Contains(reason, "now suspended (status 02)") {
					t.Fatalf("superseded json: %v", j)
				}
				if lj, _ := j["licence"].(map[string]any); lj == nil || lj["status"] != "02" || strings.Contains(string(licenceJSON(t, lj)), holder) {
					t.Fatalf("superseded json licence: %v", j)
				}
				if p := string(h.Do(t, "GET", u.Path, "", nil).Want(t, 200).Body); !strings.Contains(p, ">已暂扣<") || !strings.Contains(p, "此二维码生成后，证照已发生变更") ||
					strings.Contains(p, "二维码已失效") || strings.Contains(p, holder) {
					t.Fatalf("superseded page: %s", p)
				}
			})
		})
	}
}

// TestVerifyPageStale opens a code made before the licence changed (HTML
// and JSON): revoked or suspended since, the page's headline is that
// status, with the licence as it is now and a note that it changed after
// the code was made; amended since (still 有效), the code is out of date
// and shows no licence data.
func TestVerifyPageStale(t *testing.T) {
	h := newLicenceHub(t, hubtest.Start(t, dbtest.Backends[0]))
	// stale issues a licence, makes a code, applies event and returns the
	// old code's page and JSON, and the licence as it is now.
	stale := func(t *testing.T, holder string, event map[string]any) (page string, j, now map[string]any) {
		t.Helper()
		l := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, holder)).Want(t, 201).Map(t)
		esc := url.PathEscape(l["id"].(string))
		u, _ := url.Parse(h.Do(t, "POST", "/v1/licences/"+esc+"/qr", h.police, nil).Want(t, 200).Map(t)["url"].(string))
		if p := string(h.Do(t, "GET", u.Path, "", nil).Want(t, 200).Body); !strings.Contains(p, ">有效<") {
			t.Fatalf("page before the change: %s", p)
		}
		now = h.Do(t, "POST", "/v1/licences/"+esc+"/events", h.police, event).Want(t, 200).Map(t)
		page = string(h.Do(t, "GET", u.Path, "", nil).Want(t, 200).Body)
		j = h.Do(t, "GET", u.Path, "", nil, "Accept: application/json").Want(t, 200).Map(t)
		if reason, _ := j["reason"].(string); j["outcome"] != "superseded" || !strings.Contains(reason, "stale code") ||
			!strings.Contains(reason, "version 001") || !strings.Contains(reason, "now version 002") ||
			j["token_version"] != 1.0 || j["current_version"] != 2.0 {
			t.Fatalf("json: %v", j)
		}
		if strings.Contains(page, holder) || strings.Contains(string(licenceJSON(t, j)), holder) {
			t.Fatalf("holder id not masked:\n%s\n%v", page, j)
		}
		return page, j, now
	}
	for _, tc := range []struct {
		name            string
		event           map[string]any
		code, headline  string
		statusName, why string
	}{
		{"revoked", map[string]any{"event": "revoke", "reason": "以欺骗手段取得"}, "03", "已撤销", "撤销", "now revoked (status 03)"},
		{"suspended", map[string]any{"event": "suspend", "reason": "涉案暂扣"}, "02", "已暂扣", "暂扣", "now suspended (status 02)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, j, now := stale(t, newHolder(), tc.event)
			if !strings.Contains(page, `data-outcome="superseded" data-status="`+tc.code+`">`+tc.headline+`<`) ||
				!strings.Contains(page, "此二维码生成后，证照已发生变更") || !strings.Contains(page, "<dd>"+tc.statusName+"</dd>") ||
				!strings.Contains(page, now["id"].(string)) || strings.Contains(page, "二维码已失效") || strings.Contains(page, ">有效<") {
				t.Fatalf("page:\n%s", page)
			}
			lj, _ := j["licence"].(map[string]any)
			if j["status"] != tc.code || j["status_name"] != tc.statusName || !strings.Contains(j["reason"].(string), tc.why) ||
				lj == nil || lj["status"] != tc.code || lj["id"] != now["id"] {
				t.Fatalf("json: %v", j)
			}
		})
	}
	t.Run("amended", func(t *testing.T) {
		page, j, _ := stale(t, newHolder(), map[string]any{"event": "amend", "reason": "住址变更", "face": map[string]string{"address": "湖北省襄阳市襄州区航空路9号"}})
		if !strings.Contains(page, `data-outcome="superseded" data-status="">二维码已失效<`) || !strings.Contains(page, "请持证人重新生成亮证二维码") ||
			strings.Contains(page, ">有效<") || strings.Contains(page, "证照编号") || strings.Contains(page, "此二维码生成后，证照已发生变更") {
			t.Fatalf("page:\n%s", page)
		}
		if _, ok := j["licence"]; ok || j["status"] != nil || !strings.Contains(j["reason"].(string), "ask the holder to show a fresh code") {
			t.Fatalf("json: %v", j)
		}
	})
}

// TestVerifyPageInChromium opens the public verify page in headless
// Chromium: 有效 first, then, after the licence is revoked through the
// API, the same URL again: 已撤销, with the note that the licence changed
// after the code was made (and 已撤销 on a fresh code too).
func TestVerifyPageInChromium(t *testing.T) {
	browser, _ := requireChromium(t, false)
	h := newLicenceHub(t, hubtest.Start(t, dbtest.Backends[0]))
	l := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, newHolder())).Want(t, 201).Map(t)
	esc := url.PathEscape(l["id"].(string))
	qr := func() string {
		return h.Do(t, "POST", "/v1/licences/"+esc+"/qr", h.police, nil).Want(t, 200).Map(t)["url"].(string)
	}
	dom := func(u string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--dump-dom", u)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, errb.String())
		}
		return out.String()
	}
	first := qr()
	if d := dom(first); !strings.Contains(d, `data-outcome="valid"`) || !strings.Contains(d, ">有效<") {
		t.Fatalf("page before revocation:\n%s", d)
	}
	h.Do(t, "POST", "/v1/licences/"+esc+"/events", h.police, map[string]any{"event": "revoke", "reason": "以欺骗手段取得"}).Want(t, 200)
	if d := dom(first); !strings.Contains(d, `data-outcome="superseded" data-status="03">已撤销<`) ||
		!strings.Contains(d, "此二维码生成后，证照已发生变更") || strings.Contains(d, "二维码已失效") || strings.Contains(d, ">有效<") {
		t.Fatalf("same code after revocation:\n%s", d)
	}
	if d := dom(qr()); !strings.Contains(d, `data-outcome="valid" data-status="03">已撤销<`) {
		t.Fatalf("fresh code after revocation:\n%s", d)
	}
}

func licenceJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
