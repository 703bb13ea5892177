package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// The search index is kept in memory, as a cache of the normalised search
// texts (search_name, search_fields, search_summary) that every commit
// writes into catalog_items in the same transaction as the item. Every
// commit also gives each item it writes the next value of catalog_items.seq
// (under the catalogue lock on PostgreSQL; SQLite has one writer), so seq
// grows in commit order. Before each search the index asks the database
// for MAX(seq) and, when it is behind, loads the rows with a larger seq and
// re-indexes them: a search never answers from a state older than the last
// commit visible when it started, on any replica, so the index cannot
// drift from the items.
//
// Why not a table: an inverted index of bigrams was ~1.6 million rows for
// 18,000 items, half the time and memory of a bulk import, and ranking a
// one-character query or a word held by 10,000 items needed a scan and a
// sort in SQL. In memory, 18,000 items take ~40 MB (postings with flags,
// the normalised texts and what a hit shows), built in about a second on
// the first search after start (or after a large import), and every
// single-term query ranks from precomputed flags.

// postings are the items holding one term, in slot order, with where the
// term occurs in each (flags: flagScore gives the item's score for the term
// as a one-word query).
type postings struct {
	ids   []int32
	flags []uint8
}

func (p *postings) add(id int32, flags uint8) {
	p.ids = append(p.ids, id)
	p.flags = append(p.flags, flags)
}

// seek returns the first position at or after from whose id is at least
// id, galloping then halving.
func seek(ids []int32, from int, id int32) int {
	step := 1
	hi := from
	for hi < len(ids) && ids[hi] < id {
		from = hi + 1
		hi += step
		step *= 2
	}
	hi = min(hi, len(ids))
	return from + sort.Search(hi-from, func(i int) bool { return ids[from+i] >= id })
}

type slot struct {
	code   string
	status Status
	texts  searchTexts
	show   *hitDoc // what a hit shows, as written
	dead   bool    // replaced by a later slot of the same code
}

// memIndex is the search index. Slots are appended, never reused, so every
// postings list is sorted by slot.
type memIndex struct {
	seq    int64 // highest catalog_items.seq applied
	slots  []slot
	state  []uint8  // per slot: 0 replaced, else statusCode
	keys   []uint64 // per slot: codeKey
	byCode map[string]int32
	han    map[uint64]*postings // Chinese characters and bigrams (hanKey)
	words  map[string]*postings // runs of letters and digits, at most 32
	dead   int

	// orders caches, for terms held by many items, their postings in
	// answer order (see ordered); dropped whenever the index changes.
	ordMu    sync.Mutex
	orders   map[*postings][]ordEntry
	ordSize  int
	scratch  map[uint64]uint8 // term → flags, reused per item
	wscrat   map[string]struct{}
	hasWords bool
}

func newMemIndex() *memIndex {
	return &memIndex{byCode: map[string]int32{}, han: map[uint64]*postings{}, words: map[string]*postings{},
		scratch: map[uint64]uint8{}, wscrat: map[string]struct{}{}}
}

// hanKey packs one Chinese character (r2 < 0) or a bigram into a map key.
func hanKey(r1, r2 rune) uint64 {
	if r2 < 0 {
		return uint64(r1)
	}
	return 1<<62 | uint64(r1)<<21 | uint64(r2)
}

// Flags of where a term occurs; see flagScore.
const (
	inName = 1 << iota
	namePrefix
	nameEqual
	inFields
	inSummary
)

// phraseFlags are the flags of p in t: flagScore(phraseFlags(t, p)) ==
// phraseScore(t, p).
func phraseFlags(t searchTexts, p string) uint8 {
	var f uint8
	switch {
	case t.name == p:
		f |= nameEqual | namePrefix | inName
	case strings.HasPrefix(t.name, p):
		f |= namePrefix | inName
	case strings.Contains(t.name, p):
		f |= inName
	}
	if strings.Contains(t.fields, p) {
		f |= inFields
	}
	if strings.Contains(t.summary, p) {
		f |= inSummary
	}
	return f
}

var flagScores = func() (t [32]uint8) {
	for f := range t {
		t[f] = uint8(flagScore0(uint8(f)))
	}
	return t
}()

// flagScore is phraseScore for a term whose occurrences are flags.
func flagScore(f uint8) int { return int(flagScores[f&31]) }

