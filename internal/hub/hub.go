package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xiangyang-gov/sharehub/api"
	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/keys"
	"github.com/xiangyang-gov/sharehub/licence"
	"github.com/xiangyang-gov/sharehub/seal"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// Version is set at build time with -ldflags "-X .../internal/hub.Version=v1.2.3".
var Version = "dev"

// App is a running hub: its services and its listener.
type App struct {
	Config   Config
	Log      *slog.Logger
	DB       *db.DB
	Blobs    blob.Store
	Master   *keys.MasterKey
	Keys     *keys.Ring
	Exchange *exchange.Service
	Catalog  *catalog.Service
	Audit    *audit.Log
	API      *api.Server
	// Seals applies the seals that licences are sealed with.
	Seals    *seal.Service
	Licences *licence.Service
	Sync     *datasync.Service
	Sharing  *exchange.Sharing

	// AuditVerifierKey is the C2SP note verifier key of the checkpoint signer.
	AuditVerifierKey string

	ln  net.Listener
	srv *http.Server
}

// OpenDB opens and migrates (when cfg.Migrate) the database, refusing a
// schema newer than this binary knows.
func OpenDB(ctx context.Context, cfg Config) (*db.DB, error) {
	d, err := db.Open(ctx, cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	if cfg.Migrate {
		if _, err := d.Migrate(ctx); err != nil {
			d.Close()
			return nil, err
		}
	}
	if err := d.CheckSchema(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// LoadMaster reads the master key from cfg.MasterKey or its file, creating
// the file in embedded mode.
func LoadMaster(cfg Config) (*keys.MasterKey, error) {
	if cfg.MasterKey != "" {
		return keys.ParseMaster(cfg.MasterKey)
	}
	return keys.LoadMaster(cfg.MasterKeyFile, cfg.Embedded())
}

// Open validates cfg, opens every service and binds the listener (port 0
// picks a free port; see Addr). It does not serve until Run.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (_ *App, err error) {
	cfg.Fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = cfg.NewLogger(os.Stderr)
	}
	a := &App{Config: cfg, Log: logger}
	defer func() {
		if err != nil {
			a.Close(context.Background())
		}
	}()
	if a.Master, err = LoadMaster(cfg); err != nil {
		return nil, err
	}
	if a.DB, err = OpenDB(ctx, cfg); err != nil {
		return nil, err
	}
	if a.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	if a.Config.PublicURL == "" {
		scheme := "http"
		if cfg.TLSCert != "" {
			scheme = "https"
		}
		a.Config.PublicURL = scheme + "://" + a.ln.Addr().String()
	}
	linkSecret := a.Master.Derive("blob-links")
	blobOpts := blob.Options{MaxSize: cfg.MaxUpload, LinkSecret: linkSecret, LinkBaseURL: strings.TrimSuffix(a.Config.PublicURL, "/")}
	if cfg.spooled() {
		// Made here, not in Validate: validating changes nothing on disk.
		// Private: a spool file is an upload's content in the clear.
		if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
			return nil, fmt.Errorf("--spool-dir: %s cannot be made: %w", cfg.SpoolDir, plainPathError(err))
		}
		blobOpts.TempDir = cfg.SpoolDir
	}
	if a.Blobs, err = blob.Open(ctx, cfg.Blobs, blobOpts); err != nil {
		return nil, fmt.Errorf("--blobs: %w", err)
	}
	a.Keys = &keys.Ring{DB: a.DB, Master: a.Master}
	cpKey, err := a.Keys.Current(ctx, keys.PurposeCheckpoint)
	if err != nil {
		return nil, err
	}
	signer, err := keys.NoteSigner(cfg.AuditOrigin, cpKey)
	if err != nil {
		return nil, err
	}
	if a.AuditVerifierKey, err = keys.NoteVerifierKey(cfg.AuditOrigin, cpKey.Public); err != nil {
		return nil, err
	}
	metrics := api.NewMetrics(prometheus.NewRegistry(), a.DB)
	if a.Audit, err = audit.Open(ctx, a.DB, signer, audit.Options{Origin: cfg.AuditOrigin, Logger: logger, OnBatch: metrics.ObserveAuditBatch}); err != nil {
		return nil, err
	}
	a.Exchange = exchange.New(a.DB, exchange.Config{})
	a.Catalog = catalog.New(a.DB, catalog.Config{})
	a.Sync = datasync.New(a.DB, a.Catalog, datasync.Config{Logger: logger, Secrets: a.Master})
	a.Sharing = exchange.NewSharing(a.Exchange, a.Sync, exchange.SharingConfig{})
	if a.Seals, err = seal.New(seal.Config{DB: a.DB, Master: a.Master, Images: a.Blobs, Directory: a.Exchange, Logger: logger}); err != nil {
		return nil, err
	}
	if a.Licences, err = licence.New(licence.Config{DB: a.DB, Directory: a.Exchange, Sealer: a.Seals, Files: a.Blobs, Keys: a.Keys,
		PublicURL: a.Config.PublicURL, Logger: logger,
		MaxFileSize: cfg.LicenceFileMax, MaxZipBytes: cfg.LicenceZipMax, MaxZipEntries: cfg.LicenceZipEntries}); err != nil {
		return nil, err
	}
	a.API = api.New(api.Deps{DB: a.DB, Exchange: a.Exchange, Catalog: a.Catalog, Audit: a.Audit, Blobs: a.Blobs, Logger: logger, Metrics: metrics, Licences: a.Licences, Seals: a.Seals, Sync: a.Sync, Sharing: a.Sharing}, api.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, MaxUploadBytes: cfg.MaxUpload, Version: Version, LinkSecret: linkSecret,
		AuditOrigin: cfg.AuditOrigin, AuditVerifierKey: a.AuditVerifierKey, PublicURL: a.Config.PublicURL,
	})
	a.srv = &http.Server{
		Handler:           a.API.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // uploads of large spreadsheets
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if cfg.TLSCert != "" {
		a.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return a, nil
}

// Addr is the address the hub listens on.
func (a *App) Addr() string { return a.ln.Addr().String() }

// URL is how clients reach the hub.
func (a *App) URL() string { return a.Config.PublicURL }

// Run serves until ctx is cancelled (SIGTERM in main), then shuts down
// gracefully: in-flight requests finish, and the audit log flushes its
// last batch and writes a final checkpoint.
func (a *App) Run(ctx context.Context) error {
	if a.Config.DebugListen != "" {
		// Listen now, so that a port in use is an error at start rather
		// than a profiler that silently never came up.
		dln, err := net.Listen("tcp", a.Config.DebugListen)
		if err != nil {
			return errors.Join(fmt.Errorf("--debug-listen %s: %w", a.Config.DebugListen, err), a.Close(context.Background()))
		}
		dbg := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = dbg.Serve(dln) }()
		defer dbg.Close()
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if a.Config.TLSCert != "" {
			err = a.srv.ServeTLS(a.ln, a.Config.TLSCert, a.Config.TLSKey)
		} else {
			err = a.srv.Serve(a.ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	if err := a.Sync.Start(ctx); err != nil {
		// The listener has been open since Open: let whatever it took in
		// finish, as on SIGTERM.
		sctx, cancel := context.WithTimeout(context.Background(), a.Config.Shutdown)
		defer cancel()
		return errors.Join(err, a.srv.Shutdown(sctx), <-errc, a.Close(sctx))
	}
	a.Log.Info("sharehub serving", "url", a.Config.PublicURL, "database", a.DB.URL, "blobs", blob.RedactSpec(a.Config.Blobs), "version", Version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.Shutdown)
	defer cancel()
	err := a.srv.Shutdown(sctx)
	cctx := sctx
	if errors.Is(err, context.DeadlineExceeded) {
		// Cut what is still in flight (a client that never finishes its
		// body, or never reads the response): nothing more may be
		// answered once the audit log closes.
		a.srv.Close()
		err = fmt.Errorf("--shutdown-timeout %s passed before every request finished; the connections still open were closed", a.Config.Shutdown)
		// The audit log still commits its last batch and checkpoint.
		var ccancel context.CancelFunc
		cctx, ccancel = context.WithTimeout(context.Background(), closeGrace)
		defer ccancel()
	}
	return errors.Join(err, <-errc, a.Close(cctx))
}

// closeGrace is how long the services have to close (the audit log's last
// batch and final checkpoint) when --shutdown-timeout has run out.
const closeGrace = 2 * time.Second

// Close stops background work and closes every service. Safe to call twice.
func (a *App) Close(ctx context.Context) error {
	var err error
	if a.Sync != nil {
		a.Sync.Stop() // running jobs stop at their next page and resume later
		a.Sync = nil
	}
	if a.Exchange != nil {
		err = errors.Join(err, a.Exchange.Close())
		a.Exchange = nil
	}
	if a.Seals != nil {
		err = errors.Join(err, a.Seals.Close())
		a.Seals = nil
	}
	if a.Audit != nil {
		err = errors.Join(err, a.Audit.Close(ctx))
		a.Audit = nil
	}
	if a.ln != nil {
		a.ln.Close()
	}
	if a.DB != nil {
		err = errors.Join(err, a.DB.Close())
		a.DB = nil
	}
	return err
}

// OpenDBUnchecked opens the database without migrating or checking its
// schema version, for `sharehub migrate` and `sharehub audit verify`.
func OpenDBUnchecked(ctx context.Context, cfg Config) (*db.DB, error) {
	cfg.Fill()
	d, err := db.Open(ctx, cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	return d, nil
}
