package hub

import (
	"context"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
)

// DemoLicences is how many licences the demo issues.
const DemoLicences = 300

// seedLicences loads the licence catalogue, gives the issuing departments
// seals, issues the demo licences and makes a QR code (valid a day, for
// the demo) to scan. It grants the civil affairs bureau use of that
// licence type, so the demo app key can look licences up by holder.
func (a *App) seedLicences(ctx context.Context, admin *exchange.Principal, civil string, res *DemoResult) error {
	seeded, err := a.Licences.SeedDemo(ctx, admin, a.Seals, DemoLicences)
	if err != nil {
		return err
	}
	l := seeded.Show
	res.Licences, res.LicenceTypes, res.LicenceID, res.LicenceType = seeded.Licences, seeded.Types, l.ID, l.TypeCode
	res.LicenceHolder = l.Holder.ID
	gs, err := a.Exchange.Grants(ctx, exchange.GrantFilter{ConsumerDepartmentID: civil, ResourceKind: exchange.ResourceLicenceType, ResourceID: l.TypeCode, ActiveOnly: true})
	if err != nil {
		return err
	}
	if len(gs) == 0 {
		if _, err := a.Exchange.CreateGrant(ctx, admin, exchange.NewGrant{
			ConsumerDepartmentID: civil, ResourceKind: exchange.ResourceLicenceType, ResourceID: l.TypeCode,
			Fields: []string{"number", "holder_name", "validity", "region", "face"}, Purpose: "婚姻登记核验当事人身份", ValidUntil: time.Now().AddDate(1, 0, 0), DailyQuota: 10000,
		}); err != nil {
			return err
		}
	}
	qr, err := a.Licences.IssueQR(ctx, &l, 24*time.Hour)
	if err != nil {
		return err
	}
	res.LicenceQRURL = qr.URL
	return nil
}
