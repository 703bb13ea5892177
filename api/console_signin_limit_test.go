package api_test

import (
	"strconv"
	"testing"

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
	for i := range 10 {
		if p := b.login("shk_" + strconv.Itoa(i) + "wrongwrongwrongwrongwrongwrongwrongwrongw"); p.Status != 401 {
			t.Fatalf("wrong key %d: status %d, want 401", i+1, p.Status)
		}
	}
	p := b.login(h.Auditor).want(t, 429).has(t, "登录失败次数过多")
	if ra, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 6 {
		t.Errorf("Retry-After %q, want 1–6 seconds", p.Header.Get("Retry-After"))
	}
	if es := consoleEntries(t, h, "/console/login"); len(es) == 0 || es[len(es)-1].Status != 429 && es[0].Status != 429 {
		t.Errorf("the refused sign-in is not in the audit log as 429: %+v", es)
	}
}
