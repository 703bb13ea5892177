package api_test

import (
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// Failed console sign-ins are limited by client address: after ten wrong
// keys in a row the address waits (429, Retry-After, a plain message),
// even with a right key, and the refusals are audited. Successful
// sign-ins cost nothing.
func TestConsoleSignInLimit(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	b := newBrowser(t, h)
	for range 3 {
		b.mustLogin(h.Auditor) // successes do not count
	}
	start := time.Now()
	for i := range 10 {
		if p := b.login("shk_" + strconv.Itoa(i) + "wrongwrongwrongwrongwrongwrongwrongwrongw"); p.Status != 401 {
			t.Fatalf("wrong key %d: status %d, want 401", i+1, p.Status)
		}
	}
	if time.Since(start) > 5*time.Second {
		t.Logf("ten sign-ins took %v: a token may have come back (one every 6 s); the 429 is not checked", time.Since(start))
		return
	}
	p := b.login(h.Auditor).want(t, 429).has(t, "登录失败次数过多")
	if ra, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 6 {
		t.Errorf("Retry-After %q, want 1–6 seconds", p.Header.Get("Retry-After"))
	}
	if es := consoleEntries(t, h, "/console/login"); len(es) == 0 || es[len(es)-1].Status != 429 && es[0].Status != 429 {
		t.Errorf("the refused sign-in is not in the audit log as 429: %+v", es)
	}
}

// Attempts sent at once cannot all get past the limit: each takes its
// token before its key is checked.
func TestConsoleSignInLimitParallel(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	b := newBrowser(t, h)
	token := b.get("/console/login").want(t, 200).csrf(t)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := b.post("/console/login", url.Values{"csrf": {token}, "key": {"shk_" + strconv.Itoa(i) + "wrongwrongwrongwrongwrongwrongwrongwrongw"}})
			mu.Lock()
			statuses[p.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[401] > 11 || statuses[429] < 19 || statuses[401]+statuses[429] != 30 {
		t.Fatalf("30 wrong keys at once: %v; want at most 10 (11 if a token came back) checked, the rest 429", statuses)
	}
}
