package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
)

const testOrigin = "sharehub.test/audit"

// testKey is the tests' checkpoint key, the same in every process (the
// crash test's subprocess signs with it too).
var testKey = sync.OnceValues(func() (string, string) {
	seed := sha256.Sum256([]byte("sharehub audit test key"))
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), testOrigin)
	if err != nil {
		panic(err)
	}
	return skey, vkey
})

func mustSigner(tb testing.TB) note.Signer {
	tb.Helper()
	skey, _ := testKey()
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustVerifiers(tb testing.TB) note.Verifiers {
	tb.Helper()
	_, vkey := testKey()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return note.VerifierList(v)
}

var quiet = slog.New(slog.DiscardHandler)

// mustOpen opens a log on d that writes checkpoints only when asked (and on
// Close), so tests know every checkpoint size. It is closed at cleanup.
func mustOpen(tb testing.TB, d *db.DB) *audit.Log {
	tb.Helper()
	l, err := audit.Open(context.Background(), d, mustSigner(tb), audit.Options{
		Origin: testOrigin, CheckpointEvery: time.Hour, Logger: quiet,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close(context.Background()) })
	return l
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// sampleEntry is the i-th of a varied stream of entries.
func sampleEntry(i int) audit.Entry {
	e := audit.Entry{
		Time:         t0.Add(time.Duration(i) * time.Second),
		RequestID:    fmt.Sprintf("req-%06d", i),
		PrincipalID:  fmt.Sprintf("prn_%d", i%7),
		DepartmentID: fmt.Sprintf("dept_%d", i%3),
		Method:       []string{"GET", "POST"}[i%2],
		Route:        []string{"/v1/licences/:id", "/v1/grants/:id", "/v1/items/:id/query"}[i%3],
		Resources:    []string{fmt.Sprintf("licence:1.2.156.%d", i%11)},
		Purpose:      "不动产登记",
		EndUser:      fmt.Sprintf("user-%d", i%13),
		CaseNumber:   fmt.Sprintf("襄-%d", i),
		Status:       []int{200, 200, 403, 404}[i%4],
		Rows:         i % 50,
		Latency:      time.Duration(i%900) * time.Millisecond,
	}
	if i%5 == 0 {
		e.Resources = append(e.Resources, fmt.Sprintf("grant:grt_%d", i%4))
	}
	e.RequestHash = sha256.Sum256([]byte(e.RequestID))
	return e
}

// appendN appends n sample entries, numbered from first, with up to 32 at
// a time, and returns the indices the log assigned, by sample number.
func appendN(tb testing.TB, l *audit.Log, first, n int) []uint64 {
	tb.Helper()
	idx := make([]uint64, n)
	errc := make(chan error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			idx[i], err = l.Append(context.Background(), sampleEntry(first+i))
			if err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		tb.Fatalf("Append: %v", err)
	}
	return idx
}

func mustVerify(tb testing.TB, d *db.DB) audit.Report {
	tb.Helper()
	r, err := audit.Verify(context.Background(), d, mustVerifiers(tb), nil)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return r
}

func mustExec(tb testing.TB, d *db.DB, q string, args ...any) {
	tb.Helper()
	if _, err := d.W.ExecContext(context.Background(), q, args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

// otherVerifiers trusts a different key under the same name.
func otherVerifiers(tb testing.TB) (note.Verifiers, note.Signer) {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return note.VerifierList(v), s
}
