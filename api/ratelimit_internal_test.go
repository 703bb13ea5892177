package api

import (
	"testing"
	"time"
)

// The sign-in limiter's arithmetic on a fixed clock: ten attempts, then a
// wait of one refill; a refunded attempt costs nothing.
func TestRateLimiterRefund(t *testing.T) {
	l := newRateLimiter(1.0/6, 10) // one every 6 s, ten at once
	now := time.Unix(1_800_000_000, 0)
	for i := range 10 {
		if _, ok := l.allow("a", now); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	wait, ok := l.allow("a", now)
	if ok || wait < 5*time.Second || wait > 6*time.Second {
		t.Fatalf("eleventh attempt: %v %v; want refused, about 6 s to wait", ok, wait)
	}
	if _, ok := l.allow("b", now); !ok {
		t.Fatal("another address was refused")
	}
	if _, ok := l.allow("a", now.Add(6*time.Second)); !ok {
		t.Fatal("no token back after 6 s")
	}
	l.refund("a") // that one succeeded
	if _, ok := l.allow("a", now.Add(6*time.Second)); !ok {
		t.Fatal("a refunded token was not there")
	}
	if _, ok := l.allow("a", now.Add(6*time.Second)); ok {
		t.Fatal("more tokens than refunded")
	}
	var none *rateLimiter
	none.refund("a") // a nil limiter allows everything and refunds nothing
	if _, ok := none.allow("a", now); !ok {
		t.Fatal("a nil limiter refused")
	}
}
