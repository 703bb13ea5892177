package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail,omitempty"`
	Instance  string            `json:"instance,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	Errors    []errs.FieldError `json:"errors,omitempty"`
	// Checks is the readiness problem's extension member: the state of
	// each check /readyz runs ("ok" or "unavailable"), keyed by its name.
	Checks map[string]string `json:"checks,omitempty"`
}

// statusOf is the one table from the error vocabulary to HTTP.
var statusOf = map[errs.Kind]int{
	errs.KindInvalid:         http.StatusBadRequest,
	errs.KindUnauthenticated: http.StatusUnauthorized,
	errs.KindForbidden:       http.StatusForbidden,
	errs.KindNotFound:        http.StatusNotFound,
	errs.KindConflict:        http.StatusConflict,
	errs.KindTooLarge:        http.StatusRequestEntityTooLarge,
	errs.KindMethod:          http.StatusMethodNotAllowed,
	errs.KindRateLimited:     http.StatusTooManyRequests,
	errs.KindInternal:        http.StatusInternalServerError,
	errs.KindUnavailable:     http.StatusServiceUnavailable,
}

var titleOf = map[errs.Kind]string{
	errs.KindInvalid:         "Invalid request",
	errs.KindUnauthenticated: "Not authenticated",
	errs.KindForbidden:       "Forbidden",
	errs.KindNotFound:        "Not found",
	errs.KindConflict:        "Conflict",
	errs.KindTooLarge:        "Request too large",
	errs.KindMethod:          "Method not allowed",
	errs.KindRateLimited:     "Too many requests",
	errs.KindInternal:        "Internal error",
	errs.KindUnavailable:     "Service unavailable",
}

// ProblemTypeBase prefixes every problem type URI; the kind follows.
const ProblemTypeBase = "urn:sharehub:problem:"

// problemFor builds the problem document for err. Internal and unavailable
// errors show a generic detail: their causes are logged, not returned.
func problemFor(err error) Problem {
	kind := errs.KindOf(err)
	p := Problem{Type: ProblemTypeBase + string(kind), Title: titleOf[kind], Status: statusOf[kind]}
	var e *errs.Error
	if errors.As(err, &e) {
		p.Detail, p.Errors = e.Message, e.Fields
	}
	switch kind {
	case errs.KindInternal:
		p.Detail = "an unexpected error occurred; quote the request id when reporting it"
	case errs.KindUnavailable:
		if p.Detail == "" || strings.Contains(p.Detail, "database") {
			p.Detail = "a backing service (database, blob store or audit log) is unavailable; try again shortly"
		}
	}
	return p
}

// fail responds with the problem for err and stops the handler chain.
func fail(c *gin.Context, err error) {
	failWith(c, err, problemFor(err))
}

// failWith responds with p, a problem built by problemFor(err) and then
// given a more specific detail or extension member, and stops the handler
// chain. err is kept for the request log.
func failWith(c *gin.Context, err error, p Problem) {
	_ = c.Error(err)
	p.Instance = c.Request.URL.Path
	p.RequestID = requestID(c)
	if p.Status == http.StatusTooManyRequests {
		c.Header("Retry-After", "60")
	}
	if p.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="sharehub"`)
	}
	writeProblem(c.Writer, p)
	c.Abort()
}

func writeProblem(w http.ResponseWriter, p Problem) {
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

// bindJSON decodes a JSON body strictly into v: one object, no unknown
// fields, with errors that say what and where.
func bindJSON(c *gin.Context, v any) error {
	if ct := c.ContentType(); ct != "" && ct != "application/json" {
		return errs.InvalidFields("request body must be JSON", errs.FieldError{Pointer: "Content-Type", Reason: "use application/json", Value: ct})
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return jsonError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		e := jsonError(err)
		// encoding/json names no place for the error of a field type's
		// own UnmarshalJSON (time.Time's): find the member that fails.
		if fe, ok := e.(*errs.Error); ok && fe.Kind == errs.KindInvalid && len(fe.Fields) == 1 && fe.Fields[0].Pointer == "" {
			fe.Fields[0].Pointer = failingMember(body, reflect.TypeOf(v))
		}
		return e
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.InvalidFields("request body must hold one JSON object", errs.FieldError{Pointer: fmt.Sprintf("byte %d", dec.InputOffset()), Reason: "unexpected data after the object"})
	}
	if at := nulEscape(body); at >= 0 {
		return errs.InvalidFields("a JSON string holds a NUL character", errs.FieldError{Pointer: jsonPointerAt(body, at), Reason: `NUL (\u0000) cannot be stored as text`})
	}
	return nil
}

// jsonPointerAt returns the RFC 6901 pointer of the member or element of
// the valid JSON b whose string holds byte offset at (for an object key,
// the member it names).
func jsonPointerAt(b []byte, at int) string {
	type level struct {
		object  bool
		wantKey bool   // object: the next string is a member name
		key     string // object: the member being read
		index   int    // array: the element being read
	}
	var stack []level
	pointer := func() string {
		var sb strings.Builder
		for _, l := range stack {
			sb.WriteByte('/')
			if l.object {
				sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(l.key))
			} else {
				sb.WriteString(strconv.Itoa(l.index))
			}
		}
		return sb.String()
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Sprintf("byte %d", at)
		}
		if top := len(stack) - 1; top >= 0 {
			l := &stack[top]
			switch {
			case l.object && l.wantKey && tok != json.Delim('}'):
				l.key, l.wantKey = tok.(string), false
				if int(dec.InputOffset()) > at {
					return pointer()
				}
				continue
			case !l.object && tok != json.Delim(']'):
				l.index++
			}
		}
		if int(dec.InputOffset()) > at {
			return pointer()
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, level{index: -1})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value has ended (or a container has begun): an object around
		// it reads a member name next.
		if top := len(stack) - 1; top >= 0 && stack[top].object && tok != json.Delim('{') && tok != json.Delim('[') {
			stack[top].wantKey = true
		}
	}
}

