package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Report is the outcome of Verify.
type Report struct {
	Entries     uint64 // entries checked
	Checkpoints int    // checkpoints checked
	OK          bool
	// Problem describes the first thing that does not match, e.g.
	// "entry 1234: stored leaf hash does not match its contents".
	Problem string
	// FirstBad is the index of the first bad entry, or the size of the
	// first bad checkpoint or the first entry a bad stored subtree covers;
	// -1 when OK. Check OK, not FirstBad: a row moved below index 0 is
	// reported with its (negative) index.
	FirstBad int64
}

// verifyChunk is how many entries Verify reads per query: each query is an
// index range scan and short enough not to hold a snapshot for long.
const verifyChunk = 1 << 16

// Verify recomputes the whole log in d from its entries: each entry's leaf
// hash from its contents, the absence of gaps and duplicates, every stored
// subtree hash, and for every stored checkpoint its signature (against
// verifiers), that its note says its stored size and root, and that the
// root is the one the entries give. It reads entries in index order in
// chunks and keeps only O(log n) hashes in memory.
//
// Tampering is reported in the Report (OK false), naming the first entry or
// checkpoint that does not match; an error means Verify could not read the
// log. progress, when not nil, is called as entries are checked.
//
// Entries appended while Verify runs are checked up to the size the log
// had when it started. audit_resources, a search index derived from the
// entries, is not checked.
func Verify(ctx context.Context, d *db.DB, verifiers note.Verifiers, progress func(done, total uint64)) (Report, error) {
	if verifiers == nil {
		return Report{}, errs.Invalid("audit verify needs the checkpoint verifier keys")
	}
	size, err := storedSize(ctx, d.R)
	if err != nil {
		return Report{}, err
	}
	var minIdx, maxCP sql.NullInt64
	if err := d.R.QueryRowContext(ctx, `SELECT MIN(idx) FROM audit_entries`).Scan(&minIdx); err != nil {
		return Report{}, db.Interpret(err, "audit entries")
	}
	if err := d.R.QueryRowContext(ctx, `SELECT MAX(size) FROM audit_checkpoints`).Scan(&maxCP); err != nil {
		return Report{}, db.Interpret(err, "audit checkpoints")
	}
	total := max(size, uint64(maxCP.Int64))
	v := &verifier{d: d, verifiers: verifiers, tree: factory.NewEmptyRange(0), total: total}

	for lo := uint64(0); ; lo += verifyChunk {
		hi := min(lo+verifyChunk, total)
		if err := v.chunk(ctx, lo, hi); err != nil {
			return Report{}, err
		}
		if progress != nil {
			progress(v.next, total)
		}
		if v.stop || hi == total {
			break
		}
	}
	if r := v.report(); !r.OK || minIdx.Int64 >= 0 {
		return r, nil
	}
	// A row below index 0 is outside the tree, so the checks above never
	// read it; it can only have been put there by hand.
	v.fail(minIdx.Int64, "entry %d: a row with an index below 0 is outside the log", minIdx.Int64)
	return v.report(), nil
}

type verifier struct {
	d         *db.DB
	verifiers note.Verifiers
	total     uint64

	tree   *compact.Range
	next   uint64 // the index the next entry must have
	cps    int
	origin string
	stored map[compact.NodeID][]byte // audit_nodes completing in this chunk

	// Findings. first is the first problem in index order; a checkpoint
	// root mismatch is annotated with the first stored node that differs,
	// which may complete up to one tile after the checkpoint.
	first      *finding
	annotateTo uint64 // while first is a root mismatch: read on to here
	node       *nodeFinding
	stop       bool

	buf []byte
}

type finding struct {
	problem  string
	firstBad int64
	rootOf   bool // a checkpoint root mismatch, to annotate with node
}

// nodeFinding is a stored subtree hash (audit_nodes) that differs from the
// one the entries give, or is missing. Proofs served from it would not
// verify.
type nodeFinding struct {
	begin, end uint64 // the entries it covers
	missing    bool
}

