package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

type newKeyRequest struct {
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at,omitempty"`
}

type newKeyResponse struct {
	Key    exchange.APIKey `json:"key"`
	Secret string          `json:"secret"`
	Note   string          `json:"note"`
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

type accessResponse struct {
	GrantID    string    `json:"grant_id"`
	Resource   string    `json:"resource"`
	Fields     []string  `json:"fields"`
	Purpose    string    `json:"purpose"`
	ValidUntil time.Time `json:"valid_until"`
	DailyQuota int64     `json:"daily_quota"`
	UsedToday  int64     `json:"used_today"`
}

type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func (s *Server) registerExchange() {
	admin := []exchange.Role{exchange.RoleAdmin}
	// Auditors keep their own keys; admins everyone else's (see
	// exchange.AuditorRule, 三员分立).
	keyKeepers := []exchange.Role{exchange.RoleAdmin, exchange.RoleAuditor}
	s.handle(route{Method: "GET", Path: "/v1/me", Tag: "access", Summary: "The calling principal.",
		Response: exchange.Principal{}, Handler: func(c *gin.Context) { ok(c, http.StatusOK, principal(c)) }})

	s.handle(route{Method: "POST", Path: "/v1/departments", Tag: "access", Summary: "Create a department (统一社会信用代码 validated).", Roles: admin,
		Request: exchange.Department{}, Response: exchange.Department{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var d exchange.Department
			if err := bindJSON(c, &d); err != nil {
				fail(c, err)
				return
			}
			d, err := s.ex.CreateDepartment(c.Request.Context(), d)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "department", d.ID)
			ok(c, http.StatusCreated, d)
		}})
	s.handle(route{Method: "GET", Path: "/v1/departments", Tag: "access", Summary: "List departments.",
		Response: list[exchange.Department]{}, Handler: func(c *gin.Context) {
			ds, err := s.ex.Departments(c.Request.Context())
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(ds))
			ok(c, http.StatusOK, list[exchange.Department]{Items: ds})
		}})
	s.handle(route{Method: "GET", Path: "/v1/departments/:id", Tag: "access", Summary: "One department.",
		Response: exchange.Department{}, Handler: func(c *gin.Context) {
			d, err := s.ex.Department(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "department", d.ID)
			noteRows(c, 1)
			ok(c, http.StatusOK, d)
		}})

	s.handle(route{Method: "POST", Path: "/v1/principals", Tag: "access",
		Summary: "Create a principal with roles. Not an auditor (三员分立): the operator makes auditors with `sharehub auditor`.", Roles: admin,
		Request: exchange.NewPrincipal{}, Response: exchange.Principal{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var np exchange.NewPrincipal
			if err := bindJSON(c, &np); err != nil {
				fail(c, err)
				return
			}
			if err := exchange.CheckNewPrincipalRoles(np.Roles); err != nil {
				fail(c, err)
				return
			}
			p, err := s.ex.CreatePrincipal(c.Request.Context(), np)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "principal", p.ID)
			ok(c, http.StatusCreated, p)
		}})
	s.handle(route{Method: "GET", Path: "/v1/principals", Tag: "access", Summary: "List principals.", Roles: []exchange.Role{exchange.RoleAdmin, exchange.RoleAuditor},
		Query:    []queryParam{{Name: "department_id", Description: "only this department's principals"}},
		Response: list[exchange.Principal]{}, Handler: func(c *gin.Context) {
			ps, err := s.ex.Principals(c.Request.Context(), c.Query("department_id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(ps))
			ok(c, http.StatusOK, list[exchange.Principal]{Items: ps})
		}})
	s.handle(route{Method: "GET", Path: "/v1/principals/:id", Tag: "access", Summary: "One principal.", Roles: []exchange.Role{exchange.RoleAdmin, exchange.RoleAuditor},
		Response: exchange.Principal{}, Handler: func(c *gin.Context) {
			p, err := s.ex.Principal(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "principal", p.ID)
			ok(c, http.StatusOK, p)
		}})
	s.handle(route{Method: "POST", Path: "/v1/principals/:id/disable", Tag: "access", Summary: "Disable a principal and all its keys (not an auditor: the operator does that).", Roles: admin,
		Response: exchange.Principal{}, Handler: func(c *gin.Context) {
			target, err := s.ex.Principal(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "principal", target.ID)
			if err := exchange.CheckDisablePrincipal(principal(c), target); err != nil {
				fail(c, err)
				return
			}
			p, err := s.ex.DisablePrincipal(c.Request.Context(), target.ID)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "principal", p.ID)
			ok(c, http.StatusOK, p)
		}})
	s.handle(route{Method: "POST", Path: "/v1/principals/:id/keys", Tag: "access",
		Summary: "Make an API key; its secret is shown only in this response. Admins key every principal but auditors; an auditor keys only itself.", Roles: keyKeepers,
		Request: newKeyRequest{}, Response: newKeyResponse{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var r newKeyRequest
			if err := bindJSON(c, &r); err != nil {
				fail(c, err)
				return
			}
			owner, err := s.ex.Principal(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "principal", owner.ID)
			if err := exchange.CheckKeyAccess(principal(c), owner, true); err != nil {
				fail(c, err)
				return
			}
			k, secret, err := s.ex.CreateKey(c.Request.Context(), owner.ID, r.Name, r.ExpiresAt)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "principal", k.PrincipalID)
			noteResource(c, "api_key", k.ID)
			c.Header("Cache-Control", "no-store")
			ok(c, http.StatusCreated, newKeyResponse{Key: k, Secret: secret, Note: "store the secret now: the hub keeps only its hash and cannot show it again"})
		}})
	s.handle(route{Method: "GET", Path: "/v1/principals/:id/keys", Tag: "access", Summary: "List a principal's keys (never their secrets); an auditor lists only its own.", Roles: keyKeepers,
		Response: list[exchange.APIKey]{}, Handler: func(c *gin.Context) {
			p, err := s.ex.Principal(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err) // no such principal: 404, not an empty list
				return
			}
			noteResource(c, "principal", p.ID)
			if err := exchange.CheckKeyAccess(principal(c), p, false); err != nil {
				fail(c, err)
				return
			}
			ks, err := s.ex.Keys(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(ks))
			ok(c, http.StatusOK, list[exchange.APIKey]{Items: ks})
		}})
	s.handle(route{Method: "POST", Path: "/v1/keys/:id/revoke", Tag: "access", Summary: "Revoke an API key. Admins revoke every key but auditors'; an auditor only its own.", Roles: keyKeepers,
		Response: exchange.APIKey{}, Handler: func(c *gin.Context) {
			ctx := c.Request.Context()
			k, err := s.ex.Key(ctx, c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "principal", k.PrincipalID)
			noteResource(c, "api_key", k.ID)
			owner, err := s.ex.Principal(ctx, k.PrincipalID)
			if err != nil {
				fail(c, err)
				return
			}
			if err := exchange.CheckKeyAccess(principal(c), owner, true); err != nil {
				fail(c, err)
				return
			}
			k, err = s.ex.RevokeKey(ctx, k.ID)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, k)
		}})

	s.handle(route{Method: "POST", Path: "/v1/grants", Tag: "access", Summary: "Grant a department use of a resource's fields for a purpose.", Roles: admin,
		Request: exchange.NewGrant{}, Response: exchange.Grant{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var ng exchange.NewGrant
			if err := bindJSON(c, &ng); err != nil {
				fail(c, err)
				return
			}
			g, err := s.ex.CreateGrant(c.Request.Context(), principal(c), ng)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "grant", g.ID)
			ok(c, http.StatusCreated, g)
		}})
	s.handle(route{Method: "GET", Path: "/v1/grants", Tag: "access", Summary: "List grants; department apps see their own department's.",
		Query: []queryParam{{Name: "consumer_department_id"}, {Name: "resource_kind"}, {Name: "resource_id"}, {Name: "active", Description: "true: only grants in force now"},
			{Name: "unexpired", Description: "true: only grants not revoked and not expired, those dated to start later too"}},
		Response: list[exchange.Grant]{}, Handler: func(c *gin.Context) {
			f := exchange.GrantFilter{ConsumerDepartmentID: c.Query("consumer_department_id"), ResourceKind: c.Query("resource_kind"),
				ResourceID: c.Query("resource_id")}
			if err := queryBools(c, "active", &f.ActiveOnly, "unexpired", &f.Unexpired); err != nil {
				fail(c, err)
				return
			}
			p := principal(c)
			if !p.Has(exchange.RoleAdmin, exchange.RoleAuditor) {
				if f.ConsumerDepartmentID != "" && f.ConsumerDepartmentID != p.DepartmentID {
					fail(c, errs.Forbidden("only admins and auditors may list another department's grants"))
					return
				}
				f.ConsumerDepartmentID = p.DepartmentID
			}
			gs, err := s.ex.Grants(c.Request.Context(), f)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(gs))
			ok(c, http.StatusOK, list[exchange.Grant]{Items: gs})
		}})
	s.handle(route{Method: "GET", Path: "/v1/grants/:id", Tag: "access", Summary: "One grant.",
		Response: exchange.Grant{}, Handler: func(c *gin.Context) {
			g, err := s.ex.Grant(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			if p := principal(c); !p.Has(exchange.RoleAdmin, exchange.RoleAuditor) && g.ConsumerDepartmentID != p.DepartmentID {
				fail(c, errs.NotFound("grant %s not found", g.ID))
				return
			}
			noteResource(c, "grant", g.ID)
			ok(c, http.StatusOK, g)
		}})
	s.handle(route{Method: "POST", Path: "/v1/grants/:id/revoke", Tag: "access", Summary: "Revoke a grant, with a reason.", Roles: admin,
		Request: revokeRequest{}, Response: exchange.Grant{}, Handler: func(c *gin.Context) {
			var r revokeRequest
			if err := bindJSON(c, &r); err != nil {
				fail(c, err)
				return
			}
			g, err := s.ex.RevokeGrant(c.Request.Context(), principal(c), c.Param("id"), r.Reason)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "grant", g.ID)
			ok(c, http.StatusOK, g)
		}})
	s.handle(route{Method: "GET", Path: "/v1/access", Tag: "access",
		Summary: "Check and use a grant: the same check every data route makes (takes one call from the daily quota).",
		Query: []queryParam{{Name: "resource_kind", Required: true}, {Name: "resource_id", Required: true},
			{Name: "fields", Description: "comma-separated field codes to check; empty: all granted fields"}},
		Response: accessResponse{}, Handler: func(c *gin.Context) {
			res := exchange.Resource{Kind: c.Query("resource_kind"), ID: c.Query("resource_id")}
			var fe []errs.FieldError
			if res.Kind == "" {
				fe = append(fe, errs.FieldError{Pointer: "?resource_kind", Reason: "required"})
			}
			if res.ID == "" {
				fe = append(fe, errs.FieldError{Pointer: "?resource_id", Reason: "required"})
			}
			if len(fe) > 0 {
				fail(c, errs.InvalidFields("missing query parameters", fe...))
				return
			}
			noteResource(c, res.Kind, res.ID)
			var fields []string
			for _, f := range strings.Split(c.Query("fields"), ",") {
				if f = strings.TrimSpace(f); f != "" {
					fields = append(fields, f)
				}
			}
			a, err := s.authorize(c, res, fields)
			if err != nil {
				fail(c, err)
				return
			}
			used, err := s.ex.QuotaUsedToday(c.Request.Context(), a.Grant.ID)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, accessResponse{GrantID: a.Grant.ID, Resource: res.String(), Fields: a.Fields, Purpose: a.Purpose,
				ValidUntil: a.Grant.ValidUntil, DailyQuota: a.Grant.DailyQuota, UsedToday: used})
		}})
}

// authorize runs the grant check for the caller and records the grant and
// purpose in the call's audit entry. Every data route calls it, passing as
// scopes whatever else it refuses for what the grant does not allow, so
// that such a refusal does not use the quota.
func (s *Server) authorize(c *gin.Context, res exchange.Resource, fields []string, scopes ...exchange.Scope) (exchange.Access, error) {
	a, err := s.ex.Authorize(c.Request.Context(), principal(c), res, fields, c.GetHeader("X-Purpose"), scopes...)
	if err != nil {
		return a, err
	}
	noteResource(c, "grant", a.Grant.ID)
	notePurpose(c, a.Purpose)
	return a, nil
}
