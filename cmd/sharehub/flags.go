package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// envName maps a flag to its environment variable: --max-body → SHAREHUB_MAX_BODY.
func envName(flagName string) string {
	return "SHAREHUB_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// configFlags registers the hub's settings on fs. Each flag's default comes
// from its SHAREHUB_* environment variable when that is set, so flags win
// over the environment, which wins over built-in defaults.
func configFlags(fs *flag.FlagSet, c *hub.Config) func() error {
	var envErrs []func() error
	bad := func(name, format string, v string) {
		envErrs = append(envErrs, envError(fs, name, fmt.Errorf(format, envName(name), v)))
	}
	str := func(p *string, name, usage string) {
		if v, ok := os.LookupEnv(envName(name)); ok {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" (env "+envName(name)+")")
	}
	size := func(p *int64, name, usage string) {
		if v, ok := os.LookupEnv(envName(name)); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				bad(name, "%s: want a number of bytes, got %q", v)
			}
			*p = n
		}
		fs.Int64Var(p, name, *p, usage+" (env "+envName(name)+")")
	}
	count := func(p *int, name, usage string) {
		if v, ok := os.LookupEnv(envName(name)); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				bad(name, "%s: want a whole number, got %q", v)
			}
			*p = n
		}
		fs.IntVar(p, name, *p, usage+" (env "+envName(name)+")")
	}
	// secret is str for a setting that may carry a password: -h and every
	// mistyped flag print each flag's default, here the SHAREHUB_* value.
	secret := func(p *string, name, usage string, redact func(string) string) {
		str(p, name, usage)
		if f := fs.Lookup(name); f.DefValue != "" {
			f.DefValue = redact(f.DefValue)
		}
	}
	str(&c.DataDir, "data-dir", "directory for the embedded database, blobs and master key")
	secret(&c.Database, "database", "sqlite:PATH or postgres://user@host:port/db (default sqlite:DATA-DIR/sharehub.db)", db.Redact)
	secret(&c.Blobs, "blobs", "file:DIR or s3://bucket?endpoint=host:port (default file:DATA-DIR/blobs)", blob.RedactSpec)
	str(&c.SpoolDir, "spool-dir", "directory where uploads to S3 are spooled while hashed (default DATA-DIR/spool)")
	str(&c.MasterKeyFile, "master-key-file", "file holding the 32-byte master key as hex (default DATA-DIR/master.key)")
	str(&c.Listen, "listen", "address to serve on")
	str(&c.PublicURL, "public-url", "URL clients use to reach the hub (default http://LISTEN)")
	str(&c.TLSCert, "tls-cert", "TLS certificate file (PEM); serves HTTPS with --tls-key")
	str(&c.TLSKey, "tls-key", "TLS private key file (PEM)")
	size(&c.MaxBodyBytes, "max-body", "largest JSON request body in bytes")
	size(&c.MaxUpload, "max-upload", "largest uploaded file in bytes")
	size(&c.LicenceFileMax, "licence-file-max", "largest licence file in bytes, and largest entry inflated from a licence archive (files are also bounded by --max-upload)")
	size(&c.LicenceZipMax, "licence-zip-max", "most bytes inflated from one licence archive, all entries together")
	count(&c.LicenceZipEntries, "licence-zip-entries", "most entries in one licence archive")
	str(&c.AuditOrigin, "audit-origin", "origin line of audit checkpoints")
	str(&c.LogLevel, "log-level", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "json or text")
	str(&c.DebugListen, "debug-listen", "loopback address for net/http/pprof (off when empty)")
	if v, ok := os.LookupEnv("SHAREHUB_MASTER_KEY"); ok {
		c.MasterKey = v
	}
	return func() error {
		var msgs []string
		for _, e := range envErrs {
			if err := e(); err != nil {
				msgs = append(msgs, err.Error())
			}
		}
		if len(msgs) > 0 {
			return fmt.Errorf("%s", strings.Join(msgs, "\n"))
		}
		c.Fill()
		return c.Validate()
	}
}

// migrateFlag registers --migrate (SHAREHUB_MIGRATE) on a command that
// opens the database as serve does. An operator who sets
// SHAREHUB_MIGRATE=false to upgrade the schema at a time of their choosing
// (the replicas still running refuse a newer one) must not have an import,
// export or sync command apply the migrations first.
func migrateFlag(fs *flag.FlagSet, c *hub.Config) func() error {
	return boolFlag(fs, &c.Migrate, "migrate", "apply pending database migrations first (false: refuse to run unless the schema is current)")
}

// envError returns a check reporting err, a malformed SHAREHUB_* value for
// the flag name, unless the command line sets that flag: flags win over
// the environment, even over a value that does not parse.
func envError(fs *flag.FlagSet, name string, err error) func() error {
	return func() error {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
		if set {
			return nil
		}
		return err
	}
}

// durationFlag registers a duration flag with its SHAREHUB_* fallback; a
// malformed environment value is reported by the returned check.
func durationFlag(fs *flag.FlagSet, p *time.Duration, name string, usage string) func() error {
	check := func() error { return nil }
	if v, ok := os.LookupEnv(envName(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			check = envError(fs, name, fmt.Errorf("%s: want a duration such as 20s, got %q", envName(name), v))
		}
		*p = d
	}
	fs.DurationVar(p, name, *p, usage+" (env "+envName(name)+")")
	return check
}

// boolFlag registers a boolean flag with its SHAREHUB_* fallback.
func boolFlag(fs *flag.FlagSet, p *bool, name string, usage string) func() error {
	check := func() error { return nil }
	if v, ok := os.LookupEnv(envName(name)); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			check = envError(fs, name, fmt.Errorf("%s: want true or false, got %q", envName(name), v))
		}
		*p = b
	}
	fs.BoolVar(p, name, *p, usage+" (env "+envName(name)+")")
	return check
}

// allOf runs checks in order and returns the first error.
func allOf(checks ...func() error) func() error {
	return func() error {
		for _, c := range checks {
			if err := c(); err != nil {
				return err
			}
		}
		return nil
	}
}
