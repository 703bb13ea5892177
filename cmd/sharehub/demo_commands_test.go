package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// demoRun is one `sharehub demo` running in process, past its printout.
type demoRun struct {
	out  string            // everything it printed
	url  string            // where it says it runs
	keys map[string]string // admin, auditor and app keys as printed
	all  []string          // every key it printed (the seal keepers' too)
	stop func()            // stops it and checks it ended well; idempotent
}

var (
	demoURLRE  = regexp.MustCompile(`sharehub demo is running at (\S+)`)
	demoRoleRE = regexp.MustCompile(`(?m)^  (admin|auditor|app) +(shk_\S+)`)
	demoKeyRE  = regexp.MustCompile(`shk_[A-Za-z0-9_-]+`)
)

// startDemo runs `sharehub demo` on dir and port 0 with args added, and
// returns once it has printed everything and serves: the listener is bound
// before the printout, and it is answered only once Run serves, after it.
func startDemo(t *testing.T, dir string, args ...string) *demoRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	argv := append([]string{"demo", "--data-dir", dir, "--listen", "127.0.0.1:0", "--demo-data", hubtest.Testdata()}, args...)
	go func() { done <- run(ctx, argv, &out, &errb) }()
	var once sync.Once
	d := &demoRun{stop: func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("demo returned %v after its context ended", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("demo did not stop within 30s")
			}
		})
	}}
	t.Cleanup(d.stop)
	printed := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return out.buf.String()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			errb.mu.Lock()
			defer errb.mu.Unlock()
			t.Fatalf("demo exited early: %v\n%s\n%s", err, printed(), errb.buf.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not print and serve within 60s:\n%s", printed())
		}
		if m := demoURLRE.FindStringSubmatch(printed()); m != nil && strings.Contains(printed(), "Press Ctrl-C to stop.") {
			if resp, err := http.Get(m[1] + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					d.url = m[1]
					break
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.out = printed()
	d.keys = map[string]string{}
	for _, m := range demoRoleRE.FindAllStringSubmatch(d.out, -1) {
		d.keys[m[1]] = m[2]
	}
	seen := map[string]bool{}
	for _, k := range demoKeyRE.FindAllString(d.out, -1) {
		if !seen[k] {
			seen[k] = true
			d.all = append(d.all, k)
		}
	}
	if len(d.keys) != 3 || len(d.all) < 5 {
		t.Fatalf("demo printed keys %v (all: %v); want admin, auditor, app and the seal keepers'", d.keys, d.all)
	}
	return d
}

// get sends GET path with a bearer key and returns the status and body.
func (d *demoRun) get(t *testing.T, path, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", d.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// printedCommands returns the commands the demo prints for copy and paste,
// in order, each as printed (continuation lines included): the curl calls,
// the echo that makes the file they seal, and the `go run ./cmd/sharehub`
// lines.
func printedCommands(out string) []string {
	var cmds []string
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "curl ") && !strings.HasPrefix(l, "echo ") && !strings.HasPrefix(l, "go run ./cmd/sharehub ") {
			continue
		}
		cmd := l
		for strings.HasSuffix(lines[i], `\`) && i+1 < len(lines) {
			i++
			cmd += "\n" + lines[i]
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

var (
	// The demo's files live in /tmp; in the test, in its own directory.
	demoTmpRE = regexp.MustCompile(`/tmp/([\w.-]+)(\s|'|$)`)
	// A command that is printed to fail says so: "# 403: field not granted".
	demoExpectRE = regexp.MustCompile(`#\s*(\d{3})\b`)
	curlStatusRE = regexp.MustCompile(`SHAREHUB_TEST_STATUS (\d{3})`)
)

// runPrintedCommands runs every command the demo printed, in order, as a
// user pasting them into a shell would: the curl and echo lines with sh
// and the real curl (told to report the HTTP status on stderr), the
// `go run ./cmd/sharehub` lines in process. Each curl must answer 2xx, or
// the status its comment says. Files go to work instead of /tmp.
func runPrintedCommands(t *testing.T, d *demoRun, work string) {
	t.Helper()
	cmds := printedCommands(d.out)
	curls := 0
	for _, c := range cmds {
		if strings.HasPrefix(c, "curl ") {
			curls++
		}
	}
	// Every curl printed is one of the commands: none is skipped because
	// its line looks different.
	if want := strings.Count(d.out, "curl "); curls != want || curls < 15 {
		t.Fatalf("found %d curl commands of %d printed (want at least 15):\n%s", curls, want, strings.Join(cmds, "\n"))
	}
	var verified string // what the printed verify call answered
	for _, c := range cmds {
		c = demoTmpRE.ReplaceAllString(c, filepath.ToSlash(work)+"/$1$2")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if strings.HasPrefix(c, "go run ./cmd/sharehub ") {
			args := strings.Fields(strings.SplitN(c, "#", 2)[0])[3:]
			var out, errb bytes.Buffer
			if err := run(ctx, args, &out, &errb); err != nil {
				t.Errorf("%s\nfailed: %v\n%s%s", c, err, out.String(), errb.String())
			}
			cancel()
			continue
		}
		want := "2xx"
		if m := demoExpectRE.FindStringSubmatch(c); m != nil {
			want = m[1]
		}
		script := c
		if strings.HasPrefix(c, "curl ") {
			script = "curl --max-time 50 -w '%{stderr}SHAREHUB_TEST_STATUS %{http_code}\\n' " + strings.TrimPrefix(c, "curl ")
		}
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "no_proxy=127.0.0.1,localhost", "NO_PROXY=127.0.0.1,localhost")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("%s\nfailed: %v\nstdout: %s\nstderr: %s", c, err, stdout.String(), stderr.String())
			continue
		}
		if !strings.HasPrefix(c, "curl ") {
			continue
		}
		if strings.Contains(c, "/v1/signatures/verify") {
			verified = stdout.String()
		}
		m := curlStatusRE.FindStringSubmatch(stderr.String())
		if m == nil {
			t.Errorf("%s\nreported no status: stderr %q", c, stderr.String())
			continue
		}
		if got := m[1]; (want == "2xx" && got[0] != '2') || (want != "2xx" && got != want) {
			t.Errorf("%s\nanswered %s, want %s\n%s", c, got, want, stdout.String())
		}
	}
	// What the sealing commands made: a document with two organisations'
	// seals that the printed verify call finds valid.
	var res struct {
		Valid      bool `json:"valid"`
		Signatures []struct {
			Valid bool `json:"valid"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(verified), &res); err != nil || !res.Valid || len(res.Signatures) != 2 {
		t.Errorf("the printed verify call does not find the sealed contract valid with two seals: %v\n%s", err, verified)
	}
	if x, err := os.ReadFile(filepath.Join(work, "catalog-template.xlsx")); err != nil || !bytes.HasPrefix(x, []byte("PK")) {
		t.Errorf("catalog-template.xlsx is not a spreadsheet: %v %q", err, x[:min(len(x), 40)])
	}
}

var demoCountsRE = regexp.MustCompile(`departments: (\d+)|(\d+) demo licences of (\d+) types|(\d+) catalogue items|(\d+) demo 公章`)

// demoCounts is what the demo says it holds.
func demoCounts(out string) string {
	return fmt.Sprint(demoCountsRE.FindAllString(out, -1))
}

// checkDemoData: the departments and principals are there once each, as
// many as the demo made on a fresh directory, and the marker department
// is there or not.
func checkDemoData(t *testing.T, d *demoRun, departments, principals int, marker string, markerThere bool) {
	t.Helper()
	var deps struct {
		Items []struct{ ID, Code, Name string }
	}
	code, b := d.get(t, "/v1/departments", d.keys["admin"])
	if code != 200 || json.Unmarshal(b, &deps) != nil {
		t.Fatalf("GET /v1/departments: %d %s", code, b)
	}
	ids, codes, hasMarker := map[string]int{}, map[string]int{}, false
	for _, dep := range deps.Items {
		ids[dep.ID]++
		codes[dep.Code]++
		hasMarker = hasMarker || dep.ID == marker
	}
	for _, m := range []map[string]int{ids, codes} {
		for k, n := range m {
			if n > 1 {
				t.Errorf("department %s is there %d times", k, n)
			}
		}
	}
	if want := departments; markerThere {
		want++
		if len(deps.Items) != want {
			t.Errorf("%d departments, want the demo's %d and the marker", len(deps.Items), departments)
		}
	} else if len(deps.Items) != want {
		t.Errorf("%d departments, want the demo's %d", len(deps.Items), departments)
	}
	if hasMarker != markerThere {
		t.Errorf("marker department %s there: %v, want %v", marker, hasMarker, markerThere)
	}
	var ps struct {
		Items []struct {
			ID           string `json:"id"`
			Name         string `json:"name"`
			DepartmentID string `json:"department_id"`
		}
	}
	code, b = d.get(t, "/v1/principals", d.keys["admin"])
	if code != 200 || json.Unmarshal(b, &ps) != nil {
		t.Fatalf("GET /v1/principals: %d %s", code, b)
	}
	names := map[string]int{}
	var list []string
	for _, p := range ps.Items {
		names[p.DepartmentID+"/"+p.Name]++
		list = append(list, p.DepartmentID+"/"+p.Name)
	}
	sort.Strings(list)
	if len(ps.Items) != principals || len(names) != principals {
		t.Errorf("principals %v; want %d, each once", list, principals)
	}
}

// TestDemoCommandsRerunAndReset runs `sharehub demo` three times on one
// directory. Each time every command it prints for copy and paste works
// (the real curl and sh run them; each curl answers 2xx, or the status its
// comment says). Run again, it reuses the data: the same keys, which still
// work, the departments and principals once each, and what was added
// meanwhile kept. With --reset it starts clean: the old keys are refused,
// the addition is gone, and the demo data is there again, once.
func TestDemoCommandsRerunAndReset(t *testing.T) {
	clearEnv(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test runs the demo's curl commands: install curl")
	}
	dir := t.TempDir()

	first := startDemo(t, dir)
	runPrintedCommands(t, first, t.TempDir())
	var deps, ps struct{ Items []json.RawMessage }
	if code, b := first.get(t, "/v1/departments", first.keys["admin"]); code != 200 || json.Unmarshal(b, &deps) != nil {
		t.Fatalf("GET /v1/departments: %d %s", code, b)
	}
	if code, b := first.get(t, "/v1/principals", first.keys["admin"]); code != 200 || json.Unmarshal(b, &ps) != nil {
		t.Fatalf("GET /v1/principals: %d %s", code, b)
	}
	if m := regexp.MustCompile(`departments: (\d+)`).FindStringSubmatch(first.out); m == nil || m[1] != strconv.Itoa(len(deps.Items)) {
		t.Fatalf("demo says %v departments, the hub lists %d", m, len(deps.Items))
	}
	departments, principals := len(deps.Items), len(ps.Items)
	const marker = "reset-marker"
	body := fmt.Sprintf(`{"id":%q,"code":%q,"name":"重置标记局","kind":"office"}`, marker, ident.NewCreditCode('1', '1', "420600", 777001))
	req, _ := http.NewRequest("POST", first.url+"/v1/departments", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+first.keys["admin"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("POST /v1/departments: %d %s", resp.StatusCode, b)
	}
	checkDemoData(t, first, departments, principals, marker, true)
	first.stop()

	again := startDemo(t, dir)
	if fmt.Sprint(again.all) != fmt.Sprint(first.all) {
		t.Errorf("run again, the demo printed keys %v; want the first run's %v", again.all, first.all)
	}
	for _, k := range first.all {
		if code, b := again.get(t, "/v1/me", k); code != 200 {
			t.Errorf("run again, the first run's key %s…: %d %s", k[:8], code, b)
		}
	}
	if demoCounts(again.out) != demoCounts(first.out) {
		t.Errorf("run again, the demo says %s; the first run said %s", demoCounts(again.out), demoCounts(first.out))
	}
	checkDemoData(t, again, departments, principals, marker, true)
	runPrintedCommands(t, again, t.TempDir())
	again.stop()

	reset := startDemo(t, dir, "--reset")
	old := map[string]bool{}
	for _, k := range first.all {
		old[k] = true
	}
	for _, k := range reset.all {
		if old[k] {
			t.Errorf("after --reset the demo printed an old key %s…", k[:8])
		}
	}
	for _, k := range first.all {
		if code, b := reset.get(t, "/v1/me", k); code != 401 {
			t.Errorf("after --reset an old key %s… answers %d, want 401: %s", k[:8], code, b)
		}
	}
	if code, b := reset.get(t, "/v1/me", reset.keys["admin"]); code != 200 {
		t.Errorf("after --reset the new admin key: %d %s", code, b)
	}
	if demoCounts(reset.out) != demoCounts(first.out) {
		t.Errorf("after --reset the demo says %s; the first run said %s", demoCounts(reset.out), demoCounts(first.out))
	}
	checkDemoData(t, reset, departments, principals, marker, false)
	runPrintedCommands(t, reset, t.TempDir())
	reset.stop()
}
