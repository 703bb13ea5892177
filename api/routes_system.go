package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	s.handle(route{Method: "GET", Path: "/readyz", Tag: "system", Summary: "Readiness: the database and the blob store answer.", Public: true, Unaudited: true,
		Response: health{}, Handler: func(c *gin.Context) {
			checks := s.ready(c.Request.Context())
			for _, v := range checks {
				if v != "ok" {
					c.JSON(http.StatusServiceUnavailable, health{Status: "unavailable", Checks: checks})
					return
				}
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
