package audit

import (
	"context"

	"github.com/transparency-dev/merkle/proof"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// InclusionProof returns the RFC 6962 proof that entry index is in the tree
// of the first size entries, to check with proof.VerifyInclusion against
// the root of a checkpoint of that size. It reads O(log n) node rows and at
// most two tiles of 256 leaf hashes. Errors: errs.Invalid unless
// index < size <= Size().
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, errs.Invalid("inclusion proof: index %d is not below tree size %d", index, size)
	}
	if err := l.checkSize(ctx, size); err != nil {
		return nil, err
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, errs.Invalid("inclusion proof: %v", err)
	}
	return l.rehash(ctx, nodes)
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size1
// entries is a prefix of the tree of size2 entries, to check with
// proof.VerifyConsistency against two checkpoint roots. A proof from size 0
// or between equal sizes is empty. Errors: errs.Invalid unless
// size1 <= size2 <= Size().
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 {
		return nil, errs.Invalid("consistency proof: size %d is larger than size %d", size1, size2)
	}
	if err := l.checkSize(ctx, size2); err != nil {
		return nil, err
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, errs.Invalid("consistency proof: %v", err)
	}
	return l.rehash(ctx, nodes)
}

func (l *Log) checkSize(ctx context.Context, size uint64) error {
	have, err := l.Size(ctx)
	if err != nil {
		return err
	}
	if size > have {
		return errs.Invalid("tree size %d is beyond the log's %d entries", size, have)
	}
	return nil
}

func (l *Log) rehash(ctx context.Context, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := fetchNodes(ctx, l.db.R, nodes.IDs)
	if err != nil {
		return nil, db.Interpret(err, "audit proof")
	}
	p, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, errs.Internal(err, "audit proof")
	}
	return p, nil
}
