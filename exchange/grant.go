package exchange

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Resource kinds a grant can name.
const (
	ResourceCatalogItem = "catalog_item"
	ResourceLicenceType = "licence_type"
	ResourceDataset     = "dataset"
)

// ResourceKinds lists the kinds grants may name.
var ResourceKinds = []string{ResourceCatalogItem, ResourceLicenceType, ResourceDataset}

// AllFields in a grant's field list allows every field of the resource.
const AllFields = "*"

// Grant says a consumer department may use a resource's fields for a
// purpose until a time, within a daily quota.
type Grant struct {
	ID                   string     `json:"id"`
	ConsumerDepartmentID string     `json:"consumer_department_id"`
	ResourceKind         string     `json:"resource_kind"`
	ResourceID           string     `json:"resource_id"`
	Fields               []string   `json:"fields"`
	Purpose              string     `json:"purpose"`
	ValidFrom            time.Time  `json:"valid_from"`
	ValidUntil           time.Time  `json:"valid_until"`
	DailyQuota           int64      `json:"daily_quota"` // 0: unlimited
	Source               string     `json:"source"`
	CreatedBy            string     `json:"created_by"`
	CreatedAt            time.Time  `json:"created_at"`
	RevokedAt            *time.Time `json:"revoked_at,omitempty"`
	RevokedBy            string     `json:"revoked_by,omitempty"`
	RevokeReason         string     `json:"revoke_reason,omitempty"`
}

// Active reports whether the grant is in force at t.
func (g *Grant) Active(t time.Time) bool {
	return g.RevokedAt == nil && !t.Before(g.ValidFrom) && t.Before(g.ValidUntil)
}

// AllowsField reports whether the grant covers field f.
func (g *Grant) AllowsField(f string) bool {
	return slices.Contains(g.Fields, AllFields) || slices.Contains(g.Fields, f)
}

// NewGrant is what an admin (or an approved application) supplies.
type NewGrant struct {
	ConsumerDepartmentID string    `json:"consumer_department_id"`
	ResourceKind         string    `json:"resource_kind"`
	ResourceID           string    `json:"resource_id"`
	Fields               []string  `json:"fields"`
	Purpose              string    `json:"purpose"`
	ValidFrom            time.Time `json:"valid_from"`
	ValidUntil           time.Time `json:"valid_until"`
	DailyQuota           int64     `json:"daily_quota"`
	Source               string    `json:"-"`
}

// MaxPurposeLen is the most characters a purpose (用证事由) may have.
const MaxPurposeLen = 200

// CreateGrant records a grant made by the principal `by`.
func (s *Service) CreateGrant(ctx context.Context, by *Principal, ng NewGrant) (Grant, error) {
	g, err := s.newGrant(ctx, by, ng)
	if err != nil {
		return Grant{}, err
	}
	defer s.grantCache.clear()
	return g, insertGrant(ctx, s.db.W, g)
}

