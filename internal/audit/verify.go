package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

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
// root is the one the entries give, that checkpoints were stored in the
// order of their sizes, and that audit_resources (the search index by
// resource) lists exactly the resources each entry names. It reads entries
// in index order in chunks and keeps only O(log n) hashes in memory.
//
// Tampering is reported in the Report (OK false), naming the first entry or
// checkpoint that does not match; an error means Verify could not read the
// log. progress, when not nil, is called as entries are checked.
//
// Entries appended while Verify runs are checked up to the size the log
// had when it started.
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

	// audit_resources, the search index by resource, must list exactly
	// the resources each entry names. Its rows for entries 0..total-1 are
	// summed as a multiset hash in one pass over the table (it has no index
	// by entry: comparing chunk by chunk would read it once per 65,536
	// entries), on another connection while the entries are checked; the
	// sums are compared after.
	indexCtx, stopIndex := context.WithCancel(ctx)
	defer stopIndex()
	type indexSum struct {
		sum multisetHash
		err error
	}
	indexDone := make(chan indexSum, 1)
	go func() {
		var (
			r   indexSum
			buf []byte
		)
		r.err = v.indexRows(indexCtx, 0, total, func(idx uint64, res []byte) { r.sum.add(&buf, idx, res) })
		indexDone <- r
	}()

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
	if r := v.report(); !r.OK {
		return r, nil
	}
	if minIdx.Int64 < 0 {
		// A row below index 0 is outside the tree, so the checks above
		// never read it; it can only have been put there by hand.
		v.fail(minIdx.Int64, "entry %d: a row with an index below 0 is outside the log", minIdx.Int64)
		return v.report(), nil
	}
	// Only when the index's sum differs from the entries' is it read
	// entry by entry, to name the first entry it misrepresents.
	got := <-indexDone
	if got.err != nil {
		return Report{}, got.err
	}
	if got.sum != v.indexWant {
		if err := v.locateIndex(ctx, total); err != nil {
			return Report{}, err
		}
		return v.report(), nil
	}
	// A row for any other index shows up in searches by resource; it is
	// legitimate only for an entry appended since (written in the same
	// transaction).
	var orphan sql.NullInt64
	if err := d.R.QueryRowContext(ctx, `SELECT MIN(r.idx) FROM audit_resources r WHERE (r.idx < 0 OR r.idx >= $1)
		AND NOT EXISTS (SELECT 1 FROM audit_entries e WHERE e.idx = r.idx)`, int64(total)).Scan(&orphan); err != nil {
		return Report{}, db.Interpret(err, "audit resources")
	}
	if orphan.Valid {
		v.fail(orphan.Int64, "entry %d: search index audit_resources names an entry that is not in the log", orphan.Int64)
	}
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
	prevCP *Checkpoint // the last checkpoint checked, for time order
	named  []named     // a chunk's entries, when locating a bad index row
	// indexWant sums the (entry, resource) pairs the entries name, to
	// compare with audit_resources.
	indexWant multisetHash
	hashBuf   []byte
	stored    map[compact.NodeID][]byte // audit_nodes completing in this chunk

	// Findings. first is the first problem in index order; a checkpoint
	// root mismatch is annotated with the first stored node that differs,
	// which may complete up to one tile after the checkpoint.
	first      *finding
	annotateTo uint64 // while first is a root mismatch: read on to here
	node       *nodeFinding
	index      *finding // the first entry audit_resources misrepresents
	stop       bool

	buf []byte
}

type finding struct {
	problem  string
	firstBad int64
	rootOf   bool // a checkpoint root mismatch, to annotate with node
}

// named is an entry's resources as its (verified) row names them.
type named struct {
	idx       uint64
	resources []string // sorted, without duplicates
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
	case v.index != nil:
		r.OK, r.Problem, r.FirstBad = false, v.index.problem, v.index.firstBad
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
		v.addNamed(uint64(idx), res)
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
	// The hub stores checkpoints as the tree grows, never with a time
	// before the latest one's (checkpointNow); a larger one stored
	// earlier was put there or back-dated by hand.
	prev := v.prevCP
	v.prevCP = &cp
	if prev != nil && cp.Time.Before(prev.Time) {
		v.fail(int64(cp.Size), "checkpoint at size %d: stored before the checkpoint at size %d", cp.Size, prev.Size)
		return
	}
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
	rows, err := v.d.R.QueryContext(ctx, `SELECT size, root, at, note FROM audit_checkpoints WHERE size >= $1 AND size <= $2 ORDER BY size`,
		int64(minSize), int64(hi))
	if err != nil {
		return nil, db.Interpret(err, "audit checkpoints")
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var (
			cp       Checkpoint
			size, at int64
		)
		if err := rows.Scan(&size, &cp.Root, &at, &cp.Note); err != nil {
			return nil, db.Interpret(err, "audit checkpoints")
		}
		cp.Size, cp.Time = uint64(size), time.UnixMicro(at).UTC()
		out = append(out, cp)
	}
	return out, db.Interpret(rows.Err(), "audit checkpoints")
}

// multisetHash is the sum, modulo 2^256, of SHA-256(index || resource)
// over a set of (entry, resource) pairs: equal sums mean equal sets, bar a
// collision as hard to find as one of SHA-256's (an additive multiset
// hash; XOR would let pairs cancel).
type multisetHash [4]uint64

