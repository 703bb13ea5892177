package main

import (
	"io"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// TestLicenceLimitFlags: --licence-file-max, --licence-zip-max and
// --licence-zip-entries default to the licence registry's old fixed
// limits, take SHAREHUB_* variables, and the flags win over them; bad
// values are refused naming the flag or the variable.
func TestLicenceLimitFlags(t *testing.T) {
	type limits struct {
		file, zip int64
		entries   int
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    limits
		wantErr []string // each must be in the error; nil for no error
	}{
		{name: "defaults", want: limits{20 << 20, 2 << 30, 20000}},
		{name: "flags", args: []string{"--licence-file-max", "1048576", "--licence-zip-max", "5000000", "--licence-zip-entries", "7"},
			want: limits{1 << 20, 5000000, 7}},
		{name: "environment",
			env:  map[string]string{"SHAREHUB_LICENCE_FILE_MAX": "2048", "SHAREHUB_LICENCE_ZIP_MAX": "4096", "SHAREHUB_LICENCE_ZIP_ENTRIES": "3"},
			want: limits{2048, 4096, 3}},
		{name: "flags over environment",
			env:  map[string]string{"SHAREHUB_LICENCE_FILE_MAX": "2048", "SHAREHUB_LICENCE_ZIP_MAX": "4096", "SHAREHUB_LICENCE_ZIP_ENTRIES": "3"},
			args: []string{"--licence-file-max", "100", "--licence-zip-max", "200", "--licence-zip-entries", "4"},
			want: limits{100, 200, 4}},
		{name: "flag over a bad environment value",
			env:  map[string]string{"SHAREHUB_LICENCE_ZIP_ENTRIES": "0"},
			args: []string{"--licence-zip-entries", "5"},
			want: limits{20 << 20, 2 << 30, 5}},
		{name: "zero entries", args: []string{"--licence-zip-entries", "0"},
			wantErr: []string{"--licence-zip-entries: at least 1, got 0"}},
		{name: "negative file max", args: []string{"--licence-file-max", "-1"},
			wantErr: []string{"--licence-file-max: at least 1 byte, got -1"}},
		{name: "zero zip max from the environment", env: map[string]string{"SHAREHUB_LICENCE_ZIP_MAX": "0"},
			wantErr: []string{"--licence-zip-max: at least 1 byte, got 0"}},
		{name: "entries not a number", env: map[string]string{"SHAREHUB_LICENCE_ZIP_ENTRIES": "many"},
			wantErr: []string{"SHAREHUB_LICENCE_ZIP_ENTRIES: want a whole number", `"many"`}},
		{name: "file max not a number", env: map[string]string{"SHAREHUB_LICENCE_FILE_MAX": "20MiB"},
			wantErr: []string{"SHAREHUB_LICENCE_FILE_MAX: want a number of bytes", `"20MiB"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg := hub.Defaults()
			fs := newFlagSet("test", io.Discard)
			check := configFlags(fs, &cfg)
			err := parse(fs, append([]string{"--data-dir", t.TempDir()}, tc.args...), check)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("accepted (%+v); want an error saying %q", cfg, tc.wantErr)
				}
				if exitCode(err) != 2 {
					t.Errorf("exit code %d, want 2", exitCode(err))
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := limits{cfg.LicenceFileMax, cfg.LicenceZipMax, cfg.LicenceZipEntries}
			if got != tc.want {
				t.Errorf("limits %+v, want %+v", got, tc.want)
			}
		})
	}
}
