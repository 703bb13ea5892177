package licence

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/seal"
)

// SealMaker creates seals; *seal.Service satisfies it.
type SealMaker interface {
	CreateSeal(ctx context.Context, by *exchange.Principal, n seal.NewSeal) (seal.Seal, error)
}

// DemoTypes are the dozen types the demo issues licences of.
var DemoTypes = []string{"居民身份证", "机动车驾驶证", "结婚证", "出生医学证明", "营业执照", "不动产权证书",
	"食品经营许可证", "道路运输经营许可证", "社会保障卡", "教师资格证书", "医师执业证书", "排污许可证"}

// LoadCatalogue stores the built-in catalogue's types that are not yet
// defined (one transaction) and gives every department issuing one of
// sealFor's types an active 业务专用章 when it has none. by must be an
// admin. It returns the catalogue.
func (s *Service) LoadCatalogue(ctx context.Context, by *exchange.Principal, seals SealMaker, sealDepts []string) ([]Type, error) {
	if by == nil || !by.Has(exchange.RoleAdmin) {
		return nil, errs.Forbidden("only hub administrators load the licence catalogue")
	}
	ds, err := s.departmentCodes(ctx)
	if err != nil {
		return nil, err
	}
	types, err := Catalogue(func(id string) string { return ds[id] })
	if err != nil {
		return nil, errs.Invalid("%v", err)
	}
	now := s.now().UnixMicro()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, t := range types {
			doc, _ := json.Marshal(t)
			res, err := tx.ExecContext(ctx, `INSERT INTO licence_types (code, name, definer_id, holder_kind, validity_years, doc, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`+s.db.InsertIgnore(), t.Code, t.Name, t.DefinerID, string(t.HolderKind), t.ValidityYears, string(doc), now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				for _, d := range t.IssuerIDs {
					if _, err := tx.ExecContext(ctx, `INSERT INTO licence_type_issuers (type_code, department_id) VALUES ($1, $2)`, t.Code, d); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.Interpret(err, "licence types")
	}
	for _, dept := range sealDepts {
		if _, err := s.sealFor(ctx, dept); err == nil {
			continue
		} else if !errs.Is(err, errs.KindConflict) {
			return nil, err
		}
		d, err := s.department(ctx, dept)
		if err != nil {
			return nil, err
		}
		if _, err := seals.CreateSeal(ctx, by, seal.NewSeal{OrganisationID: dept, Name: d.Name + "电子证照专用章", Kind: seal.KindBusiness,
			Image: seal.DemoImage(d.Name)}); err != nil {
			return nil, err
		}
	}
	return types, nil
}

// departmentCodes maps every department id to its credit code.
func (s *Service) departmentCodes(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, code FROM departments`)
	if err != nil {
		return nil, db.Interpret(err, "departments")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, code string
		if err := rows.Scan(&id, &code); err != nil {
			return nil, db.Interpret(err, "departments")
		}
		out[id] = code
	}
	return out, db.Interpret(rows.Err(), "departments")
}

// DemoSeed is what SeedDemo made.
type DemoSeed struct {
	// Show is a valid 居民身份证 to show.
	Show Licence
	// Licences is how many licences of the demo types exist; Types how
	// many of DemoTypes have at least one.
	Licences, Types int
}

// SeedDemo loads the catalogue, seals the demo types' issuers and issues
// n generated licences of DemoTypes, at least one of each when n is at
// least their number (the same ones every time: running it again adds
// nothing).
func (s *Service) SeedDemo(ctx context.Context, by *exchange.Principal, seals SealMaker, n int) (DemoSeed, error) {
	l, types, err := s.seedDemo(ctx, by, seals, n)
	if err != nil {
		return DemoSeed{}, err
	}
	res := DemoSeed{Show: l}
	for _, t := range types {
		var k int
		if err := s.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences WHERE type_code = $1`, t.Code).Scan(&k); err != nil {
			return DemoSeed{}, db.Interpret(err, "demo licences")
		}
		res.Licences += k
		if k > 0 {
			res.Types++
		}
	}
	return res, nil
}

// seedDemo is SeedDemo without the counting; it returns the licence to
// show and the demo types.
func (s *Service) seedDemo(ctx context.Context, by *exchange.Principal, seals SealMaker, n int) (Licence, []Type, error) {
	ds, err := s.departmentCodes(ctx)
	if err != nil {
		return Licence{}, nil, err
	}
	all, err := Catalogue(func(id string) string { return ds[id] })
	if err != nil {
		return Licence{}, nil, errs.Invalid("%v", err)
	}
	var types []Type
	var depts []string
	for _, t := range all {
		if slices.Contains(DemoTypes, t.Name) {
			types = append(types, t)
			if !slices.Contains(depts, t.IssuerIDs[0]) {
				depts = append(depts, t.IssuerIDs[0])
			}
		}
	}
	if _, err := s.LoadCatalogue(ctx, by, seals, depts); err != nil {
		return Licence{}, nil, err
	}
	dir, err := os.MkdirTemp("", "sharehub-demo-licences-")
	if err != nil {
		return Licence{}, nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "licences.csv")
	fh, err := os.Create(path)
	if err != nil {
		return Licence{}, nil, err
	}
	err = Generate(fh, GenerateOptions{Count: n, Seed: 2024, Types: types, IssuerCode: func(id string) string { return ds[id] }})
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Licence{}, nil, err
	}
	rep, err := s.Import(ctx, path, ImportOptions{By: by, Commit: true})
	if err != nil {
		return Licence{}, nil, err
	}
	if err := rep.Err(); err != nil {
		return Licence{}, nil, err
	}
	var key string
	err = s.db.R.QueryRowContext(ctx, `SELECT id FROM licences WHERE status = $2 ORDER BY CASE WHEN type_code = $1 THEN 0 ELSE 1 END, id LIMIT 1`,
		types[0].Code, string(StatusValid)).Scan(&key)
	if err != nil {
		return Licence{}, nil, db.Interpret(err, "demo licence")
	}
	l, err := s.getKey(ctx, key)
	if err != nil {
		return Licence{}, nil, err
	}
	// The demo's licence to show is valid today whatever the generator drew.
	if st := l.StatusAt(time.Now()); st == StatusExpired {
		if l, err = s.Apply(ctx, &exchange.Principal{ID: by.ID, DepartmentID: l.IssuerID, Roles: []exchange.Role{exchange.RoleIssuer}}, l.ID,
			Change{Event: EventRenew, Reason: "演示：到期换领"}); err != nil {
			return Licence{}, nil, err
		}
	}
	return l, types, nil
}
