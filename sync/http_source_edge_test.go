package datasync_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// people serves n records page by page like many upstream APIs do: at
// most max records a page whatever page_size asks for, offsets counted in
// the capped size, and the total count.
func people(n, max int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		size, _ := strconv.Atoi(r.URL.Query().Get("page_size"))
		size = min(size, max)
		var recs []string
		for i := (page-1)*size + 1; i <= min(page*size, n); i++ {
			recs = append(recs, fmt.Sprintf(`{"id":"P%04d","name":"居民%d"}`, i, i))
		}
		fmt.Fprintf(w, `{"total":%d,"records":[%s]}`, n, strings.Join(recs, ","))
	}
}

func plainSpec(url string) datasync.Spec {
	return datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"}, Limits: datasync.Limits{Backoff: datasync.Duration(time.Millisecond)},
		Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: url, RequestTimeout: datasync.Duration(2 * time.Second)}}
}

// TestUpstreamCappingPageSizeFailsRun: an upstream that serves at most
// 100 records a page, asked for 1,000, answered a page "shorter than
// page_size" at once; the run took that for the end of the data and, as
// a full refresh, marked every record after the first 100 deleted. The
// total it reports says more are there: the run fails and says why.
func TestUpstreamCappingPageSizeFailsRun(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		srv := httptest.NewServer(people(250, 1000))
		defer srv.Close()
		j := f.job(t, plainSpec(srv.URL+"/people"))
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 250, Inserted: 250})

		capped := httptest.NewServer(people(250, 100))
		defer capped.Close()
		spec := j.Spec
		spec.Source.URL = capped.URL + "/people"
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "page_size") {
			t.Errorf("run against an upstream capping pages at 100: %s %+v error %q", r.Status, r.Counts, r.Error)
		}
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 250 {
			t.Errorf("%d live records after the run, want 250", n)
		}
		// At a page size it serves, the same upstream reads whole.
		spec.Source.PageSize = 100
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 250, Unchanged: 250})
	})
}

// TestNullRecordsFailsRun: an upstream that answers HTTP 200 with an
// error in the body ({"code":500,"msg":"系统繁忙","records":null}) sent no
// array; a full refresh took null for "no records" and marked the whole
// dataset deleted.
func TestNullRecordsFailsRun(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		var mu gosync.Mutex
		busy := false
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if busy {
				_, _ = w.Write([]byte(`{"code":500,"msg":"系统繁忙","records":null}`))
				return
			}
			people(30, 1000)(w, r)
		}))
		defer srv.Close()
		j := f.job(t, plainSpec(srv.URL+"/people"))
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 30, Inserted: 30})
		mu.Lock()
		busy = true
		mu.Unlock()
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "null") {
			t.Errorf("run on records: null: %s %+v error %q", r.Status, r.Counts, r.Error)
		}
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 30 {
			t.Errorf("%d live records after the run, want 30", n)
		}
	})
}

// TestDroppedConnectionIsNotTheEnd: an upstream that closed the
// connection without an answer (a restart, a proxy's idle cut) made the
// client's error wrap io.EOF, which the run took for the end of the
// pages: it "succeeded" with what it had read and, as a full refresh,
// marked the rest of the dataset deleted. It is a source error, retried
// and then failing the run.
func TestDroppedConnectionIsNotTheEnd(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		var mu gosync.Mutex
		drop := false
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if drop && r.URL.Query().Get("page") == "2" {
				c, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					c.Close()
				}
				return
			}
			people(25, 1000)(w, r)
		}))
		defer srv.Close()
		spec := plainSpec(srv.URL + "/people")
		spec.Source.PageSize, spec.Limits.Retries = 10, 1
		j := f.job(t, spec)
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 25, Inserted: 25})
		mu.Lock()
		drop = true
		mu.Unlock()
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusFailed || r.Attempt != 2 || !strings.Contains(r.Error, "page 2") {
			t.Errorf("run with page 2 cut off: %s attempt %d %+v error %q", r.Status, r.Attempt, r.Counts, r.Error)
		}
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 25 {
			t.Errorf("%d live records after the run, want 25", n)
		}
	})
}

