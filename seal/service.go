package seal

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/keys"
)

// ImageStore keeps seal images; blob.Store satisfies it.
type ImageStore interface {
	Put(ctx context.Context, r io.Reader, mediaType string) (blob.Info, error)
	Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
}

// Directory finds the organisation a seal belongs to; *exchange.Service
// satisfies it. A missing department is errs.NotFound.
type Directory interface {
	Department(ctx context.Context, id string) (exchange.Department, error)
}

// Config configures a Service.
type Config struct {
	DB        *db.DB
	Master    *keys.MasterKey
	Images    ImageStore
	Directory Directory
	// CAName is the common name of the hub's seal CA certificate, made on
	// first use. Default "sharehub seal CA".
	CAName string
	// CacheTTL bounds how long a seal's state (status, keys) is trusted
	// without reading the database: another replica's suspension,
	// revocation or key rotation takes at most this long to apply here.
	// Changes made through this Service apply at once. Default 5s, at
	// most 7.5s (half retiredKeyGrace).
	CacheTTL time.Duration
	// UsageFlush is how often buffered usage records are written; Close
	// and FlushUsage write them at once. Default 200ms.
	UsageFlush time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Service keeps seals and applies and verifies them. Build it with New and
// Close it to write buffered usage records.
type Service struct {
	db     *db.DB
	master *keys.MasterKey
	images ImageStore
	dir    Directory
	caName string
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger

	trust     *trustStore
	caLoaded  atomic.Int64 // unix nanos of the last CA list load
	caMu      sync.Mutex   // serialises CA creation in this process
	mu        sync.RWMutex
	seals     map[string]*sealState
	kidSeal   map[string]string // kid → seal id; never changes once known
	gen       map[string]uint64 // bumped by invalidate
	jwksCache atomic.Pointer[jwksCache]
	usage     *usageLog
}

// sealState is a cached seal with what signing and verification need.
type sealState struct {
	seal      Seal
	loadedAt  time.Time
	keys      map[string]*keyInfo
	signer    atomic.Pointer[signer] // the current key, decrypted on first use
	reloading atomic.Bool            // a caller is reading this seal again
}

// New returns a Service. It does not touch the database until used.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Master == nil {
		return nil, errs.Internal(nil, "seal: Config needs DB and Master")
	}
	if cfg.CAName == "" {
		cfg.CAName = "sharehub seal CA"
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	// A replica's signatures with a key it has not yet seen retired must
	// verify (retiredKeyGrace).
	cfg.CacheTTL = min(cfg.CacheTTL, retiredKeyGrace/2)
	if cfg.UsageFlush == 0 {
		cfg.UsageFlush = 200 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{
		db: cfg.DB, master: cfg.Master, images: cfg.Images, dir: cfg.Directory,
		caName: cfg.CAName, ttl: cfg.CacheTTL, now: cfg.Now, log: cfg.Logger,
		trust:   newTrustStore(nil),
		seals:   map[string]*sealState{},
		kidSeal: map[string]string{},
		gen:     map[string]uint64{},
	}
	s.usage = newUsageLog(cfg.DB, cfg.UsageFlush, cfg.Logger)
	return s, nil
}

// Close writes buffered usage records and stops background work.
func (s *Service) Close() error { return s.usage.close() }

// state returns the cached state of seal id, reading it again when older
// than the cache TTL. An unknown seal is errs.NotFound.
func (s *Service) state(ctx context.Context, id string) (*sealState, error) {
	s.mu.RLock()
	st := s.seals[id]
	s.mu.RUnlock()
	if st != nil && time.Since(st.loadedAt) < s.ttl {
		return st, nil
	}
	// One caller reads a hot seal again; the others go on with the state
	// it replaces (at most one database read's time older than the TTL).
	if st != nil && !st.reloading.CompareAndSwap(false, true) {
		return st, nil
	}
	fresh, err := s.reload(ctx, id, st)
	if err != nil && st != nil {
		st.reloading.Store(false)
	}
	return fresh, err
}

func (s *Service) reload(ctx context.Context, id string, old *sealState) (*sealState, error) {
	s.mu.RLock()
	gen := s.gen[id]
	s.mu.RUnlock()
	seal, err := s.loadSeal(ctx, s.db.R, id)
	if err != nil {
		return nil, err
	}
	st := &sealState{seal: seal, loadedAt: time.Now(), keys: make(map[string]*keyInfo, len(seal.Keys))}
	statusNow := seal.Status
	for _, k := range seal.Keys {
		st.keys[k.Kid] = &keyInfo{
			kid: k.Kid, thumbprint: k.Thumbprint, org: seal.Organisation,
			createdAt: k.CreatedAt, retiredAt: k.RetiredAt,
			history: seal.StatusHistory, statusNow: statusNow,
		}
	}
	// Keep the decrypted signing key while it is still the current one.
	if old != nil {
		if k := old.signer.Load(); k != nil {
			if cur, ok := seal.currentKey(); ok && cur.Kid == k.kid {
				st.signer.Store(k)
			}
		}
	}
	s.mu.Lock()
	// A change made here while we read must not be hidden by what we read.
	if s.gen[id] == gen {
		s.seals[id] = st
	}
	for kid := range st.keys {
		s.kidSeal[kid] = id
	}
	s.mu.Unlock()
	return st, nil
}

// invalidate drops cached state after a change made here.
func (s *Service) invalidate(id string) {
	s.mu.Lock()
	delete(s.seals, id)
	s.gen[id]++
	s.mu.Unlock()
	s.jwksCache.Store(nil)
}

// key implements keySource over the database, through the cache.
func (s *Service) key(ctx context.Context, kid string) (*keyInfo, error) {
	s.mu.RLock()
	id, ok := s.kidSeal[kid]
	s.mu.RUnlock()
	if !ok {
		var err error
		id, err = s.sealOfKid(ctx, kid)
		if errs.Is(err, errs.KindNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	st, err := s.state(ctx, id)
	if err != nil {
		return nil, err
	}
	return st.keys[kid], nil
}

// Verify checks a sealed document (a JWS in JSON serialization) against
// this hub: each signature's certificate chain to the hub CA, signature,
// key, the seal's status at signing time and, when document is not nil,
// the document's digest. Anyone may verify. Input that is not a sealed
// document is errs.Invalid; over MaxJWSSize, errs.TooLarge.
func (s *Service) Verify(ctx context.Context, jws []byte, document io.Reader) (Result, error) {
	if err := s.loadCAs(ctx, false); err != nil {
		return Result{}, err
	}
	v := verifier{trust: s.trust, keys: s, now: s.now()}
	return v.verify(ctx, jws, document)
}

// Get returns a seal with its keys and status history.
func (s *Service) Get(ctx context.Context, id string) (Seal, error) {
	return s.loadSeal(ctx, s.db.R, id)
}

// Image opens a seal's picture; the caller closes it.
func (s *Service) Image(ctx context.Context, id string) (io.ReadCloser, string, error) {
	if s.images == nil {
		return nil, "", errs.Unavailable(nil, "no image store configured")
	}
	st, err := s.state(ctx, id)
	if err != nil {
		return nil, "", err
	}
	rc, _, err := s.images.Get(ctx, st.seal.ImageKey)
	return rc, st.seal.ImageMediaType, err
}
