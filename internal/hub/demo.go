package hub

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// DemoKey is one demo principal's key, kept in DATA-DIR/demo-keys.json so a
// second `sharehub demo` can print the same keys (the database holds only
// their hashes). The file is for the demo alone; production keys are shown
// once and never written down by the hub.
type DemoKey struct {
	Role        string `json:"role"`
	PrincipalID string `json:"principal_id"`
	Department  string `json:"department"`
	KeyID       string `json:"key_id"`
	Secret      string `json:"secret"`
}

// DemoResult is what `sharehub demo` prints.
type DemoResult struct {
	Departments int
	// CatalogItems is how many catalogue items the demo directory holds.
	CatalogItems int
	Keys         []DemoKey
	GrantID      string
	Resource     exchange.Resource
	// Licences is how many demo licences exist, of LicenceTypes of the
	// demo's types (licence.DemoTypes); LicenceID one of them (a
	// 居民身份证 of LicenceHolder, type LicenceType) and LicenceQRURL its
	// verify page.
	Licences, LicenceTypes                              int
	LicenceID, LicenceType, LicenceHolder, LicenceQRURL string
	// Seals is how many demo 公章 exist (one per demo department); SealID
	// is the data bureau's, SecondSealID the civil affairs bureau's (keys:
	// role "seal-user" of those departments).
	Seals                int
	SealID, SecondSealID string
}

// The demo's grant: the civil affairs bureau's app may read population base
// data: 公安局's 户籍人口基本信息 in the demo catalogue.
var demoResource = exchange.Resource{Kind: exchange.ResourceCatalogItem, ID: catalog.DemoPopulationCode}

// SeedDemo loads the demo departments from dir/departments.csv and makes
// the demo principals, keys and a grant. Running it again adds nothing.
func (a *App) SeedDemo(ctx context.Context, dir string) (DemoResult, error) {
	var res DemoResult
	deps, err := readDepartments(filepath.Join(dir, "departments.csv"))
	if err != nil {
		return res, err
	}
	for _, d := range deps {
		if _, err := a.Exchange.Department(ctx, d.ID); err == nil {
			continue
		} else if !errs.Is(err, errs.KindNotFound) {
			return res, err
		}
		if _, err := a.Exchange.CreateDepartment(ctx, d); err != nil {
			return res, fmt.Errorf("demo department %s: %w", d.ID, err)
		}
	}
	res.Departments = len(deps)
	byName := func(suffix string) (string, error) {
		for _, d := range deps {
			if strings.HasSuffix(d.Name, suffix) {
				return d.ID, nil
			}
		}
		return "", fmt.Errorf("demo departments have none named …%s", suffix)
	}
	dataBureau, err := byName("政务服务和大数据管理局")
	if err != nil {
		return res, err
	}
	civil, err := byName("民政局")
	if err != nil {
		return res, err
	}
	want := []struct {
		role  exchange.Role
		name  string
		dept  string
		roles []exchange.Role
	}{
		{exchange.RoleAdmin, "hub-admin", dataBureau, []exchange.Role{exchange.RoleAdmin}},
		{exchange.RoleAuditor, "auditor", dataBureau, []exchange.Role{exchange.RoleAuditor}},
		{exchange.RoleApp, "civil-affairs-app", civil, []exchange.Role{exchange.RoleApp}},
		{exchange.RoleSealUser, DemoSealerData, dataBureau, []exchange.Role{exchange.RoleSealUser}},
		{exchange.RoleSealUser, DemoSealerCivil, civil, []exchange.Role{exchange.RoleSealUser}},
	}
	keyFile := filepath.Join(a.Config.DataDir, "demo-keys.json")
	saved := map[string]DemoKey{}
	if b, err := os.ReadFile(keyFile); err == nil {
		var ks []DemoKey
		if json.Unmarshal(b, &ks) == nil {
			for _, k := range ks {
				saved[k.PrincipalID] = k
			}
		}
	}
	var admin *exchange.Principal
	for _, w := range want {
		p, err := a.Exchange.PrincipalByName(ctx, w.dept, w.name)
		if errs.Is(err, errs.KindNotFound) {
			p, err = a.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: w.dept, Name: w.name, Roles: w.roles})
		}
		if err != nil {
			return res, fmt.Errorf("demo principal %s: %w", w.name, err)
		}
		if w.role == exchange.RoleAdmin {
			admin = &p
		}
		k, have := saved[p.ID]
		if have {
			if _, _, err := a.Exchange.Authenticate(ctx, k.Secret); err != nil {
				have = false
			}
		}
		if !have {
			key, secret, err := a.Exchange.CreateKey(ctx, p.ID, "demo", time.Time{})
			if err != nil {
				return res, err
			}
			k = DemoKey{PrincipalID: p.ID, KeyID: key.ID, Secret: secret}
		}
		k.Role, k.Department = string(w.role), w.dept
		res.Keys = append(res.Keys, k)
	}
	// The demo catalogue (testdata/catalog, made by `sharehub generate
	// catalog --items 360 --csv testdata/catalog`), published. Importing it
	// again changes nothing.
	rep, err := a.Catalog.ImportCSV(ctx, filepath.Join(dir, "catalog", "items.csv"), filepath.Join(dir, "catalog", "fields.csv"),
		catalog.ImportOptions{By: admin, Commit: true, Publish: true})
	if err != nil {
		return res, fmt.Errorf("demo catalogue: %w", err)
	}
	if err := rep.Err(); err != nil {
		return res, fmt.Errorf("demo catalogue: %w", err)
	}
	res.CatalogItems = rep.Created + rep.Updated + rep.Unchanged
	b, _ := json.MarshalIndent(res.Keys, "", "  ")
	if err := os.WriteFile(keyFile, b, 0o600); err != nil {
		return res, err
	}
	gs, err := a.Exchange.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: civil, ResourceKind: demoResource.Kind, ResourceID: demoResource.ID, ActiveOnly: true})
	if err != nil {
		return res, err
	}
	if len(gs) == 0 {
		g, err := a.Exchange.CreateGrant(ctx, admin, exchange.NewGrant{
			ConsumerDepartmentID: civil, ResourceKind: demoResource.Kind, ResourceID: demoResource.ID,
			Fields: []string{"name", "gender", "birth_date", "household_address"}, Purpose: "婚姻登记核验当事人户籍信息",
			ValidUntil: time.Now().AddDate(1, 0, 0), DailyQuota: 10000,
		})
		if err != nil {
			return res, err
		}
		gs = append(gs, g)
	}
	res.GrantID, res.Resource = gs[0].ID, demoResource
	if err := a.seedLicences(ctx, admin, civil, &res); err != nil {
		return res, fmt.Errorf("demo licences: %w", err)
	}
	if err := a.seedSeals(ctx, admin, deps, dataBureau, civil, &res); err != nil {
		return res, fmt.Errorf("demo seals: %w", err)
	}
	return res, nil
}

func readDepartments(path string) ([]exchange.Department, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("demo data %s not found: run the demo from the repository root, or pass --demo-data DIR", path)
		}
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, c := range []string{"id", "code", "name", "kind", "parent_id"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%s: header has no column %q", path, c)
		}
	}
	var out []exchange.Department
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		out = append(out, exchange.Department{ID: rec[col["id"]], Code: rec[col["code"]], Name: rec[col["name"]], Kind: rec[col["kind"]], ParentID: rec[col["parent_id"]]})
	}
	return out, nil
}