func flagScore0(f uint8) int {
	s := 0
	switch {
	case f&nameEqual != 0:
		s += scoreNameEqual
	case f&namePrefix != 0:
		s += scoreNamePrefix
	case f&inName != 0:
		s += scoreName
	}
	if f&inFields != 0 {
		s += scoreFields
	}
	if f&inSummary != 0 {
		s += scoreSummary
	}
	return s
}

// scanHan records every Chinese character and bigram of text with flag
// (and, for the name, where it stands). A Chinese character or bigram is
// in a text exactly when a run of Chinese characters holds it, so these
// flags give phraseScore without searching the texts.
func (ix *memIndex) scanHan(text string, flag uint8, isName bool) {
	prev := rune(-1)
	for i, r := range text {
		if !isHan(r) {
			if isWord(r) {
				ix.hasWords = true
			}
			prev = -1
			continue
		}
		f := flag
		if isName {
			if i == 0 {
				f |= namePrefix
				if len(text) == utf8.RuneLen(r) {
					f |= nameEqual
				}
			}
		}
		ix.scratch[hanKey(r, -1)] |= f
		if prev >= 0 {
			f = flag
			if isName {
				start := i - utf8.RuneLen(prev)
				if start == 0 {
					f |= namePrefix
					if len(text) == i+utf8.RuneLen(r) {
						f |= nameEqual
					}
				}
			}
			ix.scratch[hanKey(prev, r)] |= f
		}
		prev = r
	}
}

// add indexes an item as the live slot of its code.
func (ix *memIndex) add(code string, status Status, t searchTexts, show *hitDoc) {
	id := int32(len(ix.slots))
	ix.orders, ix.ordSize = nil, 0 // the caller holds the index write-locked, or owns it
	if old, ok := ix.byCode[code]; ok {
		ix.slots[old].dead = true
		ix.state[old] = 0
		ix.dead++
	}
	ix.byCode[code] = id
	ix.slots = append(ix.slots, slot{code: code, status: status, texts: t, show: show})
	ix.state = append(ix.state, statusCode(status))
	ix.keys = append(ix.keys, codeKey(code))
	clear(ix.scratch)
	ix.hasWords = false
	ix.scanHan(t.name, inName, true)
	ix.scanHan(t.fields, inFields, false)
	ix.scanHan(t.summary, inSummary, false)
	for k, f := range ix.scratch {
		p := ix.han[k]
		if p == nil {
			p = &postings{}
			ix.han[k] = p
		}
		p.add(id, f)
	}
	if !ix.hasWords {
		return
	}
	// Words score by substring, as a LIKE would ("gdp" is in "gdp2024").
	clear(ix.wscrat)
	seen := func(w string) {
		if _, ok := ix.wscrat[w]; ok {
			return
		}
		ix.wscrat[w] = struct{}{}
		p := ix.words[w]
		if p == nil {
			p = &postings{}
			ix.words[w] = p
		}
		p.add(id, phraseFlags(t, w))
	}
	wordTokens(t.name, seen)
	wordTokens(t.fields, seen)
	wordTokens(t.summary, seen)
}

// statusCode numbers the statuses for memIndex.state.
func statusCode(s Status) uint8 {
	switch s {
	case StatusDraft:
		return 1
	case StatusPublished:
		return 2
	case StatusWithdrawn:
		return 3
	}
	return 4
}

// codeKey maps a resource code (classification of 6–10 digits, '-', 6
// digits) to a number in the same order as the codes compare as strings:
// each classification digit d counts d+1 in base 11, short
// classifications padded with 0 (as '-' sorts before digits), then the
// sequence. Other codes get the largest key and compare as strings.
func codeKey(code string) uint64 {
	i := strings.IndexByte(code, '-')
	if i < 6 || i > 10 || len(code) != i+7 {
		return math.MaxUint64
	}
	var k uint64
	for j := 0; j < 10; j++ {
		k *= 11
		if j < i {
			c := code[j]
			if c < '0' || c > '9' {
				return math.MaxUint64
			}
			k += uint64(c-'0') + 1
		}
	}
	var n uint64
	for _, c := range []byte(code[i+1:]) {
		if c < '0' || c > '9' {
			return math.MaxUint64
		}
		n = n*10 + uint64(c-'0')
	}
	return k*1_000_000 + n
}

