package licence

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// SaveType creates or replaces a licence type. Only hub administrators
// may (errs.Forbidden); a bad definition or an unknown department is
// errs.Invalid.
func (s *Service) SaveType(ctx context.Context, by *exchange.Principal, t Type) (Type, error) {
	if by == nil || by.Disabled || !by.Has(exchange.RoleAdmin) {
		return Type{}, errs.Forbidden("only hub administrators define licence types")
	}
	return s.saveType(ctx, t)
}

func (s *Service) saveType(ctx context.Context, t Type) (Type, error) {
	if err := t.Validate(); err != nil {
		return Type{}, err
	}
	for i, id := range append([]string{t.DefinerID}, t.IssuerIDs...) {
		if _, err := s.department(ctx, id); err != nil {
			if errs.Is(err, errs.KindNotFound) {
				p := "/definer_id"
				if i > 0 {
					p = "/issuer_ids/" + strconv.Itoa(i-1)
				}
				return Type{}, errs.InvalidFields("licence type is not valid", errs.FieldError{Pointer: p, Reason: "no such department", Value: id})
			}
			return Type{}, err
		}
	}
	doc, _ := json.Marshal(t)
	now := s.now().UnixMicro()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE licence_types SET name = $2, definer_id = $3, holder_kind = $4, validity_years = $5, doc = $6, updated_at = $7 WHERE code = $1`,
			t.Code, t.Name, t.DefinerID, string(t.HolderKind), t.ValidityYears, string(doc), now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO licence_types (code, name, definer_id, holder_kind, validity_years, doc, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
				t.Code, t.Name, t.DefinerID, string(t.HolderKind), t.ValidityYears, string(doc), now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM licence_type_issuers WHERE type_code = $1`, t.Code); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, d := range t.IssuerIDs {
			if seen[d] {
				continue
			}
			seen[d] = true
			if _, err := tx.ExecContext(ctx, `INSERT INTO licence_type_issuers (type_code, department_id) VALUES ($1, $2)`, t.Code, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Type{}, db.Interpret(err, "licence type "+t.Code)
	}
	s.mu.Lock()
	s.types[t.Code] = &typeEntry{t: t, at: time.Now()}
	s.mu.Unlock()
	return t, nil
}

// Type returns a licence type; an unknown code is errs.NotFound.
func (s *Service) Type(ctx context.Context, code string) (Type, error) {
	s.mu.RLock()
	e := s.types[code]
	s.mu.RUnlock()
	if e != nil && time.Since(e.at) < cacheTTL {
		return e.t, nil
	}
	var doc string
	err := s.db.QueryRow(ctx, `SELECT doc FROM licence_types WHERE code = $1`, code).Scan(&doc)
	if err != nil {
		return Type{}, db.Interpret(err, "licence type "+strconv.Quote(code))
	}
	var t Type
	if err := json.Unmarshal([]byte(doc), &t); err != nil {
		return Type{}, errs.Internal(err, "licence type %s", code)
	}
	s.mu.Lock()
	s.types[code] = &typeEntry{t: t, at: time.Now()}
	s.mu.Unlock()
	return t, nil
}

// Types lists every licence type by code.
func (s *Service) Types(ctx context.Context) ([]Type, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT doc FROM licence_types ORDER BY code`)
	if err != nil {
		return nil, db.Interpret(err, "licence types")
	}
	defer rows.Close()
	var out []Type
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, db.Interpret(err, "licence types")
		}
		var t Type
		if err := json.Unmarshal([]byte(doc), &t); err != nil {
			return nil, errs.Internal(err, "licence type")
		}
		out = append(out, t)
	}
	return out, db.Interpret(rows.Err(), "licence types")
}
