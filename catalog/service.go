package catalog

import (
	"context"
	"database/sql"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Service is the data directory's store and rules. Build it with New.
type Service struct {
	db     *db.DB
	now    func() time.Time
	search searchIndex
}

// Config tunes a Service.
type Config struct {
	Now func() time.Time
}

// New returns a Service over d.
func New(d *db.DB, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{db: d, now: cfg.Now}
}

// catalogLockKey serialises code assignment across replicas on PostgreSQL.
const catalogLockKey = 0x5348_4341_5447 // "SHCATG"

// CanChange reports whether p may create or change items provided by the
// department: hub admins may change any item, data admins only their own
// department's.
func CanChange(p *exchange.Principal, providerID string) bool {
	if p == nil {
		return false
	}
	return p.Has(exchange.RoleAdmin) || (p.Has(exchange.RoleDataAdmin) && p.DepartmentID == providerID)
}

// CanSeeAll reports whether p may read drafts and withdrawn items (other
// callers see published items only).
func CanSeeAll(p *exchange.Principal) bool {
	return p != nil && p.Has(exchange.RoleAdmin, exchange.RoleDataAdmin, exchange.RoleAuditor, exchange.RoleImporter)
}

func mayChange(p *exchange.Principal, providerID string) error {
	if !CanChange(p, providerID) {
		return errs.Forbidden("only data admins of department %s, or hub admins, may change its catalogue items", providerID)
	}
	return nil
}

// department is the little of a department the catalogue needs.
type department struct {
	ID, Code, Name string
}

// departments returns every department keyed by id.
func (s *Service) departments(ctx context.Context) (map[string]department, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, code, name FROM departments`)
	if err != nil {
		return nil, db.Interpret(err, "departments")
	}
	defer rows.Close()
	out := map[string]department{}
	for rows.Next() {
		var d department
		if err := rows.Scan(&d.ID, &d.Code, &d.Name); err != nil {
			return nil, db.Interpret(err, "departments")
		}
		out[d.ID] = d
	}
	return out, db.Interpret(rows.Err(), "departments")
}

func (s *Service) department(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (department, error) {
	var d department
	err := q.QueryRowContext(ctx, `SELECT id, code, name FROM departments WHERE id = $1`, id).Scan(&d.ID, &d.Code, &d.Name)
	return d, db.Interpret(err, "department "+id)
}
