package datasync_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestLongKeysAreRowErrors: a key longer than datasync.MaxKeyBytes (one
// that PostgreSQL's btree index on the records cannot hold) is one
// rejected row on both engines; it failed the whole run on PostgreSQL
// ("index row size … exceeds btree version 4 maximum 2704") and was
// stored on SQLite.
func TestLongKeysAreRowErrors(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		var long strings.Builder // hex of a hash chain: it does not compress
		for sum := sha256.Sum256(nil); long.Len() <= 5000; sum = sha256.Sum256(sum[:]) {
			long.WriteString(hex.EncodeToString(sum[:]))
		}
		atLimit := strings.Repeat("键", datasync.MaxKeyBytes/3)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"records": []any{
				map[string]any{"id": long.String(), "name": "甲", "sfzh": "1", "address": "x"},
				map[string]any{"id": atLimit, "name": "乙", "sfzh": "2", "address": "y"},
				map[string]any{"id": "P1", "name": "丙", "sfzh": "3", "address": "z"},
			}})
		}))
		defer srv.Close()
		spec := datasync.Spec{Mode: datasync.ModeFull, KeyFields: []string{"id"},
			Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: srv.URL + "/people", RequestTimeout: datasync.Duration(2 * time.Second)}}
		r := f.run(t, f.job(t, spec).ID)
		if r.Status != datasync.StatusPartly || r.Counts != (datasync.Counts{Read: 3, Inserted: 2, Rejected: 1}) {
			t.Fatalf("run with a 5000-byte key: %s %+v error %q", r.Status, r.Counts, r.Error)
		}
		es, err := f.sync.RunErrors(ctx, r.ID)
		if err != nil || len(es) != 1 || es[0].Position != "page 1 row 1" || !strings.Contains(es[0].Reason, "at most") {
			t.Fatalf("row errors %+v %v", es, err)
		}
	})
}