func (m *multisetHash) add(buf *[]byte, idx uint64, resource []byte) {
	b := binary.BigEndian.AppendUint64((*buf)[:0], idx)
	b = append(b, resource...)
	*buf = b
	sum := sha256.Sum256(b)
	var carry uint64
	for i := range m {
		m[i], carry = bits.Add64(m[i], binary.BigEndian.Uint64(sum[8*i:]), carry)
	}
}

// addNamed adds to indexWant the pairs of entry idx and each distinct
// resource of its stored resources column, split as parseResources splits
// it, without allocating: this runs for every entry of the log.
func (v *verifier) addNamed(idx uint64, stored []byte) {
	if len(stored) == 0 {
		return
	}
	for off := 0; ; {
		end := bytes.IndexByte(stored[off:], '\n')
		last := end < 0
		if last {
			end = len(stored) - off
		}
		r := stored[off : off+end]
		// An entry may name a resource twice; the index holds it once.
		dup := false
		for prev := stored[:off]; len(prev) > 0 && !dup; {
			i := bytes.IndexByte(prev, '\n') // prev ends in one
			dup = bytes.Equal(prev[:i], r)
			prev = prev[i+1:]
		}
		if !dup {
			v.indexWant.add(&v.hashBuf, idx, r)
		}
		if last {
			return
		}
		off += end + 1
	}
}

// indexRows calls f with each audit_resources row of entries lo..hi-1, in
// no particular order; resource is valid only during the call.
func (v *verifier) indexRows(ctx context.Context, lo, hi uint64, f func(idx uint64, resource []byte)) error {
	rows, err := v.d.R.QueryContext(ctx, `SELECT idx, resource FROM audit_resources WHERE idx >= $1 AND idx < $2`, int64(lo), int64(hi))
	if err != nil {
		return db.Interpret(err, "audit resources")
	}
	defer rows.Close()
	var (
		idx int64
		res sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&idx, &res); err != nil {
			return db.Interpret(err, "audit resources")
		}
		f(uint64(idx), res)
	}
	return db.Interpret(rows.Err(), "audit resources")
}

// locateIndex reads the entries (already verified) and their
// audit_resources rows chunk by chunk, to name the first entry the index
// misrepresents.
func (v *verifier) locateIndex(ctx context.Context, total uint64) error {
	for lo := uint64(0); lo < total && v.index == nil; lo += verifyChunk {
		hi := min(lo+verifyChunk, total)
		rows, err := v.d.R.QueryContext(ctx, `SELECT idx, resources FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`, int64(lo), int64(hi))
		if err != nil {
			return db.Interpret(err, "audit entries")
		}
		v.named = v.named[:0]
		for rows.Next() {
			var (
				idx int64
				res string
			)
			if err := rows.Scan(&idx, &res); err != nil {
				rows.Close()
				return db.Interpret(err, "audit entries")
			}
			v.named = append(v.named, named{idx: uint64(idx), resources: slices.Compact(slices.Sorted(slices.Values(parseResources(res))))})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return db.Interpret(err, "audit entries")
		}
		v.next = hi
		if err := v.checkIndex(ctx, lo); err != nil {
			return err
		}
	}
	if v.index == nil { // the sums differ, yet every entry matched: cannot be
		v.index = &finding{problem: "search index audit_resources does not match the entries' resources", firstBad: -1}
	}
	return nil
}

// checkIndex compares the audit_resources rows of the entries this chunk
// verified (lo up to v.next) with the resources those entries name. Search
// by resource reads only audit_resources: a missing row hides an entry from
// auditors, an extra or repointed one lists it under a resource it never
// named, and the Merkle tree covers neither. Each entry has one row per
// distinct resource.
func (v *verifier) checkIndex(ctx context.Context, lo uint64) error {
	if v.index != nil || len(v.named) == 0 {
		return nil
	}
	rows, err := v.d.R.QueryContext(ctx, `SELECT idx, resource FROM audit_resources WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
		int64(lo), int64(v.next))
	if err != nil {
		return db.Interpret(err, "audit resources")
	}
	defer rows.Close()
	var (
		want = v.named // entries not yet compared, in index order
		idx  int64
		got  []string // the rows of entry idx so far
		res  string
	)
	// done compares the rows of entry at (none when got is empty) with
	// what it names, and records the first mismatch.
	done := func(at uint64) {
		for len(want) > 0 && want[0].idx <= at {
			w := want[0]
			want = want[1:]
			g := []string(nil)
			if w.idx == at {
				g = got
			}
			slices.Sort(g)
			if !slices.Equal(g, w.resources) {
				v.index = &finding{problem: fmt.Sprintf("entry %d: search index audit_resources does not list the resources the entry names", w.idx), firstBad: int64(w.idx)}
				return
			}
		}
	}
	for v.index == nil && rows.Next() {
		var i int64
		if err := rows.Scan(&i, &res); err != nil {
			return db.Interpret(err, "audit resources")
		}
		if len(got) > 0 && i != idx {
			done(uint64(idx))
			got = got[:0]
		}
		idx = i
		got = append(got, res)
	}
	if err := rows.Err(); err != nil {
		return db.Interpret(err, "audit resources")
	}
	if v.index == nil && len(got) > 0 {
		done(uint64(idx))
	}
	if v.index == nil {
		done(v.next) // entries after the last row must name nothing
	}
	return nil
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
