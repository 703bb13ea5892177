package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// TestFlagOverridesMalformedEnvironment: flags win over SHAREHUB_*
// variables, for numbers, durations and booleans as for text: a variable
// that does not parse is reported only when no flag replaces it, so that
// an operator can start the hub by giving the flag.
func TestFlagOverridesMalformedEnvironment(t *testing.T) {
	env := map[string]string{
		"SHAREHUB_MAX_BODY":            "1MiB",
		"SHAREHUB_LICENCE_ZIP_ENTRIES": "many",
		"SHAREHUB_SHUTDOWN_TIMEOUT":    "banana",
		"SHAREHUB_MIGRATE":             "maybe",
	}
	serveFlags := func(t *testing.T, args ...string) (hub.Config, error) {
		clearEnv(t)
		for k, v := range env {
			t.Setenv(k, v)
		}
		cfg := hub.Defaults()
		fs := newFlagSet("serve", io.Discard)
		check := configFlags(fs, &cfg)
		checkMigrate := boolFlag(fs, &cfg.Migrate, "migrate", "")
		checkShutdown := durationFlag(fs, &cfg.Shutdown, "shutdown-timeout", "")
		err := parse(fs, append([]string{"--data-dir", t.TempDir()}, args...), allOf(checkMigrate, checkShutdown, check))
		return cfg, err
	}

	cfg, err := serveFlags(t, "--max-body", "4096", "--licence-zip-entries", "7", "--shutdown-timeout", "5s", "--migrate=false")
	if err != nil {
		t.Fatalf("flags over malformed variables: %v", err)
	}
	if cfg.MaxBodyBytes != 4096 || cfg.LicenceZipEntries != 7 || cfg.Shutdown != 5*time.Second || cfg.Migrate {
		t.Errorf("max body %d, zip entries %d, shutdown %s, migrate %v; want the flags' 4096, 7, 5s, false",
			cfg.MaxBodyBytes, cfg.LicenceZipEntries, cfg.Shutdown, cfg.Migrate)
	}

	// Without the flags each malformed variable is still reported.
	for name := range env {
		var args []string
		for other := range env {
			if other != name {
				args = append(args, map[string][]string{
					"SHAREHUB_MAX_BODY":            {"--max-body", "4096"},
					"SHAREHUB_LICENCE_ZIP_ENTRIES": {"--licence-zip-entries", "7"},
					"SHAREHUB_SHUTDOWN_TIMEOUT":    {"--shutdown-timeout", "5s"},
					"SHAREHUB_MIGRATE":             {"--migrate=false"},
				}[other]...)
			}
		}
		_, err := serveFlags(t, args...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), name) || strings.Count(err.Error(), "SHAREHUB_") != 1 {
			t.Errorf("only %s malformed: %v; want exit 2 naming just it", name, err)
		}
	}
}
