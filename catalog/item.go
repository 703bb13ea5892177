// Package catalog is the hub's data directory (数据目录): base and theme
// libraries, catalogue items with their metadata and fields (信息项),
// versions with diffs, Chinese search, and spreadsheet import and export.
//
// An item is identified by its resource code (信息资源代码): the
// classification code (类 1 digit, 项 2, 目 3, 细目 0–4) followed by "-" and
// a 6-digit sequence, e.g. 101001-000001. Only data admins of the provider
// department, or hub admins, change an item; every change is a new version.
package catalog

import (
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// Status is where an item is in its life: drafts are kept by their
// department, published items are visible to every department, withdrawn
// items stay in history but are no longer offered.
type Status string

const (
	StatusDraft     Status = "draft"
	StatusPublished Status = "published"
	StatusWithdrawn Status = "withdrawn"
)

// Statuses lists every status.
var Statuses = []Status{StatusDraft, StatusPublished, StatusWithdrawn}

// Share types (共享类型).
const (
	ShareUnconditional = "无条件共享"
	ShareConditional   = "有条件共享"
	ShareNone          = "不予共享"
)

// Vocabularies of the controlled columns. Templates offer them as drop-downs.
var (
	ShareTypes   = []string{ShareUnconditional, ShareConditional, ShareNone}
	Formats      = []string{"数据库", "电子文件", "接口", "电子表格", "图形图像", "流媒体", "其他"}
	ShareMethods = []string{"接口服务", "库表交换", "文件下载", "在线查询"}
	OpenTypes    = []string{"无条件开放", "有条件开放", "不予开放"}
	UpdateCycles = []string{"实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "不定期"}
	DataTypes    = []string{"字符型", "数值型", "日期型", "日期时间型", "布尔型", "二进制"}
)

// Content is everything a data admin edits about an item. Its JSON is what
// versions record and diffs compare.
type Content struct {
	Name string `json:"name"`
	// Classification (信息资源分类): 类 (1 digit), 项 (2), 目 (3), 细目 (0–4).
	Lei   string `json:"lei"`
	Xiang string `json:"xiang"`
	Mu    string `json:"mu"`
	Ximu  string `json:"ximu,omitempty"`
	// ProviderID is the id of the providing department (信息资源提供方).
	ProviderID     string   `json:"provider_id"`
	Summary        string   `json:"summary"`
	Format         string   `json:"format"`
	ShareType      string   `json:"share_type"`
	ShareCondition string   `json:"share_condition,omitempty"`
	LegalBasis     string   `json:"legal_basis,omitempty"`
	ShareMethod    string   `json:"share_method,omitempty"`
	OpenType       string   `json:"open_type"`
	UpdateCycle    string   `json:"update_cycle"`
	PublishDate    string   `json:"publish_date,omitempty"` // YYYY-MM-DD
	Libraries      []string `json:"libraries"`              // library ids
	Related        []string `json:"related,omitempty"`      // related item codes
	Fields         []Field  `json:"fields"`
}

// Field is one data item (信息项) of a catalogue item.
type Field struct {
	Name        string `json:"name"`
	Code        string `json:"code"`
	DataType    string `json:"data_type"`
	Length      int    `json:"length,omitempty"`
	Description string `json:"description,omitempty"`
	Personal    bool   `json:"personal,omitempty"`  // personal information (个人信息)
	Sensitive   bool   `json:"sensitive,omitempty"` // sensitive (敏感)
}

// Item is a catalogue item as stored.
type Item struct {
	Code string `json:"code"`
	Content
	ProviderName string    `json:"provider_name,omitempty"`
	Status       Status    `json:"status"`
	Version      int       `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	UpdatedBy    string    `json:"updated_by"`
}

// Classification returns the classification code, e.g. "101001".
func (c *Content) Classification() string { return c.Lei + c.Xiang + c.Mu + c.Ximu }

var (
	reCode      = regexp.MustCompile(`^[0-9]{6,10}-[0-9]{6}$`)
	reLei       = regexp.MustCompile(`^[0-9]$`)
	reXiang     = regexp.MustCompile(`^[0-9]{2}$`)
	reMu        = regexp.MustCompile(`^[0-9]{3}$`)
	reXimu      = regexp.MustCompile(`^[0-9]{0,4}$`)
	reFieldCode = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
)

// ValidCode reports whether s has the shape of a resource code.
func ValidCode(s string) bool { return reCode.MatchString(s) }

// Normalize applies sheet.Clean (NFKC, trimmed spaces) to every text of c
// and drops empty list entries. It returns the JSON pointers of the values
// it changed, so callers can say so.
func (c *Content) Normalize() []string {
	var changed []string
	clean := func(p *string, ptr string) {
		if v, ch := sheet.Clean(*p); ch {
			*p = v
			changed = append(changed, ptr)
		}
	}
	clean(&c.Name, "/name")
	clean(&c.Lei, "/lei")
	clean(&c.Xiang, "/xiang")
	clean(&c.Mu, "/mu")
	clean(&c.Ximu, "/ximu")
	clean(&c.ProviderID, "/provider_id")
	clean(&c.Summary, "/summary")
	clean(&c.Format, "/format")
	clean(&c.ShareType, "/share_type")
	clean(&c.ShareCondition, "/share_condition")
	clean(&c.LegalBasis, "/legal_basis")
	clean(&c.ShareMethod, "/share_method")
	clean(&c.OpenType, "/open_type")
	clean(&c.UpdateCycle, "/update_cycle")
	clean(&c.PublishDate, "/publish_date")
	cleanList := func(l []string, ptr string) []string {
		out := l[:0]
		for i := range l {
			clean(&l[i], ptr+"/"+strconv.Itoa(i))
			if l[i] != "" {
				out = append(out, l[i])
			}
		}
		return out
	}
	c.Libraries = cleanList(c.Libraries, "/libraries")
	c.Related = cleanList(c.Related, "/related")
	for i := range c.Fields {
		f := &c.Fields[i]
		p := "/fields/" + strconv.Itoa(i)
		clean(&f.Name, p+"/name")
		clean(&f.Code, p+"/code")
		clean(&f.DataType, p+"/data_type")
		clean(&f.Description, p+"/description")
	}
	if c.Libraries == nil {
		c.Libraries = []string{}
	}
	if c.Fields == nil {
		c.Fields = []Field{}
	}
	return changed
}

// Limits on an item's texts, in characters.
const (
	MaxName        = 200
	MaxSummary     = 2000
	MaxCondition   = 1000
	MaxFields      = 500
	MaxRelated     = 150 // what the import's 2,000-character cell can hold
	MaxFieldName   = 100
	MaxDescription = 500
	MaxFieldLength = 1_000_000
)

func tooLong(s string, n int) bool { return utf8.RuneCountInString(s) > n }

// check validates c on its own (not against the database) and returns every
// problem, with JSON pointers into Content.
func (c *Content) check() []errs.FieldError {
	var fe []errs.FieldError
	add := func(ptr, reason, value string) {
		fe = append(fe, errs.FieldError{Pointer: ptr, Reason: reason, Value: clip(value)})
	}
	switch {
	case c.Name == "":
		add("/name", "required", "")
	case tooLong(c.Name, MaxName):
		add("/name", "at most 200 characters", c.Name)
	}
	if !reLei.MatchString(c.Lei) {
		add("/lei", "类 is one digit", c.Lei)
	}
	if !reXiang.MatchString(c.Xiang) {
		add("/xiang", "项 is two digits (keep the leading zero: format the cell as text)", c.Xiang)
	}
	if !reMu.MatchString(c.Mu) {
		add("/mu", "目 is three digits (keep leading zeros: format the cell as text)", c.Mu)
	}
	if !reXimu.MatchString(c.Ximu) {
		add("/ximu", "细目 is up to four digits", c.Ximu)
	}
	if c.ProviderID == "" {
		add("/provider_id", "required", "")
	}
	if tooLong(c.Summary, MaxSummary) {
		add("/summary", "at most 2000 characters", c.Summary)
	}
	choice := func(ptr, v string, opts []string, required bool) {
		if v == "" {
			if required {
				add(ptr, "required; one of "+joinChoices(opts), "")
			}
			return
		}
		if !slices.Contains(opts, v) {
			add(ptr, "one of "+joinChoices(opts), v)
		}
	}
	choice("/format", c.Format, Formats, true)
	choice("/share_type", c.ShareType, ShareTypes, true)
	choice("/open_type", c.OpenType, OpenTypes, true)
	choice("/update_cycle", c.UpdateCycle, UpdateCycles, true)
	choice("/share_method", c.ShareMethod, ShareMethods, c.ShareType != ShareNone && c.ShareType != "")
	switch c.ShareType {
	case ShareConditional:
		if c.ShareCondition == "" {
			add("/share_condition", "有条件共享 needs its conditions (共享条件)", "")
		}
		if c.LegalBasis == "" {
			add("/legal_basis", "有条件共享 needs its legal basis (共享依据)", "")
		}
	case ShareNone:
		if c.LegalBasis == "" {
			add("/legal_basis", "不予共享 needs its legal basis (共享依据)", "")
		}
	}
	if tooLong(c.ShareCondition, MaxCondition) {
		add("/share_condition", "at most 1000 characters", c.ShareCondition)
	}
	if tooLong(c.LegalBasis, MaxCondition) {
		add("/legal_basis", "at most 1000 characters", c.LegalBasis)
	}
	if c.PublishDate != "" {
		if _, err := time.Parse("2006-01-02", c.PublishDate); err != nil {
			add("/publish_date", "a date as YYYY-MM-DD", c.PublishDate)
		}
	}
	seenLib := map[string]bool{}
	for i, l := range c.Libraries {
		if seenLib[l] {
			add("/libraries/"+strconv.Itoa(i), "listed twice", l)
		}
		seenLib[l] = true
	}
	seenRel := map[string]bool{}
	for i, r := range c.Related {
		p := "/related/" + strconv.Itoa(i)
		switch {
		case !reCode.MatchString(r):
			add(p, "a resource code such as 101001-000001", r)
		case seenRel[r]:
			add(p, "listed twice", r)
		}
		seenRel[r] = true
	}
	if len(c.Related) > MaxRelated {
		// Each is looked up when the item is saved.
		add("/related", "at most 150 related items", strconv.Itoa(len(c.Related)))
	}
	if len(c.Fields) > MaxFields {
		add("/fields", "at most 500 fields", strconv.Itoa(len(c.Fields)))
	}
	seenField := map[string]int{}
	for i, f := range c.Fields {
		p := "/fields/" + strconv.Itoa(i)
		switch {
		case f.Name == "":
			add(p+"/name", "required", "")
		case tooLong(f.Name, MaxFieldName):
			add(p+"/name", "at most 100 characters", f.Name)
		}
		if !reFieldCode.MatchString(f.Code) {
			add(p+"/code", "a letter then letters, digits or _ (at most 64)", f.Code)
		} else if j, dup := seenField[f.Code]; dup {
			add(p+"/code", "same code as field "+strconv.Itoa(j), f.Code)
		} else {
			seenField[f.Code] = i
		}
		choice(p+"/data_type", f.DataType, DataTypes, true)
		if f.Length < 0 || f.Length > MaxFieldLength {
			add(p+"/length", "between 0 and 1000000", strconv.Itoa(f.Length))
		}
		if tooLong(f.Description, MaxDescription) {
			add(p+"/description", "at most 500 characters", f.Description)
		}
	}
	return fe
}

func joinChoices(opts []string) string {
	s := ""
	for i, o := range opts {
		if i > 0 {
			s += ", "
		}
		s += o
	}
	return s
}

// clip shortens a value quoted back in an error (a 10 MB cell is not echoed).
func clip(s string) string {
	const n = 60
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
