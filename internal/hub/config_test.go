package hub_test

import (
	"strings"
	"testing"

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
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted; want %q", tc.want)
			case tc.want != "" && err.Error() != tc.want:
				t.Fatalf("error %q; want %q", err, tc.want)
			}
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