// wordTokens calls emit for each run of letters and digits (not Chinese)
// of at most 32 characters.
func wordTokens(t string, emit func(string)) {
	start, n := -1, 0
	flush := func(end int) {
		if start >= 0 && n <= 32 {
			emit(t[start:end])
		}
		start, n = -1, 0
	}
	for i, r := range t {
		if isWord(r) {
			if start < 0 {
				start = i
			}
			n++
			continue
		}
		flush(i)
	}
	flush(len(t))
}

// searchIndex holds the Service's index and brings it up to date.
type searchIndex struct {
	mu      sync.RWMutex // guards ix
	ix      *memIndex
	refresh sync.Mutex // one refresher at a time
}

// rebuildAbove is how many changed items make a refresh rebuild the index
// instead of patching it.
const rebuildAbove = 2000

// current returns the index, up to date with every commit visible now,
// read-locked: call the returned function when done with it.
func (s *Service) currentIndex(ctx context.Context) (*memIndex, func(), error) {
	var top int64
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM catalog_items`).Scan(&top); err != nil {
		return nil, nil, db.Interpret(err, "search index")
	}
	si := &s.search
	for {
		si.mu.RLock()
		if ix := si.ix; ix != nil && ix.seq >= top {
			return ix, si.mu.RUnlock, nil
		}
		si.mu.RUnlock()
		if err := s.refreshIndex(ctx, top); err != nil {
			return nil, nil, err
		}
	}
}

func (s *Service) refreshIndex(ctx context.Context, top int64) error {
	si := &s.search
	si.refresh.Lock()
	defer si.refresh.Unlock()
	si.mu.RLock()
	ix := si.ix
	fresh := ix != nil && ix.seq >= top
	si.mu.RUnlock()
	if fresh {
		return nil
	}
	if ix != nil {
		var n int
		if err := s.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM catalog_items WHERE seq > $1`, ix.seq).Scan(&n); err != nil {
			return db.Interpret(err, "search index")
		}
		if n <= rebuildAbove && ix.dead+n <= len(ix.byCode)/2+rebuildAbove {
			// Patch in place, readers locked out.
			si.mu.Lock()
			defer si.mu.Unlock()
			return s.loadIndex(ctx, ix)
		}
	}
	// Build a new index while searches go on with the old one.
	nix := newMemIndex()
	if err := s.loadIndex(ctx, nix); err != nil {
		return err
	}
	si.mu.Lock()
	si.ix = nix
	si.mu.Unlock()
	return nil
}

// loadIndex adds the items written after ix.seq.
func (s *Service) loadIndex(ctx context.Context, ix *memIndex) error {
	rows, err := s.db.R.QueryContext(ctx, `SELECT seq, code, status, search_name, search_fields, search_summary, doc FROM catalog_items WHERE seq > $1 ORDER BY seq`, ix.seq)
	if err != nil {
		return db.Interpret(err, "search index")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq    int64
			code   string
			status string
			t      searchTexts
			doc    []byte
		)
		if err := rows.Scan(&seq, &code, &status, &t.name, &t.fields, &t.summary, &doc); err != nil {
			return db.Interpret(err, "search index")
		}
		show := &hitDoc{}
		if err := json.Unmarshal(doc, show); err != nil {
			return fmt.Errorf("item %s: stored document: %w", code, err)
		}
		ix.add(code, Status(status), t, show)
		ix.seq = max(ix.seq, seq)
	}
	return db.Interpret(rows.Err(), "search index")
}

// ranked is one answer before its row is read.
type ranked struct {
	id    int32
	score int
}

// queryPlan is how one query word is looked up.
type queryPlan struct {
	word string
	// exact: the word is one term, whose postings give the answers and
	// their scores.
	exact bool
	// terms every answer holds (then, unless exact, the phrase is
	// checked); lead is set when terms[0] starts the word, so its name
	// flags bound the word's.
	terms []*postings
	lead  bool
	none  bool // a needed term is in no item
}

