// Package licence is the e-licence registry (电子证照库): licence types,
// licences and their sealed versions, files, holder lookup, QR tokens for
// showing a licence (亮证) and bulk import.
//
// Every version of a licence is a JSON document (the Licence at that
// version) sealed by the issuing department's seal (seal.Service): the
// seal's JWS statement carries the document's SHA-256, and the document
// carries the attached file's SHA-256, so one seal covers both. Bulk
// imports seal in batches: one seal over a manifest of the batch's
// version digests (see batch.go).
package licence

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/keys"
	"github.com/xiangyang-gov/sharehub/seal"
)

// Sealer applies and verifies seals; *seal.Service satisfies it.
type Sealer interface {
	Sign(ctx context.Context, by *exchange.Principal, sealID string, req seal.SignRequest) ([]byte, error)
	Verify(ctx context.Context, jws []byte, document io.Reader) (seal.Result, error)
	List(ctx context.Context, f seal.ListFilter) ([]seal.Seal, string, error)
}

// Directory finds departments; *exchange.Service satisfies it.
type Directory interface {
	Department(ctx context.Context, id string) (exchange.Department, error)
}

// Config configures a Service.
type Config struct {
	DB        *db.DB
	Directory Directory
	Sealer    Sealer
	Files     blob.Store
	// Keys gives the hub's token key (keys.PurposeToken) for QR tokens.
	Keys *keys.Ring
	// PublicURL is the hub's external base URL; QR codes point at
	// PublicURL + "/verify/TOKEN".
	PublicURL string
	// MaxFileSize is the largest licence file accepted. Default 20 MiB.
	// In a zip archive it bounds each entry, counted on the bytes
	// actually inflated.
	MaxFileSize int64
	// MaxZipBytes bounds what AttachZip inflates from one archive, over
	// all its entries, counted on the bytes actually read. Default 2 GiB.
	MaxZipBytes int64
	// MaxZipEntries is the most entries an archive for AttachZip may
	// have. Default 20,000.
	MaxZipEntries int
	// QRTTL is a QR token's default lifetime. Default 5 minutes; at most 24h.
	QRTTL time.Duration
	// FileLinkTTL is the lifetime of a file download link. Default 5 minutes.
	FileLinkTTL time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// Service is the licence registry.
type Service struct {
	cfg Config
	db  *db.DB
	now func() time.Time

	mu      sync.RWMutex
	types   map[string]*typeEntry
	seals   map[string]sealEntry // department id → its sealing seal
	depts   map[string]exchange.Department
	tokKey  *keys.HubKey
	tokAt   time.Time
	pubKeys map[string][]byte // token kid → Ed25519 public key
	pubAt   time.Time
}

type typeEntry struct {
	t  Type
	at time.Time
}

type sealEntry struct {
	id string
	at time.Time
}

// cacheTTL bounds how long types, seals and departments are trusted
// without reading them again (another replica's change).
const cacheTTL = 30 * time.Second

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Directory == nil {
		return nil, errs.Internal(nil, "licence: Config needs DB and Directory")
	}
	if cfg.MaxFileSize == 0 {
		cfg.MaxFileSize = 20 << 20
	}
	if cfg.MaxZipBytes == 0 {
		cfg.MaxZipBytes = 2 << 30
	}
	if cfg.MaxZipEntries == 0 {
		cfg.MaxZipEntries = 20000
	}
	if cfg.QRTTL == 0 {
		cfg.QRTTL = 5 * time.Minute
	}
	if cfg.FileLinkTTL == 0 {
		cfg.FileLinkTTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, db: cfg.DB, now: cfg.Now,
		types: map[string]*typeEntry{}, seals: map[string]sealEntry{}, depts: map[string]exchange.Department{}}, nil
}

// department returns a department through a small cache.
func (s *Service) department(ctx context.Context, id string) (exchange.Department, error) {
	s.mu.RLock()
	d, ok := s.depts[id]
	s.mu.RUnlock()
	if ok {
		return d, nil
	}
	d, err := s.cfg.Directory.Department(ctx, id)
	if err != nil {
		return d, err
	}
	s.mu.Lock()
	s.depts[id] = d
	s.mu.Unlock()
	return d, nil
}

// requireIssuer checks that by may issue licences of t.
func requireIssuer(by *exchange.Principal, t *Type) error {
	if by == nil {
		return errs.Unauthenticated("sign in to issue licences")
	}
	if by.Disabled || !by.Has(exchange.RoleIssuer) {
		return errs.Forbidden("issuing licences needs the issuer role")
	}
	for _, d := range t.IssuerIDs {
		if d == by.DepartmentID {
			return nil
		}
	}
	return errs.Forbidden("department %s does not issue %s (%s)", by.DepartmentID, t.Name, t.Code)
}
