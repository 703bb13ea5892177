package hub_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// spoolFiles lists the S3 upload spool files in dir.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read spool dir: %v", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "sharehub-blob-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// A hub on S3 spools uploads under its data dir (DATA-DIR/spool), not in
// the system temp directory: that is the hub's own disk, and it is where
// the open of the store looks for the spool files a killed process left.
func TestS3SpoolsUnderDataDir(t *testing.T) {
	s3, _ := hubtest.S3Blobs(t)
	var spool string
	const stale = "sharehub-blob-killed"
	h := hubtest.Start(t, db.SQLite, s3, func(c *hub.Config) {
		// S3 wants a master key given, not generated.
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
		if err := os.WriteFile(c.MasterKeyFile, []byte(strings.Repeat("cd", 32)), 0o600); err != nil {
			t.Fatal(err)
		}
		// A spool file of a process killed mid-upload two days ago.
		spool = filepath.Join(c.DataDir, "spool")
		if err := os.MkdirAll(spool, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(spool, stale)
		if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-48 * time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	})
	if h.Config.SpoolDir != spool {
		t.Errorf("SpoolDir = %q, want %q", h.Config.SpoolDir, spool)
	}
	if _, err := os.Stat(filepath.Join(spool, stale)); !os.IsNotExist(err) {
		t.Errorf("stale spool file still there after start (stat: %v)", err)
	}

	// An upload in flight is spooled there.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", h.URL+"/v1/blobs", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.Admin)
	req.Header.Set("Content-Type", "text/plain")
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := h.Client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	if _, err := pw.Write([]byte(strings.Repeat("spooled ", 1024))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upload's spool file in "+spool, func() bool {
		fs := spoolFiles(t, spool)
		return len(fs) == 1 && fs[0] != stale
	})
	if _, err := pw.Write([]byte("the end")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s %v", r.status, r.body, r.err)
	}
	if left := spoolFiles(t, spool); len(left) != 0 {
		t.Errorf("spool files left after the upload: %v", left)
	}
	if st, err := os.Stat(spool); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("spool dir mode: %v %v, want 0700", st.Mode(), err)
	}
}

// --spool-dir is checked with the other settings when the blobs are on S3
// (a local directory spools in its own DIR/.tmp), and a bad public S3
// address for download links is refused there too, naming --blobs.
func TestValidateSpoolDirAndPublicEndpoint(t *testing.T) {
	s3 := "s3://bucket?endpoint=127.0.0.1:9000&secure=false&access_key=a&secret_key=b"
	c := validConfig(t)
	if c.SpoolDir != filepath.Join(c.DataDir, "spool") {
		t.Errorf("default SpoolDir %q, want DATA-DIR/spool", c.SpoolDir)
	}
	file := filepath.Join(c.DataDir, "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(c.DataDir, "master.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*hub.Config)
		want string
	}{
		{"s3 default spool", func(c *hub.Config) { c.Blobs = s3 }, ""},
		{"s3 spool is a file", func(c *hub.Config) { c.Blobs, c.SpoolDir = s3, file }, "--spool-dir: " + file + " is a file, not a directory"},
		{"local blobs ignore the spool", func(c *hub.Config) { c.SpoolDir = file }, ""},
		{"public endpoint", func(c *hub.Config) { c.Blobs = s3 + "&public_endpoint=s3.xiangyang.gov.cn&public_secure=true" }, ""},
		{"public endpoint a URL", func(c *hub.Config) { c.Blobs = s3 + "&public_endpoint=https://s3.xiangyang.gov.cn" },
			`--blobs: public_endpoint "https://s3.xiangyang.gov.cn" must be host:port without "https://"; use public_secure=false for plain http`},
		{"public endpoint bad port", func(c *hub.Config) { c.Blobs = s3 + "&public_endpoint=s3.xiangyang.gov.cn:0" },
			`--blobs: public_endpoint "s3.xiangyang.gov.cn:0": bad host:port`},
		{"public_secure alone", func(c *hub.Config) { c.Blobs = s3 + "&public_secure=true" },
			"--blobs: public_secure needs public_endpoint (the address download links name)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			c.MasterKeyFile = key
			tc.set(&c)
			checkValidate(t, c, tc.want)
		})
	}
}
