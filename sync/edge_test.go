package datasync_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// onePage is a reader of one page of records.
type onePage struct {
	recs []datasync.Record
	done bool
}

func (r *onePage) Next(context.Context) (datasync.Page, error) {
	if r.done {
		return datasync.Page{}, io.EOF
	}
	r.done = true
	return datasync.Page{Records: r.recs, Position: "page 1", Checkpoint: "1", Total: -1}, nil
}

func (r *onePage) Close() error { return nil }

// TestOddKeysAreRowErrors: a key value PostgreSQL cannot store as
// text (a NUL from JSON "\u0000", invalid UTF-8 from a GBK file) is one
// rejected row on both engines, not a failed run on PostgreSQL only.
func TestOddKeysAreRowErrors(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"records":[{"id":"a\u0000b","name":"甲","sfzh":"1","address":"x"},{"id":"P1","name":"乙","sfzh":"2","address":"y"}]}`))
		}))
		defer srv.Close()
		spec := datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: srv.URL + "/people", RequestTimeout: datasync.Duration(2 * time.Second)}}
		r := f.run(t, f.job(t, spec).ID)
		if r.Status != datasync.StatusPartly || r.Counts != (datasync.Counts{Read: 2, Inserted: 1, Rejected: 1}) {
			t.Fatalf("run with a NUL in a key: %s %+v error %q", r.Status, r.Counts, r.Error)
		}
		es, err := f.sync.RunErrors(ctx, r.ID)
		if err != nil || len(es) != 1 || es[0].Position != "page 1 row 1" || !strings.Contains(es[0].Reason, "key field id") {
			t.Fatalf("row errors %+v %v", es, err)
		}

		f.sync = datasync.New(d, f.cat, datasync.Config{Connectors: map[string]datasync.Connector{"gbk": datasync.ConnectorFunc(
			func(context.Context, datasync.SourceSpec, datasync.Request) (datasync.Reader, error) {
				return &onePage{recs: []datasync.Record{{"id": "\xc0\xee", "name": "x"}, {"id": "P2", "name": "y"}}}, nil
			})}})
		spec.Source = datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/"}
		j := f.job(t, spec)
		if _, err := d.W.ExecContext(ctx, `UPDATE sync_jobs SET spec = replace(spec, '"kind":"http"', '"kind":"gbk"') WHERE id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
		r = f.run(t, j.ID)
		if r.Status != datasync.StatusPartly || r.Counts.Rejected != 1 || r.Counts.Read != 2 {
			t.Fatalf("run with invalid UTF-8 in a key: %s %+v error %q", r.Status, r.Counts, r.Error)
		}
	})
}

// TestUpstreamErrorNotUTF8: an upstream whose error page is GBK
// (or binary) fails the run cleanly; the run must not stay "running"
// because PostgreSQL refused the quoted body.
func TestUpstreamErrorNotUTF8(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("\xb7\xfe\xce\xf1\xc6\xf7\xb4\xed\xce\xf3\x00")) // 服务器错误 in GBK, and a NUL
		}))
		defer srv.Close()
		spec := datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: srv.URL + "/people", RequestTimeout: datasync.Duration(2 * time.Second)}}
		j := f.job(t, spec)
		r, err := f.sync.RunJob(ctx, j.ID, "manual", nil)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		got, err := f.sync.GetRun(ctx, r.ID)
		if err != nil || got.Status != datasync.StatusFailed || !strings.Contains(got.Error, "HTTP 502") {
			t.Fatalf("stored run %+v %v", got, err)
		}
	})
}

// TestS3SecretKeyHidden: an s3files source's store spec carries its
// secret key; it is redacted like tokens and DSNs, kept when an edit sends
// the redacted spec back, and sealed at rest.
func TestS3SecretKeyHidden(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		f.sealSecrets(t)
		blobs := "s3://drop?endpoint=127.0.0.1:9000&access_key=AK&secret_key=S3CR3T&secure=false"
		j := f.job(t, datasync.Spec{Mode: datasync.ModeIncremental, KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceS3Files, Blobs: blobs, Prefix: "drop/"}})
		red := j.Spec.Redacted()
		if strings.Contains(red.Source.Blobs, "S3CR3T") || !strings.Contains(red.Source.Blobs, "secret_key=***") ||
			!strings.Contains(red.Source.Blobs, "endpoint=127.0.0.1") {
			t.Fatalf("redacted blobs %q", red.Source.Blobs)
		}
		var stored string
		if err := d.R.QueryRowContext(ctx, `SELECT spec FROM sync_jobs WHERE id = $1`, j.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, "S3CR3T") {
			t.Fatalf("secret key stored in clear: %s", stored)
		}
		// An edit that sends the redacted spec back keeps the secret.
		red.Source.Prefix = "drop2/"
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: red}); err != nil {
			t.Fatal(err)
		}
		got, err := f.sync.Job(ctx, j.ID)
		if err != nil || got.Spec.Source.Blobs != blobs || got.Spec.Source.Prefix != "drop2/" {
			t.Fatalf("after edit: %+v %v", got.Spec.Source, err)
		}
		// Pointing it at another endpoint does not carry the secret along.
		red.Source.Blobs = strings.Replace(red.Source.Blobs, "127.0.0.1", "203.0.113.9", 1)
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: red}); err != nil {
			t.Fatal(err)
		}
		if got, _ = f.sync.Job(ctx, j.ID); strings.Contains(got.Spec.Source.Blobs, "S3CR3T") {
			t.Fatalf("secret carried to another endpoint: %q", got.Spec.Source.Blobs)
		}
	})
}

