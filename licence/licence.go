package licence

import (
	"strings"
	"time"
)

// Status is a licence's status code (GB/T 36903 sector feeds).
type Status string

// Statuses. Expired (05) is never stored: a valid licence past its
// validity reads as expired (Licence.StatusAt).
const (
	StatusValid      Status = "01" // 有效
	StatusSuspended  Status = "02" // 暂扣
	StatusRevoked    Status = "03" // 撤销
	StatusCancelled  Status = "04" // 注销
	StatusExpired    Status = "05" // 失效 (过期)
	StatusTransfered Status = "06" // 转出
	StatusWithdrawn  Status = "07" // 吊销
	StatusOther      Status = "99" // 其他
)

var statusNames = map[Status]string{
	StatusValid: "有效", StatusSuspended: "暂扣", StatusRevoked: "撤销", StatusCancelled: "注销",
	StatusExpired: "失效", StatusTransfered: "转出", StatusWithdrawn: "吊销", StatusOther: "其他",
}

// Name is the status's Chinese name.
func (s Status) Name() string { return statusNames[s] }

// Event is a lifecycle operation; each makes a new sealed version.
type Event string

// Events (新发, 变更, 延续, 暂扣, 暂扣发还, 撤销/吊销, 注销, 附件).
const (
	EventIssue   Event = "issue"
	EventAmend   Event = "amend"
	EventRenew   Event = "renew"
	EventSuspend Event = "suspend"
	EventReturn  Event = "return"
	EventRevoke  Event = "revoke"
	EventCancel  Event = "cancel"
	EventFile    Event = "file"
)

// Holder is who holds a licence (持证主体).
type Holder struct {
	Name   string `json:"name"`
	IDType string `json:"id_type"` // 111 居民身份证号, 001 统一社会信用代码
	ID     string `json:"id"`
}

// File is a licence's attached file, stored by content address.
type File struct {
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	Name      string `json:"name"`
}

// Licence is one licence at one version: the data its issuer seals.
type Licence struct {
	// ID is the full identifier of this version, with its check character.
	ID       string `json:"id"`
	TypeCode string `json:"type_code"`
	TypeName string `json:"type_name"`
	Number   string `json:"number"` // 证照编号
	// IssuerID is the issuing department; IssuerName and IssuerCode its
	// name and 统一社会信用代码 (颁发机构, 颁发机构代码).
	IssuerID   string            `json:"issuer_id"`
	IssuerName string            `json:"issuer_name"`
	IssuerCode string            `json:"issuer_code"`
	Holder     Holder            `json:"holder"`
	IssuedOn   string            `json:"issued_on"`             // YYYY-MM-DD
	ValidFrom  string            `json:"valid_from"`            // YYYY-MM-DD
	ValidUntil string            `json:"valid_until,omitempty"` // YYYY-MM-DD; "" for 长期
	Region     string            `json:"region,omitempty"`      // 属地代码, 6 digits
	Face       map[string]string `json:"face"`
	Status     Status            `json:"status"`
	Version    int               `json:"version"`
	Replaces   string            `json:"replaces,omitempty"` // 关联证照标识
	File       *File             `json:"file,omitempty"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// Key is the identifier without version and check character, the same for
// every version of a licence.
func (l *Licence) Key() string { return keyOf(l.ID) }

func keyOf(id string) string {
	// ...SERIAL.VVV.C: cut the last two dotted parts.
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return id
	}
	j := strings.LastIndexByte(id[:i], '.')
	if j < 0 {
		return id
	}
	return id[:j]
}

// StatusAt is the status as it reads on day: a valid licence whose
// validity has ended is expired.
func (l *Licence) StatusAt(now time.Time) Status {
	if l.Status == StatusValid && l.ValidUntil != "" && l.ValidUntil < today(now) {
		return StatusExpired
	}
	return l.Status
}

// Version is one entry of a licence's history.
type Version struct {
	Version int       `json:"version"`
	Event   Event     `json:"event"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Reason  string    `json:"reason,omitempty"`
	Digest  string    `json:"digest"` // SHA-256 of the sealed licence data
	Licence Licence   `json:"licence"`
	// SealJWS is the issuer's seal over the licence data (JWS JSON); for a
	// version sealed in an import batch it is the batch's seal over the
	// batch manifest, and BatchID/BatchIndex say where the digest sits.
	SealJWS    string `json:"seal_jws"`
	BatchID    string `json:"batch_id,omitempty"`
	BatchIndex int    `json:"batch_index,omitempty"`
}

// cst is China Standard Time: licence dates are calendar days in China.
var cst = time.FixedZone("CST", 8*3600)

func today(now time.Time) string { return now.In(cst).Format(time.DateOnly) }

// parseDate accepts YYYY-MM-DD.
func parseDate(s string) (time.Time, bool) {
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

// addYears returns the last day of a validity of n years from day d
// (d + n years - 1 day), as licences print it.
func addYears(d string, n int) string {
	t, ok := parseDate(d)
	if !ok || n == 0 {
		return ""
	}
	return t.AddDate(n, 0, -1).Format(time.DateOnly)
}
