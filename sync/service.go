package datasync

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	gosync "sync"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
)

// Service keeps jobs, runs them and stores their datasets. Build it with New.
type Service struct {
	db         *db.DB
	catalog    *catalog.Service
	now        func() time.Time
	loc        *time.Location
	log        *slog.Logger
	connectors map[string]Connector
	secrets    Secrets
	margin     time.Duration

	// beforeApplyCommit, for tests, runs in a run's applying transaction
	// after its records are written and before it commits.
	beforeApplyCommit func(runID string)

	items   itemCache
	schedMu gosync.Mutex
	sched   *scheduler
}

// Config tunes a Service.
type Config struct {
	// Location is the time zone of schedules; default Asia/Shanghai.
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time
	// Connectors adds or replaces source kinds (tests use it for fakes).
	Connectors map[string]Connector
	// HTTPConnector configures the http source; default a client without
	// an overall timeout (each request has the job's request timeout).
	HTTPConnector *HTTPConnector
	// Secrets seals upstream credentials at rest (the hub's master key).
	// Without it they are stored as given.
	Secrets Secrets
	// ClockSkewMargin is how far resume points stay behind the clock and
	// the oldest write in flight (see ResumePoint); default
	// DefaultClockSkewMargin. At least the replicas' clocks' spread.
	ClockSkewMargin time.Duration
}

// New returns a Service over d; catalog supplies the items jobs fill.
func New(d *db.DB, c *catalog.Service, cfg Config) *Service {
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		cfg.Location = loc
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClockSkewMargin <= 0 {
		cfg.ClockSkewMargin = DefaultClockSkewMargin
	}
	hc := HTTPConnector{}
	if cfg.HTTPConnector != nil {
		hc = *cfg.HTTPConnector
	}
	s := &Service{db: d, catalog: c, now: cfg.Now, loc: cfg.Location, log: cfg.Logger, secrets: cfg.Secrets, margin: cfg.ClockSkewMargin,
		connectors: map[string]Connector{
			SourceHTTP:     hc,
			SourcePostgres: PostgresConnector{},
			SourceS3Files:  S3FilesConnector{db: d},
		}}
	for k, v := range cfg.Connectors {
		s.connectors[k] = v
	}
	return s
}

var idEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func (s *Service) nowUTC() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// item returns a catalogue item with its field codes.
func (s *Service) item(ctx context.Context, code string) (catalog.Item, []string, error) {
	it, err := s.catalog.Item(ctx, code)
	if err != nil {
		return it, nil, err
	}
	codes := make([]string, len(it.Fields))
	for i, f := range it.Fields {
		codes[i] = f.Code
	}
	return it, codes, nil
}