// TestJobBadInputs: wrong values say what and where, and odd ids
// are not found rather than database errors.
func TestJobBadInputs(t *testing.T) {
	var nj datasync.NewJob
	err := json.Unmarshal([]byte(`{"spec":{"limits":{"timeout":"ten minutes"}}}`), &nj)
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "spec.limits.timeout" {
		t.Fatalf("bad duration: %#v", err)
	}
	err = json.Unmarshal([]byte(`{"spec":{"source":{"request_timeout":99999999999999}}}`), &nj)
	if !errors.As(err, &te) || te.Field != "spec.source.request_timeout" {
		t.Fatalf("overflowing duration: %#v (%v)", err, nj.Spec.Source.RequestTimeout)
	}
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		spec := datasync.Spec{KeyFields: []string{"id"}, Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/",
			RequestTimeout: datasync.Duration(-time.Second)}}
		_, err := f.sync.CreateJob(ctx, gajAdmin, datasync.NewJob{ItemCode: f.item.Code, Name: "回落\x00", Spec: spec})
		wantFields(t, err, "/name", "/spec/source/request_timeout")
		for _, id := range []string{"job_a\x00", "job_\xff"} {
			if _, err := f.sync.Job(ctx, id); !errs.Is(err, errs.KindNotFound) {
				t.Fatalf("job %q: %v", id, err)
			}
			if _, err := f.sync.GetRun(ctx, id); !errs.Is(err, errs.KindNotFound) {
				t.Fatalf("run %q: %v", id, err)
			}
			if rs, err := f.sync.Runs(ctx, id, 0); err != nil || len(rs) != 0 {
				t.Fatalf("runs of %q: %v %v", id, rs, err)
			}
			if es, err := f.sync.RunErrors(ctx, id); err != nil || len(es) != 0 {
				t.Fatalf("errors of %q: %v %v", id, es, err)
			}
			if js, err := f.sync.Jobs(ctx, id); err != nil || len(js) != 0 {
				t.Fatalf("jobs of %q: %v %v", id, js, err)
			}
		}
	})
}

func wantFields(t *testing.T, err error, pointers ...string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.KindInvalid {
		t.Fatalf("error %v, want invalid", err)
	}
	for _, p := range pointers {
		found := false
		for _, f := range e.Fields {
			found = found || f.Pointer == p
		}
		if !found {
			t.Fatalf("no field error at %s: %+v", p, e.Fields)
		}
	}
}

