package audit

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Search limits.
const (
	DefaultSearchLimit = 100
	MaxSearchLimit     = 1000
)

// Filter selects entries for Search. Zero fields do not filter.
type Filter struct {
	From, To     time.Time // From <= Time < To
	PrincipalID  string
	DepartmentID string
	Route        string // route template, exactly
	Resource     string // one "kind:id" the entry names
	Status       int
	// Cursor continues a previous Search with the same filter: pass the
	// nextCursor it returned.
	Cursor string
	// Limit is the page size: DefaultSearchLimit when 0, at most
	// MaxSearchLimit.
	Limit int
}

// Search returns entries matching f, newest first (highest index first),
// and a cursor for the next page, "" after the last. Entries appended while
// paging do not shift pages: each page starts below the previous one's last
// index. Errors: errs.Invalid for a malformed cursor, a negative limit or
// status, or To before From.
func (l *Log) Search(ctx context.Context, f Filter) (entries []Entry, nextCursor string, err error) {
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, "", errs.InvalidFields("invalid audit search", errs.FieldError{Pointer: "?limit", Reason: "must not be negative", Value: strconv.Itoa(limit)})
	case limit == 0:
		limit = DefaultSearchLimit
	case limit > MaxSearchLimit:
		limit = MaxSearchLimit
	}
	if f.Status < 0 {
		return nil, "", errs.InvalidFields("invalid audit search", errs.FieldError{Pointer: "?status", Reason: "must not be negative", Value: strconv.Itoa(f.Status)})
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return nil, "", errs.InvalidFields("invalid audit search", errs.FieldError{Pointer: "?to", Reason: "is before from"})
	}
	// Filter values are compared with stored values, which Append cleaned
	// (see normalize): clean them alike, so that a search for hostile text
	// finds the entries it was cleaned in, and PostgreSQL, which refuses
	// NUL and invalid UTF-8 as text parameters, does not fail the search.
	if f.Resource != "" {
		f.Resource = cleanResource(f.Resource)
	}
	f.PrincipalID, f.DepartmentID, f.Route = cleanText(f.PrincipalID, maxIndexed), cleanText(f.DepartmentID, maxIndexed), cleanText(f.Route, maxIndexed)
	var (
		where []string
		args  []any
	)
	cond := func(expr string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(expr, "?", "$"+strconv.Itoa(len(args))))
	}
	// With a resource, the resource index drives the query in index order.
	from, order := "audit_entries e", "e.idx"
	if f.Resource != "" {
		from, order = "audit_resources r JOIN audit_entries e ON e.idx = r.idx", "r.idx"
		cond("r.resource = ?", f.Resource)
	}
	if f.Cursor != "" {
		below, err := parseCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		cond(order+" < ?", below)
	}
	if !f.From.IsZero() {
		cond("e.at >= ?", ceilMicro(f.From))
	}
	if !f.To.IsZero() {
		cond("e.at < ?", ceilMicro(f.To))
	}
	if f.PrincipalID != "" {
		cond("e.principal_id = ?", f.PrincipalID)
	}
	if f.DepartmentID != "" {
		cond("e.department_id = ?", f.DepartmentID)
	}
	if f.Route != "" {
		cond("e.route = ?", f.Route)
	}
	if f.Status != 0 {
		cond("e.status = ?", f.Status)
		if f.Status >= 400 {
			// The literal lets the planners use the partial index
			// audit_entries_failures (WHERE status >= 400).
			where = append(where, "e.status >= 400")
		}
	}
	q := "SELECT " + prefixed("e.", entryColumns) + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order + " DESC LIMIT " + strconv.Itoa(limit+1)
	rows, err := l.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", db.Interpret(err, "audit search")
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, _, err := scanEntry(rows)
		if err != nil {
			return nil, "", db.Interpret(err, "audit search")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", db.Interpret(err, "audit search")
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = formatCursor(out[limit-1].Index)
	}
	return out, next, nil
}

// ceilMicro is t in unix microseconds, rounded up. Entry times are whole
// microseconds, so at >= t exactly when at >= ceilMicro(t), and at < t
// exactly when at < ceilMicro(t); UnixMicro rounds down, which took in an
// entry just before a finer From and left out one just before a finer To.
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

func prefixed(p, columns string) string {
	fs := strings.Split(columns, ",")
	for i, f := range fs {
		fs[i] = p + strings.TrimSpace(f)
	}
	return strings.Join(fs, ", ")
}

// A cursor is "a1" followed by the base64url of the last index returned:
// opaque to callers, versioned for us.
const cursorPrefix = "a1"

func formatCursor(index uint64) string {
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, index))
}

func parseCursor(c string) (int64, error) {
	bad := errs.InvalidFields("invalid audit search", errs.FieldError{Pointer: "?cursor", Reason: "is not a cursor this log returned", Value: c})
	rest, ok := strings.CutPrefix(c, cursorPrefix)
	if !ok {
		return 0, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != 8 {
		return 0, bad
	}
	v := binary.BigEndian.Uint64(b)
	if v > 1<<63-1 {
		return 0, bad
	}
	return int64(v), nil
}
