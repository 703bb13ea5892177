package api

import (
	"encoding/base64"
	"fmt"
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
		view.Message, view.Class, view.Page = catalogSearchMessage(err), "bad", v
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

// fieldMessage is an invalid-input error the console's own checks made
// (worded in Chinese) as one line. It repeats the value refused: a
// datetime-local field cannot show a value not in its format, so the form
// alone would not say what was wrong.
func fieldMessage(err error) string {
	p := problemFor(err)
	msg := p.Detail
	for _, f := range p.Errors {
		msg += "；" + f.Pointer + "：" + f.Reason
		if f.Value != "" {
			msg += "（收到“" + f.Value + "”）"
		}
	}
	return msg
}

// catalogSearchMessage says in Chinese why the catalogue search refused a
// query: its errors are worded in English for API clients (?q, "at most
// 100 characters"), which the console's users should not be shown.
func catalogSearchMessage(err error) string {
	for _, f := range problemFor(err).Errors {
		switch {
		case f.Pointer == "?cursor":
			return "翻页链接已失效，请重新检索。"
		case f.Pointer == "?q" && strings.Contains(f.Reason, "words"):
			return "检索词过多：最多 8 个（以空格分开），请减少后重试。"
		case f.Pointer == "?q" && strings.Contains(f.Reason, "characters"):
			return fmt.Sprintf("检索词过长：最多 %d 个字，请缩短后重试。", catalog.MaxQuery)
		case f.Pointer == "?q":
			return "请输入检索词（只有标点或空白不能检索）。"
		}
	}
	return "检索条件有误，请修改后重试。"
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

// localInput is t as a datetime-local field takes it, in Beijing time. A
// browser empties the field for any other form of a time the filter takes
// (a date alone, RFC 3339), so the page would filter by a time it does not
// show, and the next search from the form would drop it.
func localInput(t time.Time) string {
	t = t.In(cst)
	switch {
	case t.Second() == 0 && t.Nanosecond() == 0:
		return t.Format("2006-01-02T15:04")
	case t.Nanosecond() == 0:
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000") // the finest the field shows
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
	// Checked here so that the page says it in Chinese (the log's own
	// check words it for API clients).
	if !af.From.IsZero() && !af.To.IsZero() && af.To.Before(af.From) {
		return af, errs.InvalidFields("筛选条件有误", errs.FieldError{Pointer: "结束时间", Reason: "不能早于开始时间"})
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
	if err != nil {
		_ = c.Error(err)
		view.Message, view.Class, view.Page = fieldMessage(err), "bad", v
		s.consoleRender(c, http.StatusBadRequest, "audit", view)
		return
	}
	// The page filters by the times its form shows (and its links carry).
	if !f.From.IsZero() {
		f.From = f.From.Truncate(time.Millisecond)
		v.Form.From = localInput(f.From)
	}
	if !f.To.IsZero() {
		f.To = f.To.Truncate(time.Millisecond)
		v.Form.To = localInput(f.To)
	}
	es, next, err := s.audit.Search(ctx, f)
	if errs.Is(err, errs.KindInvalid) {
		// The form is checked above: what the log refuses is the cursor,
		// in English for API clients.
		_ = c.Error(err)
		view.Message, view.Class, view.Page = "翻页链接已失效，请从第一页重新检索。", "bad", v
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
		// Noted before the lookup, as the API's path resources are: a
		// look for a department that is not there is found by its id too.
		noteResource(c, "department", id)
		d, err := s.ex.Department(ctx, id)
		if errs.Is(err, errs.KindNotFound) {
			// Said in Chinese, over the list to choose from again.
			_ = c.Error(err)
			noteRows(c, rows)
			s.consoleRender(c, http.StatusNotFound, "access", consoleView{Title: "部门与密钥", Nav: "access", Me: me, Page: v,
				Message: fmt.Sprintf("没有 ID 为“%s”的部门：链接可能有误，请从下面的列表中选择。", clip(id, 60)), Class: "bad"})
			return
		}
		if err != nil {
			s.consoleFail(c, err)
			return
		}
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
			// The page shows each principal's keys, as GET
			// /v1/principals/{id}/keys does, which names the principal
			// in its entry: a search of the log for a principal finds
			// who looked at its keys here too.
			noteResource(c, "principal", p.ID)
			v.Principals = append(v.Principals, principalRow{Principal: p, Keys: ks})
			rows++
		}
	}
	noteRows(c, rows)
	s.consoleRender(c, http.StatusOK, "access", consoleView{Title: "部门与密钥", Nav: "access", Me: me, Page: v})
}
