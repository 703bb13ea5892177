// Package api is the hub's HTTP face: routing, authentication, role gates,
// problem+json errors, the audit middleware, metrics and the OpenAPI
// document. It translates HTTP to domain calls and domain errors to HTTP,
// nothing else.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/licence"
	"github.com/xiangyang-gov/sharehub/seal"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// Config tunes the HTTP layer.
type Config struct {
	// MaxBodyBytes caps JSON request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// MaxUploadBytes caps file uploads. Default 64 MiB.
	MaxUploadBytes int64
	// AuditTimeout bounds how long a call waits for its audit entry. Default 10s.
	AuditTimeout time.Duration
	// Version is reported by /healthz and the OpenAPI document.
	Version string
	// LinkSecret signs local blob download links.
	LinkSecret []byte
	// AuditOrigin is the audit log's checkpoint origin line.
	AuditOrigin string
	// AuditVerifierKey is the note verifier key auditors use for checkpoints.
	AuditVerifierKey string
	// VerifyRate and VerifyBurst rate-limit the public seal verification
	// per client address (token bucket). Defaults 20/s, burst 40; a
	// negative rate turns the limit off.
	VerifyRate  float64
	VerifyBurst int
	// SignInFailures is how many failed console sign-ins one client
	// address may make in a row before it has to wait; it gets one more
	// every SignInRefill. Default 10 and 6 s (ten a minute).
	SignInFailures int
	SignInRefill   time.Duration
	// TrustedProxies are the reverse proxies (addresses or CIDR prefixes)
	// whose X-Forwarded-For the verification rate limit believes; by
	// default none, and the TCP peer is the client.
	TrustedProxies []string
	// PublicURL is how clients reach the hub. When it is https, the web
	// console's cookies are Secure even if a TLS-terminating proxy forwards
	// plain HTTP; console forms posted from its origin are accepted.
	PublicURL string
}

// Deps are the services the API calls.
type Deps struct {
	DB       *db.DB
	Exchange *exchange.Service
	Catalog  *catalog.Service
	Sync     *datasync.Service // sync jobs and dataset records
	Sharing  *exchange.Sharing // share applications, disputes, call statistics
	Audit    *audit.Log
	Blobs    blob.Store
	Logger   *slog.Logger
	Metrics  *Metrics
	// Licences is the e-licence registry; nil leaves its routes out.
	Licences *licence.Service
	// Seals is the e-seal service; nil leaves its routes out.
	Seals *seal.Service
}

// Server routes HTTP requests to the hub's services.
type Server struct {
	cfg     Config
	db      *db.DB
	ex      *exchange.Service
	catalog *catalog.Service
	sync    *datasync.Service
	sharing *exchange.Sharing
	audit   *audit.Log
	blobs   blob.Store
	log     *slog.Logger
	metrics *Metrics
	engine  *gin.Engine

	licences *licence.Service
	routes   []route

	seals       *seal.Service
	verifyLimit *rateLimiter
	signInLimit *rateLimiter // failed console sign-ins by client address
	jwksTag     atomic.Pointer[etagged]

	openapiOnce sync.Once
	openapi     []byte
}

// New builds the API. Register more routes before calling Handler.
func New(d Deps, cfg Config) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = 64 << 20
	}
	if cfg.AuditTimeout == 0 {
		cfg.AuditTimeout = 10 * time.Second
	}
	if cfg.VerifyRate == 0 {
		cfg.VerifyRate = 20
	}
	if cfg.VerifyBurst == 0 {
		cfg.VerifyBurst = 40
	}
	if cfg.SignInFailures == 0 {
		cfg.SignInFailures = 10
	}
	if cfg.SignInRefill == 0 {
		cfg.SignInRefill = 6 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(prometheus.NewRegistry(), d.DB)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// Handlers pass c.Request.Context() to services: gin reuses its Context
	// after the handler returns, and a driver may still watch the context.
	e.ContextWithFallback = false
	e.RemoveExtraSlash = true
	// Routes match the escaped path and then unescape each parameter, so a
	// record key (or any id) holding a '/' is one parameter when the caller
	// escapes it (%2F): GET /v1/data/X/records/2024%2F001/versions is the
	// history of record "2024/001", not an unknown path.
	e.UseEscapedPath = true
	e.UnescapePathValues = true
	// A path with a slash too many or too few is a 404 like any unknown
	// path: gin's redirect for it answered before the middleware ran, so
	// the call had no request ID and no audit entry.
	e.RedirectTrailingSlash = false
	// Client addresses in logs and rate limits come from X-Forwarded-For
	// only when the peer is a configured reverse proxy; gin trusts every
	// peer by default, which would let callers forge their address.
	_ = e.SetTrustedProxies(cfg.TrustedProxies)
	s := &Server{cfg: cfg, db: d.DB, ex: d.Exchange, catalog: d.Catalog, sync: d.Sync, sharing: d.Sharing, audit: d.Audit, blobs: d.Blobs, log: d.Logger, engine: e}
	s.metrics = d.Metrics
	s.licences = d.Licences
	s.seals = d.Seals
	s.signInLimit = newRateLimiter(float64(time.Second)/float64(cfg.SignInRefill), cfg.SignInFailures)
	e.Use(withRequestID, s.observe, s.recoverPanic)
	e.NoRoute(s.audited, func(c *gin.Context) {
		s.failFor(c, errs.NotFound("no route %s %s; see /openapi.json", c.Request.Method, c.Request.URL.Path))
	})
	// gin has set the Allow header (RFC 9110 15.5.6) to the methods the
	// path has before these run.
	e.NoMethod(s.audited, func(c *gin.Context) {
		s.failFor(c, &errs.Error{Kind: errs.KindMethod, Message: "method " + c.Request.Method + " is not allowed on " + c.Request.URL.Path +
			"; it allows " + c.Writer.Header().Get("Allow") + " (see /openapi.json)"})
	})
	s.registerSystem()
	s.registerExchange()
	s.registerAudit()
	s.registerBlobs()
	s.registerCatalog()
	if s.sync != nil && s.sharing != nil {
		s.registerSync()
		s.registerData()
		s.registerSharing()
	}
	s.registerLicences()
	s.registerSeals()
	s.registerConsole()
	return s
}

