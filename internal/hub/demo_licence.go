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
// the demo) to scan. It adds no principals or grants: the demo's keys and
// grant stay the ones SeedDemo documents.
func (a *App) seedLicences(ctx context.Context, admin *exchange.Principal, res *DemoResult) error {
	l, n, err := a.Licences.SeedDemo(ctx, admin, a.Seals, DemoLicences)
	if err != nil {
		return err
	}
	res.Licences, res.LicenceID, res.LicenceType = n, l.ID, l.TypeCode
	res.LicenceHolder = l.Holder.ID
	qr, err := a.Licences.IssueQR(ctx, &l, 24*time.Hour)
	if err != nil {
		return err
	}
	res.LicenceQRURL = qr.URL
	return nil
}