// A run's rejected rows name records: data admins of other departments
// may read the run, not its rows.
func TestRunErrorsAccess(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"records":[{"id":"P1","name":"甲"},{"id":"P1","name":"乙"}]}`))
		}))
		defer srv.Close()
		spec := datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: srv.URL + "/people", RequestTimeout: datasync.Duration(2 * time.Second)}}
		r := f.run(t, f.job(t, spec).ID)
		if r.Counts.Rejected != 1 {
			t.Fatalf("run %+v", r)
		}
		auditor := &exchange.Principal{ID: "prn_aud", DepartmentID: "xy-sjj", Roles: []exchange.Role{exchange.RoleAuditor}}
		for _, p := range []*exchange.Principal{admin, gajAdmin, auditor} {
			if es, err := f.sync.RunErrorsFor(ctx, p, r.ID); err != nil || len(es) != 1 {
				t.Errorf("%s: %v %v", p.ID, es, err)
			}
		}
		importer := &exchange.Principal{ID: "prn_imp", DepartmentID: "xy-gaj", Roles: []exchange.Role{exchange.RoleImporter}}
		for _, p := range []*exchange.Principal{mzjAdmin, importer, nil} {
			if es, err := f.sync.RunErrorsFor(ctx, p, r.ID); !errs.Is(err, errs.KindForbidden) || es != nil {
				t.Errorf("%v: %v %v, want forbidden", p, es, err)
			}
		}
		if _, err := f.sync.RunErrorsFor(ctx, mzjAdmin, "run_absent"); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("absent run: %v", err)
		}
	})
}

// "***" keeps a stored token only while the job points at the same
// server: whoever moves it elsewhere must know the token.
func TestKeptTokenStaysWithItsServer(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		spec := datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "https://gaj.example/api/people", Auth: "bearer", Token: "s3cret"}}
		j := f.job(t, spec)
		red := j.Spec.Redacted()
		if red.Source.Token != "***" {
			t.Fatalf("redacted %+v", red.Source)
		}
		red.Source.URL = "https://GAJ.example/api/people?v=2" // same origin
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: red}); err != nil {
			t.Fatalf("same server: %v", err)
		}
		for _, u := range []string{"https://attacker.example/collect", "http://gaj.example/api/people", "https://gaj.example:8443/api/people"} {
			red.Source.URL = u
			_, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: red})
			var fe *errs.Error
			if !errors.As(err, &fe) || fe.Kind != errs.KindInvalid || len(fe.Fields) != 1 || fe.Fields[0].Pointer != "/spec/source/token" {
				t.Errorf("%s: %v, want 400 at /spec/source/token", u, err)
			}
		}
		got, err := f.sync.Job(ctx, j.ID)
		if err != nil || got.Spec.Source.Token != "s3cret" || got.Spec.Source.URL != "https://GAJ.example/api/people?v=2" {
			t.Fatalf("stored %+v %v", got.Spec.Source, err)
		}
		red.Source.URL, red.Source.Token = "https://new.example/api", "n3w"
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: red}); err != nil {
			t.Fatalf("new server with its token: %v", err)
		}
	})
}

// An upstream that ignores paging fails the run at once instead of
// serving the same page until the run's timeout.
func TestUpstreamIgnoringPagingStops(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		var calls int
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			_, _ = w.Write([]byte(`{"records":[{"id":"P1","name":"甲"},{"id":"P2","name":"乙"}],"next":"c1"}`))
		}))
		defer srv.Close()
		for _, pagination := range []string{"page", "cursor"} {
			calls = 0
			spec := datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"}, Limits: datasync.Limits{Retries: 3, Backoff: datasync.Duration(time.Millisecond)},
				Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: srv.URL + "/people", Pagination: pagination, PageSize: 2,
					RequestTimeout: datasync.Duration(2 * time.Second)}}
			r := f.run(t, f.job(t, spec).ID)
			if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "paging would never end") && !strings.Contains(r.Error, "does not seem to honour the page parameter") {
				t.Errorf("%s: run %s, error %q", pagination, r.Status, r.Error)
			}
			if calls > 3 {
				t.Errorf("%s: %d upstream calls, want the run stopped at the repeat", pagination, calls)
			}
		}
	})
}

// Pointing a job at another source, other keys or another cursor field
// starts it over: its cursor is reset and an interrupted run is not
// resumed under the new spec. Other edits keep both.
func TestChangedSourceStartsOver(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 50)
		j := f.job(t, httpSpec(up, datasync.ModeIncremental))
		if r := f.run(t, j.ID); r.Status != datasync.StatusSucceeded {
			t.Fatalf("run %+v", r)
		}
		cursor := func() string {
			t.Helper()
			got, err := f.sync.Job(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Cursor
		}
		if cursor() == "" {
			t.Fatal("no cursor after an incremental run")
		}
		spec := j.Spec
		spec.Drift = datasync.DriftStop // not how it reads
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: "改名", Spec: spec}); err != nil || cursor() == "" {
			t.Fatalf("an edit of the drift policy lost the cursor: %v", err)
		}
		// An interrupted run, as a crash leaves it.
		if _, err := d.W.ExecContext(ctx, `INSERT INTO sync_runs (id, job_id, cause, attempt, status, started_at, cursor_from) VALUES ('run_interrupted', $1, 'schedule', 1, $2, $3, '')`,
			j.ID, datasync.StatusRunning, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
		spec.Source.URL = up.RecordsURL() + "?region=420600"
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: "改名", Spec: spec}); err != nil {
			t.Fatal(err)
		}
		if c := cursor(); c != "" {
			t.Errorf("cursor %q kept after the source changed", c)
		}
		if r, err := f.sync.GetRun(ctx, "run_interrupted"); err != nil || r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "starts over") {
			t.Errorf("interrupted run after the source changed: %+v %v", r, err)
		}
		if r := f.run(t, j.ID); r.Cause == "resume" || r.Status != datasync.StatusSucceeded || r.Counts.Read != 50 {
			t.Errorf("next run: %+v", r)
		}
		// While a run holds the job, its source cannot change.
		if r := f.run(t, j.ID); r.Status != datasync.StatusSucceeded {
			t.Fatalf("run %+v", r)
		}
		unlock, ok, err := d.TryLock(ctx, datasync.JobLockKey(j.ID))
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		spec.CursorField = "birth_date"
		_, err = f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: "改名", Spec: spec})
		unlock()
		if !errs.Is(err, errs.KindConflict) {
			t.Fatalf("source change during a run: %v", err)
		}
	})
}
