package datasync_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/keys"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// emptyUpstream answers every page with {"records": []}, as a broken
// export does.
func emptyUpstream(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"records": []}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/people"
}

// TestFullRefreshDeleteGuard: a full refresh whose upstream suddenly
// answers nothing marked every record deleted. It now fails with the
// reason and leaves the dataset as it was; a run started with
// AllowMassDelete deletes; small deletions and tiny datasets still go.
func TestFullRefreshDeleteGuard(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 200)
		spec := httpSpec(up, datasync.ModeFull)
		j := f.job(t, spec)
		f.run(t, j.ID)
		if j.Spec.Limits.MaxDeletePercent != 50 || j.Spec.Limits.DeleteAllowance != 10 {
			t.Fatalf("default limits: %+v", j.Spec.Limits)
		}

		// The upstream answers [] (a full refresh reads it as "no records").
		spec.Source.URL, spec.Source.Auth, spec.Source.Token = emptyUpstream(t), "none", ""
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "would mark 200 of the 200 live records deleted") ||
			!strings.Contains(r.Error, "allow_mass_delete") || r.Counts.Deleted != 0 {
			t.Fatalf("run against an empty upstream: status %s error %q counts %+v", r.Status, r.Error, r.Counts)
		}
		if got, _ := f.sync.GetRun(ctx, r.ID); got.Error != r.Error || got.Status != datasync.StatusFailed {
			t.Fatalf("stored run: %+v", got)
		}
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 200 {
			t.Fatalf("live records after the refused run: %d, want 200", n)
		}
		var staged int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM sync_stage WHERE run_id = $1`, r.ID).Scan(&staged); err != nil || staged != 0 {
			t.Fatalf("staged rows left: %d %v", staged, err)
		}

		// Once, by hand, past the guard.
		r, err := f.sync.RunJobWith(ctx, j.ID, "manual", datasync.RunOptions{AllowMassDelete: true}, nil)
		if err != nil || r.Status != datasync.StatusSucceeded || r.Counts.Deleted != 200 || !r.AllowMassDelete {
			t.Fatalf("run with the guard lifted: %+v %v", r, err)
		}
		if got, _ := f.sync.GetRun(ctx, r.ID); !got.AllowMassDelete {
			t.Errorf("stored run does not say the guard was lifted: %+v", got)
		}
		if n, _ := f.sync.RecordCount(ctx, f.item.Code); n != 0 {
			t.Fatalf("live records after the lifted run: %d", n)
		}
	})
}

// TestFullRefreshDeleteGuardLimits: the job's own limits; the absolute
// allowance lets tiny datasets empty; 100 per cent turns the guard off.
func TestFullRefreshDeleteGuardLimits(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		up := synctest.New(t, 100)
		spec := httpSpec(up, datasync.ModeFull)
		spec.Limits.MaxDeletePercent = 20
		j := f.job(t, spec)
		f.run(t, j.ID)
		up.Delete(30, 1) // 30 %: past the job's 20
		if r := f.run(t, j.ID); r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "at most 20%") {
			t.Fatalf("30%% deleted under a 20%% limit: %s %q", r.Status, r.Error)
		}
		spec.Limits.MaxDeletePercent = 40
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		if r := f.run(t, j.ID); r.Status != datasync.StatusSucceeded || r.Counts.Deleted != 30 {
			t.Fatalf("30%% deleted under a 40%% limit: %+v", r)
		}

		// A tiny dataset: 8 records gone of 8, within the allowance of 10.
		f2 := setup(t, dbtest.Open(t, d.Dialect))
		up2 := synctest.New(t, 8)
		j2 := f2.job(t, httpSpec(up2, datasync.ModeFull))
		f2.run(t, j2.ID)
		up2.Delete(8, 1)
		if r := f2.run(t, j2.ID); r.Status != datasync.StatusSucceeded || r.Counts.Deleted != 8 {
			t.Fatalf("tiny dataset emptied: %+v", r)
		}
	})
}

// TestDeleteGuardSpecChecked: bad limits are refused with a pointer.
func TestDeleteGuardSpecChecked(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		up := synctest.New(t, 1)
		for _, c := range []struct {
			set     func(*datasync.Limits)
			pointer string
		}{
			{func(l *datasync.Limits) { l.MaxDeletePercent = 101 }, "/spec/limits/max_delete_percent"},
			{func(l *datasync.Limits) { l.MaxDeletePercent = -1 }, "/spec/limits/max_delete_percent"},
			{func(l *datasync.Limits) { l.DeleteAllowance = -5 }, "/spec/limits/delete_allowance"},
		} {
			spec := httpSpec(up, datasync.ModeFull)
			c.set(&spec.Limits)
			_, err := f.sync.CreateJob(context.Background(), gajAdmin, datasync.NewJob{ItemCode: f.item.Code, Name: "x", Spec: spec})
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalid || !hasPointer(e, c.pointer) {
				t.Errorf("%+v: %v, want invalid at %s", spec.Limits, err, c.pointer)
			}
		}
	})
}

func hasPointer(e *errs.Error, p string) bool {
	for _, fe := range e.Fields {
		if fe.Pointer == p {
			return true
		}
	}
	return false
}

// TestURLQuerySecretsHidden: a key in the source URL's query string
// (access_token=…, sign=…) was shown to every reader of the job and
// quoted in run errors and logs. It is now sealed at rest, shown as ***,
// kept by an edit that sends *** back, and the job still sends it.
func TestURLQuerySecretsHidden(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		f.sealSecrets(t)
		var logs lockedBuffer
		ctx := context.Background()
		const token, sign = "QsEcReT-77f2a9", "s1gn-Val-9921"
		var gotToken, gotSign string
		var mu gosync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			gotToken, gotSign = r.URL.Query().Get("Access_Token"), r.URL.Query().Get("sign")
			mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]any{"records": []any{map[string]any{"id": "P1", "name": "张三", "sfzh": "420602199001010029", "address": "襄阳"}}})
		}))
		t.Cleanup(srv.Close)
		spec := datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: srv.URL + "/api/people?region=420600&Access_Token=" + token + "&sign=" + sign}}
		j := f.job(t, spec)
		red := j.Spec.Redacted().Source.URL
		if want := srv.URL + "/api/people?region=420600&Access_Token=***&sign=***"; red != want {
			t.Fatalf("redacted URL %q, want %q", red, want)
		}
		var stored string
		if err := d.R.QueryRowContext(ctx, `SELECT spec FROM sync_jobs WHERE id = $1`, j.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, token) || strings.Contains(stored, sign) {
			t.Fatalf("stored in clear: %s", stored)
		}
		// The job still sends them.
		if r := f.run(t, j.ID); r.Status != datasync.StatusSucceeded || r.Counts.Inserted != 1 {
			t.Fatalf("run: %+v", r)
		}
		if gotToken != token || gotSign != sign {
			t.Fatalf("upstream got access_token %q sign %q", gotToken, gotSign)
		}
		// The redacted URL sent back, with another path, keeps them.
		edited := j.Spec.Redacted()
		edited.Source.URL = srv.URL + "/api/v2/people?region=420600&Access_Token=***&sign=***"
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: edited}); err != nil {
			t.Fatal(err)
		}
		if got, err := f.sync.Job(ctx, j.ID); err != nil || got.Spec.Source.URL != srv.URL+"/api/v2/people?region=420600&Access_Token="+token+"&sign="+sign {
			t.Fatalf("after an edit with ***: %q %v", got.Spec.Source.URL, err)
		}
		// Not to another server, nor for a parameter never stored.
		for _, u := range []string{"https://attacker.example/collect?Access_Token=***", srv.URL + "/api/people?apikey=***"} {
			edited.Source.URL = u
			_, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: edited})
			var e *errs.Error
			if !errors.As(err, &e) || !hasPointer(e, "/spec/source/url") {
				t.Errorf("edit to %s: %v, want invalid at /spec/source/url", u, err)
			}
		}

		// An upstream that cannot be reached: the client's error quotes
		// the URL it asked, keys and all, into the run's error and the log.
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		m, err := keys.ParseMaster(strings.Repeat("cd", 32)) // as sealSecrets
		if err != nil {
			t.Fatal(err)
		}
		f.sync = datasync.New(d, f.cat, datasync.Config{Secrets: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		edited.Source.URL = deadURL + "/api/people?access_token=" + token + "&SIGNATURE=" + sign
		edited.Limits.Retries, edited.Limits.Backoff = 1, datasync.Duration(time.Millisecond)
		if _, err := f.sync.UpdateJob(ctx, gajAdmin, j.ID, datasync.JobUpdate{Name: j.Name, Spec: edited}); err != nil {
			t.Fatal(err)
		}
		r := f.run(t, j.ID)
		if r.Status != datasync.StatusFailed || !strings.Contains(r.Error, "access_token=***") {
			t.Fatalf("run against a dead upstream: %s %q", r.Status, r.Error)
		}
		for what, text := range map[string]string{"run error": r.Error, "log": logs.String()} {
			if strings.Contains(text, token) || strings.Contains(text, sign) {
				t.Errorf("%s shows a secret: %s", what, text)
			}
		}
		if !strings.Contains(logs.String(), "retrying") {
			t.Errorf("no retry logged: %s", logs.String())
		}
	})
}
