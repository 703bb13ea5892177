package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

func TestSyncRunCLI(t *testing.T) {
	clearEnv(t)
	t.Setenv("SHAREHUB_MASTER_KEY", strings.Repeat("ab", 32)) // PostgreSQL needs a shared key
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			ctx := context.Background()
			dsn := dbtest.URL(t, b)
			d, err := db.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			ex := exchange.New(d, exchange.Config{})
			defer ex.Close()
			if _, err := ex.CreateDepartment(ctx, exchange.Department{ID: "xy-gaj", Code: "11420600000000027M", Name: "襄阳市公安局", Kind: "office"}); err != nil {
				t.Fatal(err)
			}
			admin := &exchange.Principal{ID: "prn_admin", DepartmentID: "xy-gaj", Roles: []exchange.Role{exchange.RoleAdmin}}
			cat := catalog.New(d, catalog.Config{})
			it, err := cat.Create(ctx, admin, catalog.NewItem{Content: catalog.Content{Name: "人口", Lei: "1", Xiang: "01", Mu: "001", ProviderID: "xy-gaj",
				Summary: "人口基础信息", Format: "数据库", ShareType: catalog.ShareUnconditional, ShareMethod: "接口服务", OpenType: "不予开放", UpdateCycle: "每日",
				Libraries: []string{"base-population"}, Fields: []catalog.Field{{Name: "编号", Code: "id", DataType: "字符型"}, {Name: "住址", Code: "address", DataType: "字符型"}}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cat.Publish(ctx, admin, it.Code, ""); err != nil {
				t.Fatal(err)
			}
			up := synctest.New(t, 2500)
			svc := datasync.New(d, cat, datasync.Config{})
			j, err := svc.CreateJob(ctx, admin, datasync.NewJob{ItemCode: it.Code, Name: "cli", Spec: datasync.Spec{Mode: "full", KeyFields: []string{"id"},
				IgnoreFields: []string{"name", "sfzh", "updated_at"}, Limits: datasync.Limits{Backoff: datasync.Duration(time.Millisecond)},
				Source: datasync.SourceSpec{Kind: "http", URL: up.RecordsURL(), Auth: "bearer", Token: synctest.Token, PageSize: 1000}}})
			if err != nil {
				t.Fatal(err)
			}
			code, out, _ := cli(t, ctx, "sync", "pause", j.ID, "--database", dsn)
			if code != 0 || !strings.Contains(out, "paused: true") {
				t.Fatalf("pause: exit %d %s", code, out)
			}
			edit := filepath.Join(t.TempDir(), "edit.json")
			spec := j.Spec
			spec.Schedule = "0 3 * * *"
			b, _ := json.Marshal(datasync.JobUpdate{Name: "改名", Spec: spec})
			if err := os.WriteFile(edit, b, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, _ = cli(t, ctx, "sync", "edit", j.ID, "--spec", edit, "--database", dsn)
			if code != 0 || !strings.Contains(out, `"name": "改名"`) || !strings.Contains(out, `"token": "***"`) {
				t.Fatalf("edit: exit %d %s", code, out)
			}
			code, out, errOut := cli(t, ctx, "sync", "run", j.ID, "--database", dsn)
			if code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "inserted 2500") || !strings.Contains(errOut, "reading") {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
			}
			up.Set(func(u *synctest.Upstream) { u.BadJSON = 2 })
			code, out, _ = cli(t, ctx, "sync", "run", j.ID, "--database", dsn, "--quiet")
			if code != 1 || !strings.Contains(out, "failed") || !strings.Contains(out, "page 2: malformed JSON") {
				t.Fatalf("failing run: exit %d\n%s", code, out)
			}
			code, out, _ = cli(t, ctx, "sync", "runs", j.ID, "--database", dsn)
			if code != 0 || strings.Count(out, "\n") != 3 {
				t.Fatalf("runs: exit %d\n%s", code, out)
			}
			code, out, _ = cli(t, ctx, "sync", "jobs", "--database", dsn)
			if code != 0 || !strings.Contains(out, j.ID) || !strings.Contains(out, "100.0%") {
				t.Fatalf("jobs: exit %d\n%s", code, out)
			}
			// The upstream drops 2,000 of its 2,500 people: the full refresh
			// stops at the deletion guard, and --allow-mass-delete lets it by.
			up.Set(func(u *synctest.Upstream) { u.BadJSON = 0 })
			up.Delete(2000, 0)
			code, out, _ = cli(t, ctx, "sync", "run", j.ID, "--database", dsn, "--quiet")
			if code != 1 || !strings.Contains(out, "would mark 2000 of the 2500 live records deleted") || !strings.Contains(out, "deleted 0") {
				t.Fatalf("mass deletion: exit %d\n%s", code, out)
			}
			code, out, _ = cli(t, ctx, "sync", "run", j.ID, "--database", dsn, "--quiet", "--allow-mass-delete")
			if code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "deleted 2000") {
				t.Fatalf("--allow-mass-delete: exit %d\n%s", code, out)
			}
		})
	}
}