func (v *verifier) report() Report {
	r := Report{Entries: v.next, Checkpoints: v.cps, OK: true, FirstBad: -1}
	switch n := v.node; {
	case v.first != nil:
		r.OK, r.Problem, r.FirstBad = false, v.first.problem, v.first.firstBad
		if v.first.rootOf && n != nil {
			r.Problem += fmt.Sprintf(" (first differing stored node covers entries %d..%d)", n.begin, n.end-1)
		}
	case n != nil && n.missing:
		r.OK, r.Problem, r.FirstBad = false, fmt.Sprintf("stored subtree hash of entries %d..%d is missing", n.begin, n.end-1), int64(n.begin)
	case n != nil:
		r.OK, r.Problem, r.FirstBad = false, fmt.Sprintf("stored subtree hash of entries %d..%d does not match them", n.begin, n.end-1), int64(n.begin)
	}
	return r
}

// fail records an entry or checkpoint problem and stops reading, unless an
// earlier problem is already recorded.
func (v *verifier) fail(firstBad int64, format string, args ...any) {
	if v.first == nil {
		v.first = &finding{problem: fmt.Sprintf(format, args...), firstBad: firstBad}
	}
	v.stop = true
}

// chunk checks entries [lo, hi) and the checkpoints and stored nodes that
// complete within them.
func (v *verifier) chunk(ctx context.Context, lo, hi uint64) error {
	cps, err := v.loadCheckpoints(ctx, lo, hi)
	if err != nil {
		return err
	}
	if err := v.loadNodes(ctx, lo, hi); err != nil {
		return err
	}
	for len(cps) > 0 && cps[0].Size == v.next && !v.stop {
		v.checkpoint(cps[0])
		cps = cps[1:]
	}
	rows, err := v.d.R.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
		int64(lo), int64(hi))
	if err != nil {
		return db.Interpret(err, "audit entries")
	}
	defer rows.Close()
	var (
		idx, at, status, nrows, latency            int64
		reqID, principal, dept, method, route, res sql.RawBytes
		purpose, endUser, caseNo, reqHash, leaf    sql.RawBytes
	)
	for !v.stop && rows.Next() {
		if err := rows.Scan(&idx, &at, &reqID, &principal, &dept, &method, &route, &res,
			&purpose, &endUser, &caseNo, &status, &nrows, &latency, &reqHash, &leaf); err != nil {
			return db.Interpret(err, "audit entries")
		}
		switch i := uint64(idx); {
		case i < v.next:
			v.fail(idx, "entry %d appears more than once", idx)
			continue
		case i > v.next:
			v.fail(int64(v.next), "entry %d is missing", v.next)
			continue
		}
		b := append(v.buf[:0], 0) // RFC 6962 leaf prefix
		b = appendHead(b, uint64(idx), at, []byte(reqID), []byte(principal), []byte(dept), []byte(method), []byte(route))
		b = appendStoredResources(b, res)
		b = appendTail(b, []byte(purpose), []byte(endUser), []byte(caseNo), status, nrows, latency, reqHash)
		v.buf = b
		sum := sha256.Sum256(b)
		if len(reqHash) != 32 || !bytes.Equal(sum[:], leaf) {
			v.fail(idx, "entry %d: stored leaf hash does not match its contents", idx)
			continue
		}
		if err := v.tree.Append(append([]byte(nil), sum[:]...), v.visit); err != nil {
			return errs.Internal(err, "audit verify")
		}
		v.next++
		for len(cps) > 0 && cps[0].Size == v.next && !v.stop {
			v.checkpoint(cps[0])
			cps = cps[1:]
		}
		if v.first != nil && v.first.rootOf && (v.node != nil || v.next >= v.annotateTo) {
			v.stop = true
		}
	}
	if err := rows.Err(); err != nil {
		return db.Interpret(err, "audit entries")
	}
	if !v.stop && v.next < hi {
		v.fail(int64(v.next), "entry %d is missing", v.next)
	}
	if v.first != nil && v.first.rootOf && hi == v.total {
		v.stop = true
	}
	return nil
}

