package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	datasync "github.com/xiangyang-gov/sharehub/sync"
	"github.com/xiangyang-gov/sharehub/sync/synctest"
)

// TestRouteMatrixAnswersNo5xxAndEnforcesRoles walks every operation that
// /openapi.json lists and sends it many request shapes: odd path values,
// every role's key and none, garbage query values, odd bodies and
// headers. Whatever the shape, the hub must answer below 500 with an X-Request-ID,
// every 4xx must be a problem+json document whose status is the
// response's (the web console's HTML pages excepted), and a caller that
// holds none of an operation's x-roles never gets a 2xx (exactly 403, or
// 401 without a key, for a plain request).
//
// Nothing is excluded: operations that change or end things (revoke,
// disable, suspend, approve, …) run last, against resources the matrix made
// for them, so that they cannot take away what earlier calls use.
func TestRouteMatrixAnswersNo5xxAndEnforcesRoles(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			start := time.Now()
			h := hubtest.Start(t, b, func(c *hub.Config) {
				// Small limits, so that bodies over them are cheap to send.
				c.MaxBodyBytes, c.MaxUpload = matrixMaxBody, matrixMaxUpload
				c.LicenceFileMax, c.LicenceZipMax, c.LicenceZipEntries = 64<<10, matrixMaxUpload, 100
			})
			m := newMatrix(t, h)
			setup := time.Since(start)
			m.run()
			m.report()
			if r := h.Do(t, "GET", "/healthz", "", nil); r.Status != http.StatusOK {
				t.Errorf("after the matrix /healthz answers %d: %s", r.Status, r.Body)
			}
			lacking := 0
			for _, op := range m.ops {
				if op.Undefined {
					lacking++
				}
			}
			t.Logf("%s: %d operations (and %d methods their paths lack), %d callers, %d requests in %s (setup %s)", b, len(m.ops)-lacking, lacking,
				len(m.callers), m.sent, time.Since(start).Round(time.Millisecond), setup.Round(time.Millisecond))
		})
	}
}

// The hub's body limits in the matrix.
const (
	matrixMaxBody   = 256 << 10
	matrixMaxUpload = 512 << 10
)

// matrixRoles are the roles of the README, one principal each, all in one
// department.
var matrixRoles = []exchange.Role{exchange.RoleAdmin, exchange.RoleDataAdmin, exchange.RoleAuditor, exchange.RoleImporter,
	exchange.RoleApp, exchange.RoleSealUser, exchange.RoleIssuer}

// matrixConsoleRoles are the role gates of the console pages, which are
// Public in /openapi.json because they authenticate with the session
// cookie, not a bearer key.
var matrixConsoleRoles = map[string][]string{
	"/console/audit":  {string(exchange.RoleAuditor)},
	"/console/access": {string(exchange.RoleAdmin)},
}

// matrixConsoleQuery are the query parameters the console pages read;
// /openapi.json does not list them (the pages are HTML).
var matrixConsoleQuery = map[string][]string{
	"/console/login":   {"ended"},
	"/console/catalog": {"q", "cursor"},
	"/console/audit":   {"from", "to", "principal_id", "department_id", "route", "resource", "status", "cursor"},
	"/console/access":  {"department_id"},
}

type matrixOp struct {
	Method, Path string // Path as in /openapi.json: /v1/seals/{id}
	Params       []string
	Query        []string
	Roles        []string
	Public       bool
	JSONBody     bool
	Upload       bool
	Schema       map[string]any // the JSON request body's, resolved
	// Undefined: a method the path does not have, which must answer 400,
	// 404 or 405.
	Undefined bool
}

func (op *matrixOp) String() string { return op.Method + " " + op.Path }

// console reports whether the operation is a web console page, which
// answers HTML, problems included.
func (op *matrixOp) console() bool { return strings.HasPrefix(op.Path, "/console") }

// destructive operations end or decide things: they run after the rest.
func (op *matrixOp) destructive() bool {
	if op.Undefined {
		return false // answered before any handler
	}
	last := op.Path[strings.LastIndex(op.Path, "/")+1:]
	switch last {
	case "revoke", "disable", "suspend", "reinstate", "rotate", "archive", "clear", "accept", "reject", "approve", "refuse", "withdraw", "events":
		return op.Method == http.MethodPost
	}
	return op.Method == http.MethodDelete
}

type matrixCaller struct {
	name    string
	roles   []string // none: no key
	key     string
	session string // the console session of the same key
}

func (c *matrixCaller) holdsAny(roles []string) bool {
	for _, r := range c.roles {
		if slices.Contains(roles, r) {
			return true
		}
	}
	return false
}

type matrixFixtures struct {
	dept, consumerDept          string
	item, item2                 catalog.Item
	job, run                    string
	application, dispute, grant string
	blobKey                     string
	blobQuery                   url.Values // its download link's
	principal, key              string
	licence, licenceType, token string
	seal                        string
	template                    []byte // the catalogue's xlsx template
	image                       []byte // a seal's picture
	upstreamURL, upstreamToken  string
	existing                    map[string]string // path segment before a parameter → a value that exists
	missing                     map[string]string // … and one that does not, where missing() would find one
	// forOp overrides existing for one operation's parameter: operations
	// that change their resource get one of their own.
	forOp     map[string]map[string]string
	baseQuery map[string]url.Values
	// bodies are right-shaped request bodies that get through
	// validation, by operation; the others are made from the schema.
	bodies map[string]any
}

type matrixFailure struct {
	count  int
	sample string
}

type matrix struct {
	t       *testing.T
	h       *hubtest.Hub
	client  *http.Client
	ops     []*matrixOp
	callers []*matrixCaller
	fx      matrixFixtures

	mu       sync.Mutex
	sent     int
	failures map[string]*matrixFailure
	order    []string
}

