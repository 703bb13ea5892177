package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// Entry times are kept in microseconds, but a bound may be finer (an RFC
// 3339 time with nanoseconds): From stays inclusive and To exclusive of the
// bound itself, not of the bound cut to microseconds.
func TestSearchTimeBoundsFinerThanMicroseconds(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		e := sampleEntry(0)
		e.Time = t0
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			f    audit.Filter
			want int
		}{
			{"from just after the entry", audit.Filter{From: t0.Add(time.Nanosecond)}, 0},
			{"from just before the entry", audit.Filter{From: t0.Add(-time.Nanosecond)}, 1},
			{"to just after the entry", audit.Filter{To: t0.Add(time.Nanosecond)}, 1},
			{"to just before the entry", audit.Filter{To: t0.Add(-time.Nanosecond)}, 0},
			{"to at the entry", audit.Filter{To: t0}, 0},
			{"from at the entry", audit.Filter{From: t0}, 1},
		} {
			es, _, err := l.Search(ctx, tc.f)
			if err != nil || len(es) != tc.want {
				t.Errorf("%s: %d entries, %v; want %d", tc.name, len(es), err, tc.want)
			}
		}
	})
}
