package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// --spool-dir (SHAREHUB_SPOOL_DIR) sets where S3 uploads spool; without it
// they spool in DATA-DIR/spool, not in the system temp directory.
func TestSpoolDirFlag(t *testing.T) {
	flags := func(t *testing.T, args ...string) hub.Config {
		cfg := hub.Defaults()
		fs := newFlagSet("serve", io.Discard)
		if err := parse(fs, args, configFlags(fs, &cfg)); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	clearEnv(t)
	dir := t.TempDir()
	if got := flags(t, "--data-dir", dir).SpoolDir; got != filepath.Join(dir, "spool") {
		t.Errorf("default spool dir %q, want %q", got, filepath.Join(dir, "spool"))
	}
	env := filepath.Join(dir, "from-env")
	t.Setenv("SHAREHUB_SPOOL_DIR", env)
	if got := flags(t, "--data-dir", dir).SpoolDir; got != env {
		t.Errorf("SHAREHUB_SPOOL_DIR: spool dir %q, want %q", got, env)
	}
	flag := filepath.Join(dir, "from-flag")
	if got := flags(t, "--data-dir", dir, "--spool-dir", flag).SpoolDir; got != flag {
		t.Errorf("--spool-dir: spool dir %q, want %q", got, flag)
	}
}

// A data dir a hub on S3 used holds spool/: demo --reset may delete it.
func TestOnlyHubFilesAllowsSpool(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "spool"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := onlyHubFiles(dir); err != nil {
		t.Errorf("onlyHubFiles with spool/: %v", err)
	}
}
