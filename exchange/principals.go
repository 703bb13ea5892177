package exchange

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// NewPrincipal is what an admin supplies to create a principal.
type NewPrincipal struct {
	DepartmentID string `json:"department_id"`
	Name         string `json:"name"`
	Roles        []Role `json:"roles"`
}

const principalCols = `id, department_id, name, roles, created_at, disabled_at`
const principalColsP = `p.id, p.department_id, p.name, p.roles, p.created_at, p.disabled_at`

func scanPrincipal(sc interface{ Scan(...any) error }, extra ...any) (Principal, error) {
	var (
		p        Principal
		roles    string
		at       int64
		disabled sql.NullInt64
	)
	dest := append(extra, &p.ID, &p.DepartmentID, &p.Name, &roles, &at, &disabled)
	err := sc.Scan(dest...)
	p.Roles, p.CreatedAt, p.Disabled = splitRoles(roles), fromMicros(at), disabled.Valid
	return p, err
}

// CreatePrincipal adds a principal to a department.
func (s *Service) CreatePrincipal(ctx context.Context, np NewPrincipal) (Principal, error) {
	trimAll(&np.DepartmentID, &np.Name)
	var fe []errs.FieldError
	if np.Name == "" || len([]rune(np.Name)) > 100 {
		fe = append(fe, errs.FieldError{Pointer: "/name", Reason: "required, at most 100 characters"})
	}
	if len(np.Roles) == 0 {
		fe = append(fe, errs.FieldError{Pointer: "/roles", Reason: "at least one role: admin, data-admin, auditor, importer, app, seal-user, issuer"})
	}
	seen := map[Role]bool{}
	for i, r := range np.Roles {
		if !ValidRole(r) {
			fe = append(fe, errs.FieldError{Pointer: "/roles/" + strconv.Itoa(i), Reason: "unknown role; use admin, data-admin, auditor, importer, app, seal-user or issuer", Value: string(r)})
		}
		if seen[r] {
			fe = append(fe, errs.FieldError{Pointer: "/roles/" + strconv.Itoa(i), Reason: "duplicate role", Value: string(r)})
		}
		seen[r] = true
	}
	if seen[RoleAdmin] && seen[RoleAuditor] {
		// Separation of duties: admins make the principals, keys and
		// grants the log records; they are not who reads it.
		fe = append(fe, errs.FieldError{Pointer: "/roles", Reason: "admin and auditor are not held by one principal: the people audited do not read their own audit trail"})
	}
	if np.DepartmentID == "" {
		fe = append(fe, errs.FieldError{Pointer: "/department_id", Reason: "required"})
	} else if _, err := s.Department(ctx, np.DepartmentID); err != nil {
		if !errs.Is(err, errs.KindNotFound) {
			return Principal{}, err
		}
		fe = append(fe, errs.FieldError{Pointer: "/department_id", Reason: "no such department", Value: np.DepartmentID})
	}
	if len(fe) > 0 {
		return Principal{}, errs.InvalidFields("principal is not valid", fe...)
	}
	p := Principal{ID: newID("prn"), DepartmentID: np.DepartmentID, Name: np.Name, Roles: np.Roles, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	_, err := s.db.W.ExecContext(ctx,
		`INSERT INTO principals (id, department_id, name, roles, created_at) VALUES ($1, $2, $3, $4, $5)`,
		p.ID, p.DepartmentID, p.Name, joinRoles(p.Roles), micros(p.CreatedAt))
	if db.IsUniqueViolation(err) {
		return Principal{}, errs.Conflict("department %s already has a principal named %q", p.DepartmentID, p.Name)
	}
	return p, db.Interpret(err, "principal")
}

// Principal returns one principal.
func (s *Service) Principal(ctx context.Context, id string) (Principal, error) {
	p, err := scanPrincipal(s.db.QueryRow(ctx, `SELECT `+principalCols+` FROM principals WHERE id = $1`, id))
	return p, db.Interpret(err, "principal "+id)
}

// PrincipalByName returns the principal of a department with a name.
func (s *Service) PrincipalByName(ctx context.Context, departmentID, name string) (Principal, error) {
	p, err := scanPrincipal(s.db.QueryRow(ctx, `SELECT `+principalCols+` FROM principals WHERE department_id = $1 AND name = $2`, departmentID, name))
	return p, db.Interpret(err, "principal "+name)
}

// Principals lists principals, of one department when departmentID is set.
func (s *Service) Principals(ctx context.Context, departmentID string) ([]Principal, error) {
	q := `SELECT ` + principalCols + ` FROM principals`
	args := []any{}
	if departmentID != "" {
		q += ` WHERE department_id = $1`
		args = append(args, departmentID)
	}
	rows, err := s.db.R.QueryContext(ctx, q+` ORDER BY department_id, name`, args...)
	return db.Collect(rows, err, "principals", func(sc db.Scanner) (Principal, error) { return scanPrincipal(sc) })
}

// DisablePrincipal stops every key of a principal from working.
func (s *Service) DisablePrincipal(ctx context.Context, id string) (Principal, error) {
	if _, err := s.db.W.ExecContext(ctx, `UPDATE principals SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL`, micros(s.now()), id); err != nil {
		return Principal{}, db.Interpret(err, "principal")
	}
	s.keyCache.forget(func(k cachedKey) bool { return k.principal != nil && k.principal.ID == id })
	return s.Principal(ctx, id)
}
