// Package hub wires configuration to the hub's services: it opens the
// database, blob store, keys and audit log, builds the API and serves it.
// cmd/sharehub parses flags into a Config and calls Open and Run; end-to-end
// tests do the same on port 0 with a temporary directory.
package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/keys"
)

// Config is every setting of a hub process. Flags and SHAREHUB_*
// environment variables fill it (see cmd/sharehub); Validate checks it.
type Config struct {
	DataDir           string // --data-dir: master key and defaults live here
	Database          string // --database: sqlite:PATH or postgres://...
	Blobs             string // --blobs: file:DIR or s3://bucket?endpoint=host:port
	SpoolDir          string // --spool-dir: where S3 uploads are spooled while hashed (default DATA-DIR/spool)
	MasterKeyFile     string // --master-key-file; SHAREHUB_MASTER_KEY overrides with the key itself
	MasterKey         string // the key text (64 hex digits or base64), from SHAREHUB_MASTER_KEY
	Listen            string // --listen host:port
	PublicURL         string // --public-url: how clients reach the hub (links, QR codes)
	TLSCert           string // --tls-cert
	TLSKey            string // --tls-key
	MaxBodyBytes      int64  // --max-body
	MaxUpload         int64  // --max-upload
	LicenceFileMax    int64  // --licence-file-max: largest licence file, and largest entry inflated from an archive
	LicenceZipMax     int64  // --licence-zip-max: most bytes inflated from one licence archive, all entries together
	LicenceZipEntries int    // --licence-zip-entries: most entries in one licence archive
	AuditOrigin       string // --audit-origin
	LogLevel          string // --log-level: debug, info, warn, error
	LogFormat         string // --log-format: json or text
	Migrate           bool   // --migrate: apply migrations at start (default true)
	DebugListen       string // --debug-listen: serve net/http/pprof here (loopback only; off when empty)
	// NoMasterKey: the command reads no private key (audit verify), so
	// Validate does not ask for the master key; one that is given is
	// still checked.
	NoMasterKey bool
	Shutdown    time.Duration
}

// Defaults returns the embedded default configuration.
func Defaults() Config {
	return Config{
		DataDir:      "./data",
		Listen:       "127.0.0.1:8080",
		MaxBodyBytes: 1 << 20,
		MaxUpload:    64 << 20,
		// The licence limits are licence.New's defaults.
		LicenceFileMax:    20 << 20,
		LicenceZipMax:     2 << 30,
		LicenceZipEntries: 20000,
		AuditOrigin:       "sharehub.xiangyang.gov.cn/audit",
		LogLevel:          "info",
		LogFormat:         "json",
		Migrate:           true,
		Shutdown:          20 * time.Second,
	}
}

