package audit

import (
	"context"
	"database/sql"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Entry returns the entry at index. Errors: errs.NotFound.
func (l *Log) Entry(ctx context.Context, index uint64) (Entry, error) {
	if index > 1<<63-1 {
		return Entry{}, errs.NotFound("audit entry %d not found", index)
	}
	row := l.db.R.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM audit_entries WHERE idx = $1`, int64(index))
	e, _, err := scanEntry(row)
	if err != nil {
		return Entry{}, db.Interpret(err, "audit entry")
	}
	return e, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanEntry reads one row of entryColumns.
func scanEntry(s scanner) (Entry, []byte, error) {
	var (
		e                      Entry
		idx, at, rows, latency int64
		status                 int64
		resources              string
		requestHash, leaf      []byte
	)
	err := s.Scan(&idx, &at, &e.RequestID, &e.PrincipalID, &e.DepartmentID, &e.Method, &e.Route, &resources,
		&e.Purpose, &e.EndUser, &e.CaseNumber, &status, &rows, &latency, &requestHash, &leaf)
	if err != nil {
		return Entry{}, nil, err
	}
	e.Index = uint64(idx)
	e.Time = time.UnixMicro(at).UTC()
	e.Resources = parseResources(resources)
	e.Status, e.Rows = int(status), int(rows)
	e.Latency = time.Duration(latency) * time.Microsecond
	copy(e.RequestHash[:], requestHash)
	return e, leaf, nil
}

var _ scanner = (*sql.Row)(nil)