// Handler returns the http.Handler serving every route.
func (s *Server) Handler() http.Handler { return s.engine }

// route describes one endpoint: how it is served and how it is documented.
type route struct {
	Method, Path string
	Summary      string
	Tag          string
	// Roles gate the route; empty means any authenticated principal.
	Roles []exchange.Role
	// Public routes need no key.
	Public bool
	// Unaudited routes (health, readiness, metrics) write no audit entry.
	Unaudited bool
	// Upload routes take a multipart or raw body up to MaxUploadBytes.
	Upload   bool
	Query    []queryParam
	Request  any
	Response any
	// Status is the success status (200 when zero).
	Status  int
	Handler gin.HandlerFunc
}

type queryParam struct {
	Name, Description string
	Required          bool
}

// handle registers r on the engine with its middleware chain.
func (s *Server) handle(r route) {
	chain := []gin.HandlerFunc{}
	if !r.Unaudited {
		chain = append(chain, s.audited)
	}
	limit := s.cfg.MaxBodyBytes
	if r.Upload {
		limit = s.cfg.MaxUploadBytes
	}
	if note := pathResource(r.Path); note != nil {
		chain = append(chain, note)
	}
	chain = append(chain, s.limitBody(limit))
	if !r.Public {
		chain = append(chain, s.authenticate)
		if len(r.Roles) > 0 {
			chain = append(chain, requireRole(r.Roles...))
		}
	}
	chain = append(chain, requireText, r.Handler)
	s.engine.Handle(r.Method, r.Path, chain...)
	s.routes = append(s.routes, r)
}

// failFor answers a request no route took: a console page in Chinese HTML
// under /console/ (its users are in a browser), problem+json elsewhere.
func (s *Server) failFor(c *gin.Context, err error) {
	if p := c.Request.URL.Path; p == "/console" || strings.HasPrefix(p, "/console/") {
		s.consoleFail(c, err)
		return
	}
	fail(c, err)
}

// pathResources name the resource a path parameter identifies, by the
// route's path up to that parameter. The audit entry names it before
// authentication, the role check or the handler can refuse the call: a
// refused attempt to revoke a seal, read a grant or run a job is found by
// searching the log for that seal, grant or job. (Handlers that noted
// their resource only once it was found left refused calls nameless.)
// Record keys under /v1/data are not noted: they may be personal.
var pathResources = []struct {
	prefix, kind, param string
	id                  func(string) string // the noted id from the path value; nil for itself
}{
	{"/v1/seals/:id", "seal", "id", nil},
	{"/v1/grants/:id", "grant", "id", nil},
	{"/v1/principals/:id", "principal", "id", nil},
	{"/v1/keys/:id", "api_key", "id", nil},
	{"/v1/departments/:id", "department", "id", nil},
	{"/v1/applications/:id", "application", "id", nil},
	{"/v1/disputes/:id", "dispute", "id", nil},
	{"/v1/sync/jobs/:id", "sync_job", "id", nil},
	{"/v1/sync/runs/:id", "sync_run", "id", nil},
	{"/v1/catalog/items/:code", exchange.ResourceCatalogItem, "code", nil},
	{"/v1/data/:code", exchange.ResourceCatalogItem, "code", nil},
	{"/v1/items/:code", exchange.ResourceCatalogItem, "code", nil},
	{"/v1/licence-types/:code", "licence_type", "code", nil},
	{"/v1/licences/:id", "licence", "id", func(id string) string { return (&licence.Licence{ID: id}).Key() }},
	{"/v1/audit/entries/:index", "audit_entry", "index", nil},
	{"/v1/blobs/:key", "blob", "key", nil},
}

// pathResource is the handler noting the resource path names, nil when it
// names none.
func pathResource(path string) gin.HandlerFunc {
	for _, pr := range pathResources {
		if path != pr.prefix && !strings.HasPrefix(path, pr.prefix+"/") {
			continue
		}
		return func(c *gin.Context) {
			v := c.Param(pr.param)
			if pr.id != nil {
				v = pr.id(v)
			}
			noteResource(c, pr.kind, v)
		}
	}
	return nil
}

// ok writes a JSON success response.
func ok(c *gin.Context, status int, v any) {
	c.JSON(status, v)
}

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// ready runs the readiness checks. It returns each check's state ("ok" or
// "unavailable") and, when any failed, their causes joined, for the log.
func (s *Server) ready(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var causes []error
	check := func(name string, err error) {
		if err != nil {
			out[name] = "unavailable"
			causes = append(causes, fmt.Errorf("%s: %w", name, err))
			return
		}
		out[name] = "ok"
	}
	check("database", s.db.Ping(ctx))
	if s.blobs != nil {
		check("blobs", s.blobs.Ping(ctx))
	}
	return out, errors.Join(causes...)
}
