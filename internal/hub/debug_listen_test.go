package hub_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// --debug-listen serves pprof on its own address; when that address is
// taken, Run fails at once naming the flag instead of running without it.
func TestDebugListen(t *testing.T) {
	t.Run("serves pprof", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cfg := embeddedConfig(t.TempDir())
		cfg.DebugListen = addr
		app, err := hub.Open(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		var resp *http.Response
		for range 50 {
			if resp, err = http.Get("http://" + addr + "/debug/pprof/cmdline"); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("pprof on %s: %v", addr, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("pprof cmdline: %d %q", resp.StatusCode, b)
		}
	})
	t.Run("address taken", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cfg := embeddedConfig(t.TempDir())
		cfg.DebugListen = l.Addr().String()
		app, err := hub.Open(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = app.Run(ctx)
		if err == nil || !strings.Contains(err.Error(), "--debug-listen") {
			t.Fatalf("Run with the debug address taken = %v; want an error naming --debug-listen", err)
		}
	})
}
