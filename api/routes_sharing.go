package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

type refuseRequest struct {
	Reason string `json:"reason"`
}

type acceptDisputeRequest struct {
	Resolution string `json:"resolution"`
	// Correction, when given, is applied to the record at once as a new
	// version (field code → value); otherwise the fix comes with the next sync.
	Correction map[string]any `json:"correction,omitempty"`
}

type reviewResponse struct {
	Items []exchange.GrantMisfit `json:"items"`
}

func (s *Server) registerSharing() {
	users := []exchange.Role{exchange.RoleApp, exchange.RoleDataAdmin}
	dataAdmins := []exchange.Role{exchange.RoleDataAdmin}
	s.handle(route{Method: "POST", Path: "/v1/applications", Tag: "sharing",
		Summary: "Apply to use an item: 无条件共享 registers the use and grants at once; 有条件共享 waits for the provider (deadline in working days); 不予共享 is refused.",
		Roles:   users, Request: exchange.NewApplication{}, Response: exchange.Application{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var na exchange.NewApplication
			if err := bindJSON(c, &na); err != nil {
				fail(c, err)
				return
			}
			noteResource(c, exchange.ResourceCatalogItem, na.ItemCode)
			a, err := s.sharing.Apply(c.Request.Context(), principal(c), na)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "application", a.ID)
			if a.GrantID != "" {
				noteResource(c, "grant", a.GrantID)
			}
			ok(c, http.StatusCreated, a)
		}})
	s.handle(route{Method: "GET", Path: "/v1/applications", Tag: "sharing",
		Summary: "List applications: the caller's department's, as consumer or (data admins) as provider, the item's provider now; admins and auditors see all.",
		Query: []queryParam{{Name: "as", Description: "consumer (default) or provider: the applications for the items the department provides now, whoever provided them when the consumer applied"}, {Name: "status", Description: "pending, approved, refused"},
			{Name: "overdue", Description: "true: pending past their deadline"}, {Name: "item_code"},
			{Name: "limit", Description: "1–1000, default 100"}, {Name: "cursor", Description: "next_cursor of the page before"}},
		Response: list[exchange.Application]{}, Handler: func(c *gin.Context) {
			l, err := sharingListQuery(c)
			if err != nil {
				fail(c, err)
				return
			}
			f := exchange.ApplicationFilter{Status: c.Query("status"), ItemCode: c.Query("item_code"), Limit: l.limit, Cursor: c.Query("cursor"),
				OverdueOnly: l.overdue, ConsumerDepartmentID: l.consumer, ProviderDepartmentID: l.provider}
			as, next, err := s.sharing.Applications(c.Request.Context(), f)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(as))
			ok(c, http.StatusOK, list[exchange.Application]{Items: as, NextCursor: next})
		}})
	s.handle(route{Method: "GET", Path: "/v1/applications/:id", Tag: "sharing", Summary: "One application (its consumer, the item's provider now, admins and auditors).",
		Response: exchange.Application{}, Handler: func(c *gin.Context) {
			a, err := s.sharing.Application(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			// The item's provider now decides the application, so it sees
			// it; a department that provided the item before does not.
			if p := principal(c); !p.Has(exchange.RoleAdmin, exchange.RoleAuditor) && p.DepartmentID != a.ConsumerDepartmentID && p.DepartmentID != a.CurrentProviderDepartmentID {
				fail(c, errs.NotFound("application %s not found", a.ID))
				return
			}
			noteResource(c, "application", a.ID)
			ok(c, http.StatusOK, a)
		}})
	s.handle(route{Method: "POST", Path: "/v1/applications/:id/approve", Tag: "sharing",
		Summary: "Approve an application of the caller's department's item, possibly with fewer fields or a shorter period; makes the grant.",
		Roles:   dataAdmins, Request: exchange.Decision{}, Response: exchange.Application{}, Handler: func(c *gin.Context) {
			var d exchange.Decision
			if err := bindJSON(c, &d); err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "application", c.Param("id"))
			a, err := s.sharing.Approve(c.Request.Context(), principal(c), c.Param("id"), d)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "grant", a.GrantID)
			ok(c, http.StatusOK, a)
		}})
	s.handle(route{Method: "POST", Path: "/v1/applications/:id/refuse", Tag: "sharing", Summary: "Refuse an application, with reasons.",
		Roles: dataAdmins, Request: refuseRequest{}, Response: exchange.Application{}, Handler: func(c *gin.Context) {
			var r refuseRequest
			if err := bindJSON(c, &r); err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "application", c.Param("id"))
			a, err := s.sharing.Refuse(c.Request.Context(), principal(c), c.Param("id"), r.Reason)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, a)
		}})
	s.handle(route{Method: "POST", Path: "/v1/items/:code/review-grants", Tag: "sharing",
		Summary: "After an item's share type or fields changed: revoke grants that no longer fit (all of them on a withdrawn or 不予共享 item; those made by registrations on an item now 有条件共享), narrow those naming removed fields.",
		Roles:   []exchange.Role{exchange.RoleAdmin}, Response: reviewResponse{}, Handler: func(c *gin.Context) {
			noteResource(c, exchange.ResourceCatalogItem, c.Param("code"))
			ms, err := s.sharing.ReviewGrants(c.Request.Context(), principal(c), c.Param("code"))
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(ms))
			ok(c, http.StatusOK, reviewResponse{Items: ms})
		}})

	s.handle(route{Method: "POST", Path: "/v1/disputes", Tag: "sharing", Summary: "Dispute (异议) a record; it is flagged for every consumer while the provider checks it.",
		Roles: users, Request: exchange.NewDispute{}, Response: exchange.Dispute{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var nd exchange.NewDispute
			if err := bindJSON(c, &nd); err != nil {
				fail(c, err)
				return
			}
			noteResource(c, exchange.ResourceCatalogItem, nd.ItemCode)
			nd.ItemCode = strings.TrimSpace(nd.ItemCode)
			if ref := strings.TrimSpace(nd.RecordKey); strings.HasPrefix(ref, "~") {
				// A key shown as a reference (keys_hidden): the dispute
				// names the record the reference stands for, and its
				// answers to this department show the reference again
				// (disputeViews).
				k, found := s.openKeyRef(nd.ItemCode, ref)
				if !found {
					fail(c, errs.InvalidFields("dispute is not valid", errs.FieldError{Pointer: "/record_key",
						Reason: "not a reference this hub gave for a record of item " + nd.ItemCode + ": give the key (~…) as the records of that item showed it"}))
					return
				}
				nd.RecordKey = k
			}
			ctx := c.Request.Context()
			d, err := s.sharing.RaiseDispute(ctx, principal(c), nd)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "dispute", d.ID)
			s.okDispute(c, http.StatusCreated, d)
		}})
	s.handle(route{Method: "GET", Path: "/v1/disputes", Tag: "sharing", Summary: "List disputes the caller's department raised or (as=provider) must settle as the item's provider now; admins and auditors see all.",
		Query: []queryParam{{Name: "as", Description: "consumer (default) or provider: the disputes on the items the department provides now, whoever provided them when the dispute was raised"}, {Name: "status"}, {Name: "overdue"}, {Name: "item_code"},
			{Name: "limit", Description: "1–1000, default 100"}, {Name: "cursor", Description: "next_cursor of the page before"}},
		Response: list[exchange.Dispute]{}, Handler: func(c *gin.Context) {
			l, err := sharingListQuery(c)
			if err != nil {
				fail(c, err)
				return
			}
			f := exchange.DisputeFilter{Status: c.Query("status"), ItemCode: c.Query("item_code"), Limit: l.limit, Cursor: c.Query("cursor"),
				OverdueOnly: l.overdue, ConsumerDepartmentID: l.consumer, ProviderDepartmentID: l.provider}
			ds, next, err := s.sharing.Disputes(c.Request.Context(), f)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(ds))
			ok(c, http.StatusOK, list[exchange.Dispute]{Items: s.disputeViews(c.Request.Context(), principal(c), ds), NextCursor: next})
		}})
	s.handle(route{Method: "POST", Path: "/v1/disputes/:id/accept", Tag: "sharing",
		Summary: "Accept a dispute (provider data admins); an optional correction is applied to the record at once.",
		Roles:   dataAdmins, Request: acceptDisputeRequest{}, Response: exchange.Dispute{}, Handler: func(c *gin.Context) {
			var r acceptDisputeRequest
			if err := bindJSON(c, &r); err != nil {
				fail(c, err)
				return
			}
			ctx := c.Request.Context()
			id := c.Param("id")
			noteResource(c, "dispute", id)
			// Everything AcceptDispute checks is checked before the
			// correction is; the correction and the acceptance are then
			// written in one transaction, so a failed or lost acceptance
			// leaves the record as it was.
			d, err := s.sharing.CheckAccept(ctx, principal(c), id, r.Resolution)
			if err != nil {
				fail(c, err)
				return
			}
			var (
				correction string
				write      func(*sql.Tx) error
				release    = func() {}
			)
			if len(r.Correction) > 0 {
				fix, err := s.sync.CheckCorrection(ctx, principal(c), d.ItemCode, d.RecordKey, r.Correction)
				if err != nil {
					fail(c, err)
					return
				}
				write = func(tx *sql.Tx) error { return s.sync.CorrectRecordTx(ctx, tx, fix) }
				// A correction not committed must not hold the item's
				// resume point back until its lease ends.
				release = func() { s.sync.ReleaseCorrection(ctx, fix) }
				b, _ := json.Marshal(r.Correction)
				correction = string(b)
			}
			d, err = s.sharing.AcceptDisputeWith(ctx, principal(c), id, r.Resolution, correction, write)
			if err != nil {
				release()
				fail(c, err)
				return
			}
			s.okDispute(c, http.StatusOK, d)
		}})
	s.handle(route{Method: "POST", Path: "/v1/disputes/:id/reject", Tag: "sharing", Summary: "Reject a dispute with a reason; the flag is cleared.",
		Roles: dataAdmins, Request: refuseRequest{}, Response: exchange.Dispute{}, Handler: func(c *gin.Context) {
			var r refuseRequest
			if err := bindJSON(c, &r); err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "dispute", c.Param("id"))
			d, err := s.sharing.RejectDispute(c.Request.Context(), principal(c), c.Param("id"), r.Reason)
			if err != nil {
				fail(c, err)
				return
			}
			s.okDispute(c, http.StatusOK, d)
		}})
	for _, act := range []string{"clear", "archive"} {
		s.handle(route{Method: "POST", Path: "/v1/disputes/:id/" + act, Tag: "sharing", Summary: act + " a settled dispute.",
			Roles: dataAdmins, Response: exchange.Dispute{}, Handler: func(c *gin.Context) {
				noteResource(c, "dispute", c.Param("id"))
				var (
					d   exchange.Dispute
					err error
				)
				if act == "clear" {
					d, err = s.sharing.ClearDispute(c.Request.Context(), principal(c), c.Param("id"))
				} else {
					d, err = s.sharing.ArchiveDispute(c.Request.Context(), principal(c), c.Param("id"))
				}
				if err != nil {
					fail(c, err)
					return
				}
				s.okDispute(c, http.StatusOK, d)
			}})
	}

	s.handle(route{Method: "GET", Path: "/v1/stats/calls", Tag: "sharing",
		Summary: "Data calls per day, consumer, provider and item, from the audit log. Auditors and admins see all; others their department's (as consumer, or as=provider).",
		Query: []queryParam{{Name: "from", Required: true, Description: "RFC 3339"}, {Name: "to", Required: true, Description: "RFC 3339; at most 92 days after from"},
			{Name: "as", Description: "consumer (default) or provider"}, {Name: "consumer_department_id"}, {Name: "provider_department_id"}, {Name: "item_code"}},
		Response: list[exchange.CallStat]{}, Handler: func(c *gin.Context) {
			from, err1 := parseQueryTime(c.Query("from"))
			to, err2 := parseQueryTime(c.Query("to"))
			var fe []errs.FieldError
			if err1 != nil {
				fe = append(fe, errs.FieldError{Pointer: "?from", Reason: "required, an RFC 3339 time", Value: c.Query("from")})
			}
			if err2 != nil {
				fe = append(fe, errs.FieldError{Pointer: "?to", Reason: "required, an RFC 3339 time", Value: c.Query("to")})
			}
			if len(fe) > 0 {
				fail(c, errs.InvalidFields("bad period", fe...))
				return
			}
			asProvider, err := queryAs(c)
			if err != nil {
				fail(c, err)
				return
			}
			f := exchange.CallStatsFilter{From: from, To: to, ConsumerDepartmentID: c.Query("consumer_department_id"),
				ProviderDepartmentID: c.Query("provider_department_id"), ItemCode: c.Query("item_code")}
			if p := principal(c); !p.Has(exchange.RoleAdmin, exchange.RoleAuditor) {
				if asProvider {
					f.ProviderDepartmentID = p.DepartmentID
				} else {
					f.ConsumerDepartmentID = p.DepartmentID
				}
			}
			st, err := s.sharing.CallStats(c.Request.Context(), s.audit, f)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(st))
			ok(c, http.StatusOK, list[exchange.CallStat]{Items: st})
		}})
}