// visit compares each completed subtree of tileLevel or more with its
// stored hash and records the first that differs or is missing.
func (v *verifier) visit(id compact.NodeID, hash []byte) {
	if id.Level < tileLevel || v.node != nil {
		return
	}
	stored, ok := v.stored[id]
	if ok && bytes.Equal(stored, hash) {
		return
	}
	b, e := id.Coverage()
	v.node = &nodeFinding{begin: b, end: e, missing: !ok}
}

func (v *verifier) checkpoint(cp Checkpoint) {
	v.cps++
	n, err := note.Open(cp.Note, v.verifiers)
	if err != nil {
		v.fail(int64(cp.Size), "checkpoint at size %d: signature does not verify (%v)", cp.Size, err)
		return
	}
	origin, size, root, err := parseCheckpointText(n.Text)
	if err != nil {
		v.fail(int64(cp.Size), "checkpoint at size %d: %v", cp.Size, err)
		return
	}
	if v.origin == "" {
		v.origin = origin
	} else if origin != v.origin {
		v.fail(int64(cp.Size), "checkpoint at size %d: origin %q differs from earlier checkpoints' %q", cp.Size, origin, v.origin)
		return
	}
	if size != cp.Size || !bytes.Equal(root, cp.Root) {
		v.fail(int64(cp.Size), "checkpoint at size %d: stored size and root do not match its signed note (size %d)", cp.Size, size)
		return
	}
	want, err := rootOf(v.tree)
	if err != nil || !bytes.Equal(want, cp.Root) {
		if v.first == nil {
			v.first = &finding{
				problem:  fmt.Sprintf("checkpoint at size %d: root does not match entries 0..%d", cp.Size, int64(cp.Size)-1),
				firstBad: int64(cp.Size),
				rootOf:   true,
			}
			// The tile holding the checkpoint's last entry may hold the
			// changed entry; its stored hash is compared when it completes.
			v.annotateTo = min((cp.Size+255)&^255, v.total)
		}
	}
}

func (v *verifier) loadCheckpoints(ctx context.Context, lo, hi uint64) ([]Checkpoint, error) {
	minSize := lo + 1
	if lo == 0 {
		minSize = 0
	}
	rows, err := v.d.R.QueryContext(ctx, `SELECT size, root, note FROM audit_checkpoints WHERE size >= $1 AND size <= $2 ORDER BY size`,
		int64(minSize), int64(hi))
	if err != nil {
		return nil, db.Interpret(err, "audit checkpoints")
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var (
			cp   Checkpoint
			size int64
		)
		if err := rows.Scan(&size, &cp.Root, &cp.Note); err != nil {
			return nil, db.Interpret(err, "audit checkpoints")
		}
		cp.Size = uint64(size)
		out = append(out, cp)
	}
	return out, db.Interpret(rows.Err(), "audit checkpoints")
}

// loadNodes reads the stored subtree hashes whose last leaf is in [lo, hi).
// A node (level L, index i) covers [i<<L, (i+1)<<L); it completes in the
// chunk when lo < (i+1)<<L <= hi, that is lo>>L <= i < hi>>L.
func (v *verifier) loadNodes(ctx context.Context, lo, hi uint64) error {
	var (
		where []string
		args  []any
	)
	for level := uint(tileLevel); level < 64 && hi>>level > 0; level++ {
		a, b := lo>>level, hi>>level
		if a == b {
			continue
		}
		n := len(args)
		where = append(where, "(level = $"+strconv.Itoa(n+1)+" AND idx >= $"+strconv.Itoa(n+2)+" AND idx < $"+strconv.Itoa(n+3)+")")
		args = append(args, int64(level), int64(a), int64(b))
	}
	v.stored = map[compact.NodeID][]byte{}
	if len(where) == 0 {
		return nil
	}
	rows, err := v.d.R.QueryContext(ctx, `SELECT level, idx, hash FROM audit_nodes WHERE `+strings.Join(where, " OR "), args...)
	if err != nil {
		return db.Interpret(err, "audit nodes")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			level, idx int64
			hash       []byte
		)
		if err := rows.Scan(&level, &idx, &hash); err != nil {
			return db.Interpret(err, "audit nodes")
		}
		v.stored[compact.NewNodeID(uint(level), uint64(idx))] = hash
	}
	return db.Interpret(rows.Err(), "audit nodes")
}