// execer is a pool or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// newGrant validates ng and returns the grant it makes, not yet written
// (insertGrant writes it). It reads the consumer department outside any
// transaction.
func (s *Service) newGrant(ctx context.Context, by *Principal, ng NewGrant) (Grant, error) {
	trimAll(&ng.ConsumerDepartmentID, &ng.ResourceKind, &ng.ResourceID, &ng.Purpose)
	now := s.now().UTC().Truncate(time.Microsecond)
	if ng.ValidFrom.IsZero() {
		ng.ValidFrom = now
	}
	var fe []errs.FieldError
	if ng.ConsumerDepartmentID == "" {
		fe = append(fe, errs.FieldError{Pointer: "/consumer_department_id", Reason: "required"})
	} else if _, err := s.Department(ctx, ng.ConsumerDepartmentID); err != nil {
		if !errs.Is(err, errs.KindNotFound) {
			return Grant{}, err
		}
		fe = append(fe, errs.FieldError{Pointer: "/consumer_department_id", Reason: "no such department", Value: ng.ConsumerDepartmentID})
	}
	if !slices.Contains(ResourceKinds, ng.ResourceKind) {
		fe = append(fe, errs.FieldError{Pointer: "/resource_kind", Reason: "one of " + strings.Join(ResourceKinds, ", "), Value: ng.ResourceKind})
	}
	if ng.ResourceID == "" || len(ng.ResourceID) > 200 {
		fe = append(fe, errs.FieldError{Pointer: "/resource_id", Reason: "required, at most 200 characters"})
	}
	if len(ng.Fields) == 0 {
		fe = append(fe, errs.FieldError{Pointer: "/fields", Reason: `at least one field code, or ["*"] for all fields`})
	}
	for i, f := range ng.Fields {
		if strings.TrimSpace(f) == "" || len(f) > 100 {
			fe = append(fe, errs.FieldError{Pointer: "/fields/" + strconv.Itoa(i), Reason: "field codes are 1–100 characters", Value: f})
		}
	}
	if ng.Purpose == "" || len([]rune(ng.Purpose)) > MaxPurposeLen {
		fe = append(fe, errs.FieldError{Pointer: "/purpose", Reason: "required, at most 200 characters"})
	}
	if ng.ValidUntil.IsZero() {
		fe = append(fe, errs.FieldError{Pointer: "/valid_until", Reason: "required (RFC 3339 time)"})
	} else if !ng.ValidUntil.After(ng.ValidFrom) || !ng.ValidUntil.After(now) {
		fe = append(fe, errs.FieldError{Pointer: "/valid_until", Reason: "must be after valid_from and in the future", Value: ng.ValidUntil.Format(time.RFC3339)})
	}
	if ng.DailyQuota < 0 {
		fe = append(fe, errs.FieldError{Pointer: "/daily_quota", Reason: "0 (unlimited) or a positive number of calls per day", Value: strconv.FormatInt(ng.DailyQuota, 10)})
	}
	if len(fe) > 0 {
		return Grant{}, errs.InvalidFields("grant is not valid", fe...)
	}
	if ng.Source == "" {
		ng.Source = "admin"
	}
	g := Grant{
		ID: newID("grt"), ConsumerDepartmentID: ng.ConsumerDepartmentID, ResourceKind: ng.ResourceKind, ResourceID: ng.ResourceID,
		Fields: ng.Fields, Purpose: ng.Purpose, ValidFrom: ng.ValidFrom.UTC().Truncate(time.Microsecond),
		ValidUntil: ng.ValidUntil.UTC().Truncate(time.Microsecond), DailyQuota: ng.DailyQuota,
		Source: ng.Source, CreatedBy: by.ID, CreatedAt: now,
	}
	return g, nil
}

