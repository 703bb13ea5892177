package exchange

import (
	"context"
	"database/sql"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// Department is a government body or another registered organisation.
// Departments form a tree: the city, its counties and districts, offices.
type Department struct {
	ID        string    `json:"id"`
	Code      string    `json:"code"` // 统一社会信用代码
	Name      string    `json:"name"`
	Kind      string    `json:"kind"` // city, district, county, office, organisation
	ParentID  string    `json:"parent_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// DepartmentKinds lists the accepted kinds.
var DepartmentKinds = []string{"city", "district", "county", "office", "organisation"}

// Validate checks the fields a caller supplies.
func (d *Department) Validate() error {
	trimAll(&d.ID, &d.Code, &d.Name, &d.Kind, &d.ParentID)
	var fe []errs.FieldError
	if d.ID != "" && !validSlug(d.ID) {
		fe = append(fe, errs.FieldError{Pointer: "/id", Reason: "use 1–40 lower-case letters, digits and hyphens", Value: d.ID})
	}
	if err := ident.ValidateCreditCode(d.Code); err != nil {
		fe = append(fe, errs.FieldError{Pointer: "/code", Reason: "not a valid 统一社会信用代码: " + err.Error(), Value: d.Code})
	}
	if d.Name == "" || len([]rune(d.Name)) > 100 {
		fe = append(fe, errs.FieldError{Pointer: "/name", Reason: "required, at most 100 characters"})
	}
	okKind := false
	for _, k := range DepartmentKinds {
		okKind = okKind || k == d.Kind
	}
	if !okKind {
		fe = append(fe, errs.FieldError{Pointer: "/kind", Reason: "one of city, district, county, office, organisation", Value: d.Kind})
	}
	if len(fe) > 0 {
		return errs.InvalidFields("department is not valid", fe...)
	}
	return nil
}

func validSlug(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// CreateDepartment adds a department. A duplicate id or code is a conflict;
// an unknown parent is invalid.
func (s *Service) CreateDepartment(ctx context.Context, d Department) (Department, error) {
	if err := d.Validate(); err != nil {
		return Department{}, err
	}
	if d.ID == "" {
		d.ID = newID("dep")
	}
	if d.ParentID != "" {
		if _, err := s.Department(ctx, d.ParentID); err != nil {
			if errs.Is(err, errs.KindNotFound) {
				return Department{}, errs.InvalidFields("department is not valid", errs.FieldError{Pointer: "/parent_id", Reason: "no such department", Value: d.ParentID})
			}
			return Department{}, err
		}
	}
	d.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	_, err := s.db.W.ExecContext(ctx,
		`INSERT INTO departments (id, code, name, kind, parent_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		d.ID, d.Code, d.Name, d.Kind, nullString(d.ParentID), micros(d.CreatedAt))
	if err != nil {
		if db.IsUniqueViolation(err) {
			return Department{}, errs.Conflict("a department with id %q or code %s already exists", d.ID, d.Code)
		}
		return Department{}, db.Interpret(err, "department")
	}
	return d, nil
}

const departmentCols = `id, code, name, kind, parent_id, created_at`

func scanDepartment(sc interface{ Scan(...any) error }) (Department, error) {
	var (
		d      Department
		parent sql.NullString
		at     int64
	)
	err := sc.Scan(&d.ID, &d.Code, &d.Name, &d.Kind, &parent, &at)
	d.ParentID, d.CreatedAt = parent.String, fromMicros(at)
	return d, err
}

// Department returns one department by id.
func (s *Service) Department(ctx context.Context, id string) (Department, error) {
	d, err := scanDepartment(s.db.QueryRow(ctx, `SELECT `+departmentCols+` FROM departments WHERE id = $1`, id))
	if err != nil {
		return Department{}, db.Interpret(err, "department "+id)
	}
	return d, nil
}

// DepartmentByCode returns the department with a 统一社会信用代码.
func (s *Service) DepartmentByCode(ctx context.Context, code string) (Department, error) {
	d, err := scanDepartment(s.db.QueryRow(ctx, `SELECT `+departmentCols+` FROM departments WHERE code = $1`, code))
	if err != nil {
		return Department{}, db.Interpret(err, "department with code "+code)
	}
	return d, nil
}

// Departments lists every department ordered by id (the city has a few hundred).
func (s *Service) Departments(ctx context.Context) ([]Department, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+departmentCols+` FROM departments ORDER BY id`)
	return db.Collect(rows, err, "departments", scanDepartment)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