// TestRedirectToAnotherServerRefused: an upstream that redirects the
// hub elsewhere (moved, hijacked, a proxy's login page) got the job's
// credentials sent along (Go keeps Authorization for the same host name
// on another port or scheme, and the hmac headers for any host) and its
// records loaded as the upstream's. A redirect within the server is
// followed.
func TestRedirectToAnotherServerRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		var mu gosync.Mutex
		var leaked []string
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			for _, h := range []string{"Authorization", "X-Signature", "X-Key-Id"} {
				if v := r.Header.Get(h); v != "" {
					leaked = append(leaked, h+": "+v)
				}
			}
			mu.Unlock()
			people(5, 1000)(w, r)
		}))
		defer other.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/v1/people": // moved within the server
				http.Redirect(w, r, "/v2/people?"+r.URL.RawQuery, http.StatusMovedPermanently)
			case "/v2/people":
				people(7, 1000)(w, r)
			default:
				http.Redirect(w, r, other.URL+"/collect?"+r.URL.RawQuery, http.StatusFound)
			}
		}))
		defer srv.Close()
		for _, auth := range []string{"bearer", "hmac"} {
			spec := plainSpec(srv.URL + "/people")
			spec.Source.Auth, spec.Source.Token, spec.Source.KeyID = auth, "upstream-secret", "hub"
			r := f.run(t, f.job(t, spec).ID)
			if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "redirect") {
				t.Errorf("%s: run redirected to another server: %s %+v error %q", auth, r.Status, r.Counts, r.Error)
			}
		}
		mu.Lock()
		if len(leaked) > 0 {
			t.Errorf("the other server received the job's credentials: %q", leaked)
		}
		mu.Unlock()
		spec := plainSpec(srv.URL + "/v1/people")
		spec.Source.Auth, spec.Source.Token = "bearer", "upstream-secret"
		j := f.job(t, spec)
		wantCounts(t, f.run(t, j.ID), datasync.Counts{Read: 7, Inserted: 7})
	})
}

// lockedBuffer is a log destination the run's goroutines share.
type lockedBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUpstreamValuesInLogsAreCapped: what an upstream sends (a cursor
// token, error texts quoting its URL) was written to the hub's warning
// log whole, once per retry: a 20 kB token made each line over 40 kB.
// Logged values are cut to a few hundred bytes, saying how much was cut.
func TestUpstreamValuesInLogsAreCapped(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		var logs lockedBuffer
		f.sync = datasync.New(d, f.cat, datasync.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		token := strings.Repeat("t", 20000)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("cursor") == "" {
				fmt.Fprintf(w, `{"records":[{"id":"P1","name":"甲"}],"next":%q}`, token)
				return
			}
			// Gone after the first page: the client's error quotes the URL, token and all.
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
		}))
		defer srv.Close()
		spec := plainSpec(srv.URL + "/people")
		spec.Source.Pagination, spec.Limits.Retries = "cursor", 1
		r := f.run(t, f.job(t, spec).ID)
		if r.Status != datasync.StatusFailed {
			t.Fatalf("run %s %+v error %q", r.Status, r.Counts, r.Error)
		}
		out := logs.String()
		if !strings.Contains(out, "retrying") {
			t.Fatalf("no retry logged:\n%.2000s", out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if len(line) > 2000 {
				t.Errorf("log line of %d bytes: %.300s…", len(line), line)
			} else if strings.Contains(line, "retrying") && !strings.Contains(line, "bytes cut") {
				t.Errorf("a cut value does not say so: %s", line)
			}
		}
	})
}

// TestResumeAfterLastCursorPage: a cursor-paged run stopped after its
// last page was staged but before it was applied (a shutdown, a kill)
// kept checkpoint "" (no next cursor), which is also "from the start":
// resumed, it read the whole source again and rejected every record as
// a duplicate of itself (status partly, a row error each). It resumes
// at the end instead and applies what it staged.
func TestResumeAfterLastCursorPage(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := synctest.New(t, 250)
		up.Set(func(u *synctest.Upstream) { u.CursorPages = true })
		spec := httpSpec(up, datasync.ModeFull)
		spec.Source.Pagination, spec.Source.PageSize = "cursor", 100
		j := f.job(t, spec)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := f.sync.RunJob(ctx, j.ID, "manual", func(p datasync.Progress) {
			if p.Run.Counts.Read == 250 {
				cancel() // every page staged, nothing applied yet
			}
		})
		if !errs.Is(err, errs.KindUnavailable) {
			t.Fatalf("interrupted run: %v", err)
		}
		r := f.run(t, j.ID)
		if r.Cause != "resume" {
			t.Fatalf("run after the interruption: %+v", r)
		}
		wantCounts(t, r, datasync.Counts{Read: 250, Inserted: 250})
	})
}
