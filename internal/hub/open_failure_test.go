package hub_test

// A regression test for a defect once found in hub.Open.

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// Was: hub.Open's deferred cleanup calls a.Close on the named result a,
// which every `return nil, err` has just set to nil: any failure after
// validation (port in use, database unreachable or newer schema, bad master
// key, blob store) panics with a nil pointer dereference instead of
// returning the error, and leaks what was opened.
func TestOpenFailureReturnsError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := embeddedConfig(t.TempDir())
	cfg.Listen = l.Addr().String() // taken
	var openErr error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("hub.Open panicked on a port in use: %v", r)
			}
		}()
		_, openErr = hub.Open(context.Background(), cfg, nil)
	}()
	if openErr == nil || !strings.Contains(openErr.Error(), "--listen") {
		t.Fatalf("hub.Open on a port in use = %v; want an error naming --listen", openErr)
	}
}
