package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/licence"
)

var demoLicencesRE = regexp.MustCompile(`E-licences: (\d+) demo licences of (\d+) types\. .*\n  (http\S+/verify/\S+)\n`)

// TestDemoCLI runs `sharehub demo` as a user does: what it prints about
// the e-licences is so (licences of every one of the demo's types), and
// the QR verify page it prints opens and says 有效.
func TestDemoCLI(t *testing.T) {
	clearEnv(t)
	d := startDemo(t, t.TempDir())
	m := demoLicencesRE.FindStringSubmatch(d.out)
	if m == nil {
		t.Fatalf("demo output has no e-licence lines:\n%s", d.out)
	}
	if n, _ := strconv.Atoi(m[1]); n != hub.DemoLicences {
		t.Errorf("demo says %s licences, want %d", m[1], hub.DemoLicences)
	}
	if m[2] != strconv.Itoa(len(licence.DemoTypes)) {
		t.Errorf("demo says its licences are of %s types, want all %d of its types", m[2], len(licence.DemoTypes))
	}
	get := func(accept string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", m[3], nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s (%s): %d\n%s", m[3], accept, resp.StatusCode, b)
		}
		return string(b)
	}
	if page := get("text/html"); !strings.Contains(page, ">有效<") || !strings.Contains(page, "居民身份证") {
		t.Errorf("the printed QR verify page does not show a valid 居民身份证:\n%s", page)
	}
	var res struct {
		Outcome string `json:"outcome"`
		Licence struct {
			Status string `json:"status"`
		} `json:"licence"`
	}
	if err := json.Unmarshal([]byte(get("application/json")), &res); err != nil || res.Outcome != string(licence.OutcomeValid) || res.Licence.Status != string(licence.StatusValid) {
		t.Errorf("the printed curl for the QR verify page: %+v, %v; want outcome %s, status %s", res, err, licence.OutcomeValid, licence.StatusValid)
	}
}
