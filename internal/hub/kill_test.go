package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// TestSIGKILLDuringHTTPBurst is the foundation's crash test at the level of
// the real program: `sharehub serve` (the built binary) takes a burst of
// writes (POST /v1/principals) from eight clients and is killed with
// SIGKILL in the middle of it. Every call that was answered 2xx must have
// its data and its audit entry in the database afterwards, `sharehub audit
// verify` must pass, and the hub must start again on the same data and
// serve. On SQLite and PostgreSQL.
func TestSIGKILLDuringHTTPBurst(t *testing.T) {
	bin := buildSharehub(t)
	for _, backend := range dbtest.Backends {
		t.Run(string(backend), func(t *testing.T) {
			dir := t.TempDir()
			var dbURL string
			args := []string{"--data-dir", dir}
			env := serveEnv()
			if backend == db.Postgres {
				dbURL = dbtest.URL(t, db.Postgres)
				args = append(args, "--database", dbURL)
				env = append(env, "SHAREHUB_MASTER_KEY="+strings.Repeat("ef", 32))
			} else {
				dbURL = "sqlite:" + filepath.Join(dir, "sharehub.db")
			}
			run := func(sub ...string) string {
				t.Helper()
				cmd := exec.Command(bin, append(sub, args...)...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("sharehub %s: %v\n%s", strings.Join(sub, " "), err, out)
				}
				return string(out)
			}
			boot := run("bootstrap", "--department-id", "xy", "--department-code", "11420600000000019T", "--department-name", "襄阳市人民政府")
			lines := strings.Split(boot, "\n")
			if len(lines) < 2 || !strings.HasPrefix(lines[1], "shk_") {
				t.Fatalf("bootstrap printed no key:\n%s", boot)
			}
			admin := strings.TrimSpace(lines[1])

			srv := startServe(t, bin, args, env)
			base := srv.url
			var (
				acked    sync.Map // request id → principal name, answered 2xx
				nAcked   atomic.Int64
				stop     atomic.Bool
				wg       sync.WaitGroup
				client   = &http.Client{Timeout: 10 * time.Second}
				failures atomic.Int64
			)
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; !stop.Load(); i++ {
						id := fmt.Sprintf("kill-%d-%d", w, i)
						body, _ := json.Marshal(map[string]any{"department_id": "xy", "name": "app-" + id, "roles": []string{"app"}})
						req, _ := http.NewRequest("POST", base+"/v1/principals", bytes.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+admin)
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("X-Request-ID", id)
						resp, err := client.Do(req)
						if err != nil {
							failures.Add(1)
							if failures.Load() > 1000 {
								return
							}
							continue
						}
						resp.Body.Close()
						if resp.StatusCode/100 == 2 {
							acked.Store(id, "app-"+id)
							nAcked.Add(1)
						}
					}
				}()
			}
			for deadline := time.Now().Add(60 * time.Second); nAcked.Load() < 300; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("only %d calls answered in 60s", nAcked.Load())
				}
			}
			if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = srv.wait()
			time.Sleep(100 * time.Millisecond) // let in-flight client calls fail
			stop.Store(true)
			wg.Wait()
			if failures.Load() == 0 {
				t.Fatal("no call failed: the kill did not land during the burst")
			}

			// Every answered call is in the database, with its audit entry.
			ctx := context.Background()
			d, err := db.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			logged := column(t, d, `SELECT request_id FROM audit_entries`)
			names := column(t, d, `SELECT name FROM principals`)
			d.Close()
			missing := 0
			acked.Range(func(k, v any) bool {
				if !logged[k.(string)] || !names[v.(string)] {
					missing++
					if missing < 5 {
						t.Errorf("call %s was answered 2xx but after the kill: audit entry %v, principal %v", k, logged[k.(string)], names[v.(string)])
					}
				}
				return true
			})
			if missing > 0 {
				t.Fatalf("%d of %d answered calls lost by the kill", missing, nAcked.Load())
			}
			t.Logf("%d calls answered before the kill, all kept; %d entries in the log", nAcked.Load(), len(logged))

			if out := run("audit", "verify"); !strings.Contains(out, "audit log verifies") {
				t.Fatalf("audit verify after the kill:\n%s", out)
			}
			// The hub starts again on the same data and serves.
			srv = startServe(t, bin, args, env)
			base = srv.url
			req, _ := http.NewRequest("GET", base+"/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := client.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET /v1/me after restart: %v %v", resp, err)
			}
			resp.Body.Close()
			if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := srv.wait(); err != nil {
				t.Fatalf("serve after SIGTERM: %v", err)
			}
			if out := run("audit", "verify"); !strings.Contains(out, "audit log verifies") {
				t.Fatalf("audit verify after the restart:\n%s", out)
			}
		})
	}
}

// column reads a one-column text query into a set.
func column(t *testing.T, d *db.DB, query string) map[string]bool {
	t.Helper()
	rows, err := d.R.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out[v] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
