package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// Append stores hostile text cleaned (valid UTF-8, no NUL, no newline in a
// resource, indexed fields cut to 1 KiB). A search for the value as the
// caller sent it must find the entry, not miss it (SQLite) or fail with a
// server error (PostgreSQL refuses NUL and invalid UTF-8 as parameters; the
// HTTP API refuses them first, Go callers such as the console may not).
func TestSearchFindsEntriesByHostileText(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		appendN(t, l, 0, 3)
		long := strings.Repeat("长", 700) // 2100 bytes
		e := sampleEntry(3)
		e.PrincipalID = "prn_\x00nul"
		e.DepartmentID = long
		e.Route = "/v1/grants/\xff"
		e.Resources = []string{"grant:a\nb", "grant:" + long}
		idx, err := l.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []audit.Filter{
			{PrincipalID: e.PrincipalID},
			{DepartmentID: e.DepartmentID},
			{Route: e.Route},
			{Resource: e.Resources[0]},
			{Resource: e.Resources[1]},
		} {
			es, _, err := l.Search(ctx, f)
			if err != nil || len(es) != 1 || es[0].Index != idx {
				t.Errorf("Search(principal %q, department %d bytes, route %q, resource %.20q): %d entries, %v; want entry %d",
					f.PrincipalID, len(f.DepartmentID), f.Route, f.Resource, len(es), err, idx)
			}
		}
	})
}
