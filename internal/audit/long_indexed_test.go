package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// incompressibleText is n bytes of hex that PostgreSQL cannot compress
// below its btree row limit (2704 bytes), as a repeated letter would be.
func incompressibleText(n int) string {
	var b strings.Builder
	for sum := sha256.Sum256([]byte("seed")); b.Len() < n; sum = sha256.Sum256(sum[:]) {
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

// A caller-supplied resource (a 5000-character path parameter) and the
// other indexed fields are cut to what a PostgreSQL btree index row holds:
// a longer one failed the INSERT of the batch, so that every call sharing
// the batch was refused with 503.
func TestAppendLongIndexedFieldsDoNotFailTheBatch(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		long := incompressibleText(5000)
		hostile := sampleEntry(0)
		hostile.Resources = []string{"application:" + long, "seal:" + strings.Repeat("章", 2000)}
		hostile.Route, hostile.PrincipalID, hostile.DepartmentID = "/"+long, "prn_"+long, "dep_"+long
		var wg sync.WaitGroup
		errs := make([]error, 20)
		idx := make([]uint64, 20)
		for i := range errs {
			wg.Go(func() {
				e := sampleEntry(i + 1)
				if i == 0 {
					e = hostile
				}
				idx[i], errs[i] = l.Append(ctx, e)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("entry %d (hostile: %v): %v", i, i == 0, err)
			}
		}
		got, err := l.Entry(ctx, idx[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append([]string{got.Route, got.PrincipalID, got.DepartmentID}, got.Resources...) {
			if len(f) > audit.MaxIndexed || !utf8.ValidString(f) {
				t.Errorf("indexed field of %d bytes kept (at most %d, whole characters): %.40q…", len(f), audit.MaxIndexed, f)
			}
		}
		if len(got.Resources) != 2 || !strings.HasPrefix("application:"+long, got.Resources[0]) || !strings.HasPrefix(hostile.Resources[1], got.Resources[1]) {
			t.Errorf("resources not kept as their prefixes: %.60q", got.Resources)
		}
		found, _, err := l.Search(ctx, audit.Filter{Resource: got.Resources[0]})
		if err != nil || len(found) != 1 || found[0].Index != idx[0] {
			t.Errorf("Search by the kept resource = %d entries, %v", len(found), err)
		}
		if r := mustVerify(t, d); !r.OK {
			t.Fatal(r.Problem)
		}
	})
}
