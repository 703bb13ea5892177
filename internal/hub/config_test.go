package hub_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// TestValidateLicenceLimits: the licence file and archive limits default to
// what licence.New used before they were settings, and a limit below 1 is
// refused naming its flag.
func TestValidateLicenceLimits(t *testing.T) {
	valid := func() hub.Config {
		c := hub.Defaults()
		c.DataDir = t.TempDir()
		c.Fill()
		return c
	}
	c := valid()
	if c.LicenceFileMax != 20<<20 || c.LicenceZipMax != 2<<30 || c.LicenceZipEntries != 20000 {
		t.Errorf("defaults: file %d, zip %d, entries %d; want 20 MiB, 2 GiB, 20000", c.LicenceFileMax, c.LicenceZipMax, c.LicenceZipEntries)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for _, tc := range []struct {
		name string
		set  func(*hub.Config)
		want string // "" for valid
	}{
		{"file max 1", func(c *hub.Config) { c.LicenceFileMax = 1 }, ""},
		{"file max 0", func(c *hub.Config) { c.LicenceFileMax = 0 }, "--licence-file-max: at least 1 byte, got 0"},
		{"file max negative", func(c *hub.Config) { c.LicenceFileMax = -5 }, "--licence-file-max: at least 1 byte, got -5"},
		{"zip max 1", func(c *hub.Config) { c.LicenceZipMax = 1 }, ""},
		{"zip max 0", func(c *hub.Config) { c.LicenceZipMax = 0 }, "--licence-zip-max: at least 1 byte, got 0"},
		{"zip max negative", func(c *hub.Config) { c.LicenceZipMax = -1 }, "--licence-zip-max: at least 1 byte, got -1"},
		{"zip entries 1", func(c *hub.Config) { c.LicenceZipEntries = 1 }, ""},
		{"zip entries 0", func(c *hub.Config) { c.LicenceZipEntries = 0 }, "--licence-zip-entries: at least 1, got 0"},
		{"zip entries negative", func(c *hub.Config) { c.LicenceZipEntries = -2 }, "--licence-zip-entries: at least 1, got -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.set(&c)
			checkValidate(t, c, tc.want)
		})
	}
	// All three at once are all reported.
	c = valid()
	c.LicenceFileMax, c.LicenceZipMax, c.LicenceZipEntries = 0, 0, 0
	err := c.Validate()
	for _, flag := range []string{"--licence-file-max:", "--licence-zip-max:", "--licence-zip-entries:"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("three bad limits: %v; want it to name %s", err, flag)
		}
	}
}

// TestValidateListen: --listen and --debug-listen take host:port with a
// port from 0 to 65535 (or a service name), as net.Listen will; anything
// else is refused at start naming the flag, not when the listener opens.
// Listening on every address needs --public-url: the hub would otherwise
// print 0.0.0.0 into licence QR codes.
func TestValidateListen(t *testing.T) {
	for _, tc := range []struct {
		listen, debug string
		public        string // --public-url
		want          string // "" for valid
	}{
		{listen: "127.0.0.1:0"},
		{listen: ":65535", public: "https://hub.xiangyang.gov.cn"},
		{listen: "0.0.0.0:8443", public: "https://hub.xiangyang.gov.cn"},
		{listen: "0.0.0.0:8443", want: "--public-url: required with --listen 0.0.0.0:8443 (every address): blob links and licence QR codes carry the address clients use, e.g. https://hub.xiangyang.gov.cn"},
		{listen: "[::]:8443", want: "--public-url: required with --listen [::]:8443 (every address): blob links and licence QR codes carry the address clients use, e.g. https://hub.xiangyang.gov.cn"},
		{listen: ":8080", want: "--public-url: required with --listen :8080 (every address): blob links and licence QR codes carry the address clients use, e.g. https://hub.xiangyang.gov.cn"},
		{listen: "10.1.2.3:8080"},
		{listen: "[::1]:8080"},
		{listen: "localhost:http"},
		{listen: "127.0.0.1:8080", debug: "127.0.0.1:0"},
		{listen: "127.0.0.1:8080", debug: "[::1]:65535"},
		{listen: ":65536", want: "--listen: port 65536 is out of range; want host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080"},
		{listen: ":99999999999999999999", want: "--listen: port 99999999999999999999 is out of range; want host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080"},
		{listen: ":-1", want: `--listen: port "-1" is neither a number from 0 to 65535 nor a known service name; want host:port, e.g. 127.0.0.1:8080`},
		{listen: "127.0.0.1:", want: `--listen: want host:port, e.g. 127.0.0.1:8080; "127.0.0.1:" has no port`},
		{listen: "", want: "--listen: want host:port, e.g. 127.0.0.1:8080"},
		{listen: "8080", want: "--listen: want host:port, e.g. 127.0.0.1:8080 (address 8080: missing port in address)"},
		{listen: "127.0.0.1:8080", debug: "localhost:65536", want: "--debug-listen: port 65536 is out of range; want host:port with a port from 0 to 65535, e.g. 127.0.0.1:6060"},
		{listen: "127.0.0.1:8080", debug: "10.0.0.1:6060", want: `--debug-listen: a loopback host:port such as 127.0.0.1:6060, got "10.0.0.1:6060"`},
	} {
		t.Run(tc.listen+" "+tc.debug, func(t *testing.T) {
			c := hub.Defaults()
			c.DataDir = t.TempDir()
			c.Fill()
			c.Listen, c.DebugListen, c.PublicURL = tc.listen, tc.debug, tc.public
			checkValidate(t, c, tc.want)
		})
	}
}

// checkValidate checks c.Validate: accepted when want is "", else refused
// with exactly want.
func checkValidate(t *testing.T, c hub.Config, want string) {
	t.Helper()
	err := c.Validate()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && err == nil:
		t.Fatalf("accepted; want %q", want)
	case want != "" && err.Error() != want:
		t.Fatalf("error %q; want %q", err, want)
	}
}

// TestDataDirWithURLCharacters: a --data-dir whose path holds '#', '?' or
// '%' runs the hub on its default blob directory inside it (file:DIR
// refuses '?' and '#', so the default was refused with a --blobs message
// the operator never typed).
func TestDataDirWithURLCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "数据#1?%41")
	c := hub.Defaults()
	c.DataDir = dir
	c.Fill()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate with --data-dir %s: %v", dir, err)
	}
	st, err := blob.Open(context.Background(), c.Blobs, blob.Options{})
	if err != nil {
		t.Fatalf("open the default blob store %s: %v", c.Blobs, err)
	}
	info, err := st.Put(context.Background(), strings.NewReader("x"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs")); err != nil || info.Size != 1 {
		t.Fatalf("blob store not in %s/blobs: %v %+v", dir, err, info)
	}
}
