package hub

import (
	"context"
	"fmt"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/seal"
)

// Demo seal-user principals (the keepers of their department's seals).
const (
	DemoSealerData  = "data-bureau-sealer"   // 政务服务和大数据管理局
	DemoSealerCivil = "civil-affairs-sealer" // 民政局
)

// seedSeals gives every demo department a 公章 (the demo picture: a red
// ring with the department's name and a star) unless it has one, and
// names the data bureau's and the civil affairs bureau's in res for the
// printed curl commands. Running it again adds nothing.
func (a *App) seedSeals(ctx context.Context, admin *exchange.Principal, deps []exchange.Department, dataBureau, civil string, res *DemoResult) error {
	have := map[string]seal.Seal{}
	after := ""
	for {
		ss, next, err := a.Seals.List(ctx, seal.ListFilter{Kind: seal.KindOfficial, Status: seal.StatusActive, After: after, Limit: 500})
		if err != nil {
			return err
		}
		for _, s := range ss {
			if _, ok := have[s.Organisation.ID]; !ok {
				have[s.Organisation.ID] = s
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	for _, d := range deps {
		if _, ok := have[d.ID]; ok {
			continue
		}
		s, err := a.Seals.CreateSeal(ctx, admin, seal.NewSeal{OrganisationID: d.ID, Name: d.Name, Kind: seal.KindOfficial, Image: seal.DemoImage(d.Name)})
		if err != nil {
			return fmt.Errorf("seal of %s: %w", d.Name, err)
		}
		have[d.ID] = s
	}
	res.Seals = len(have)
	res.SealID, res.SecondSealID = have[dataBureau].ID, have[civil].ID
	return nil
}
