package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// crashDSN tells the test binary, re-executed by TestCrashLosesNoAck, to
// act as the appender that gets killed.
const crashDSN = "SHAREHUB_AUDIT_CRASH_DSN"

// TestCrashAppender is not a test on its own: run by TestCrashLosesNoAck
// in a subprocess, it appends from 32 goroutines and prints "ack N" for
// every Append that returned success, until it is killed.
func TestCrashAppender(t *testing.T) {
	dsn := os.Getenv(crashDSN)
	if dsn == "" {
		t.Skip("the appender subprocess of TestCrashLosesNoAck")
	}
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, d, mustSigner(t), audit.Options{Origin: testOrigin, CheckpointEvery: 5 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	for g := range 32 {
		go func() {
			for i := 0; ; i++ {
				idx, err := l.Append(ctx, sampleEntry(g*1_000_000+i))
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d\n", idx) // unbuffered: one write per ack
				mu.Unlock()
			}
		}()
	}
	select {}
}

// SIGKILL in the middle of a burst of appends loses no acknowledged entry,
// and the log verifies and grows on after a restart.
func TestCrashLosesNoAck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a subprocess")
	}
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashAppender$", "-test.count=1", "-test.timeout=2m")
		cmd.Env = append(os.Environ(), crashDSN+"="+d.URL)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
		defer timer.Stop()

		var acked []uint64
		killed := false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s, ok := strings.CutPrefix(sc.Text(), "ack ")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("appender printed %q", sc.Text())
			}
			acked = append(acked, n)
			if len(acked) == 600 && !killed {
				killed = true
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
			}
		}
		_ = cmd.Wait()
		if !killed {
			t.Fatalf("appender ended after %d acks without being killed: %s", len(acked), stderr.String())
		}

		// Restart: a new connection pool and a new Log over what is on disk.
		d2, err := db.Open(ctx, d.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer d2.Close()
		l := mustOpen(t, d2)
		present := map[uint64]bool{}
		rows, err := d2.R.QueryContext(ctx, "SELECT idx FROM audit_entries")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var i int64
			if err := rows.Scan(&i); err != nil {
				t.Fatal(err)
			}
			present[uint64(i)] = true
		}
		rows.Close()
		for _, i := range acked {
			if !present[i] {
				t.Fatalf("entry %d was acknowledged before the crash but is not in the log", i)
			}
		}
		t.Logf("%d acknowledged, %d in the log after SIGKILL", len(acked), len(present))
		if r := mustVerify(t, d2); !r.OK || r.Entries != uint64(len(present)) {
			t.Fatalf("Verify after crash = %+v", r)
		}
		idx, err := l.Append(ctx, sampleEntry(0))
		if err != nil || idx != uint64(len(present)) {
			t.Fatalf("Append after restart = %d, %v; want %d", idx, err, len(present))
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if r := mustVerify(t, d2); !r.OK {
			t.Fatalf("Verify after restart = %+v", r)
		}
	})
}
