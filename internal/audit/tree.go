package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// tileLevel is the lowest level kept in audit_nodes: every perfect subtree
// of 2^8 = 256 leaves or more has its hash stored when it completes. A node
// below that level is recomputed from at most 256 leaf hashes (8 KiB), so a
// proof or a restart reads at most two leaf tiles and O(log n) node rows.
const tileLevel = 8

var (
	hasher  = rfc6962.DefaultHasher
	factory = &compact.RangeFactory{Hash: hasher.HashChildren}
)

func cloneRange(r *compact.Range) (*compact.Range, error) {
	return factory.NewRange(r.Begin(), r.End(), append([][]byte(nil), r.Hashes()...))
}

// rootOf returns the root hash of the tree r covers (which starts at 0).
func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// loadTree rebuilds the compact range [0, size) from stored nodes and the
// leaves of the last, partial tile.
func loadTree(ctx context.Context, q querier, size uint64) (*compact.Range, error) {
	hashes, err := fetchNodes(ctx, q, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	return factory.NewRange(0, size, hashes)
}

// fetchNodes returns the hashes of perfect subtrees ids, all within the
// committed tree: from audit_nodes at tileLevel and above, recomputed from
// leaf hashes below.
func fetchNodes(ctx context.Context, q querier, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	want := map[compact.NodeID]int{}
	type span struct{ begin, end uint64 }
	tiles := map[uint64]span{} // leaf tile -> leaves needed from it
	for i, id := range ids {
		if id.Level >= tileLevel {
			want[id] = i
			continue
		}
		b, e := id.Coverage()
		t := b >> tileLevel
		s, ok := tiles[t]
		if !ok || b < s.begin {
			s.begin = b
		}
		if e > s.end {
			s.end = e
		}
		tiles[t] = s
	}
	if len(want) > 0 {
		if err := readNodes(ctx, q, want, out); err != nil {
			return nil, err
		}
	}
	for _, s := range tiles {
		leaves, err := readLeafHashes(ctx, q, s.begin, s.end)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			if id.Level >= tileLevel {
				continue
			}
			if b, e := id.Coverage(); b >= s.begin && e <= s.end {
				out[i] = perfectRoot(leaves[b-s.begin : e-s.begin])
			}
		}
	}
	return out, nil
}

func readNodes(ctx context.Context, q querier, want map[compact.NodeID]int, out [][]byte) error {
	var (
		where strings.Builder
		args  []any
	)
	for id := range want {
		if len(args) > 0 {
			where.WriteString(" OR ")
		}
		n := len(args)
		where.WriteString("(level = $" + strconv.Itoa(n+1) + " AND idx = $" + strconv.Itoa(n+2) + ")")
		args = append(args, int64(id.Level), int64(id.Index))
	}
	rows, err := q.QueryContext(ctx, "SELECT level, idx, hash FROM audit_nodes WHERE "+where.String(), args...)
	if err != nil {
		return fmt.Errorf("read audit nodes: %w", err)
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var (
			level, idx int64
			hash       []byte
		)
		if err := rows.Scan(&level, &idx, &hash); err != nil {
			return fmt.Errorf("read audit nodes: %w", err)
		}
		if i, ok := want[compact.NewNodeID(uint(level), uint64(idx))]; ok {
			out[i] = hash
			found++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit nodes: %w", err)
	}
	if found != len(want) {
		return fmt.Errorf("audit nodes: found %d of %d stored subtree hashes", found, len(want))
	}
	return nil
}

// readLeafHashes returns the stored leaf hashes of entries [begin, end).
func readLeafHashes(ctx context.Context, q querier, begin, end uint64) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT idx, leaf_hash FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
		int64(begin), int64(end))
	if err != nil {
		return nil, fmt.Errorf("read leaf hashes: %w", err)
	}
	defer rows.Close()
	out := make([][]byte, 0, end-begin)
	for rows.Next() {
		var (
			idx  int64
			hash []byte
		)
		if err := rows.Scan(&idx, &hash); err != nil {
			return nil, fmt.Errorf("read leaf hashes: %w", err)
		}
		if uint64(idx) != begin+uint64(len(out)) {
			return nil, fmt.Errorf("audit entry %d is missing", begin+uint64(len(out)))
		}
		out = append(out, hash)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read leaf hashes: %w", err)
	}
	if uint64(len(out)) != end-begin {
		return nil, fmt.Errorf("audit entry %d is missing", begin+uint64(len(out)))
	}
	return out, nil
}

// perfectRoot hashes a power-of-two number of leaf hashes into their
// subtree's root. It does not modify hs.
func perfectRoot(hs [][]byte) []byte {
	if len(hs) == 1 {
		return hs[0]
	}
	work := make([][]byte, len(hs)/2)
	for i := range work {
		work[i] = hasher.HashChildren(hs[2*i], hs[2*i+1])
	}
	for len(work) > 1 {
		for i := 0; i < len(work)/2; i++ {
			work[i] = hasher.HashChildren(work[2*i], work[2*i+1])
		}
		work = work[:len(work)/2]
	}
	return work[0]
}
