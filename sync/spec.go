// Package datasync (directory sync/) pulls data back from upstream
// "vertical" systems into the hub's datasets (数据回落): jobs with a source,
// a schedule and a mode, connectors behind one interface, recorded runs that
// resume from checkpoints, and the dataset record store with change
// detection. It is named datasync so it does not shadow the standard sync.
package datasync

import (
	"encoding/json"
	"maps"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Modes of a job.
const (
	ModeFull        = "full"        // read everything; records gone from the source are marked deleted
	ModeIncremental = "incremental" // read records whose cursor field moved past the last run's, less the overlap
)

// Drift policies: what a run does when the source's fields differ from the mapping.
const (
	DriftIgnore = "ignore" // report on the run, carry on
	DriftStop   = "stop"   // report and fail the run before anything is applied
)

// Source kinds.
const (
	SourceHTTP     = "http"
	SourcePostgres = "postgres"
	SourceS3Files  = "s3files"
)

// Spec is everything an operator sets on a job.
type Spec struct {
	// Schedule is a 5-field cron expression in the hub's time zone
	// (Asia/Shanghai); empty: run only on demand.
	Schedule string `json:"schedule,omitempty"`
	Mode     string `json:"mode"`
	// CursorField is the source field incremental runs advance by (an
	// RFC 3339 time or a number). Overlap re-reads that much before the
	// last cursor, so late commits upstream are not missed.
	CursorField string   `json:"cursor_field,omitempty"`
	Overlap     Duration `json:"overlap,omitempty"`
	// DeletedField names a source field that, when true, says the record
	// was deleted upstream (incremental sources send such tombstones).
	DeletedField string `json:"deleted_field,omitempty"`
	// KeyFields are the item's field codes that identify a record.
	KeyFields []string `json:"key_fields"`
	// Mapping maps source field names to the item's field codes. Empty:
	// source names are the item's codes.
	Mapping map[string]string `json:"mapping,omitempty"`
	// IgnoreFields are source fields deliberately not loaded (not drift).
	IgnoreFields []string   `json:"ignore_fields,omitempty"`
	Limits       Limits     `json:"limits"`
	Drift        string     `json:"drift_policy"`
	Source       SourceSpec `json:"source"`
}

// Limits bound a run.
type Limits struct {
	Timeout       Duration `json:"timeout,omitempty"`         // whole run; default 1h
	Retries       int      `json:"retries"`                   // extra attempts after a failure
	Backoff       Duration `json:"backoff,omitempty"`         // first retry delay, doubled each time; default 1s
	RowsPerSecond int      `json:"rows_per_second,omitempty"` // 0: unlimited
	MaxErrors     int      `json:"max_errors,omitempty"`      // per-row errors kept; default 1000
	// MaxDeletePercent and DeleteAllowance guard a full refresh against
	// an upstream that suddenly answers nothing (or a broken export with
	// a fraction of its rows): a run that would mark more than
	// DeleteAllowance records deleted and more than MaxDeletePercent per
	// cent of the live records fails, and deletes nothing. Defaults 50
	// and 10 (0 or absent is the default); 100 per cent: no guard;
	// DeleteAllowance -1: no deletions allowed regardless of the
	// percentage (only the percentage counts). A manual run started with
	// allow_mass_delete passes it once.
	MaxDeletePercent int `json:"max_delete_percent,omitempty"`
	DeleteAllowance  int `json:"delete_allowance,omitempty"`
}

// Defaults of the full-refresh deletion guard (Limits).
const (
	DefaultMaxDeletePercent = 50
	DefaultDeleteAllowance  = 10
)

// SourceSpec says where records come from. Only the fields of Kind apply.
type SourceSpec struct {
	Kind string `json:"kind"`
	// HTTP JSON API.
	URL         string `json:"url,omitempty"`
	Pagination  string `json:"pagination,omitempty"`   // page (default) or cursor
	PageSize    int    `json:"page_size,omitempty"`    // default 1000
	PageParam   string `json:"page_param,omitempty"`   // default page (1-based)
	SizeParam   string `json:"size_param,omitempty"`   // default page_size
	CursorParam string `json:"cursor_param,omitempty"` // default cursor
	SinceParam  string `json:"since_param,omitempty"`  // default since
	RecordsPath string `json:"records_path,omitempty"` // default records
	NextPath    string `json:"next_path,omitempty"`    // default next
	TotalPath   string `json:"total_path,omitempty"`   // default total
	Auth        string `json:"auth,omitempty"`         // none, bearer, hmac
	Token       string `json:"token,omitempty"`        // bearer token or HMAC secret
	KeyID       string `json:"key_id,omitempty"`       // HMAC key id
	// PostgreSQL: Query may use $1 for the incremental cursor.
	DSN   string `json:"dsn,omitempty"`
	Query string `json:"query,omitempty"`
	// S3 files: csv or xlsx objects under Prefix of Blobs (an s3:// spec).
	Blobs  string `json:"blobs,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// RequestTimeout bounds one upstream request; default 30s.
	RequestTimeout Duration `json:"request_timeout,omitempty"`
}

// Redacted returns s without secrets, for responses and logs.
func (s Spec) Redacted() Spec {
	if s.Source.Token != "" {
		s.Source.Token = "***"
	}
	if s.Source.DSN != "" {
		s.Source.DSN = "***"
	}
	s.Source.URL = redactURL(s.Source.URL)
	s.Source.Blobs = redactBlobs(s.Source.Blobs)
	return s
}

// redactURL hides the password of an http source's URL, its way to basic
// auth (https://user:***@host/…). A user name alone (https://***@host/…)
// is often the secret itself: it is hidden too.
//
// Query parameters that carry secrets (access_token=, key=, sign=, …;
// see secretParam) are shown as name=*** too: upstreams take their keys
// there as often as in a header. The rest of the URL stays as written.
func redactURL(raw string) string {
	raw = redactQuery(raw)
	if !strings.Contains(raw, "@") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "***"
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
	} else {
		u.User = url.User("***")
	}
	return strings.Replace(u.String(), "%2A%2A%2A@", "***@", 1)
}

// secretParam reports whether a URL query parameter named name carries a
// secret, by its name: case, "-", "_" and "." aside, one of the names
// upstreams use for keys and signatures (key, apikey, ak, sk, sign, sig,
// pwd, …) or a name ending in token, secret, password, passwd, signature,
// apikey or credential(s) (access_token, client_secret,
// X-Amz-Signature, …).
func secretParam(name string) bool {
	n := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' {
			return -1
		}
		return unicode.ToLower(r)
	}, name)
	switch n {
	case "key", "apikey", "appkey", "accesskey", "secretkey", "privatekey", "subscriptionkey", "ak", "sk",
		"sign", "sig", "pwd", "pass", "auth", "authorization", "ticket", "sessionid":
		return true
	}
	for _, suf := range []string{"token", "secret", "password", "passwd", "signature", "apikey", "credential", "credentials"} {
		if strings.HasSuffix(n, suf) {
			return true
		}
	}
	return false
}

// redactQuery shows the value of each secret query parameter of raw as
// "***", leaving every other byte of raw as it was (so that a redacted
// URL sent back unchanged is recognised as such).
func redactQuery(raw string) string {
	qs, ok := rawQuery(raw)
	if !ok {
		return raw
	}
	parts := strings.Split(raw[qs.lo:qs.hi], "&")
	changed := false
	for i, p := range parts {
		name, val, eq := strings.Cut(p, "=")
		if eq && val != "" && val != "***" && secretParam(unescapeName(name)) {
			parts[i] = name + "=***"
			changed = true
		}
	}
	if !changed {
		return raw
	}
	return raw[:qs.lo] + strings.Join(parts, "&") + raw[qs.hi:]
}

type span struct{ lo, hi int }

// rawQuery is where raw's query string is, if it has one.
func rawQuery(raw string) (span, bool) {
	q := strings.IndexByte(raw, '?')
	if q < 0 {
		return span{}, false
	}
	hi := len(raw)
	if h := strings.IndexByte(raw[q:], '#'); h >= 0 {
		hi = q + h
	}
	return span{q + 1, hi}, true
}

func unescapeName(name string) string {
	if n, err := url.QueryUnescape(name); err == nil {
		return n
	}
	return name
}

// keepQuerySecrets puts the stored values back into the secret query
// parameters an edited query carries as Redacted shows them ("***"): the
// n-th such parameter of a name gets the stored n-th value of that name.
// missing names a parameter the stored query has no value for.
func keepQuerySecrets(stored, edited string) (query string, kept bool, missing string) {
	storedVals := map[string][]string{}
	for _, p := range strings.Split(stored, "&") {
		if name, val, ok := strings.Cut(p, "="); ok {
			n := unescapeName(name)
			storedVals[n] = append(storedVals[n], val)
		}
	}
	seen := map[string]int{}
	parts := strings.Split(edited, "&")
	for i, p := range parts {
		name, val, ok := strings.Cut(p, "=")
		n := unescapeName(name)
		if !ok || !secretParam(n) {
			continue
		}
		k := seen[n]
		seen[n]++
		if val != "***" && val != "%2A%2A%2A" {
			continue
		}
		if k >= len(storedVals[n]) || storedVals[n][k] == "***" {
			return "", false, n
		}
		parts[i] = name + "=" + storedVals[n][k]
		kept = true
	}
	return strings.Join(parts, "&"), kept, ""
}

// redactedQuery reports whether a URL carries a secret query parameter as
// Redacted shows it.
func redactedQuery(raw string) bool {
	qs, ok := rawQuery(raw)
	if !ok {
		return false
	}
	for _, p := range strings.Split(raw[qs.lo:qs.hi], "&") {
		if name, val, ok := strings.Cut(p, "="); ok && (val == "***" || val == "%2A%2A%2A") && secretParam(unescapeName(name)) {
			return true
		}
	}
	return false
}

// secrets are the values of spec's credentials as they may appear in an
// error's text (a client error quotes the URL it asked), for scrub.
func (src SourceSpec) secrets() []string {
	var out []string
	add := func(v string) {
		if len(v) >= 4 && v != "***" { // a short one would blank unrelated text
			out = append(out, v)
			if e := url.QueryEscape(v); e != v {
				out = append(out, e)
			}
		}
	}
	add(src.Token)
	if u, err := url.Parse(src.URL); err == nil {
		if u.User != nil {
			pw, _ := u.User.Password()
			add(pw)
		}
		for name, vals := range u.Query() {
			if secretParam(name) {
				for _, v := range vals {
					add(v)
				}
			}
		}
	}
	if qs, ok := rawQuery(src.URL); ok {
		for _, p := range strings.Split(src.URL[qs.lo:qs.hi], "&") {
			if name, val, ok := strings.Cut(p, "="); ok && secretParam(unescapeName(name)) {
				add(val) // as written, escaped or not
			}
		}
	}
	return out
}

// scrub replaces every secret of src in an error's text with "***".
func (src SourceSpec) scrub(text string) string {
	for _, v := range src.secrets() {
		text = strings.ReplaceAll(text, v, "***")
	}
	return text
}

// redactedUser reports whether u is user information as redactURL shows it.
func redactedUser(u *url.Userinfo) bool {
	pw, ok := u.Password()
	return ok && pw == "***" || !ok && u.Username() == "***"
}

// redactBlobs hides the secret key an s3:// store spec may carry
// (secret_key=***); the rest of it stays readable.
func redactBlobs(spec string) string {
	if !strings.Contains(spec, "secret_key") {
		return spec
	}
	u, err := url.Parse(spec)
	if err != nil {
		return "***"
	}
	q := u.Query()
	if q.Get("secret_key") == "" {
		return spec
	}
	q.Set("secret_key", "***")
	u.RawQuery = strings.ReplaceAll(q.Encode(), "secret_key=%2A%2A%2A", "secret_key=***")
	return u.String()
}

// Duration is a time.Duration written as "90s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return &json.UnmarshalTypeError{Value: "number " + string(b) + ", too many seconds", Type: reflect.TypeFor[Duration]()}
		}
		*d = Duration(time.Duration(n) * time.Second)
		return nil
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		// A type error, so the decoder says which member it was.
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s) + ", not a duration such as \"90s\" or \"1h30m\"", Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(v)
	return nil
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// fill sets defaults.
func (s *Spec) fill() {
	if s.Mode == "" {
		s.Mode = ModeFull
	}
	if s.Drift == "" {
		s.Drift = DriftIgnore
	}
	if s.Limits.Timeout == 0 {
		s.Limits.Timeout = Duration(time.Hour)
	}
	if s.Limits.Backoff == 0 {
		s.Limits.Backoff = Duration(time.Second)
	}
	if s.Limits.MaxErrors == 0 {
		s.Limits.MaxErrors = 1000
	}
	if s.Limits.MaxDeletePercent == 0 {
		s.Limits.MaxDeletePercent = DefaultMaxDeletePercent
	}
	if s.Limits.DeleteAllowance == 0 {
		s.Limits.DeleteAllowance = DefaultDeleteAllowance
	}
	src := &s.Source
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	if src.Kind == SourceHTTP {
		def(&src.Pagination, "page")
		def(&src.PageParam, "page")
		def(&src.SizeParam, "page_size")
		def(&src.CursorParam, "cursor")
		def(&src.SinceParam, "since")
		def(&src.RecordsPath, "records")
		def(&src.NextPath, "next")
		def(&src.TotalPath, "total")
		def(&src.Auth, "none")
		if src.PageSize == 0 {
			src.PageSize = 1000
		}
	}
	if src.RequestTimeout == 0 {
		src.RequestTimeout = Duration(30 * time.Second)
	}
}

// check validates s against the item's field codes.
func (s *Spec) check(itemFields []string) []errs.FieldError {
	var fe []errs.FieldError
	add := func(p, reason, v string) { fe = append(fe, errs.FieldError{Pointer: p, Reason: reason, Value: v}) }
	if s.Schedule != "" {
		sched, err := cronParser.Parse(s.Schedule)
		every, isEvery := strings.CutPrefix(strings.TrimSpace(s.Schedule), "@every ")
		d, _ := time.ParseDuration(strings.TrimSpace(every))
		switch {
		case err != nil:
			add("/spec/schedule", "a 5-field cron expression: "+err.Error(), s.Schedule)
		case isEvery && d < time.Second:
			// The cron library runs such a job every second.
			add("/spec/schedule", "@every needs an interval of at least 1s", s.Schedule)
		case sched.Next(time.Now()).IsZero():
			// e.g. 30 February: the job would silently never run.
			add("/spec/schedule", "never fires: no such date", s.Schedule)
		}
	}
	switch s.Mode {
	case ModeFull:
	case ModeIncremental:
		if s.CursorField == "" && s.Source.Kind != SourceS3Files { // new files are the increment
			add("/spec/cursor_field", "required for incremental jobs", "")
		}
	default:
		add("/spec/mode", "full or incremental", s.Mode)
	}
	if s.Overlap < 0 {
		add("/spec/overlap", "must not be negative", time.Duration(s.Overlap).String())
	}
	if s.Drift != DriftIgnore && s.Drift != DriftStop {
		add("/spec/drift_policy", "ignore or stop", s.Drift)
	}
	if len(s.KeyFields) == 0 {
		add("/spec/key_fields", "at least one field code", "")
	}
	for i, k := range s.KeyFields {
		if !slices.Contains(itemFields, k) {
			add("/spec/key_fields/"+strconv.Itoa(i), "not a field of the item", k)
		}
	}
	// Two source fields for one item field would each run give it the
	// value of whichever the map yielded last: records changing for
	// nothing, a new version each run.
	takenBy := map[string]string{}
	for _, from := range slices.Sorted(maps.Keys(s.Mapping)) {
		to := s.Mapping[from]
		switch {
		case !slices.Contains(itemFields, to):
			add("/spec/mapping/"+from, "not a field of the item", to)
		case takenBy[to] != "":
			add("/spec/mapping/"+from, "field "+to+" is already filled from "+takenBy[to]+": one source field per item field", to)
		default:
			takenBy[to] = from
		}
	}
	l := s.Limits
	if l.Retries < 0 || l.Retries > 20 {
		add("/spec/limits/retries", "0–20", strconv.Itoa(l.Retries))
	}
	if l.RowsPerSecond < 0 {
		add("/spec/limits/rows_per_second", "0 (unlimited) or positive", strconv.Itoa(l.RowsPerSecond))
	}
	if l.MaxDeletePercent < 1 || l.MaxDeletePercent > 100 {
		add("/spec/limits/max_delete_percent", "1–100 (per cent of the live records a full refresh may mark deleted; 100: no limit)", strconv.Itoa(l.MaxDeletePercent))
	}
	if l.DeleteAllowance < -1 || l.DeleteAllowance > 1_000_000_000 {
		add("/spec/limits/delete_allowance", "1–1000000000 deletions a full refresh may always make (0 or absent: 10; -1: none, only max_delete_percent counts)", strconv.Itoa(l.DeleteAllowance))
	}
	if l.Timeout < 0 || l.Backoff < 0 || l.MaxErrors < 0 {
		add("/spec/limits", "durations and counts must not be negative", "")
	}
	src := s.Source
	if src.RequestTimeout < 0 {
		add("/spec/source/request_timeout", "must not be negative", time.Duration(src.RequestTimeout).String())
	}
	switch src.Kind {
	case SourceHTTP:
		if !strings.HasPrefix(src.URL, "http://") && !strings.HasPrefix(src.URL, "https://") {
			add("/spec/source/url", "an http:// or https:// URL", src.URL)
		}
		if src.Pagination != "page" && src.Pagination != "cursor" {
			add("/spec/source/pagination", "page or cursor", src.Pagination)
		}
		if src.Auth != "none" && src.Auth != "bearer" && src.Auth != "hmac" {
			add("/spec/source/auth", "none, bearer or hmac", src.Auth)
		}
		if (src.Auth == "bearer" || src.Auth == "hmac") && src.Token == "" {
			add("/spec/source/token", "required for "+src.Auth+" auth", "")
		}
		if src.PageSize < 1 || src.PageSize > 100_000 {
			add("/spec/source/page_size", "1–100000", strconv.Itoa(src.PageSize))
		}
	case SourcePostgres:
		if !strings.HasPrefix(src.DSN, "postgres://") && !strings.HasPrefix(src.DSN, "postgresql://") {
			add("/spec/source/dsn", "a postgres:// URL", "")
		}
		if strings.TrimSpace(src.Query) == "" {
			add("/spec/source/query", "required", "")
		}
	case SourceS3Files:
		if !strings.HasPrefix(src.Blobs, "s3://") {
			add("/spec/source/blobs", "an s3:// store spec", src.Blobs)
		}
	default:
		add("/spec/source/kind", "http, postgres or s3files", src.Kind)
	}
	return fe
}

// itemField maps a source field name to the item's field code.
func (s *Spec) itemField(src string) string {
	if len(s.Mapping) == 0 {
		return src
	}
	return s.Mapping[src]
}
