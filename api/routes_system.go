package api

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

type health struct {
	Status  string            `json:"status"`
	Version string            `json:"version,omitempty"`
	Checks  map[string]string `json:"checks,omitempty"`
}

func (s *Server) registerSystem() {
	s.handle(route{Method: "GET", Path: "/healthz", Tag: "system", Summary: "Liveness: the process is serving.", Public: true, Unaudited: true,
		Response: health{}, Handler: func(c *gin.Context) {
			ok(c, http.StatusOK, health{Status: "ok", Version: s.cfg.Version})
		}})
	s.handle(route{Method: "GET", Path: "/readyz", Tag: "system", Summary: "Readiness: the database and the blob store answer. When either does not, 503 problem+json whose checks member has each check's state.", Public: true, Unaudited: true,
		Response: health{}, Handler: func(c *gin.Context) {
			checks, cause := s.ready(c.Request.Context())
			if cause != nil {
				s.notReady(c, checks, cause)
				return
			}
			ok(c, http.StatusOK, health{Status: "ok", Checks: checks})
		}})
	mh := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
	s.handle(route{Method: "GET", Path: "/metrics", Tag: "system", Summary: "Prometheus metrics.", Public: true, Unaudited: true,
		Handler: gin.WrapH(mh)})
	s.handle(route{Method: "GET", Path: "/openapi.json", Tag: "system", Summary: "This API's OpenAPI 3.1 document.", Public: true,
		Handler: func(c *gin.Context) {
			c.Header("Cache-Control", "public, max-age=60")
			c.Data(http.StatusOK, "application/json", s.OpenAPI())
		}})
}

// notReady answers a failed readiness check with the unavailable problem of
// the error table. Its detail names the failed checks (the names are no
// internal detail: they are what a probe asks about), and its checks member
// carries every check's state; the causes go to the log only.
func (s *Server) notReady(c *gin.Context, checks map[string]string, cause error) {
	var failed []string
	for name, state := range checks {
		if state != "ok" {
			failed = append(failed, name)
		}
	}
	sort.Strings(failed)
	err := errs.Unavailable(cause, "not ready: %s unavailable", strings.Join(failed, " and "))
	p := problemFor(err)
	p.Detail, p.Checks = err.Message, checks
	failWith(c, err, p)
}
