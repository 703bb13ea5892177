package db

import "database/sql"

// Scanner is what a row scanner reads from: *sql.Row or *sql.Rows.
type Scanner = interface{ Scan(dest ...any) error }

// Collect reads every row of a query with scan and closes the rows. Pass
// the query's result and error straight in; what names the rows in errors,
// which come back in the hub's vocabulary (see Interpret). It returns an
// empty, non-nil slice when there are no rows, so lists encode as [].
func Collect[T any](rows *sql.Rows, err error, what string, scan func(Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, Interpret(err, what)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, Interpret(err, what)
		}
		out = append(out, v)
	}
	return out, Interpret(rows.Err(), what)
}
