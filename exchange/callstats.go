package exchange

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// CallStat counts data calls of one consumer department on one item
// (and so one provider) on one day in the hub's time zone.
type CallStat struct {
	Day                  string `json:"day"` // YYYY-MM-DD, Asia/Shanghai
	ConsumerDepartmentID string `json:"consumer_department_id"`
	ProviderDepartmentID string `json:"provider_department_id"`
	ItemCode             string `json:"item_code"`
	Calls                int64  `json:"calls"`
	Refused              int64  `json:"refused"` // status >= 400
	Rows                 int64  `json:"rows"`
}

// CallStatsFilter narrows CallStats; From and To are required (To - From
// at most 92 days).
type CallStatsFilter struct {
	From, To             time.Time
	ConsumerDepartmentID string
	ProviderDepartmentID string
	ItemCode             string
}

// DataRoutes are the routes whose calls count as data use.
var DataRoutes = []string{"/v1/data/:code/records", "/v1/data/:code/records/:key/versions", "/v1/data/:code/export"}

// CallStats aggregates the audit log's data calls per day, consumer,
// provider and item. The log is the source of truth: it holds every call.
func (sh *Sharing) CallStats(ctx context.Context, log *audit.Log, f CallStatsFilter) ([]CallStat, error) {
	if f.From.IsZero() || f.To.IsZero() || !f.To.After(f.From) || f.To.Sub(f.From) > 92*24*time.Hour {
		return nil, errs.InvalidFields("bad period", errs.FieldError{Pointer: "?from", Reason: "from and to are required, from before to, at most 92 days apart"})
	}
	type key struct{ day, consumer, item string }
	agg := map[key]*CallStat{}
	providers := map[string]string{}
	for _, route := range DataRoutes {
		cursor := ""
		for {
			es, next, err := log.Search(ctx, audit.Filter{From: f.From, To: f.To, Route: route, DepartmentID: f.ConsumerDepartmentID, Cursor: cursor, Limit: audit.MaxSearchLimit})
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				item := ""
				for _, r := range e.Resources {
					if code, ok := strings.CutPrefix(r, ResourceCatalogItem+":"); ok {
						item = code
						break
					}
				}
				if item == "" || (f.ItemCode != "" && item != f.ItemCode) {
					continue
				}
				prov, ok := providers[item]
				if !ok {
					if it, err := sh.items.ShareItem(ctx, item); err == nil {
						prov = it.ProviderID
					}
					providers[item] = prov
				}
				if f.ProviderDepartmentID != "" && prov != f.ProviderDepartmentID {
					continue
				}
				k := key{e.Time.In(sh.ex.loc).Format(time.DateOnly), e.DepartmentID, item}
				st := agg[k]
				if st == nil {
					st = &CallStat{Day: k.day, ConsumerDepartmentID: k.consumer, ProviderDepartmentID: prov, ItemCode: item}
					agg[k] = st
				}
				st.Calls++
				st.Rows += int64(e.Rows)
				if e.Status >= 400 {
					st.Refused++
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	out := make([]CallStat, 0, len(agg))
	for _, st := range agg {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.ItemCode != b.ItemCode {
			return a.ItemCode < b.ItemCode
		}
		return a.ConsumerDepartmentID < b.ConsumerDepartmentID
	})
	return out, nil
}
