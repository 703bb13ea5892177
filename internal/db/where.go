package db

import (
	"strconv"
	"strings"
)

// Where builds the conditions of a filtered list query: each Add takes a
// condition with one "?" and its value, and numbers the placeholder.
//
//	var w db.Where
//	if f.Status != "" { w.Add("status = ?", f.Status) }
//	rows, err := d.R.QueryContext(ctx, "SELECT ... FROM t"+w.SQL()+" ORDER BY id", w.Args...)
type Where struct {
	conds []string
	// Args are the values, in placeholder order.
	Args []any
}

// Add appends cond (holding one "?") with its value v.
func (w *Where) Add(cond string, v any) {
	w.Args = append(w.Args, v)
	w.conds = append(w.conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.Args)), 1))
}

// Raw appends a condition without a value.
func (w *Where) Raw(cond string) { w.conds = append(w.conds, cond) }

// SQL returns " WHERE c1 AND c2 ..." or "" when there are no conditions.
func (w *Where) SQL() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Next is the number of the next placeholder, for a LIMIT or cursor
// appended after the conditions.
func (w *Where) Next() int { return len(w.Args) + 1 }