func newMatrix(t *testing.T, h *hubtest.Hub) *matrix {
	t.Helper()
	m := &matrix{t: t, h: h, failures: map[string]*matrixFailure{},
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	t.Cleanup(m.client.CloseIdleConnections)
	m.loadOps()
	m.makeFixtures()
	return m
}

// loadOps reads every operation of /openapi.json.
func (m *matrix) loadOps() {
	t := m.t
	var doc struct {
		Paths      map[string]map[string]json.RawMessage
		Components struct{ Schemas map[string]map[string]any }
	}
	m.h.Do(t, "GET", "/openapi.json", "", nil).Want(t, http.StatusOK).JSON(t, &doc)
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var o struct {
				Parameters []struct{ Name, In string }
				Security   []map[string][]string
				XRoles     []string `json:"x-roles"`
				Body       *struct {
					Content map[string]struct{ Schema map[string]any }
				} `json:"requestBody"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			op := &matrixOp{Method: strings.ToUpper(method), Path: path, Roles: o.XRoles, Public: len(o.Security) == 0}
			for _, p := range o.Parameters {
				switch p.In {
				case "path":
					op.Params = append(op.Params, p.Name)
				case "query":
					op.Query = append(op.Query, p.Name)
				}
			}
			if op.console() {
				op.Query = append(op.Query, matrixConsoleQuery[path]...)
				op.Roles = matrixConsoleRoles[path]
			}
			if o.Body != nil {
				if c, ok := o.Body.Content["application/json"]; ok {
					op.JSONBody = true
					op.Schema = resolveSchema(c.Schema, doc.Components.Schemas, 0)
				} else {
					op.Upload = true
				}
			}
			m.ops = append(m.ops, op)
		}
	}
	if len(m.ops) < 50 {
		t.Fatalf("/openapi.json lists only %d operations", len(m.ops))
	}
	has := map[string]bool{}
	for _, op := range m.ops {
		has[op.String()] = true
	}
	for _, op := range slices.Clone(m.ops) {
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			u := &matrixOp{Method: method, Path: op.Path, Params: op.Params, Public: true, Undefined: true}
			if !has[u.String()] {
				has[u.String()] = true
				m.ops = append(m.ops, u)
			}
		}
	}
	// Reads first, then writes, then what ends or decides things, those
	// that end a resource after those that only change its state; each
	// group in path order, so that a failure names the same request on
	// every run.
	endings := []string{"suspend", "reinstate", "rotate", "accept", "clear", "archive", "reject", "approve", "refuse", "withdraw", "events", "disable", "revoke"}
	rank := func(op *matrixOp) int {
		switch {
		case op.Undefined:
			return 0
		case op.destructive():
			return 2 + slices.Index(endings, op.Path[strings.LastIndex(op.Path, "/")+1:])
		case op.Method == http.MethodGet:
			return 0
		}
		return 1
	}
	sort.Slice(m.ops, func(i, j int) bool {
		a, b := m.ops[i], m.ops[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
}

// resolveSchema inlines $refs (to a few levels: the request types are not
// recursive).
func resolveSchema(s map[string]any, set map[string]map[string]any, depth int) map[string]any {
	if ref, ok := s["$ref"].(string); ok && depth < 8 {
		return resolveSchema(set[strings.TrimPrefix(ref, "#/components/schemas/")], set, depth+1)
	}
	out := map[string]any{}
	for k, v := range s {
		out[k] = v
	}
	if props, ok := s["properties"].(map[string]any); ok {
		np := map[string]any{}
		for k, v := range props {
			np[k] = resolveSchema(v.(map[string]any), set, depth+1)
		}
		out["properties"] = np
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sub, ok := s[k].(map[string]any); ok {
			out[k] = resolveSchema(sub, set, depth+1)
		}
	}
	return out
}

// makeFixtures makes the principals, one per role, and the resources whose
// ids fill path parameters: an item of the callers' department with
// records synced into it, a grant, an application and a dispute on it, a
// blob, a principal and key to disable and revoke, and the demo's licence,
// licence type, verification token and seal.
func (m *matrix) makeFixtures() {
	t, h := m.t, m.h
	ctx := context.Background()
	fx := &m.fx
	fx.dept = h.Demo.Keys[0].Department
	fx.consumerDept = appDepartment(h)
	m.callers = append(m.callers, &matrixCaller{name: "no key"})
	for _, r := range matrixRoles {
		k := key(t, h, fx.dept, "matrix-"+string(r), r)
		m.callers = append(m.callers, &matrixCaller{name: string(r), roles: []string{string(r)}, key: k, session: newBrowser(t, h).mustLogin(k)})
	}
	// The demo's app of another department holds the grant on the
	// fixture item: with it the data routes get past the grant check.
	m.callers = append(m.callers, &matrixCaller{name: "app of " + fx.consumerDept, roles: []string{string(exchange.RoleApp)}, key: h.AppKey,
		session: newBrowser(t, h).mustLogin(h.AppKey)})
	// The police's issuer issued the demo's licence: with it the licence
	// routes get past the issuer check.
	police := key(t, h, "xy-gaj", "matrix-police-issuer", exchange.RoleIssuer)
	m.callers = append(m.callers, &matrixCaller{name: "issuer of xy-gaj", roles: []string{string(exchange.RoleIssuer)}, key: police,
		session: newBrowser(t, h).mustLogin(police)})
	admin, dataAdmin := m.caller("admin").key, m.caller("data-admin").key

	adminP, err := h.Exchange.PrincipalByName(ctx, fx.dept, "matrix-admin")
	if err != nil {
		t.Fatal(err)
	}
	it, err := h.Catalog.Create(ctx, &adminP, catalog.NewItem{Content: catalog.Content{
		Name: "路由矩阵人口信息", Lei: "1", Xiang: "01", Mu: "001", ProviderID: fx.dept,
		Summary: "路由矩阵测试用的人口信息。", Format: "数据库", ShareType: catalog.ShareConditional, ShareCondition: "用于政务服务办理",
		LegalBasis: "《中华人民共和国居民身份证法》", ShareMethod: "接口服务", OpenType: "不予开放", UpdateCycle: "每日", PublishDate: "2024-03-01",
		Libraries: []string{"base-population"},
		Fields: []catalog.Field{
			{Name: "人员编号", Code: "id", DataType: "字符型", Length: 20},
			{Name: "姓名", Code: "name", DataType: "字符型", Length: 50, Personal: true},
			{Name: "公民身份号码", Code: "sfzh", DataType: "字符型", Length: 18, Personal: true, Sensitive: true},
			{Name: "住址", Code: "address", DataType: "字符型", Length: 200},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if fx.item, err = h.Catalog.Publish(ctx, &adminP, it.Code, ""); err != nil {
		t.Fatal(err)
	}
	up := synctest.New(t, 10)
	fx.upstreamURL, fx.upstreamToken = up.RecordsURL(), synctest.Token
	var job datasync.Job
	h.Do(t, "POST", "/v1/sync/jobs", dataAdmin, datasync.NewJob{ItemCode: fx.item.Code, Name: "矩阵回落", Spec: datasync.Spec{Mode: datasync.ModeFull,
		KeyFields: []string{"id"}, IgnoreFields: []string{"updated_at"},
		Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: fx.upstreamURL, Auth: "bearer", Token: fx.upstreamToken}}}).
		Want(t, http.StatusCreated).JSON(t, &job)
	var run datasync.Run
	h.Do(t, "POST", "/v1/sync/jobs/"+job.ID+"/run", dataAdmin, nil).Want(t, http.StatusOK).JSON(t, &run)
	fx.job, fx.run = job.ID, run.ID
	g, err := h.Exchange.CreateGrant(ctx, &adminP, exchange.NewGrant{ConsumerDepartmentID: fx.consumerDept, ResourceKind: exchange.ResourceCatalogItem,
		ResourceID: fx.item.Code, Fields: []string{"id", "name", "address"}, Purpose: "路由矩阵", ValidUntil: time.Now().AddDate(1, 0, 0), DailyQuota: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	fx.grant = g.ID
	// An application of a third department, left pending for approve
	// and refuse.
	wjw := key(t, h, "xy-wjw", "matrix-wjw-app", exchange.RoleApp)
	var app exchange.Application
	h.Do(t, "POST", "/v1/applications", wjw, exchange.NewApplication{ItemCode: fx.item.Code, Purpose: "路由矩阵", Scenario: "核验",
		Fields: []string{"id", "name"}, ValidUntil: time.Now().AddDate(1, 0, 0)}).Want(t, http.StatusCreated).JSON(t, &app)
	fx.application = app.ID
	var dsp struct{ ID string }
	h.Do(t, "POST", "/v1/disputes", h.AppKey, exchange.NewDispute{ItemCode: fx.item.Code, RecordKey: "P0000001", Reason: "住址有误"},
		"X-Purpose: 路由矩阵").Want(t, http.StatusCreated).JSON(t, &dsp)
	fx.dispute = dsp.ID
	var b blobInfo
	h.Do(t, "POST", "/v1/blobs", admin, []byte("route matrix blob")).Want(t, http.StatusCreated).JSON(t, &b)
	fx.blobKey = b.Key
	l := link(t, h, admin, b.Key, "")
	lu, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	fx.blobQuery = lu.Query()
	target, err := h.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: fx.dept, Name: "matrix-target", Roles: []exchange.Role{exchange.RoleApp}})
	if err != nil {
		t.Fatal(err)
	}
	tk, _, err := h.Exchange.CreateKey(ctx, target.ID, "matrix-target", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	fx.principal, fx.key = target.ID, tk.ID
	fx.licence, fx.licenceType, fx.seal = h.Demo.LicenceID, h.Demo.LicenceType, h.Demo.SealID
	_, fx.token, _ = strings.Cut(h.Demo.LicenceQRURL, "/verify/")
	fx.template = h.Do(t, "GET", "/v1/catalog/template", admin, nil).Want(t, http.StatusOK).Body

	fx.existing = map[string]string{
		"applications": fx.application, "entries": "1", "blobs": fx.blobKey, "items": fx.item.Code, "versions": "1",
		"data": fx.item.Code, "records": "P0000003", "departments": fx.dept, "disputes": fx.dispute, "grants": fx.grant,
		"keys": fx.key, "licence-types": fx.licenceType, "licences": fx.licence, "principals": fx.principal, "seals": fx.seal,
		"jobs": fx.job, "runs": fx.run, "verify": fx.token,
	}
	// PUT changes the item's fields and the job's source: they get their
	// own, so that the item and job the other operations use stay as made.
	var item2 catalog.Item
	content := fx.item.Content
	content.Name = "路由矩阵人口信息二"
	h.Do(t, "POST", "/v1/catalog/items", admin, catalog.NewItem{Content: content}).Want(t, http.StatusCreated).JSON(t, &item2)
	var job2 datasync.Job
	h.Do(t, "POST", "/v1/sync/jobs", dataAdmin, datasync.NewJob{ItemCode: fx.item.Code, Name: "矩阵回落（改）", Spec: job.Spec}).
		Want(t, http.StatusCreated).JSON(t, &job2)
	fx.item2 = item2
	// Publish and withdraw get a draft (withdrawing the item the grant is
	// on would revoke the grant before its own revoke); refuse and reject
	// an application and a dispute approve and accept leave alone.
	content.Name = "路由矩阵人口信息（草稿）"
	draft, err := h.Catalog.Create(ctx, &adminP, catalog.NewItem{Content: content})
	if err != nil {
		t.Fatal(err)
	}
	rsj := key(t, h, "xy-rsj", "matrix-rsj-app", exchange.RoleApp)
	var app2 exchange.Application
	h.Do(t, "POST", "/v1/applications", rsj, exchange.NewApplication{ItemCode: fx.item.Code, Purpose: "路由矩阵", Scenario: "核验",
		Fields: []string{"id"}, ValidUntil: time.Now().AddDate(1, 0, 0)}).Want(t, http.StatusCreated).JSON(t, &app2)
	var dsp2 struct{ ID string }
	h.Do(t, "POST", "/v1/disputes", h.AppKey, exchange.NewDispute{ItemCode: fx.item.Code, RecordKey: "P0000004", Reason: "姓名有误"},
		"X-Purpose: 路由矩阵").Want(t, http.StatusCreated).JSON(t, &dsp2)
	fx.forOp = map[string]map[string]string{
		"PUT /v1/catalog/items/{code}":           {"code": item2.Code},
		"PUT /v1/sync/jobs/{id}":                 {"id": job2.ID},
		"POST /v1/catalog/items/{code}/publish":  {"code": draft.Code},
		"POST /v1/catalog/items/{code}/withdraw": {"code": draft.Code},
		"POST /v1/applications/{id}/refuse":      {"id": app2.ID},
		"POST /v1/disputes/{id}/reject":          {"id": dsp2.ID},
	}
	// Item codes and audit indexes are sequential: the next is made soon.
	far := fx.item.Code[:strings.LastIndex(fx.item.Code, "-")+1] + "999999"
	fx.missing = map[string]string{"entries": "99999999", "versions": "999", "records": "P0999999", "items": far, "data": far}
	now := time.Now().UTC()
	fx.baseQuery = map[string]url.Values{
		"GET /v1/blobs/{key}":               fx.blobQuery,
		"GET /v1/access":                    {"resource_kind": {exchange.ResourceCatalogItem}, "resource_id": {fx.item.Code}, "fields": {"id,name"}},
		"GET /v1/audit/proofs/consistency":  {"from": {"1"}, "to": {"2"}},
		"GET /v1/audit/proofs/inclusion":    {"index": {"0"}, "size": {"2"}},
		"GET /v1/catalog/items/{code}/diff": {"from": {"1"}, "to": {"1"}},
		"GET /v1/catalog/search":            {"q": {"人口"}},
		// The department's items, not the whole catalogue's 360: an
		// export of them all takes a fifth of a second.
		"GET /v1/catalog/export":                     {"department": {fx.dept}},
		"GET /v1/licences":                           {"holder_id": {h.Demo.LicenceHolder}},
		"GET /v1/stats/calls":                        {"from": {now.AddDate(0, 0, -1).Format(time.RFC3339)}, "to": {now.AddDate(0, 0, 1).Format(time.RFC3339)}},
		"POST /v1/licence-attachments":               {"type_code": {fx.licenceType}},
		"PUT /v1/licences/{id}/file":                 {"name": {"矩阵.pdf"}},
		"GET /v1/data/{code}/records":                {"fields": {"id,name"}},
		"GET /v1/data/{code}/records/{key}/versions": {"fields": {"id,name"}},
	}
	m.makeBodies()
	for _, op := range m.ops {
		for _, p := range op.Params {
			if fx.existing[segmentBefore(op.Path, p)] == "" {
				t.Fatalf("%s: no fixture for its parameter {%s}: add one to the matrix", op, p)
			}
		}
	}
}

// makeBodies makes right-shaped bodies that get through validation, for
// the operations whose schema alone does not tell enough to make one.
func (m *matrix) makeBodies() {
	t, h, fx := m.t, m.h, &m.fx
	content := fx.item.Content
	content.Name = "路由矩阵新目录"
	spec := datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"}, IgnoreFields: []string{"updated_at"}, Schedule: "0 2 * * *",
		Limits: datasync.Limits{Retries: 1}, Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: fx.upstreamURL, Auth: "bearer", Token: fx.upstreamToken}}
	var lt any
	for _, tp := range h.Do(t, "GET", "/v1/licence-types", h.Admin, nil).Want(t, http.StatusOK).Map(t)["items"].([]any) {
		if tp.(map[string]any)["code"] == fx.licenceType {
			lt = tp
		}
	}
	image := h.Do(t, "GET", "/v1/seals/"+fx.seal+"/image", h.Admin, nil).Want(t, http.StatusOK).Body
	fx.image = image
	doc := map[string]any{"name": "矩阵.pdf", "media_type": "application/pdf", "sha256": strings.Repeat("ab", 32), "size": 10}
	var jws json.RawMessage = h.Do(t, "POST", "/v1/seals/"+fx.seal+"/sign", m.caller("seal-user").key, map[string]any{"purpose": "矩阵", "document": doc}).
		Want(t, http.StatusOK).Body
	holder := newHolder()
	fx.bodies = map[string]any{
		"POST /v1/catalog/items":             catalog.NewItem{Content: content},
		"PUT /v1/catalog/items/{code}":       catalog.ItemUpdate{Version: fx.item2.Version, Note: "矩阵", Content: fx.item2.Content},
		"POST /v1/departments":               exchange.Department{Code: ident.NewCreditCode('1', '1', "420600", 777), Name: "路由矩阵局", Kind: "office", ParentID: fx.dept},
		"POST /v1/seals":                     map[string]any{"organisation_id": fx.dept, "name": "路由矩阵业务专用章", "kind": "业务专用章", "image": image},
		"POST /v1/sync/jobs":                 datasync.NewJob{ItemCode: fx.item.Code, Name: "矩阵回落二", Spec: spec},
		"PUT /v1/sync/jobs/{id}":             datasync.JobUpdate{Name: "矩阵回落", Spec: spec},
		"PUT /v1/licence-types/{code}":       lt,
		"POST /v1/licences":                  map[string]any{"type_code": fx.licenceType, "number": "XY" + holder[12:], "holder": map[string]any{"name": "王小明", "id": holder}, "issued_on": "2021-03-04", "face": map[string]string{"gender": "男", "ethnicity": "汉", "birth_date": "1990-01-01", "address": "湖北省襄阳市樊城区人民路5号"}},
		"POST /v1/licences/{id}/events":      map[string]any{"event": "amend", "reason": "矩阵", "holder_name": "王小明"},
		"POST /v1/seals/{id}/sign":           map[string]any{"purpose": "矩阵", "document": doc},
		"POST /v1/signatures/verify":         map[string]any{"jws": jws},
		"POST /v1/applications":              exchange.NewApplication{ItemCode: fx.item.Code, Purpose: "路由矩阵二", Scenario: "核验", Fields: []string{"id"}, ValidUntil: time.Now().AddDate(0, 6, 0)},
		"POST /v1/applications/{id}/approve": exchange.Decision{Fields: []string{"id"}, DailyQuota: 10, ValidUntil: time.Now().AddDate(0, 3, 0)},
		"POST /v1/disputes/{id}/accept":      map[string]any{"resolution": "已更正", "correction": map[string]any{"address": "襄阳市"}},
	}
}

// base is a fresh right-shaped body of the operation.
func (m *matrix) base(op *matrixOp) any {
	v, ok := m.fx.bodies[op.String()]
	if !ok {
		return m.smart("", op.Schema)
	}
	var out any
	if err := json.Unmarshal(mustJSON(v), &out); err != nil {
		m.t.Fatal(err)
	}
	return out
}

func (m *matrix) caller(name string) *matrixCaller {
	for _, c := range m.callers {
		if c.name == name {
			return c
		}
	}
	m.t.Fatalf("no caller %q", name)
	return nil
}

// segmentBefore is the path segment before {param}.
func segmentBefore(path, param string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == "{"+param+"}" && i > 0 {
			return segs[i-1]
		}
	}
	return ""
}

// missing turns an existing id into a plausible one that does not exist:
// its last letter or digit changed.
func missing(id string) string {
	b := []byte(id)
	for _, digits := range []bool{true, false} {
		for i := len(b) - 1; i >= 0; i-- {
			switch c := b[i]; {
			case c >= '0' && c <= '8', !digits && (c >= 'a' && c <= 'y' || c >= 'A' && c <= 'Y'):
				b[i]++
				return string(b)
			case c == '9', !digits && (c == 'z' || c == 'Z'):
				b[i]--
				return string(b)
			}
		}
	}
	return id + "0"
}

// pathValues are the odd values every path parameter gets, already
// escaped for the URL.
func pathValues(missing string) []struct{ name, raw string } {
	return []struct{ name, raw string }{
		{"missing id", url.PathEscape(missing)},
		{"dash", "-"},
		{"5000 characters", longASCII},
		{"unicode", url.PathEscape("中文")},
		{"escaped slash", "a%2Fb"},
		{"dot-dot", ".."},
		{"NUL", "a%00b"},
		{"invalid UTF-8", "a%FFb"},
	}
}

func unique(cs ...*matrixCaller) []*matrixCaller {
	var out []*matrixCaller
	for _, c := range cs {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// longASCII is 5000 pseudo-random letters and digits.
var longASCII = func() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5000)
	x := uint32(88172645)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return string(b)
}()

// queryGarbage are the values every query parameter gets, escaped.
var queryGarbage = []string{
	"", "-1", "0", "-9223372036854775808", "9223372036854775807", "99999999999999999999999", "1e309", "NaN",
	"abc", "%00", "%FF", url.QueryEscape("中文"), "1%2C2", "true", url.QueryEscape("0001-01-01T00:00:00Z"),
	url.QueryEscape("9999-12-31T23:59:59Z"), "2030-13-45", "-1h", "999999999h", strings.Repeat("9", 5000), longASCII,
	url.QueryEscape(long5000),
}

// missingFor is a plausible value of the parameter that names nothing.
func (m *matrix) missingFor(op *matrixOp, param string) string {
	if v := m.fx.missing[segmentBefore(op.Path, param)]; v != "" {
		return v
	}
	return missing(m.existingFor(op, param))
}

// existingFor is a value of the parameter that names something.
func (m *matrix) existingFor(op *matrixOp, param string) string {
	if v := m.fx.forOp[op.String()][param]; v != "" {
		return v
	}
	return m.fx.existing[segmentBefore(op.Path, param)]
}

// pathFor fills the operation's path: raw (escaped) for param, existing
// values for the others.
func (m *matrix) pathFor(op *matrixOp, param, raw string) string {
	p := op.Path
	for _, name := range op.Params {
		v := url.PathEscape(m.existingFor(op, name))
		if name == param {
			v = raw
		}
		p = strings.Replace(p, "{"+name+"}", v, 1)
	}
	return p
}

type matrixRequest struct {
	op      *matrixOp
	variant string
	caller  *matrixCaller
	path    string // escaped path and query
	body    []byte
	ctype   string // " chunked" at the end: sent without a Content-Length
	headers []string
	// strict: a plain request whose role gate must answer exactly.
	strict bool
	// burst sends that many copies at once.
	burst   int
	cookies []*http.Cookie
}

func (r *matrixRequest) describe() string {
	p := r.path
	if len(p) > 160 {
		p = p[:160] + "…"
	}
	b := string(r.body)
	if len(b) > 200 {
		b = b[:200] + "…"
	}
	return fmt.Sprintf("%s %s as %s [%s] body(%s) %q headers %q", r.op.Method, p, r.caller.name, r.variant, r.ctype, b, r.headers)
}

// run sends every request of every operation, three to six at a time, an
// operation after another. Reads run first, on the fixtures as made; after the writes every read
// runs again, plainly, on whatever odd values the writes stored, and every
// sync job the writes made is run; after the destructive operations the
// reads run once more.
func (m *matrix) run() {
	writesDone := false
	for _, op := range m.ops {
		if op.destructive() && !writesDone {
			writesDone = true
			m.batch(m.rereads("after the writes"), 3)
			m.batch(m.jobRuns(), 2)
		}
		m.batch(m.requests(op), 0)
		if m.t.Failed() && len(m.failures) > 200 {
			m.t.Fatal("over 200 kinds of failure; stopping")
		}
	}
	m.batch(m.rereads("after the destructive operations"), 3)
}

// rereads are a plain request by each allowed caller of every read.
func (m *matrix) rereads(when string) []*matrixRequest {
	var out []*matrixRequest
	for _, op := range m.ops {
		if op.Method != http.MethodGet || op.Undefined {
			continue
		}
		path := m.pathFor(op, "", "")
		if q := m.fx.baseQuery[op.String()]; len(q) > 0 {
			path += "?" + q.Encode()
		}
		for _, c := range m.allowed(op) {
			out = append(out, &matrixRequest{op: op, variant: "plain, " + when, caller: c, path: path})
		}
	}
	return out
}

// jobRuns run every sync job there is, with whatever spec the writes gave
// it, as an admin.
func (m *matrix) jobRuns() []*matrixRequest {
	var op *matrixOp
	for _, o := range m.ops {
		if o.String() == "POST /v1/sync/jobs/{id}/run" {
			op = o
		}
	}
	if op == nil {
		m.t.Fatal("no operation POST /v1/sync/jobs/{id}/run")
	}
	var jobs struct{ Items []datasync.Job }
	m.h.Do(m.t, "GET", "/v1/sync/jobs", m.caller("admin").key, nil).Want(m.t, http.StatusOK).JSON(m.t, &jobs)
	var out []*matrixRequest
	for _, j := range jobs.Items {
		out = append(out, &matrixRequest{op: op, variant: "a job the writes made: " + clipString(j.Name, 40), caller: m.caller("admin"), path: "/v1/sync/jobs/" + url.PathEscape(j.ID) + "/run"})
	}
	return out
}

// batch sends reqs, par at a time (0: by the operation's kind).
func (m *matrix) batch(reqs []*matrixRequest, par int) {
	if par == 0 {
		par = 6
		if op := reqs[0].op; op.destructive() || op.Method != http.MethodGet {
			par = 3
		}
	}
	var wg sync.WaitGroup
	ch := make(chan *matrixRequest)
	for range par {
		wg.Go(func() {
			for r := range ch {
				m.do(r)
			}
		})
	}
	for _, r := range reqs {
		ch <- r
	}
	close(ch)
	wg.Wait()
}

// allowed are the callers the operation lets through its role gate
// (and, for data and licence routes, the app that holds the grant).
func (m *matrix) allowed(op *matrixOp) []*matrixCaller {
	var out []*matrixCaller
	for _, c := range m.callers {
		switch {
		case c.key == "":
		case len(op.Roles) == 0 && c.name != "admin" && c.name != string(exchange.RoleApp):
		case len(op.Roles) > 0 && !c.holdsAny(op.Roles):
		default:
			out = append(out, c)
		}
	}
	if op.Public && !op.console() {
		out = append(out, m.callers[0])
	}
	return out
}

func (m *matrix) requests(op *matrixOp) []*matrixRequest {
	var out []*matrixRequest
	add := func(r *matrixRequest) { r.op = op; out = append(out, r) }
	basePath := m.pathFor(op, "", "")
	if op.Undefined {
		for _, c := range m.callers[:2] {
			add(&matrixRequest{variant: "undefined method", caller: c, path: basePath, body: []byte("{}"), ctype: "application/json"})
		}
		return out
	}
	if op.String() == "POST /console/login" {
		out = append(out, m.signIns(op)...)
	}
	baseQuery := m.fx.baseQuery[op.String()]
	withQuery := func(p string, q url.Values) string {
		if len(q) == 0 {
			return p
		}
		return p + "?" + q.Encode()
	}
	body, ctype := m.plainBody(op)
	allowed := m.allowed(op)
	var deepest *matrixCaller // the caller that gets furthest: the last allowed
	if len(allowed) > 0 {
		deepest = allowed[len(allowed)-1]
	}

	// 1. Every caller, a plain request: the role gate.
	for _, c := range m.callers {
		add(&matrixRequest{variant: "plain", caller: c, path: withQuery(basePath, baseQuery), body: body, ctype: ctype, strict: true})
	}
	// 2. Odd path values, each caller.
	for _, p := range op.Params {
		for _, v := range pathValues(m.missingFor(op, p)) {
			for _, c := range m.callers {
				add(&matrixRequest{variant: "{" + p + "} " + v.name, caller: c, path: withQuery(m.pathFor(op, p, v.raw), baseQuery), body: body, ctype: ctype})
			}
		}
	}
	// 3. Garbage query values: one parameter at a time (the others as in
	// a plain request) by the deepest allowed caller, all at once by the
	// first and the deepest.
	if len(op.Query) > 0 && len(allowed) > 0 {
		for _, g := range queryGarbage {
			all := []string{}
			for _, q := range op.Query {
				name := strings.ReplaceAll(q, "FIELD", "name")
				one := []string{}
				for k, vs := range baseQuery {
					if k != name {
						one = append(one, url.QueryEscape(k)+"="+url.QueryEscape(vs[0]))
					}
				}
				one = append(one, url.QueryEscape(name)+"="+g)
				all = append(all, url.QueryEscape(name)+"="+g)
				add(&matrixRequest{variant: "?" + name + " garbage", caller: deepest, path: basePath + "?" + strings.Join(one, "&"), body: body, ctype: ctype})
			}
			for _, c := range unique(allowed[0], deepest) {
				add(&matrixRequest{variant: "every query parameter garbage", caller: c, path: basePath + "?" + strings.Join(all, "&"), body: body, ctype: ctype})
			}
		}
	}
	// 4. Bodies, at the existing resource and a missing one.
	paths := []string{withQuery(basePath, baseQuery)}
	if len(op.Params) > 0 {
		p := op.Params[len(op.Params)-1]
		paths = append(paths, withQuery(m.pathFor(op, p, url.PathEscape(m.missingFor(op, p))), baseQuery))
	}
	for _, b := range m.bodies(op) {
		switch {
		case deepest == nil:
		case op.JSONBody || op.Upload:
			// Each allowed caller at the resource, the deepest at a
			// missing one.
			for _, c := range allowed {
				add(&matrixRequest{variant: "body " + b.name, caller: c, path: paths[0], body: b.body, ctype: b.ctype})
			}
			if len(paths) > 1 {
				add(&matrixRequest{variant: "body " + b.name, caller: deepest, path: paths[1], body: b.body, ctype: b.ctype})
			}
		default:
			add(&matrixRequest{variant: "body " + b.name, caller: deepest, path: paths[0], body: b.body, ctype: b.ctype})
		}
	}
	if op.JSONBody && len(allowed) > 0 {
		for _, b := range m.fieldBodies(op) {
			add(&matrixRequest{variant: "body " + b.name, caller: deepest, path: paths[0], body: b.body, ctype: b.ctype})
		}
	}
	// 5. Path shapes: a slash too many, a doubled slash, upper case.
	for _, v := range []struct{ name, path string }{
		{"trailing slash", basePath + "/"}, {"doubled slashes", strings.ReplaceAll(basePath, "/", "//")},
		{"upper case", strings.ToUpper(basePath)}, {"escaped path", strings.ReplaceAll(basePath, "/v1/", "/%76%31/")},
	} {
		add(&matrixRequest{variant: v.name, caller: m.callers[1], path: withQuery(v.path, baseQuery), body: body, ctype: ctype})
	}
	// 6. Every query parameter twice, the second garbage; and unknown ones.
	if len(op.Query) > 0 && deepest != nil {
		var twice []string
		for _, q := range op.Query {
			name := url.QueryEscape(strings.ReplaceAll(q, "FIELD", "name"))
			twice = append(twice, name+"=1", name+"=%00x", name+"=")
		}
		add(&matrixRequest{variant: "every query parameter repeated", caller: deepest, path: basePath + "?" + strings.Join(twice, "&"), body: body, ctype: ctype})
	}
	if deepest != nil {
		many := strings.Repeat("key=P0000001&", 101) + strings.Repeat("f.x=1&", 50) + "%ZZ=1&=&&=x&" + url.QueryEscape(long5000) + "=1"
		add(&matrixRequest{variant: "odd query", caller: deepest, path: basePath + "?" + many, body: body, ctype: ctype})
	}
	// 7. The plain request four times at once: writes that race.
	if op.Method != http.MethodGet && deepest != nil {
		add(&matrixRequest{variant: "four at once", caller: deepest, path: withQuery(basePath, baseQuery), body: body, ctype: ctype, burst: 4})
	}
	// 8. Odd headers: keys, purposes, request ids, content negotiation.
	hdrCaller := m.callers[0]
	if deepest != nil {
		hdrCaller = deepest
	}
	for _, hv := range [][]string{
		{"Authorization: Basic YWRtaW46YWRtaW4="}, {"Authorization: Bearer"}, {"Authorization: Bearer shk_" + strings.Repeat("A", 43)},
		{"Authorization: Bearer " + longASCII}, {"Authorization: Bearer \xff\xfe"},
		{"X-Purpose: " + long5000}, {"X-Purpose: \xff\xfe"}, {"X-End-User: \xff"}, {"X-Case-Number: " + strings.Repeat("9", 5000)},
		{"X-Request-ID: " + strings.Repeat("r", 500)}, {"X-Request-ID: a b\xff"},
		{"Accept: text/html"}, {"Accept: application/json;q=x, */*;;"}, {"If-None-Match: *"}, {"If-None-Match: " + strings.Repeat(`"x",`, 1000)},
		{"Content-Encoding: gzip"}, {"Range: bytes=5-1"}, {"X-Forwarded-For: \xff, 999.1.1.1"},
	} {
		c := hdrCaller
		if strings.HasPrefix(hv[0], "Authorization") {
			c = &matrixCaller{name: "bad Authorization"}
		}
		add(&matrixRequest{variant: "header " + strings.SplitN(hv[0], ":", 2)[0], caller: c, path: withQuery(basePath, baseQuery), body: body, ctype: ctype, headers: hv})
	}
	return out
}

// signIns are console sign-ins with the form's CSRF token and odd keys.
func (m *matrix) signIns(op *matrixOp) []*matrixRequest {
	t := m.t
	b := newBrowser(t, m.h)
	token := b.get("/console/login").want(t, http.StatusOK).csrf(t)
	u, _ := url.Parse(m.h.URL + "/console/login")
	cookies := b.c.Jar.Cookies(u)
	var out []*matrixRequest
	for _, k := range []string{"", " ", longASCII, "\xff\xfe", "shk_\x00", "shk_" + strings.Repeat("A", 43), "Bearer " + m.caller("admin").key, long5000} {
		form := "csrf=" + url.QueryEscape(token) + "&key=" + url.QueryEscape(k)
		out = append(out, &matrixRequest{op: op, variant: "sign-in with an odd key", caller: m.callers[0], path: "/console/login", body: []byte(form),
			ctype: "application/x-www-form-urlencoded", cookies: cookies, headers: []string{"Origin: " + m.h.URL, "Sec-Fetch-Site: same-origin"}})
	}
	return out
}

// plainBody is the body of a plain request: a right-shaped JSON body, or
// a small CSV for an upload.
func (m *matrix) plainBody(op *matrixOp) ([]byte, string) {
	switch {
	case op.JSONBody:
		return mustJSON(m.base(op)), "application/json"
	case op.Upload:
		return []byte("a,b\n1,2\n"), "application/octet-stream"
	}
	return nil, ""
}

type matrixBody struct {
	name  string
	body  []byte
	ctype string
}

// bodies are the odd whole bodies every operation gets.
func (m *matrix) bodies(op *matrixOp) []matrixBody {
	js := "application/json"
	if !op.JSONBody && !op.Upload {
		// An operation that takes no body gets a few it must ignore or
		// refuse.
		return []matrixBody{{"invalid JSON", []byte(`{"a":`), js}, {"{}", []byte("{}"), js},
			{"oversized JSON, chunked", []byte(`{"name":"` + strings.Repeat("x", matrixMaxBody) + `"}`), js + " chunked"},
			{"random bytes", bytes.Repeat([]byte{0xff, 0x00}, 100), "application/octet-stream"}}
	}
	out := []matrixBody{
		{"none", nil, ""},
		{"{}", []byte("{}"), js}, {"[]", []byte("[]"), js}, {"null", []byte("null"), js}, {"a JSON string", []byte(`"matrix"`), js},
		{"invalid JSON", []byte(`{"a":`), js}, {"two objects", []byte(`{}{}`), js}, {"text/plain", []byte("hello"), "text/plain"},
		{"JSON with a NUL", []byte(`{"name":"a\u0000b"}`), js}, {"invalid UTF-8 JSON", []byte("{\"name\":\"\xff\xfe\"}"), js},
		{"deep JSON", []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000)), js},
		{"oversized JSON", []byte(`{"name":"` + strings.Repeat("x", matrixMaxBody) + `"}`), js},
		{"oversized JSON, chunked", []byte(`{"name":"` + strings.Repeat("x", matrixMaxBody) + `"}`), js + " chunked"},
		{"JSON as application/jose+json", []byte(`{"payload":"x","signatures":[{"protected":"e30","signature":"AA"}]}`), "application/jose+json"},
		{"JSON with a charset", []byte(`{}`), "application/json; charset=iso-8859-1"},
		{"form", []byte("a=1&b=%00&c=%ff"), "application/x-www-form-urlencoded"},
	}
	if op.JSONBody {
		smart := m.base(op)
		b, _ := json.Marshal(smart)
		out = append(out, matrixBody{"right shape", b, js})
		b, _ = json.Marshal(wrongTypes(op.Schema))
		out = append(out, matrixBody{"wrong types", b, js})
		b, _ = json.Marshal(longStrings(smart))
		out = append(out, matrixBody{"long strings", b, js})
		out = append(out, matrixBody{"right shape as text/plain", b, "text/plain"})
	}
	out = append(out, m.multipartBodies(op)...)
	if op.Upload {
		bin := "application/octet-stream"
		out = append(out,
			matrixBody{"empty upload", []byte{}, bin},
			matrixBody{"random bytes", bytes.Repeat([]byte{0xff, 0x00, 0x13, 0x37}, 1024), bin},
			matrixBody{"truncated zip", []byte("PK\x03\x04\x14\x00\x00\x00"), bin},
			matrixBody{"zip of junk", zipOf(m.t, [2]string{"1.pdf", "not a pdf"}, [2]string{"../evil.png", "x"}, [2]string{"dir/", ""}), bin},
			matrixBody{"empty zip", zipOf(m.t), bin},
			matrixBody{"broken xlsx", zipOf(m.t, [2]string{"[Content_Types].xml", "<Types"}, [2]string{"xl/workbook.xml", "<workbook><sheets><sheet name=\"x\" r:id=\"rId9\"/></sheets></workbook>"}), bin},
			matrixBody{"catalogue template", m.fx.template, bin},
			matrixBody{"truncated template", m.fx.template[:len(m.fx.template)/2], bin},
			matrixBody{"CSV with a NUL and bad UTF-8", []byte("a,b\n\x00,\xff\xfe\n\"unterminated\n"), "text/csv"},
			matrixBody{"UTF-16 CSV", []byte("\xff\xfea\x00,\x00b\x00\n\x00"), "text/csv"},
			matrixBody{"a PDF", []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"), "application/pdf"},
			matrixBody{"a PNG", m.fx.image, "image/png"},
			matrixBody{"oversized upload", bytes.Repeat([]byte("0123456789abcdef"), matrixMaxUpload/16+1), bin},
			matrixBody{"oversized upload, chunked", bytes.Repeat([]byte("0123456789abcdef"), matrixMaxUpload/16+1), bin + " chunked"},
			matrixBody{"zip inflating past the limits", zipOf(m.t, [2]string{"1.pdf", "%PDF-" + strings.Repeat("0", 4*matrixMaxUpload)}), bin},
			matrixBody{"zip of many entries", zipOf(m.t, manyEntries(200)...), bin},
		)
		for _, v := range oddCells {
			out = append(out,
				matrixBody{"catalogue template with cells " + v.name, m.templateWith(v.value), bin},
				matrixBody{"licence CSV with cells " + v.name, licenceCSV(m.fx.licenceType, v.value), "text/csv"},
				multipartFile("licence CSV with cells "+v.name+", multipart", "licences.csv", licenceCSV(m.fx.licenceType, v.value)),
			)
		}
	}
	return out
}

// oddCells are values a spreadsheet's cells get.
var oddCells = []struct{ name, value string }{
	{"holding NUL and invalid UTF-8", "a\x00b\xff\xfe"}, {"5000 characters long", long5000},
	{"holding formulas", "=HYPERLINK(\"http://x\")"}, {"of odd numbers", "1e400"}, {"of odd dates", "2024-02-30"},
	{"holding line breaks and quotes", "a\r\n\"b\"\u2028c"},
}

// templateWith is the catalogue's xlsx template with every cell of its
// example rows set to v.
func (m *matrix) templateWith(v string) []byte {
	f, err := excelize.OpenReader(bytes.NewReader(m.fx.template))
	if err != nil {
		m.t.Fatal(err)
	}
	defer f.Close()
	for _, sh := range []string{catalog.SheetItems, catalog.SheetFields} {
		for col := 1; col <= 25; col++ {
			cell, _ := excelize.CoordinatesToCellName(col, 2)
			_ = f.SetCellValue(sh, cell, v)
		}
	}
	b, err := f.WriteToBuffer()
	if err != nil {
		m.t.Fatal(err)
	}
	return b.Bytes()
}

// licenceCSV is a licence import with one row of the type whose every
// other cell is v, and one row of v alone.
func licenceCSV(typeCode, v string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"证照类型代码", "证照编号", "颁发机构代码", "持证主体", "持证主体代码类型", "持证主体代码", "颁发日期", "有效期起始日期", "有效期截止日期", "属地代码", "照面信息", "关联证照标识"})
	_ = w.Write([]string{typeCode, v, v, v, v, v, v, v, v, v, v, v})
	row := make([]string, 12)
	for i := range row {
		row[i] = v
	}
	_ = w.Write(row)
	w.Flush()
	return b.Bytes()
}

func multipartFile(name, filename string, content []byte) matrixBody {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, _ := w.CreateFormFile("file", filename)
	_, _ = fw.Write(content)
	_ = w.Close()
	return matrixBody{name, buf.Bytes(), w.FormDataContentType()}
}

// multipartBodies: the right shape's members as form fields with file
// parts (file, jws, document), an empty form and a broken one.
func (m *matrix) multipartBodies(op *matrixOp) []matrixBody {
	// form is the right shape's members as fields (odd, when given) and
	// file parts named file, jws and document.
	form := func(odd string) ([]byte, string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		if op.JSONBody {
			if obj, ok := m.base(op).(map[string]any); ok {
				for k, v := range obj {
					s, isString := v.(string)
					if !isString {
						s = string(mustJSON(v))
					}
					if odd != "" {
						s = odd
					}
					_ = w.WriteField(k, s)
				}
			}
		}
		for _, part := range []string{"file", "jws", "document"} {
			name := "matrix.csv"
			if odd != "" {
				name = strings.ReplaceAll(odd, "\x00", "") + ".pdf" // a NUL in a part's header breaks the part
			}
			fw, _ := w.CreateFormFile(part, name)
			_, _ = fw.Write([]byte("a,b\n1,2\n"))
		}
		_ = w.Close()
		return buf.Bytes(), w.FormDataContentType()
	}
	fb, fct := form("")
	full := matrixBody{"multipart", fb, fct}
	ob, oct := form("a\x00b\xff\xfe")
	lb, lct := form(long5000)
	buf2 := bytes.Buffer{}
	w2 := multipart.NewWriter(&buf2)
	_ = w2.Close()
	return []matrixBody{full,
		{"multipart with NUL and invalid UTF-8 in fields and file names", ob, oct},
		{"multipart with 5000-character fields and file names", lb, lct},
		{"empty multipart", buf2.Bytes(), w2.FormDataContentType()},
		{"multipart without boundary", []byte("--x\r\n\r\nhello"), "multipart/form-data"},
		{"multipart with a wrong boundary", fb, "multipart/form-data; boundary=nope"},
		{"multipart with an empty boundary", fb, "multipart/form-data; boundary="},
		{"multipart, chunked", fb, fct + " chunked"},
	}
}

// fieldBodies are the right-shaped body with one member at a time given an
// odd value of its type or of another type.
func (m *matrix) fieldBodies(op *matrixOp) []matrixBody {
	var out []matrixBody
	var walk func(ptr []string, s map[string]any, depth int)
	walk = func(ptr []string, s map[string]any, depth int) {
		if len(ptr) > 0 {
			for _, v := range oddValues(s) {
				body := m.base(op)
				if !setAt(body, ptr, v) {
					continue
				}
				b, err := json.Marshal(body)
				if err != nil {
					m.t.Fatal(err)
				}
				out = append(out, matrixBody{"/" + strings.Join(ptr, "/") + " = " + clipString(string(mustJSON(v)), 40), b, "application/json"})
			}
		}
		if depth >= 3 {
			return
		}
		switch s["type"] {
		case "object":
			props, _ := s["properties"].(map[string]any)
			keys := make([]string, 0, len(props))
			for k := range props {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(append(slices.Clone(ptr), k), props[k].(map[string]any), depth+1)
			}
		case "array":
			if it, ok := s["items"].(map[string]any); ok && it["type"] == "object" {
				walk(append(slices.Clone(ptr), "0"), it, depth+1)
			}
		}
	}
	walk(nil, op.Schema, 0)
	return out
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// setAt sets the member at ptr of the JSON value v (maps and slices).
func setAt(v any, ptr []string, val any) bool {
	for i, k := range ptr {
		last := i == len(ptr)-1
		switch c := v.(type) {
		case map[string]any:
			if last {
				c[k] = val
				return true
			}
			v = c[k]
		case []any:
			if len(c) == 0 {
				return false
			}
			if last {
				c[0] = val
				return true
			}
			v = c[0]
		default:
			return false
		}
	}
	return false
}

var (
	// long5000 is 5000 characters that do not compress (PostgreSQL
	// compresses a long repetitive value below its index row limit).
	long5000   = incompressible(5000)
	matrixTime = time.Now().UTC().Truncate(time.Second)
)

// oddValues are the odd values of a member of schema s: edge values of its
// type and values of other types.
func oddValues(s map[string]any) []any {
	switch s["type"] {
	case "string":
		switch s["format"] {
		case "date-time":
			return []any{"0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2030-02-30T00:00:00Z", "", 1}
		case "byte":
			return []any{"!!!not base64", "", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0}, 100_000)), 1}
		}
		return []any{"", " ", long5000, "\u202e\ufeff\u200b", "-1", 1, []any{}}
	case "integer", "number":
		return []any{-1, 0, int64(9223372036854775807), int64(-9223372036854775808), 1e300, 1.5, "1"}
	case "boolean":
		return []any{"true", 1}
	case "array":
		return []any{[]any{}, map[string]any{}, "x", []any{nil}, []any{long5000}, []any{1}, manyStrings(2000)}
	case "object":
		return []any{map[string]any{}, []any{}, "x", map[string]any{"": ""}, map[string]any{long5000: long5000}}
	}
	return []any{nil, long5000, []any{}, map[string]any{"a": map[string]any{"b": []any{1}}}}
}

// incompressible is n pseudo-random CJK characters.
func incompressible(n int) string {
	var b strings.Builder
	x := uint32(2463534242)
	for range n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteRune(rune(0x4e00 + x%20000))
	}
	return b.String()
}

func manyEntries(n int) [][2]string {
	out := make([][2]string, n)
	for i := range out {
		out[i] = [2]string{fmt.Sprintf("%d.pdf", i), "%PDF-1.4"}
	}
	return out
}

func manyStrings(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("x%d", i)
	}
	return out
}

// smart builds a right-shaped value of schema s, with values that get
// past the first checks where the member's name tells what it is.
func (m *matrix) smart(name string, s map[string]any) any {
	fx := &m.fx
	switch name {
	case "department_id", "provider_id", "organisation_id", "definer_id", "issuer_id", "parent_id":
		return fx.dept
	case "consumer_department_id":
		return fx.consumerDept
	case "issuer_ids":
		return []any{fx.dept}
	case "item_code", "resource_id":
		return fx.item.Code
	case "resource_kind":
		return exchange.ResourceCatalogItem
	case "record_key":
		return "P0000002"
	case "roles":
		return []any{string(exchange.RoleApp)}
	case "type_code":
		return fx.licenceType
	case "key_fields":
		return []any{"id"}
	case "url":
		return fx.upstreamURL
	case "token":
		return fx.upstreamToken
	case "auth":
		return "bearer"
	case "mode":
		return datasync.ModeFull
	case "drift_policy":
		return datasync.DriftIgnore
	case "sha256":
		return strings.Repeat("ab", 32)
	case "media_type":
		return "application/pdf"
	case "alg":
		return "EdDSA"
	case "daily_quota", "ttl_seconds", "size", "validity_years":
		return 10
	case "jws":
		return base64.StdEncoding.EncodeToString([]byte(`{"payload":"","signatures":[]}`))
	}
	if strings.HasSuffix(name, "_date") || name == "issued_on" {
		return "2024-03-01"
	}
	switch s["type"] {
	case "object":
		out := map[string]any{}
		if props, ok := s["properties"].(map[string]any); ok {
			for k, ps := range props {
				out[k] = m.smart(k, ps.(map[string]any))
			}
		} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
			out["name"] = m.smart("", ap)
		}
		return out
	case "array":
		if name == "fields" {
			if it, ok := s["items"].(map[string]any); ok && it["type"] == "string" {
				return []any{"id", "name"}
			}
		}
		it, _ := s["items"].(map[string]any)
		return []any{m.smart("", it)}
	case "string":
		switch s["format"] {
		case "date-time":
			switch name {
			case "valid_from":
				return matrixTime.Add(-time.Hour).Format(time.RFC3339)
			}
			return matrixTime.AddDate(0, 1, 0).Format(time.RFC3339)
		case "byte":
			return base64.StdEncoding.EncodeToString([]byte("matrix"))
		}
		if name == "kind" {
			return datasync.SourceHTTP
		}
		return "矩阵"
	case "integer", "number":
		return 1
	case "boolean":
		return false
	}
	return "矩阵"
}

// wrongTypes is an object of schema s with every member of another type.
func wrongTypes(s map[string]any) any {
	props, ok := s["properties"].(map[string]any)
	if !ok {
		return []any{1}
	}
	out := map[string]any{}
	for k, p := range props {
		switch p.(map[string]any)["type"] {
		case "string":
			out[k] = 12
		case "integer", "number":
			out[k] = "12"
		case "boolean":
			out[k] = "yes"
		case "array":
			out[k] = map[string]any{}
		case "object":
			out[k] = []any{}
		default:
			out[k] = true
		}
	}
	return out
}

// longStrings is v with every string 5000 characters long.
func longStrings(v any) any {
	switch x := v.(type) {
	case string:
		return long5000
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = longStrings(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = longStrings(e)
		}
		return out
	}
	return v
}

// do sends r, retrying a rate-limited request that may soon go through,
// and checks the answer.
func (m *matrix) do(r *matrixRequest) {
	if r.burst < 2 {
		m.doOne(r)
		return
	}
	var wg sync.WaitGroup
	for range r.burst {
		wg.Go(func() { m.doOne(r) })
	}
	wg.Wait()
}

func (m *matrix) doOne(r *matrixRequest) {
	var (
		status int
		header http.Header
		body   []byte
		err    error
	)
	for attempt := 0; ; attempt++ {
		status, header, body, err = m.send(r)
		m.mu.Lock()
		m.sent++
		m.mu.Unlock()
		if err != nil || status != http.StatusTooManyRequests || attempt == 5 {
			break
		}
		wait := header.Get("Retry-After")
		if wait != "1" && wait != "2" {
			break // a quota, not a burst
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		m.fail(r, "transport error (crash?)", err.Error())
		return
	}
	m.check(r, status, header, body)
}

func (m *matrix) send(r *matrixRequest) (int, http.Header, []byte, error) {
	var rd io.Reader
	ctype, chunked := strings.CutSuffix(r.ctype, " chunked")
	if r.body != nil {
		rd = bytes.NewReader(r.body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length: sent chunked
		}
	}
	req, err := http.NewRequest(r.op.Method, m.h.URL+r.path, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("building the request: %w", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	req.Header.Set("X-Purpose", "路由矩阵")
	if r.caller.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.caller.key)
	}
	if r.caller.session != "" {
		req.AddCookie(&http.Cookie{Name: "sharehub_console", Value: r.caller.session})
	}
	for _, hv := range r.headers {
		k, v, _ := strings.Cut(hv, ":")
		req.Header[http.CanonicalHeaderKey(k)] = []string{strings.TrimSpace(v)}
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func (m *matrix) check(r *matrixRequest, status int, header http.Header, body []byte) {
	op := r.op
	// A request line and headers over the server's MaxHeaderBytes (64 KiB)
	// are refused by net/http before any handler runs: a plain-text 431
	// without request id or audit entry. That is the only answer the hub
	// does not make itself, and only for such requests.
	if status == http.StatusRequestHeaderFieldsTooLarge {
		if n := len(r.path) + len(strings.Join(r.headers, "\r\n")); n < 60<<10 {
			m.fail(r, fmt.Sprintf("431 for a request of %d header bytes", n), clipString(string(body), 200))
		}
		return
	}
	if status >= 500 {
		m.fail(r, fmt.Sprintf("answered %d", status), clipString(string(body), 400))
	}
	if header.Get("X-Request-ID") == "" {
		m.fail(r, "no X-Request-ID", fmt.Sprint(status))
	}
	if status >= 400 && status < 500 {
		ct := header.Get("Content-Type")
		switch {
		case op.console() && strings.HasPrefix(ct, "text/html"):
		case ct != "application/problem+json":
			m.fail(r, fmt.Sprintf("%d with Content-Type %q", status, ct), clipString(string(body), 200))
		default:
			var p struct{ Status int }
			if err := json.Unmarshal(body, &p); err != nil || p.Status != status {
				m.fail(r, fmt.Sprintf("%d problem with status %d", status, p.Status), clipString(string(body), 200))
			}
		}
	}
	ok := status >= 200 && status < 300
	// A method the path lacks is 405 (a path value that makes the path
	// unknown, 404; one the route refuses before routing, 400): never a
	// success.
	if op.Undefined && status != http.StatusBadRequest && status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		m.fail(r, fmt.Sprintf("a method the path does not have answered %d", status), clipString(string(body), 200))
	}
	gated := len(op.Roles) > 0 && !r.caller.holdsAny(op.Roles)
	if ok && gated && (r.caller.key != "" || !op.Public) {
		m.fail(r, fmt.Sprintf("%s holds none of %v but got %d", r.caller.name, op.Roles, status), clipString(string(body), 200))
	}
	if ok && !op.Public && r.caller.key == "" {
		m.fail(r, fmt.Sprintf("no key but got %d", status), clipString(string(body), 200))
	}
	if r.strict && !op.Public {
		want := 0
		switch {
		case r.caller.key == "":
			want = http.StatusUnauthorized
		case gated:
			want = http.StatusForbidden
		}
		if want != 0 && status != want {
			m.fail(r, fmt.Sprintf("%s got %d, want %d", r.caller.name, status, want), clipString(string(body), 200))
		}
	}
	if r.strict && op.console() && gated && r.caller.session != "" && status != http.StatusForbidden {
		m.fail(r, fmt.Sprintf("console session of %s got %d, want 403", r.caller.name, status), "")
	}
}

// fail records a failure, once per operation and kind with a count.
func (m *matrix) fail(r *matrixRequest, what, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := r.op.String() + ": " + what
	f := m.failures[k]
	if f == nil {
		f = &matrixFailure{sample: r.describe() + "\n\t→ " + detail}
		m.failures[k] = f
		m.order = append(m.order, k)
	}
	f.count++
}

func (m *matrix) report() {
	for _, k := range m.order {
		f := m.failures[k]
		m.t.Errorf("%s (%d requests), e.g.\n\t%s", k, f.count, f.sample)
	}
}