// Fill derives unset paths from DataDir.
func (c *Config) Fill() {
	if c.Database == "" {
		c.Database = "sqlite:" + filepath.Join(c.DataDir, "sharehub.db")
	}
	if c.Blobs == "" {
		dir := filepath.Join(c.DataDir, "blobs")
		c.Blobs = "file:" + dir
		if strings.ContainsAny(dir, "?#%") {
			// file:DIR refuses '?' and '#' (a URL's query and fragment,
			// most likely a mistyped --blobs); the URL form escapes them.
			if abs, err := filepath.Abs(dir); err == nil {
				c.Blobs = "file://" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()
			}
		}
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	if c.SpoolDir == "" {
		// Under the data dir, not the system temp directory: an upload
		// spools up to --max-upload bytes there, which belongs on the
		// hub's own disk, and the leftovers of a killed process are
		// removed from here at the next start.
		c.SpoolDir = filepath.Join(c.DataDir, "spool")
	}
}

// spooled reports whether the blob store spools uploads in SpoolDir: S3
// does; a local directory spools in its own DIR/.tmp.
func (c *Config) spooled() bool {
	return !strings.HasPrefix(c.Blobs, "file:")
}

// Embedded reports whether the hub runs on its embedded defaults (SQLite and
// a local directory), where a missing master key may be generated.
func (c *Config) Embedded() bool {
	return strings.HasPrefix(c.Database, "sqlite:") && strings.HasPrefix(c.Blobs, "file:")
}

// Validate reports every bad setting in plain words, naming its flag.
func (c *Config) Validate() error {
	var problems []string
	add := func(flag string, err error) {
		if err != nil {
			problems = append(problems, fmt.Sprintf("--%s: %v", flag, err))
		}
	}
	dbErr, blobErr := db.CheckURL(c.Database), blob.CheckSpec(c.Blobs)
	if dbErr == nil && c.Database == "sqlite::memory:" {
		dbErr = errors.New("sqlite::memory: cannot hold the hub's data (its connections would each see their own empty database); give a file, as in sqlite:./data/sharehub.db")
	}
	add("database", dbErr)
	add("blobs", blobErr)
	if blobErr == nil && c.spooled() {
		add("spool-dir", checkSpoolDir(c.SpoolDir))
	}
	if c.Listen == "" {
		add("listen", errors.New("want host:port, e.g. 127.0.0.1:8080"))
	} else if err := checkAddr(c.Listen, "127.0.0.1:8080"); err != nil {
		add("listen", err)
	} else if host, _, _ := net.SplitHostPort(c.Listen); c.PublicURL == "" && (host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified()) {
		// Without --public-url the hub names itself by its listen
		// address in blob links and in the QR codes printed on licences;
		// 0.0.0.0 is no address a client can reach, and a printed code
		// cannot be fixed later.
		add("public-url", fmt.Errorf("required with --listen %s (every address): blob links and licence QR codes carry the address clients use, e.g. https://hub.xiangyang.gov.cn", c.Listen))
	}
	if c.PublicURL != "" {
		// It is the base of blob links and QR codes: PATH is appended.
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			add("public-url", fmt.Errorf("want an absolute http(s) URL without query or fragment, got %q", c.PublicURL))
		}
	}
	checkTLS(c.TLSCert, c.TLSKey, add)
	if c.Shutdown <= 0 {
		add("shutdown-timeout", fmt.Errorf("want a positive duration such as 20s, got %s", c.Shutdown))
	}
	if c.DebugListen != "" {
		if host, _, err := net.SplitHostPort(c.DebugListen); err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
			add("debug-listen", fmt.Errorf("a loopback host:port such as 127.0.0.1:6060, got %q", c.DebugListen))
		} else if err := checkAddr(c.DebugListen, "127.0.0.1:6060"); err != nil {
			add("debug-listen", err)
		}
	}
	if c.MaxBodyBytes < 1024 {
		add("max-body", fmt.Errorf("at least 1024 bytes, got %d", c.MaxBodyBytes))
	}
	if c.MaxUpload < 1024 {
		add("max-upload", fmt.Errorf("at least 1024 bytes, got %d", c.MaxUpload))
	}
	if c.LicenceFileMax < 1 {
		add("licence-file-max", fmt.Errorf("at least 1 byte, got %d", c.LicenceFileMax))
	}
	if c.LicenceZipMax < 1 {
		add("licence-zip-max", fmt.Errorf("at least 1 byte, got %d", c.LicenceZipMax))
	}
	if c.LicenceZipEntries < 1 {
		add("licence-zip-entries", fmt.Errorf("at least 1, got %d", c.LicenceZipEntries))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		add("log-level", err)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		add("log-format", fmt.Errorf("json or text, got %q", c.LogFormat))
	}
	// It names the checkpoint signer's key: a signed-note name, which has
	// no white space of any kind (tabs, no-break spaces) and no '+'.
	if c.AuditOrigin == "" || !utf8.ValidString(c.AuditOrigin) || strings.IndexFunc(c.AuditOrigin, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 || strings.Contains(c.AuditOrigin, "+") {
		add("audit-origin", fmt.Errorf("a name without spaces, control characters or '+', e.g. sharehub.example.gov.cn/audit"))
	}
	// A shared master key is needed with PostgreSQL or S3. Whether either
	// is in use is known only from a valid --database or --blobs: a bad one
	// is reported above and is not a reason to ask for a key as well.
	shared := (dbErr == nil && !strings.HasPrefix(c.Database, "sqlite:")) ||
		(blobErr == nil && !strings.HasPrefix(c.Blobs, "file:"))
	_, statErr := os.Stat(c.MasterKeyFile)
	switch {
	case c.MasterKey != "":
		if _, err := keys.ParseMaster(c.MasterKey); err != nil {
			problems = append(problems, "SHAREHUB_MASTER_KEY: "+masterKeyWant)
		}
	case c.NoMasterKey && errors.Is(statErr, fs.ErrNotExist):
	case shared || !errors.Is(statErr, fs.ErrNotExist):
		// Embedded, a missing file is made at start.
		b, err := readFile(c.MasterKeyFile)
		switch {
		case err != nil && shared:
			add("master-key-file", fmt.Errorf("with PostgreSQL or S3 every replica needs the same master key: set SHAREHUB_MASTER_KEY or point --master-key-file at it (%v)", err))
		case err != nil:
			add("master-key-file", err)
		default:
			if _, err := keys.ParseMaster(string(b)); err != nil {
				add("master-key-file", fmt.Errorf("%s does not hold a master key: %s", c.MasterKeyFile, masterKeyWant))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// checkSpoolDir checks --spool-dir as far as can be told before start: it
// is made at start when missing, so only something that is there and is
// no directory is wrong now.
func checkSpoolDir(dir string) error {
	if dir == "" {
		return errors.New("want a directory for S3 upload spool files, e.g. ./data/spool")
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return fmt.Errorf("%s is a file, not a directory", dir)
	}
	return nil
}

const masterKeyWant = "want 32 bytes written as 64 hex digits or base64"

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	if err != nil {
		return l, fmt.Errorf("debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// NewLogger builds the process logger from the config.
func (c *Config) NewLogger(w *os.File) *slog.Logger {
	lvl, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