func (ix *memIndex) plan(w string) queryPlan {
	p := queryPlan{word: w}
	rs := []rune(w)
	lookHan := func(k uint64) {
		if l := ix.han[k]; l != nil {
			p.terms = append(p.terms, l)
		} else {
			p.none = true
		}
	}
	switch {
	case len(rs) == 1 && isHan(rs[0]):
		p.exact, p.lead = true, true
		lookHan(hanKey(rs[0], -1))
		return p
	case len(rs) == 2 && isHan(rs[0]) && isHan(rs[1]):
		p.exact, p.lead = true, true
		lookHan(hanKey(rs[0], rs[1]))
		return p
	}
	allWord := len(rs) <= 32
	for _, r := range rs {
		if !isWord(r) {
			allWord = false
			break
		}
	}
	if allWord {
		p.exact, p.lead = true, true
		if l := ix.words[w]; l != nil {
			p.terms = append(p.terms, l)
		} else {
			p.none = true
		}
		return p
	}
	// Its Chinese bigrams (or lone characters); a run of letters inside a
	// longer word may continue in the text ("gdp" in "gdp2024"), so it is
	// left to the phrase check.
	p.lead = isHan(rs[0])
	for i := 0; i < len(rs); i++ {
		if !isHan(rs[i]) {
			continue
		}
		j := i
		for j < len(rs) && isHan(rs[j]) {
			j++
		}
		if j-i == 1 {
			lookHan(hanKey(rs[i], -1))
		}
		for k := i; k+1 < j; k++ {
			lookHan(hanKey(rs[k], rs[k+1]))
		}
		i = j - 1
	}
	return p
}

// pageAfter is where a page of answers starts: after the answer with this
// score and code, in answer order. The zero value starts at the first.
type pageAfter struct {
	score int
	code  string
}

// rank returns the answers after from, skipping offset of them, at most n,
// best first (score, then code). want is a statusCode, 0 for any status.
func (ix *memIndex) rank(words []string, want uint8, from pageAfter, offset, n int) []ranked {
	plans := make([]queryPlan, len(words))
	for i, w := range words {
		if plans[i] = ix.plan(w); plans[i].none {
			return nil
		}
	}
	k := offset + n
	top := make([]ranked, 0, min(k, 1024))
	keys := ix.keys
	better := func(a, b ranked) bool {
		if a.score != b.score {
			return a.score > b.score
		}
		if ka, kb := keys[a.id], keys[b.id]; ka != kb && ka != math.MaxUint64 && kb != math.MaxUint64 {
			return ka < kb
		}
		return ix.slots[a.id].code < ix.slots[b.id].code
	}
	// past says c comes after from in answer order (the order of better).
	past := func(ranked) bool { return true }
	if from.code != "" {
		fk := codeKey(from.code)
		past = func(c ranked) bool {
			if c.score != from.score {
				return c.score < from.score
			}
			if kc := keys[c.id]; kc != fk && kc != math.MaxUint64 && fk != math.MaxUint64 {
				return kc > fk
			}
			return ix.slots[c.id].code > from.code
		}
	}
	// full says a candidate with this bound cannot enter the top.
	out := func(c ranked) bool { return len(top) == k && !better(c, top[k-1]) }
	consider := func(c ranked) {
		if out(c) || !past(c) {
			return
		}
		i := sort.Search(len(top), func(i int) bool { return better(c, top[i]) })
		if len(top) < k {
			top = append(top, ranked{})
		}
		copy(top[i+1:], top[i:len(top)-1])
		top[i] = c
	}
	state := ix.state
	live := func(id int32) bool {
		st := state[id]
		return st != 0 && (want == 0 || st == want)
	}
	if len(plans) == 1 && plans[0].exact && len(plans[0].terms[0].ids) >= orderAbove {
		// A common term: its answers in order, the first k live ones.
		for _, e := range ix.ordered(plans[0].terms[0], better) {
			if live(e.id) && past(ranked{e.id, int(e.score)}) {
				if top = append(top, ranked{e.id, int(e.score)}); len(top) == k {
					break
				}
			}
		}
		return page(top, offset)
	}
	if len(plans) == 1 && plans[0].exact {
		// One term: the postings hold the answers and their scores.
		p := plans[0].terms[0]
		for i, id := range p.ids {
			if live(id) {
				consider(ranked{id, flagScore(p.flags[i])})
			}
		}
		return page(top, offset)
	}
	type need struct {
		l    *postings
		word int // plan index
		lead bool
	}
	var needs []need
	for w, p := range plans {
		for i, l := range p.terms {
			needs = append(needs, need{l, w, i == 0 && p.lead})
		}
	}
	sort.SliceStable(needs, func(i, j int) bool { return len(needs[i].l.ids) < len(needs[j].l.ids) })
	// Per word: the flags every term shares (where the phrase may be) and
	// the lead term's name flags.
	cursor := make([]int, len(needs))
	in := make([]uint8, len(plans))
	lead := make([]uint8, len(plans))
	check := func(id int32, pos0 int) {
		if !live(id) {
			return
		}
		for w := range plans {
			in[w], lead[w] = inName|inFields|inSummary, 0
		}
		for i, nd := range needs {
			pos := pos0
			if i > 0 {
				// The candidates come in slot order: each list is
				// searched on from where the last candidate left it.
				pos = seek(nd.l.ids, cursor[i], id)
				cursor[i] = pos
				if pos == len(nd.l.ids) || nd.l.ids[pos] != id {
					return
				}
			}
			f := nd.l.flags[pos]
			in[nd.word] &= f
			if nd.lead {
				lead[nd.word] = f
			}
		}
		// An upper bound of the score, from the flags alone.
		bound := 0
		for w, p := range plans {
			f := in[w]
			if f == 0 && len(p.terms) > 0 {
				return
			}
			if len(p.terms) == 0 {
				f = inName | inFields | inSummary | namePrefix | nameEqual
			} else if f&inName != 0 {
				// The name can start with (or be) the phrase only if it
				// starts with the phrase's first term.
				if !p.lead || lead[w]&namePrefix != 0 {
					f |= namePrefix | nameEqual
				}
			}
			bound += flagScore(f)
		}
		if out(ranked{id, bound}) {
			return
		}
		t := &ix.slots[id].texts
		score := 0
		for _, p := range plans {
			s := phraseScore(*t, p.word)
			if s == 0 {
				return
			}
			score += s
		}
		consider(ranked{id, score})
	}
	if len(needs) > 0 {
		for pos, id := range needs[0].l.ids {
			check(id, pos)
		}
	} else {
		for id := range ix.slots {
			check(int32(id), -1)
		}
	}
	return page(top, offset)
}

