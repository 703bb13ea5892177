package audit_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

func TestSearch(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		const n = 300
		// Appended one at a time so that index i holds sampleEntry(i).
		all := make([]audit.Entry, n)
		for i := range n {
			e := sampleEntry(i)
			idx, err := l.Append(ctx, e)
			if err != nil || idx != uint64(i) {
				t.Fatalf("Append #%d = %d, %v", i, idx, err)
			}
			e.Index = idx
			all[i] = e
		}
		// want lists the indices of entries matching keep, newest first.
		want := func(keep func(e audit.Entry) bool) []uint64 {
			var out []uint64
			for i := n - 1; i >= 0; i-- {
				if keep(all[i]) {
					out = append(out, uint64(i))
				}
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    audit.Filter
			keep func(audit.Entry) bool
		}{
			{"everything", audit.Filter{}, func(audit.Entry) bool { return true }},
			{"time range", audit.Filter{From: t0.Add(100 * time.Second), To: t0.Add(150 * time.Second)},
				func(e audit.Entry) bool {
					return !e.Time.Before(t0.Add(100*time.Second)) && e.Time.Before(t0.Add(150*time.Second))
				}},
			{"from only", audit.Filter{From: t0.Add(290 * time.Second)}, func(e audit.Entry) bool { return !e.Time.Before(t0.Add(290 * time.Second)) }},
			{"principal", audit.Filter{PrincipalID: "prn_3"}, func(e audit.Entry) bool { return e.PrincipalID == "prn_3" }},
			{"department", audit.Filter{DepartmentID: "dept_1"}, func(e audit.Entry) bool { return e.DepartmentID == "dept_1" }},
			{"route", audit.Filter{Route: "/v1/grants/:id"}, func(e audit.Entry) bool { return e.Route == "/v1/grants/:id" }},
			{"resource", audit.Filter{Resource: "grant:grt_2"}, func(e audit.Entry) bool { return slices.Contains(e.Resources, "grant:grt_2") }},
			{"status", audit.Filter{Status: 403}, func(e audit.Entry) bool { return e.Status == 403 }},
			{"success status", audit.Filter{Status: 200}, func(e audit.Entry) bool { return e.Status == 200 }},
			{"combined", audit.Filter{DepartmentID: "dept_2", Resource: "licence:1.2.156.5", Status: 200, From: t0.Add(50 * time.Second)},
				func(e audit.Entry) bool {
					return e.DepartmentID == "dept_2" && slices.Contains(e.Resources, "licence:1.2.156.5") && e.Status == 200 && !e.Time.Before(t0.Add(50*time.Second))
				}},
			{"no match", audit.Filter{PrincipalID: "nobody"}, func(audit.Entry) bool { return false }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantIdx := want(tc.keep)
				if len(wantIdx) == 0 && tc.name != "no match" {
					t.Fatal("test case matches nothing; it would prove nothing")
				}
				// Page through with a small limit: no entry skipped or repeated.
				var got []uint64
				f := tc.f
				f.Limit = 7
				for pages := 0; ; pages++ {
					if pages > n {
						t.Fatal("cursor does not advance")
					}
					es, next, err := l.Search(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if len(es) > 7 {
						t.Fatalf("page of %d entries, limit 7", len(es))
					}
					for _, e := range es {
						got = append(got, e.Index)
						if e.Index < n && !equalEntry(e, all[e.Index]) {
							t.Fatalf("entry %d read back as %+v", e.Index, e)
						}
					}
					if next == "" {
						break
					}
					f.Cursor = next
				}
				if !slices.Equal(got, wantIdx) {
					t.Errorf("got %d entries %v\nwant %d %v", len(got), got, len(wantIdx), wantIdx)
				}
			})
		}

		t.Run("entries appended while paging do not shift pages", func(t *testing.T) {
			es, next, err := l.Search(ctx, audit.Filter{Limit: 10})
			if err != nil || len(es) != 10 || es[0].Index != n-1 {
				t.Fatalf("first page: %d entries from %v, %v", len(es), es[0].Index, err)
			}
			appendN(t, l, n, 5)
			es, _, err = l.Search(ctx, audit.Filter{Limit: 10, Cursor: next})
			if err != nil || es[0].Index != n-11 {
				t.Fatalf("second page starts at %d, %v; want %d", es[0].Index, err, n-11)
			}
		})

		t.Run("default and maximum limit", func(t *testing.T) {
			es, next, err := l.Search(ctx, audit.Filter{})
			if err != nil || len(es) != audit.DefaultSearchLimit || next == "" {
				t.Fatalf("default page: %d entries, cursor %q, %v", len(es), next, err)
			}
			if _, _, err := l.Search(ctx, audit.Filter{Limit: 1_000_000}); err != nil {
				t.Fatalf("huge limit: %v", err)
			}
		})

		for _, bad := range []struct {
			name string
			f    audit.Filter
		}{
			{"garbage cursor", audit.Filter{Cursor: "not-a-cursor"}},
			{"truncated cursor", audit.Filter{Cursor: "a1AAAA"}},
			{"cursor with bad base64", audit.Filter{Cursor: "a1!!!!!!!!!!!"}},
			{"negative limit", audit.Filter{Limit: -1}},
			{"negative status", audit.Filter{Status: -200}},
			{"to before from", audit.Filter{From: t0.Add(time.Hour), To: t0}},
		} {
			t.Run(bad.name, func(t *testing.T) {
				if _, _, err := l.Search(ctx, bad.f); !errs.Is(err, errs.KindInvalid) {
					t.Errorf("Search(%+v) error = %v, want invalid", bad.f, err)
				}
			})
		}
	})
}

func equalEntry(a, b audit.Entry) bool {
	return a.Index == b.Index && a.Time.Equal(b.Time) && a.PrincipalID == b.PrincipalID && a.Route == b.Route &&
		slices.Equal(a.Resources, b.Resources) && a.Status == b.Status && a.RequestHash == b.RequestHash
}
