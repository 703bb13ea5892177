package seal

import (
	"context"
	"log/slog"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// TestRotationSeenLateByAnotherReplicaStillVerifies: a replica trusts its
// cached seal state for up to CacheTTL, so right after an admin rotated a
// seal's key on one replica another went on signing with the old key, and
// every document it sealed meanwhile verified as "key retired at signing
// time". Those signatures verify; the old key stays refused once the
// grace is over (TestRotateKey).
func TestRotationSeenLateByAnotherReplicaStillVerifies(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市自然资源和规划局")
		s := h.seal(t, org, KindOfficial, AlgEd25519)
		other, err := New(Config{DB: d, Master: h.master, Images: nil, Directory: h.ex, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		doc := testDoc("不动产权证书")
		// The other replica has the seal's state cached.
		if _, err := other.Sign(ctx, keeper(org), s.ID, SignRequest{Document: doc, Purpose: "核发"}); err != nil {
			t.Fatal(err)
		}
		rot, err := h.svc.RotateKey(ctx, h.admin, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := other.Sign(ctx, keeper(org), s.ID, SignRequest{Document: doc, Purpose: "换发"})
		if err != nil {
			t.Fatal(err)
		}
		if kid := splitJWS(t, jws).Signatures[0].header(t)["kid"]; kid != rot.Keys[0].Kid {
			t.Fatalf("the other replica signed with %v, not the old key %s it had cached", kid, rot.Keys[0].Kid)
		}
		if res := mustVerify(t, h, jws); !res.Valid {
			t.Fatalf("sealed by a replica that had not yet seen the rotation: %+v", res.Signatures[0])
		}
	})
}
