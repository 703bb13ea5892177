package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// consolePageSize is how many audit entries one console page shows.
const consolePageSize = 50

// checkpointView is the latest signed checkpoint as the console shows it.
type checkpointView struct {
	Size                uint64
	Root                string
	Time                time.Time
	Note                string
	Origin, VerifierKey string
}

func (s *Server) checkpointView(c *gin.Context) (*checkpointView, error) {
	cp, err := s.audit.Checkpoint(c.Request.Context())
	if err != nil {
		return nil, err
	}
	return &checkpointView{Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root), Time: cp.Time, Note: string(cp.Note),
		Origin: s.cfg.AuditOrigin, VerifierKey: s.cfg.AuditVerifierKey}, nil
}

type overviewView struct{ Checkpoint *checkpointView }

func (s *Server) consoleOverview(c *gin.Context, me *consoleMe) {
	cp, err := s.checkpointView(c)
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	s.consoleRender(c, http.StatusOK, "overview", consoleView{Title: "首页", Nav: "overview", Me: me, Page: overviewView{Checkpoint: cp}})
}

type catalogView struct {
	Q      string
	Result *catalog.SearchResult
	Next   string
}

func (s *Server) consoleCatalog(c *gin.Context, me *consoleMe) {
	v := catalogView{Q: clip(c.Query("q"), 200)}
	view := consoleView{Title: "数据目录", Nav: "catalog", Me: me}
	if v.Q == "" {
		view.Page = v
		s.consoleRender(c, http.StatusOK, "catalog", view)
		return
	}
	res, err := s.catalog.Search(c.Request.Context(), catalog.SearchQuery{Q: v.Q, Cursor: c.Query("cursor"), Limit: 20})
	if errs.Is(err, errs.KindInvalid) {
		_ = c.Error(err)
		view.Message, view.Class, view.Page = fieldMessage(err), "bad", v
		s.consoleRender(c, http.StatusBadRequest, "catalog", view)
		return
	}
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	noteRows(c, len(res.Items))
	v.Result = &res
	if res.NextCursor != "" {
		v.Next = consolePath + "/catalog?" + url.Values{"q": {v.Q}, "cursor": {res.NextCursor}}.Encode()
	}
	view.Page = v
	s.consoleRender(c, http.StatusOK, "catalog", view)
}

// fieldMessage is an invalid-input error as one line.
func fieldMessage(err error) string {
	p := problemFor(err)
	msg := p.Detail
	for _, f := range p.Errors {
		msg += "；" + f.Pointer + "：" + f.Reason
	}
	return msg
}

// auditForm is the audit page's filter form, as typed.
type auditForm struct {
	From, To, PrincipalID, DepartmentID, Route, Resource, Status string
}

func (f auditForm) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"from": f.From, "to": f.To, "principal_id": f.PrincipalID, "department_id": f.DepartmentID,
		"route": f.Route, "resource": f.Resource, "status": f.Status} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// consoleTime reads a time from the audit form: the browser's
// datetime-local (Beijing time) or RFC 3339.
func consoleTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, cst); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, errs.InvalidFields("筛选条件有误", errs.FieldError{Pointer: field, Reason: "时间格式应为 2026-11-25T08:00（北京时间）", Value: clip(v, 40)})
}

func (f auditForm) filter(cursor string) (audit.Filter, error) {
	af := audit.Filter{PrincipalID: f.PrincipalID, DepartmentID: f.DepartmentID, Route: f.Route, Resource: f.Resource,
		Cursor: cursor, Limit: consolePageSize}
	var err error
	if af.From, err = consoleTime("开始时间", f.From); err != nil {
		return af, err
	}
	if af.To, err = consoleTime("结束时间", f.To); err != nil {
		return af, err
	}
	if f.Status != "" {
		n, err := strconv.Atoi(f.Status)
		if err != nil || n < 100 || n > 599 {
			return af, errs.InvalidFields("筛选条件有误", errs.FieldError{Pointer: "状态码", Reason: "应为 100–599 的 HTTP 状态码", Value: clip(f.Status, 20)})
		}
		af.Status = n
	}
	return af, nil
}

type auditView struct {
	Form       auditForm
	Entries    []audit.Entry
	Searched   bool
	Next       string
	First      string // the first page of the same search, when not on it
	Checkpoint *checkpointView
}

func (s *Server) consoleAudit(c *gin.Context, me *consoleMe) {
	ctx := c.Request.Context()
	q := func(k string) string { return clip(c.Query(k), 200) }
	v := auditView{Form: auditForm{From: q("from"), To: q("to"), PrincipalID: q("principal_id"), DepartmentID: q("department_id"),
		Route: q("route"), Resource: q("resource"), Status: q("status")}}
	view := consoleView{Title: "审计日志", Nav: "audit", Me: me}
	cp, err := s.checkpointView(c)
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	v.Checkpoint = cp
	cursor := c.Query("cursor")
	f, err := v.Form.filter(cursor)
	var es []audit.Entry
	var next string
	if err == nil {
		es, next, err = s.audit.Search(ctx, f)
	}
	if errs.Is(err, errs.KindInvalid) {
		_ = c.Error(err)
		view.Message, view.Class, view.Page = fieldMessage(err), "bad", v
		s.consoleRender(c, http.StatusBadRequest, "audit", view)
		return
	}
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	noteRows(c, len(es))
	v.Entries, v.Searched = es, true
	base := v.Form.values()
	if next != "" {
		nv := v.Form.values()
		nv.Set("cursor", next)
		v.Next = consolePath + "/audit?" + nv.Encode()
	}
	if cursor != "" {
		v.First = consolePath + "/audit?" + base.Encode()
	}
	view.Page = v
	s.consoleRender(c, http.StatusOK, "audit", view)
}

type departmentRow struct {
	exchange.Department
	Principals int
}

type principalRow struct {
	exchange.Principal
	Keys []exchange.APIKey
}

type accessView struct {
	Departments []departmentRow
	Names       map[string]string // department id → name
	Selected    *exchange.Department
	Principals  []principalRow
}

func (s *Server) consoleAccess(c *gin.Context, me *consoleMe) {
	ctx := c.Request.Context()
	deps, err := s.ex.Departments(ctx)
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	all, err := s.ex.Principals(ctx, "")
	if err != nil {
		s.consoleFail(c, err)
		return
	}
	count := map[string]int{}
	for _, p := range all {
		count[p.DepartmentID]++
	}
	v := accessView{Names: map[string]string{}}
	for _, d := range deps {
		v.Departments = append(v.Departments, departmentRow{Department: d, Principals: count[d.ID]})
		v.Names[d.ID] = d.Name
	}
	rows := len(deps)
	if id := strings.TrimSpace(c.Query("department_id")); id != "" {
		d, err := s.ex.Department(ctx, id)
		if err != nil {
			s.consoleFail(c, err)
			return
		}
		noteResource(c, "department", d.ID)
		v.Selected = &d
		for _, p := range all {
			if p.DepartmentID != d.ID {
				continue
			}
			ks, err := s.ex.Keys(ctx, p.ID)
			if err != nil {
				s.consoleFail(c, err)
				return
			}
			v.Principals = append(v.Principals, principalRow{Principal: p, Keys: ks})
			rows++
		}
	}
	noteRows(c, rows)
	s.consoleRender(c, http.StatusOK, "access", consoleView{Title: "部门与密钥", Nav: "access", Me: me, Page: v})
}
