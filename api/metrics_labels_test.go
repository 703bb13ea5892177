package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestMetricsLabelsStayBounded: what a client puts in the request line
// does not become a label value. Random paths are counted under the route
// "unmatched", and methods outside the standard set under "other", so that
// a scan of random URLs with made-up methods cannot grow /metrics by a
// series per request.
func TestMetricsLabelsStayBounded(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	const n = 5
	for i := range n {
		method := fmt.Sprintf("ZQXMETHOD%d", i)
		req, err := http.NewRequest(method, fmt.Sprintf("%s/no/such/path-%d", h.URL, i), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s on an unknown path: %d, want 404", method, resp.StatusCode)
		}
		h.Do(t, "GET", fmt.Sprintf("/no/such/path-%d", i), "", nil).Want(t, 404)
	}
	m := string(h.Do(t, "GET", "/metrics", "", nil).Want(t, 200).Body)
	for _, leak := range []string{"ZQXMETHOD", "path-"} {
		if strings.Contains(m, leak) {
			t.Errorf("/metrics has a label from the request line (%q):\n%s", leak, grepLines(m, leak))
		}
	}
	for _, want := range []string{
		fmt.Sprintf(`sharehub_http_requests_total{method="other",route="unmatched",status="404"} %d`, n),
		fmt.Sprintf(`sharehub_http_requests_total{method="GET",route="unmatched",status="404"} %d`, n),
		fmt.Sprintf(`sharehub_http_request_duration_seconds_count{method="other",route="unmatched"} %d`, n),
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "sharehub_http_request"))
		}
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
