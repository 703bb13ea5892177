package exchange

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Resource names one thing a grant can cover.
type Resource struct {
	Kind string // ResourceCatalogItem, ResourceLicenceType, ...
	ID   string
}

func (r Resource) String() string { return r.Kind + ":" + r.ID }

// Access is what Authorize allows: the grant in force, the fields the caller
// may see (the requested ones, or all granted ones when none were named) and
// the purpose to log.
type Access struct {
	Grant   Grant
	Fields  []string // field codes; contains "*" when every field is granted
	Purpose string
}

// Allows reports whether field f may be returned.
func (a *Access) Allows(f string) bool {
	return slices.Contains(a.Fields, AllFields) || slices.Contains(a.Fields, f)
}

// A Scope is a route's further check of what a call asks against one grant
// (a filter on a field the grant shows only masked, a lookup by a key it
// hides, ...), given the Access that grant would give. It returns an error
// (errs.Forbidden, errs.Invalid) to refuse the call under that grant.
type Scope func(Access) error

// Authorize is the one check every data route calls. It finds a grant in
// force for the principal's department on the resource that covers every
// requested field and that every scope allows, takes one call from its
// daily quota and returns what the caller may see. purpose defaults to the
// grant's purpose. Everything that refuses a call for what the grant does
// not allow belongs in a scope: a refused call does not use the quota, and
// of several covering grants one that allows the call is picked.
//
// Errors: errs.Invalid for a purpose over 200 characters; errs.Forbidden
// naming what is missing (no grant, an expired or revoked one, fields
// outside it); a scope's error when it refuses every covering grant (that
// of the first); errs.RateLimited when the daily quota of every grant that
// allows the call is used up.
func (s *Service) Authorize(ctx context.Context, p *Principal, res Resource, fields []string, purpose string, scopes ...Scope) (Access, error) {
	if p == nil {
		return Access{}, errs.Unauthenticated("no principal")
	}
	purpose = strings.TrimSpace(purpose)
	if len([]rune(purpose)) > MaxPurposeLen {
		return Access{}, errs.InvalidFields("purpose is too long", errs.FieldError{Pointer: "X-Purpose", Reason: "at most 200 characters"})
	}
	now := s.now()
	grants, err := s.grantCache.get(ctx, s, grantKey{p.DepartmentID, res.Kind, res.ID}, now)
	if err != nil {
		return Access{}, err
	}
	var active []Grant
	for _, g := range grants {
		if g.Active(now) {
			active = append(active, g)
		}
	}
	if len(active) == 0 {
		return Access{}, noGrant(p, res, grants, now)
	}
	var covering []Grant
	for _, g := range active {
		if missingFields(&g, fields) == nil {
			covering = append(covering, g)
		}
	}
	if len(covering) == 0 {
		missing := missingFields(&active[0], fields)
		return Access{}, errs.Forbidden("fields %s of %s are not granted to department %s (granted: %s)",
			strings.Join(missing, ", "), res, p.DepartmentID, strings.Join(active[0].Fields, ", "))
	}
	day := now.In(s.loc).Format(time.DateOnly)
	var scopeErr, quotaErr error
grants:
	for _, g := range covering {
		a := Access{Grant: g, Purpose: purpose, Fields: fields}
		if len(fields) == 0 {
			a.Fields = g.Fields
		}
		if a.Purpose == "" {
			a.Purpose = g.Purpose
		}
		for _, scope := range scopes {
			if scope == nil {
				continue
			}
			if err := scope(a); err != nil {
				if scopeErr == nil {
					scopeErr = err
				}
				continue grants
			}
		}
		if err := s.quota.take(ctx, g.ID, day, g.DailyQuota); err != nil {
			quotaErr = err
			continue
		}
		return a, nil
	}
	if quotaErr != nil {
		return Access{}, quotaErr
	}
	return Access{}, scopeErr
}

func missingFields(g *Grant, fields []string) []string {
	var missing []string
	for _, f := range fields {
		if !g.AllowsField(f) {
			missing = append(missing, f)
		}
	}
	return missing
}

func noGrant(p *Principal, res Resource, grants []Grant, now time.Time) error {
	for _, g := range grants {
		switch {
		case g.RevokedAt != nil:
			return errs.Forbidden("grant %s of department %s for %s was revoked at %s: %s", g.ID, p.DepartmentID, res, g.RevokedAt.Format(time.RFC3339), g.RevokeReason)
		case !now.Before(g.ValidUntil):
			return errs.Forbidden("grant %s of department %s for %s expired at %s", g.ID, p.DepartmentID, res, g.ValidUntil.Format(time.RFC3339))
		case now.Before(g.ValidFrom):
			return errs.Forbidden("grant %s of department %s for %s starts at %s", g.ID, p.DepartmentID, res, g.ValidFrom.Format(time.RFC3339))
		}
	}
	return errs.Forbidden("department %s has no grant for %s", p.DepartmentID, res)
}

// QuotaUsedToday returns how many calls a grant has used today in the hub's
// time zone: those written to the database by every replica and those
// served here and not yet written (not the quota other replicas hold
// reserved, nor the calls they have not yet written).
func (s *Service) QuotaUsedToday(ctx context.Context, grantID string) (int64, error) {
	return s.quota.used(ctx, grantID, s.now().In(s.loc).Format(time.DateOnly))
}
