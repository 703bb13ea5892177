package audit_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Sizes around the 256-leaf tile the log stores, and others that are not
// powers of two.
var proofSizes = []uint64{1, 2, 3, 7, 8, 255, 256, 257, 300, 511, 512, 513, 767, 768, 769, 1000}

// referenceRoot is RFC 6962's MTH, written out plainly, independent of the
// compact ranges the log uses.
func referenceRoot(leaves [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch n := len(leaves); n {
	case 0:
		return h.EmptyRoot()
	case 1:
		return leaves[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return h.HashChildren(referenceRoot(leaves[:k]), referenceRoot(leaves[k:]))
	}
}

func TestProofs(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := mustOpen(t, d)
		h := rfc6962.DefaultHasher

		// Grow the log to each size and take a signed checkpoint there.
		roots := map[uint64][]byte{}
		n := 0
		for _, size := range proofSizes {
			appendN(t, l, n, int(size)-n)
			n = int(size)
			cp, err := l.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			opened, err := audit.OpenCheckpoint(cp.Note, testOrigin, mustVerifiers(t))
			if err != nil || opened.Size != size {
				t.Fatalf("checkpoint after growing to %d: size %d, %v", size, opened.Size, err)
			}
			roots[size] = opened.Root
		}

		leaves := make([][]byte, n)
		for i := range leaves {
			e, err := l.Entry(ctx, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			leaves[i] = h.HashLeaf(audit.LeafData(e))
		}
		for size, root := range roots {
			if want := referenceRoot(leaves[:size]); !bytes.Equal(root, want) {
				t.Fatalf("checkpoint root at size %d is %x, RFC 6962 gives %x", size, root, want)
			}
		}

		for _, size := range proofSizes {
			for _, index := range []uint64{0, 1, size / 2, 254, 255, 256, 257, 511, 512, size - 2, size - 1} {
				if index >= size {
					continue
				}
				p, err := l.InclusionProof(ctx, index, size)
				if err != nil {
					t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
				}
				if err := proof.VerifyInclusion(h, index, size, leaves[index], p, roots[size]); err != nil {
					t.Errorf("inclusion of %d in %d does not verify: %v", index, size, err)
				}
			}
			for _, size1 := range proofSizes {
				if size1 > size {
					continue
				}
				p, err := l.ConsistencyProof(ctx, size1, size)
				if err != nil {
					t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size, err)
				}
				if err := proof.VerifyConsistency(h, size1, size, p, roots[size1], roots[size]); err != nil {
					t.Errorf("consistency %d -> %d does not verify: %v", size1, size, err)
				}
			}
		}

		// A proof against a different root must fail: the test can fail.
		p, _ := l.InclusionProof(ctx, 5, 257)
		if proof.VerifyInclusion(h, 5, 257, leaves[6], p, roots[257]) == nil {
			t.Error("inclusion proof verified for the wrong leaf")
		}

		for _, bad := range []struct {
			name string
			call func() error
		}{
			{"index = size", func() error { _, err := l.InclusionProof(ctx, 10, 10); return err }},
			{"index > size", func() error { _, err := l.InclusionProof(ctx, 11, 10); return err }},
			{"size 0", func() error { _, err := l.InclusionProof(ctx, 0, 0); return err }},
			{"inclusion size > tree", func() error { _, err := l.InclusionProof(ctx, 0, 1001); return err }},
			{"size1 > size2", func() error { _, err := l.ConsistencyProof(ctx, 20, 10); return err }},
			{"consistency size > tree", func() error { _, err := l.ConsistencyProof(ctx, 10, 1001); return err }},
		} {
			if err := bad.call(); !errs.Is(err, errs.KindInvalid) {
				t.Errorf("%s: error %v, want invalid", bad.name, err)
			}
		}
	})
}
