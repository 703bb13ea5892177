package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

func redactJob(j datasync.Job) datasync.Job {
	j.Spec = j.Spec.Redacted()
	return j
}

func (s *Server) registerSync() {
	keepers := []exchange.Role{exchange.RoleAdmin, exchange.RoleDataAdmin}
	readers := []exchange.Role{exchange.RoleAdmin, exchange.RoleDataAdmin, exchange.RoleAuditor}
	if s.metrics != nil {
		_ = s.metrics.reg.Register(s.sync.Collector()) // freshness and completeness in /metrics
	}
	s.handle(route{Method: "POST", Path: "/v1/sync/jobs", Tag: "sync", Summary: "Create a sync job (数据回落) for a published item of the caller's department.", Roles: keepers,
		Request: datasync.NewJob{}, Response: datasync.Job{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var nj datasync.NewJob
			if err := bindJSON(c, &nj); err != nil {
				fail(c, err)
				return
			}
			j, err := s.sync.CreateJob(c.Request.Context(), principal(c), nj)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "sync_job", j.ID)
			ok(c, http.StatusCreated, redactJob(j))
		}})
	s.handle(route{Method: "GET", Path: "/v1/sync/jobs", Tag: "sync", Summary: "List sync jobs (secrets redacted).", Roles: readers,
		Query: []queryParam{{Name: "item_code"}}, Response: list[datasync.Job]{}, Handler: func(c *gin.Context) {
			js, err := s.sync.Jobs(c.Request.Context(), c.Query("item_code"))
			if err != nil {
				fail(c, err)
				return
			}
			for i := range js {
				js[i] = redactJob(js[i])
			}
			noteRows(c, len(js))
			ok(c, http.StatusOK, list[datasync.Job]{Items: js})
		}})
	s.handle(route{Method: "GET", Path: "/v1/sync/jobs/:id", Tag: "sync", Summary: "One sync job (secrets redacted).", Roles: readers,
		Response: datasync.Job{}, Handler: func(c *gin.Context) {
			j, err := s.sync.Job(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "sync_job", j.ID)
			ok(c, http.StatusOK, redactJob(j))
		}})
	s.handle(route{Method: "PUT", Path: "/v1/sync/jobs/:id", Tag: "sync", Summary: `Edit a sync job ("***" keeps a stored secret).`, Roles: keepers,
		Request: datasync.JobUpdate{}, Response: datasync.Job{}, Handler: func(c *gin.Context) {
			var u datasync.JobUpdate
			if err := bindJSON(c, &u); err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "sync_job", c.Param("id"))
			j, err := s.sync.UpdateJob(c.Request.Context(), principal(c), c.Param("id"), u)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, redactJob(j))
		}})
	for _, act := range []struct {
		path   string
		paused bool
	}{{"pause", true}, {"resume", false}} {
		s.handle(route{Method: "POST", Path: "/v1/sync/jobs/:id/" + act.path, Tag: "sync", Summary: act.path + " a job's schedule.", Roles: keepers,
			Response: datasync.Job{}, Handler: func(c *gin.Context) {
				noteResource(c, "sync_job", c.Param("id"))
				j, err := s.sync.SetPaused(c.Request.Context(), principal(c), c.Param("id"), act.paused)
				if err != nil {
					fail(c, err)
					return
				}
				ok(c, http.StatusOK, redactJob(j))
			}})
	}
	s.handle(route{Method: "POST", Path: "/v1/sync/jobs/:id/run", Tag: "sync", Summary: "Run a job now and wait for its run (409 if it is running elsewhere); ?wait=false starts it in the background (202). A full refresh that would mark more records deleted than the job's limits allow fails and deletes nothing; ?allow_mass_delete=true lets this one run pass (admins and the provider's data admins, who run jobs).", Roles: keepers,
		Query: []queryParam{{Name: "wait", Description: "false: start the run and answer 202 at once"},
			{Name: "allow_mass_delete", Description: "true: this run may mark deleted more records than the job's limits.max_delete_percent and limits.delete_allowance allow (an upstream that really dropped them)"}},
		Response: datasync.Run{}, Handler: func(c *gin.Context) {
			id := c.Param("id")
			noteResource(c, "sync_job", id)
			ctx := c.Request.Context()
			var opt datasync.RunOptions
			background := false // ?wait=false
			if v := c.Query("wait"); v != "" && v != "true" {
				if v != "false" {
					fail(c, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?wait", Reason: "true or false", Value: v}))
					return
				}
				background = true
			}
			if err := queryBools(c, "allow_mass_delete", &opt.AllowMassDelete); err != nil {
				fail(c, err)
				return
			}
			j, err := s.sync.Job(ctx, id)
			if err != nil {
				fail(c, err)
				return
			}
			if it, err := s.sync.ShareItem(ctx, j.ItemCode); err != nil {
				fail(c, err)
				return
			} else if p := principal(c); !p.Has(exchange.RoleAdmin) && p.DepartmentID != it.ProviderID {
				fail(c, errs.Forbidden("only data admins of department %s run jobs of item %s", it.ProviderID, it.Code))
				return
			}
			if background {
				if err := s.sync.RunInBackgroundWith(ctx, id, opt); err != nil {
					fail(c, err)
					return
				}
				ok(c, http.StatusAccepted, map[string]string{"job_id": id, "status": "started", "runs": "/v1/sync/jobs/" + id + "/runs"})
				return
			}
			run, err := s.sync.RunJobWith(ctx, id, "manual", opt, nil)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "sync_run", run.ID)
			ok(c, http.StatusOK, run)
		}})
	s.handle(route{Method: "GET", Path: "/v1/sync/jobs/:id/runs", Tag: "sync", Summary: "A job's runs, newest first.", Roles: readers,
		Query: []queryParam{{Name: "limit", Description: "default 50, at most 1000"}}, Response: list[datasync.Run]{}, Handler: func(c *gin.Context) {
			limit, _ := strconv.Atoi(c.Query("limit"))
			noteResource(c, "sync_job", c.Param("id"))
			rs, err := s.sync.Runs(c.Request.Context(), c.Param("id"), limit)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(rs))
			ok(c, http.StatusOK, list[datasync.Run]{Items: rs})
		}})
	s.handle(route{Method: "GET", Path: "/v1/sync/runs/:id", Tag: "sync", Summary: "One run.", Roles: readers,
		Response: datasync.Run{}, Handler: func(c *gin.Context) {
			noteResource(c, "sync_run", c.Param("id"))
			r, err := s.sync.GetRun(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, r)
		}})
	s.handle(route{Method: "GET", Path: "/v1/sync/runs/:id/errors", Tag: "sync", Summary: "The rejected rows a run kept (they name records: data admins of the item's department, admins and auditors only).", Roles: readers,
		Response: list[datasync.RowError]{}, Handler: func(c *gin.Context) {
			noteResource(c, "sync_run", c.Param("id"))
			es, err := s.sync.RunErrorsFor(c.Request.Context(), principal(c), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(es))
			ok(c, http.StatusOK, list[datasync.RowError]{Items: es})
		}})
	s.handle(route{Method: "GET", Path: "/v1/sync/health", Tag: "sync", Summary: "Freshness (age against the item's update cycle) and completeness of every job.", Roles: readers,
		Query: []queryParam{{Name: "overdue", Description: "true: only overdue jobs"}}, Response: list[datasync.Health]{}, Handler: func(c *gin.Context) {
			hs, err := s.sync.Health(c.Request.Context())
			if err != nil {
				fail(c, err)
				return
			}
			overdue, err := queryBool(c, "overdue")
			if err != nil {
				fail(c, err)
				return
			}
			if overdue {
				out := hs[:0]
				for _, h := range hs {
					if h.Overdue {
						out = append(out, h)
					}
				}
				hs = out
			}
			noteRows(c, len(hs))
			ok(c, http.StatusOK, list[datasync.Health]{Items: hs})
		}})
}