// orderAbove is how many items a term must have for its answer order to
// be cached; maxOrdered caps the entries cached in all.
var orderAbove = 1000 // a variable for tests

const maxOrdered = 1 << 20

type ordEntry struct {
	id    int32
	score uint8
}

// ordered returns p's postings sorted best first (score, then code),
// cached until the index changes. The caller holds the index read-locked.
func (ix *memIndex) ordered(p *postings, better func(a, b ranked) bool) []ordEntry {
	ix.ordMu.Lock()
	ord, ok := ix.orders[p]
	ix.ordMu.Unlock()
	if ok {
		return ord
	}
	ord = make([]ordEntry, len(p.ids))
	for i, id := range p.ids {
		ord[i] = ordEntry{id, uint8(flagScore(p.flags[i]))}
	}
	sort.Slice(ord, func(i, j int) bool {
		return better(ranked{ord[i].id, int(ord[i].score)}, ranked{ord[j].id, int(ord[j].score)})
	})
	ix.ordMu.Lock()
	if ix.orders == nil || ix.ordSize+len(ord) > maxOrdered {
		ix.orders, ix.ordSize = map[*postings][]ordEntry{}, 0
	}
	ix.orders[p] = ord
	ix.ordSize += len(ord)
	ix.ordMu.Unlock()
	return ord
}

func page(top []ranked, offset int) []ranked {
	if offset >= len(top) {
		return nil
	}
	return top[offset:]
}

// departmentNames reads the names of the given departments (at most
// 101) now, so a renamed department shows its new name at once. The
// statement always has 21 or 101 parameters, padded with empty ids, so it
// is prepared once.
func (s *Service) departmentNames(ctx context.Context, ids []string) (map[string]string, error) {
	got := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return got, nil
	}
	n := 21
	if len(ids) > n {
		n = 101
	}
	args := make([]any, n)
	for i := range args {
		args[i] = ""
		if i < len(ids) {
			args[i] = ids[i]
		}
	}
	rows, err := s.db.Query(ctx, hitQuery(n), args...)
	if err != nil {
		return nil, db.Interpret(err, "search")
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, db.Interpret(err, "search")
		}
		got[id] = name
	}
	return got, db.Interpret(rows.Err(), "search")
}

var hitQueries sync.Map

func hitQuery(n int) string {
	if q, ok := hitQueries.Load(n); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString(`SELECT id, name FROM departments WHERE id IN (`)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i))
	}
	b.WriteString(")")
	hitQueries.Store(n, b.String())
	return b.String()
}