// failingMember returns the RFC 6901 pointer of the first member or
// element of the JSON b that does not decode into its place in a value of
// type t, or "" when none fails on its own.
func failingMember(b []byte, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	open, err := dec.Token()
	if err != nil {
		return ""
	}
	for i := 0; dec.More(); i++ {
		var (
			name string
			ft   reflect.Type
		)
		switch {
		case open == json.Delim('{') && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map):
			tok, err := dec.Token()
			if err != nil {
				return ""
			}
			name, _ = tok.(string)
			if t.Kind() == reflect.Struct {
				ft = fieldType(t, name)
			} else {
				ft = t.Elem()
			}
			name = strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
		case open == json.Delim('[') && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			name, ft = strconv.Itoa(i), t.Elem()
		default:
			return ""
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return ""
		}
		if ft != nil && json.Unmarshal(raw, reflect.New(ft).Interface()) != nil {
			return "/" + name + failingMember(raw, ft)
		}
	}
	return ""
}

// fieldType is the type of the field of struct t that encoding/json fills
// from the member name: an exact match of its JSON name first, else one
// equal under case folding. Nil for none.
func fieldType(t reflect.Type, name string) reflect.Type {
	var folded reflect.Type
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		jname, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && jname == "" {
			continue // its fields are the struct's own, and visible too
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		if jname == "" {
			jname = f.Name
		}
		if jname == name {
			return f.Type
		}
		if folded == nil && strings.EqualFold(jname, name) {
			folded = f.Type
		}
	}
	return folded
}

// nulEscape returns the offset of the first \u0000 escape inside a string
// of the valid JSON b, or -1. encoding/json decodes it into a NUL
// character, which PostgreSQL refuses in text (a 500 where a 400 is due).
func nulEscape(b []byte) int {
	in := false
	for i := 0; i < len(b); i++ {
		switch {
		case !in:
			in = b[i] == '"'
		case b[i] == '"':
			in = false
		case b[i] == '\\':
			if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "0000" {
				return i
			}
			i++ // the escaped character, which may be a quote
		}
	}
	return -1
}

func jsonError(err error) error {
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		maxb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &maxb):
		return errs.TooLarge("request body is over the limit of %d bytes", maxb.Limit)
	case errors.Is(err, io.EOF):
		return errs.InvalidFields("request body is empty", errs.FieldError{Pointer: "", Reason: "send a JSON object"})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.InvalidFields("malformed JSON", errs.FieldError{Pointer: "end of body", Reason: "the JSON ends before it is complete"})
	case errors.As(err, &syn):
		return errs.InvalidFields("malformed JSON", errs.FieldError{Pointer: fmt.Sprintf("byte %d", syn.Offset), Reason: syn.Error()})
	case errors.As(err, &typ):
		ptr := "/" + strings.ReplaceAll(typ.Field, ".", "/")
		return errs.InvalidFields("wrong JSON type", errs.FieldError{Pointer: ptr, Reason: fmt.Sprintf("expected %s, got JSON %s", typ.Type, typ.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.InvalidFields("unknown field in request body", errs.FieldError{Pointer: "/" + f, Reason: "not a field of this request"})
	}
	var te interface{ Error() string }
	if errors.As(err, &te) && strings.Contains(err.Error(), "parsing time") {
		return errs.InvalidFields("bad time value", errs.FieldError{Pointer: "", Reason: err.Error() + " (use RFC 3339, e.g. 2027-01-31T00:00:00+08:00)"})
	}
	return errs.InvalidFields("malformed JSON", errs.FieldError{Reason: err.Error()})
}