// okDispute answers with d as the caller may see it (disputeViews).
func (s *Server) okDispute(c *gin.Context, status int, d exchange.Dispute) {
	ok(c, status, s.disputeViews(c.Request.Context(), principal(c), []exchange.Dispute{d})[0])
}

// disputeViews shows disputes to the department that raised them as its
// grants in force show the item's records: of a correction only the fields
// they show, personal fields they show masked masked, and the record's key
// as its reference (keyRef) when they hide a key field. Without a grant in
// force, or when the item is no longer shared, the correction is left out
// and the key is a reference. The item's providing department now (not
// one that provided it when the dispute was raised), admins and auditors
// see disputes as written.
func (s *Server) disputeViews(ctx context.Context, p *exchange.Principal, ds []exchange.Dispute) []exchange.Dispute {
	if p.Has(exchange.RoleAdmin, exchange.RoleAuditor) {
		return ds
	}
	views := map[string]projection{}
	for i := range ds {
		d := &ds[i]
		if d.CurrentProviderDepartmentID == p.DepartmentID {
			continue
		}
		v, seen := views[d.ItemCode]
		if !seen {
			v = s.grantedView(ctx, p.DepartmentID, d.ItemCode)
			views[d.ItemCode] = v
		}
		if len(v.hiddenKeys) > 0 || len(v.fields) == 0 {
			d.RecordKey = s.keyRef(d.ItemCode, d.RecordKey)
		}
		if d.Correction == "" {
			continue
		}
		shown, err := v.apply(json.RawMessage(d.Correction))
		if err != nil || len(shown) == 0 {
			d.Correction = ""
			continue
		}
		d.Correction = string(must(json.Marshal(shown)))
	}
	return ds
}

