package seal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// UsageRecord is one application of a seal (用印记录).
type UsageRecord struct {
	ID           string    `json:"id"`
	SealID       string    `json:"seal_id"`
	Kid          string    `json:"kid"`
	PrincipalID  string    `json:"principal_id"`
	DepartmentID string    `json:"department_id"` // the seal's organisation
	Document     Document  `json:"document"`
	Purpose      string    `json:"purpose"`
	SignedAt     time.Time `json:"signed_at"`
}

// newUsageID returns 32 hex digits: microseconds since 1970, then random
// bits, so ids sort by signing time.
func newUsageID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMicro()))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// FlushUsage writes the usage records buffered so far.
func (s *Service) FlushUsage(ctx context.Context) error {
	if err := s.usage.flushNow(ctx); err != nil {
		return db.Interpret(err, "seal usage")
	}
	return nil
}

// Usage lists a seal's usage records, newest first, a page at a time
// (limit default 50, at most 500); next is the cursor for the following
// page, "" after the last. Administrators and auditors may read any
// seal's records, others only their own organisation's (errs.Forbidden).
// Records still buffered (see Sign) appear after the next flush.
func (s *Service) Usage(ctx context.Context, by *exchange.Principal, sealID, cursor string, limit int) (records []UsageRecord, next string, err error) {
	if by == nil {
		return nil, "", errs.Unauthenticated("sign in to read seal usage")
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		return nil, "", errs.InvalidFields("bad page size", errs.FieldError{Pointer: "?limit", Reason: "at most 500"})
	}
	st, err := s.state(ctx, sealID)
	if err != nil {
		return nil, "", err
	}
	if by.Disabled || !(by.Has(exchange.RoleAdmin, exchange.RoleAuditor) || by.DepartmentID == st.seal.Organisation.ID) {
		return nil, "", errs.Forbidden("seal usage is visible to its organisation, administrators and auditors")
	}
	q := `SELECT id, seal_id, kid, principal_id, sha256, size, media_type, document_name, purpose, signed_at FROM seal_usage WHERE seal_id = $1`
	args := []any{sealID}
	if cursor != "" {
		q += ` AND id < $2`
		args = append(args, cursor)
	}
	q += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(limit+1)
	rows, err := s.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", db.Interpret(err, "seal usage")
	}
	defer rows.Close()
	for rows.Next() {
		var r UsageRecord
		var at int64
		r.DepartmentID = st.seal.Organisation.ID
		if err := rows.Scan(&r.ID, &r.SealID, &r.Kid, &r.PrincipalID, &r.Document.SHA256, &r.Document.Size,
			&r.Document.MediaType, &r.Document.Name, &r.Purpose, &at); err != nil {
			return nil, "", db.Interpret(err, "seal usage")
		}
		r.SignedAt = fromMicros(at)
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", db.Interpret(err, "seal usage")
	}
	if len(records) > limit {
		records = records[:limit]
		next = records[limit-1].ID
	}
	return records, next, nil
}
