package datasync_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestMappingTwoSourcesToOneFieldRefused: a mapping filling one item
// field from two source fields gave it, each run, the value of whichever
// the map yielded last, so records changed (a new version) for nothing.
// It is refused at the second source field; a mapping of distinct fields
// is kept.
func TestMappingTwoSourcesToOneFieldRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := setup(t, d)
		spec := datasync.Spec{KeyFields: []string{"id"}, Mapping: map[string]string{"rybh": "id", "xm": "name", "name_cn": "name"},
			Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/people"}}
		_, err := f.sync.CreateJob(ctx, gajAdmin, datasync.NewJob{ItemCode: f.item.Code, Name: "回落", Spec: spec})
		wantFields(t, err, "/spec/mapping/xm")
		delete(spec.Mapping, "xm")
		if _, err := f.sync.CreateJob(ctx, gajAdmin, datasync.NewJob{ItemCode: f.item.Code, Name: "回落", Spec: spec}); err != nil {
			t.Fatalf("a mapping of distinct fields: %v", err)
		}
	})
}