// grantedView is how department sees item's records under all its grants
// in force together: a field any of them shows, masked only when every one
// showing it masks it. Nothing when it holds none, or on any error.
func (s *Server) grantedView(ctx context.Context, department, item string) projection {
	it, err := s.sync.CachedShareItem(ctx, item)
	if err != nil || !it.Published || it.ShareType == exchange.ShareNone {
		return projection{}
	}
	grants, err := s.ex.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: department,
		ResourceKind: exchange.ResourceCatalogItem, ResourceID: item, ActiveOnly: true})
	if err != nil {
		s.log.Warn("dispute view: grants", "department", department, "item", item, "err", err)
		return projection{}
	}
	shown, clear := map[string]bool{}, map[string]bool{}
	for _, g := range grants {
		gp := newProjection(it, exchange.Access{Grant: g, Fields: g.Fields})
		for _, f := range gp.fields {
			shown[f] = true
			if !gp.masked[f] {
				clear[f] = true
			}
		}
	}
	v := projection{masked: map[string]bool{}}
	for _, f := range it.Fields {
		if shown[f.Code] {
			v.fields = append(v.fields, f.Code)
			v.masked[f.Code] = !clear[f.Code]
		}
	}
	for _, k := range it.KeyFields {
		if !shown[k] || !clear[k] {
			v.hiddenKeys = append(v.hiddenKeys, k)
		}
	}
	return v
}

// sharingList is what GET /v1/applications and GET /v1/disputes read
// alike: paging, ?overdue, and the side the caller lists (?as). Others
// than admins and auditors list their department's side only; admins and
// auditors list everything unless they say ?as.
type sharingList struct {
	limit              int
	overdue            bool
	consumer, provider string // the department listed as consumer or as provider; both empty: all
}

func sharingListQuery(c *gin.Context) (sharingList, error) {
	var l sharingList
	var err error
	if l.limit, err = limitQuery(c); err != nil {
		return l, err
	}
	if l.overdue, err = queryBool(c, "overdue"); err != nil {
		return l, err
	}
	asProvider, err := queryAs(c)
	if err != nil {
		return l, err
	}
	if p := principal(c); !p.Has(exchange.RoleAdmin, exchange.RoleAuditor) || c.Query("as") != "" {
		if asProvider {
			l.provider = p.DepartmentID
		} else {
			l.consumer = p.DepartmentID
		}
	}
	return l, nil
}
