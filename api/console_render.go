package api

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

//go:embed templates/console
var consoleFS embed.FS

// consoleCSP allows the console's own stylesheet and nothing else: the
// console has no script, image, frame or plugin at all. Not 'self' for
// the rest: the hub's origin also serves files that importers and issuers
// upload (/v1/blobs signed links), and a stored application/javascript
// would run as a <script src> from there (an attachment disposition does
// not stop a script load), so any markup slipped into a page could run
// code in an admin's session.
const consoleCSP = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// consoleHeaders are set on every console response.
func consoleHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// roleNames name the roles as the console shows them.
var roleNames = map[exchange.Role]string{
	exchange.RoleAdmin:     "平台管理员",
	exchange.RoleDataAdmin: "数据管理员",
	exchange.RoleAuditor:   "审计员",
	exchange.RoleImporter:  "数据导入员",
	exchange.RoleApp:       "部门应用",
	exchange.RoleSealUser:  "用章人",
	exchange.RoleIssuer:    "发证人",
}

func roleName(r exchange.Role) string {
	if n, ok := roleNames[r]; ok {
		return n + "（" + string(r) + "）"
	}
	return string(r)
}

var consoleFuncs = template.FuncMap{
	"cst": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(cst).Format("2006-01-02 15:04:05")
	},
	"cstp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(cst).Format("2006-01-02 15:04")
	},
	"role":   roleName,
	"marked": safeMarked,
	"join":   strings.Join,
	"deptKind": func(k string) string {
		if n, ok := departmentKindNames[k]; ok {
			return n + "（" + k + "）"
		}
		return k
	},
	"itemStatus": func(st catalog.Status) string {
		if n, ok := itemStatusNames[st]; ok {
			return n
		}
		return string(st)
	},
}

// departmentKindNames name exchange.DepartmentKinds as the console shows
// them, beside the code as roles are.
var departmentKindNames = map[string]string{
	"city": "市人民政府", "district": "区", "county": "县（市）", "office": "政府部门", "organisation": "其他单位",
}

var itemStatusNames = map[catalog.Status]string{
	catalog.StatusDraft: "草稿", catalog.StatusPublished: "已发布", catalog.StatusWithdrawn: "已撤回",
}

// consolePages holds one template set per page: the layout and the page's
// "content".
var consolePages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"login", "overview", "catalog", "audit", "access", "error"} {
		m[name] = template.Must(template.New("layout.html").Funcs(consoleFuncs).ParseFS(consoleFS,
			"templates/console/layout.html", "templates/console/"+name+".html"))
	}
	return m
}()

var consoleCSS = func() []byte {
	b, err := consoleFS.ReadFile("templates/console/console.css")
	if err != nil {
		panic(err)
	}
	return b
}()

// consoleView is what the layout shows around a page.
type consoleView struct {
	Title string
	Nav   string // the current page, for the menu
	Me    *consoleMe
	// Message is a plain notice or error above the page; Class is ok, info
	// or bad.
	Message, Class string
	RequestID      string
	Page           any
}

// consoleMe is who is signed in, shown on every page.
type consoleMe struct {
	Principal  *exchange.Principal
	Department string // its name
	Auditor    bool
	Admin      bool
	CSRF       string
	SignedIn   time.Time
	Expires    time.Time
}

const ctxConsoleMe = "sharehub.console_me"

// consoleMeOf builds the signed-in view of the caller.
func (s *Server) consoleMeOf(c *gin.Context, cs *consoleSession) (*consoleMe, error) {
	p := principal(c)
	d, err := s.ex.Department(c.Request.Context(), p.DepartmentID)
	if err != nil {
		return nil, err
	}
	me := &consoleMe{Principal: p, Department: d.Name, Auditor: p.Has(exchange.RoleAuditor), Admin: p.Has(exchange.RoleAdmin),
		CSRF: cs.CSRF, SignedIn: cs.CreatedAt, Expires: cs.ExpiresAt}
	c.Set(ctxConsoleMe, me)
	return me, nil
}

func consoleMeFrom(c *gin.Context) *consoleMe {
	v, _ := c.Get(ctxConsoleMe)
	me, _ := v.(*consoleMe)
	return me
}

// consoleRender writes a console page.
func (s *Server) consoleRender(c *gin.Context, status int, page string, v consoleView) {
	consoleHeaders(c)
	if v.Me == nil {
		v.Me = consoleMeFrom(c)
	}
	v.RequestID = requestID(c)
	var b bytes.Buffer
	if err := consolePages[page].Execute(&b, v); err != nil {
		_ = c.Error(err)
		s.log.Error("console template", "page", page, "error", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("页面生成失败，请联系管理员并提供请求编号 "+requestID(c)))
		c.Abort()
		return
	}
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
	c.Abort()
}

// consoleKindMessages say what went wrong in the Chinese of the rest of
// the console: the services' error details are English, for API clients
// and the request log, where they stay.
var consoleKindMessages = map[errs.Kind]string{
	errs.KindNotFound:        "要查看的内容不存在或已被删除。",
	errs.KindInvalid:         "请求有误，请检查后重试。",
	errs.KindConflict:        "数据已被他人修改，请刷新页面后重试。",
	errs.KindUnauthenticated: "登录已失效，请重新登录。",
	errs.KindForbidden:       "您的账号无权查看此内容。",
	errs.KindTooLarge:        "提交的内容过大。",
	errs.KindMethod:          "此页面不支持这种访问方式，请从控制台的链接或按钮进入。",
	errs.KindRateLimited:     "操作过于频繁，请稍后再试。",
	errs.KindUnavailable:     "后台服务暂不可用（数据库、文件存储或审计日志），请稍后重试。",
	errs.KindInternal:        "系统内部错误，请联系管理员并提供请求编号。",
}

// consoleFail shows an error page for err, with the status the API would
// give it; its cause is logged, not shown.
func (s *Server) consoleFail(c *gin.Context, err error) {
	_ = c.Error(err)
	p := problemFor(err)
	msg, ok := consoleKindMessages[errs.KindOf(err)]
	if !ok {
		msg = consoleKindMessages[errs.KindInternal]
	}
	s.consoleRender(c, p.Status, "error", consoleView{Title: "出错了", Message: msg, Class: "bad"})
}

// consoleForbidden shows the 403 page.
func (s *Server) consoleForbidden(c *gin.Context, msg string) {
	_ = c.Error(errs.Forbidden("%s", msg))
	s.consoleRender(c, http.StatusForbidden, "error", consoleView{Title: "无权访问", Message: msg, Class: "bad"})
}

// safeMarked lets through text the catalogue search marked: HTML-escaped
// text with <mark> around matches. Anything else is escaped whole.
func safeMarked(s string) template.HTML {
	rest := strings.NewReplacer("<mark>", "", "</mark>", "").Replace(s)
	if strings.ContainsAny(rest, "<>\"'") {
		return template.HTML(template.HTMLEscapeString(s))
	}
	return template.HTML(s)
}