// insertGrant writes g through ex (the pool, or a transaction). The
// caller clears the grant cache once the write is committed.
func insertGrant(ctx context.Context, ex execer, g Grant) error {
	fields, _ := json.Marshal(g.Fields)
	_, err := ex.ExecContext(ctx, `INSERT INTO grants (id, consumer_department_id, resource_kind, resource_id, fields, purpose,
		valid_from, valid_until, daily_quota, source, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		g.ID, g.ConsumerDepartmentID, g.ResourceKind, g.ResourceID, string(fields), g.Purpose,
		micros(g.ValidFrom), micros(g.ValidUntil), g.DailyQuota, g.Source, g.CreatedBy, micros(g.CreatedAt))
	return db.Interpret(err, "grant")
}

// RevokeGrant ends a grant now, with a reason.
func (s *Service) RevokeGrant(ctx context.Context, by *Principal, id, reason string) (Grant, error) {
	reason, err := revokeReason(reason)
	if err != nil {
		return Grant{}, err
	}
	defer s.grantCache.clear()
	n, err := s.revoke(ctx, s.db.W, by, id, reason)
	if err != nil {
		return Grant{}, err
	}
	g, err := s.Grant(ctx, id)
	if err != nil {
		return Grant{}, err
	}
	if n == 0 {
		return g, errs.Conflict("grant %s is already revoked", id)
	}
	return g, nil
}

// maxReasonRunes is how long a revocation's reason may be.
const maxReasonRunes = 500

// revokeReason trims and checks a revocation's reason.
func revokeReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len([]rune(reason)) > maxReasonRunes {
		return "", errs.InvalidFields("revocation is not valid", errs.FieldError{Pointer: "/reason", Reason: "required, at most 500 characters"})
	}
	return reason, nil
}

// revoke ends grant id through ex (the pool, or a transaction) and says
// how many grants it ended: 0 when it was revoked already (or is not
// there). The caller clears the grant cache once the write is committed.
func (s *Service) revoke(ctx context.Context, ex execer, by *Principal, id, reason string) (int64, error) {
	res, err := ex.ExecContext(ctx, `UPDATE grants SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 WHERE id = $4 AND revoked_at IS NULL`,
		micros(s.now()), by.ID, reason, id)
	if err != nil {
		return 0, db.Interpret(err, "grant")
	}
	n, err := res.RowsAffected()
	return n, db.Interpret(err, "grant")
}

const grantCols = `id, consumer_department_id, resource_kind, resource_id, fields, purpose, valid_from, valid_until,
	daily_quota, source, created_by, created_at, revoked_at, revoked_by, revoke_reason`

func scanGrant(sc interface{ Scan(...any) error }) (Grant, error) {
	var (
		g                    Grant
		fields               string
		from, until, created int64
		revoked              sql.NullInt64
		by, reason           sql.NullString
	)
	err := sc.Scan(&g.ID, &g.ConsumerDepartmentID, &g.ResourceKind, &g.ResourceID, &fields, &g.Purpose, &from, &until,
		&g.DailyQuota, &g.Source, &g.CreatedBy, &created, &revoked, &by, &reason)
	if err != nil {
		return g, err
	}
	if err := json.Unmarshal([]byte(fields), &g.Fields); err != nil {
		return g, err
	}
	g.ValidFrom, g.ValidUntil, g.CreatedAt = fromMicros(from), fromMicros(until), fromMicros(created)
	if revoked.Valid {
		t := fromMicros(revoked.Int64)
		g.RevokedAt = &t
	}
	g.RevokedBy, g.RevokeReason = by.String, reason.String
	return g, nil
}

// Grant returns one grant.
func (s *Service) Grant(ctx context.Context, id string) (Grant, error) {
	g, err := scanGrant(s.db.QueryRow(ctx, `SELECT `+grantCols+` FROM grants WHERE id = $1`, id))
	return g, db.Interpret(err, "grant "+id)
}

// GrantFilter narrows Grants.
type GrantFilter struct {
	ConsumerDepartmentID string
	ResourceKind         string
	ResourceID           string
	// ActiveOnly keeps the grants in force now (Grant.Active): not
	// revoked, started and not expired.
	ActiveOnly bool
	// Unexpired keeps the grants not revoked and not expired, including
	// those dated to start later: every grant that is or will be usable,
	// which is what a review of grants that no longer fit must cover.
	Unexpired bool
}

// Grants lists grants, newest first.
func (s *Service) Grants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	var w db.Where
	add := w.Add
	if f.ConsumerDepartmentID != "" {
		add("consumer_department_id = ?", f.ConsumerDepartmentID)
	}
	if f.ResourceKind != "" {
		add("resource_kind = ?", f.ResourceKind)
	}
	if f.ResourceID != "" {
		add("resource_id = ?", f.ResourceID)
	}
	if f.ActiveOnly || f.Unexpired {
		now := micros(s.now())
		w.Raw("revoked_at IS NULL")
		if f.ActiveOnly {
			add("valid_from <= ?", now)
		}
		add("valid_until > ?", now)
	}
	rows, err := s.db.Query(ctx, `SELECT `+grantCols+` FROM grants`+w.SQL()+" ORDER BY created_at DESC, id", w.Args...)
	return db.Collect(rows, err, "grants", scanGrant)
}
