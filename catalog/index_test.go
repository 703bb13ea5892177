package catalog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// code0 is statusCode, with 0 for any status.
func code0(s Status) uint8 {
	if s == "" {
		return 0
	}
	return statusCode(s)
}

// naiveRank is the search's meaning without an index: every item of the
// status that contains each word (a word of letters and digits only as a
// whole run of the text, as the index has it), by phraseScore, then code.
func naiveRank(items map[string]searchTexts, status map[string]Status, words []string, want Status) []string {
	type hit struct {
		code  string
		score int
	}
	var hits []hit
	for code, t := range items {
		if want != "" && status[code] != want {
			continue
		}
		score := 0
		for _, w := range words {
			s := phraseScore(t, w)
			if s > 0 && isWordRun(w) && !hasWordToken(t, w) {
				s = 0
			}
			if s == 0 {
				score = -1
				break
			}
			score += s
		}
		if score > 0 {
			hits = append(hits, hit{code, score})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		return hits[i].code < hits[j].code
	})
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = fmt.Sprintf("%s:%d", h.code, h.score)
	}
	return out
}

func isWordRun(w string) bool {
	rs := []rune(w)
	if len(rs) > 32 {
		return false
	}
	for _, r := range rs {
		if !isWord(r) {
			return false
		}
	}
	return true
}

func hasWordToken(t searchTexts, w string) bool {
	found := false
	for _, s := range []string{t.name, t.fields, t.summary} {
		wordTokens(s, func(tok string) { found = found || tok == w })
	}
	return found
}

// TestIndexMatchesNaive checks the index's answers and order against
// naiveRank over generated items, with updates and status changes patched
// into the index as commits would.
func TestIndexMatchesNaive(t *testing.T) {
	for _, above := range []int{1000, 1} {
		t.Run(fmt.Sprintf("orderAbove=%d", above), func(t *testing.T) {
			defer func(old int) { orderAbove = old }(orderAbove)
			orderAbove = above
			testIndexMatchesNaive(t)
		})
	}
}

func testIndexMatchesNaive(t *testing.T) {
	gen := Generate(600, 7, []GenDepartment{{Name: "襄阳市公安局", Code: "11420600000000027M"}, {Name: "襄阳市民政局", Code: "11420600000000035G"}})
	r := rand.New(rand.NewPCG(1, 2))
	ix := newMemIndex()
	items := map[string]searchTexts{}
	status := map[string]Status{}
	put := func(code string, c *Content, st Status) {
		c.Normalize()
		tx := textsOf(c)
		items[code], status[code] = tx, st
		ix.add(code, st, tx, &hitDoc{})
	}
	statuses := []Status{StatusPublished, StatusPublished, StatusDraft, StatusWithdrawn}
	for i := range gen {
		code := fmt.Sprintf("%s-%06d", gen[i].Classification(), i+1)
		put(code, &gen[i].Content, statuses[r.IntN(len(statuses))])
	}
	// Queries: pieces of the texts of every length, field codes, several
	// words, and texts that match nothing.
	var queries []string
	var all []string
	for _, t := range items {
		all = append(all, t.name, t.summary, t.fields)
	}
	for i := 0; i < 400; i++ {
		rs := []rune(all[r.IntN(len(all))])
		if len(rs) == 0 {
			continue
		}
		n := 1 + r.IntN(min(6, len(rs)))
		at := r.IntN(len(rs) - n + 1)
		queries = append(queries, searchNorm(string(rs[at:at+n])))
	}
	for i := 0; i < 60; i++ {
		queries = append(queries, queries[r.IntN(len(queries))]+" "+queries[r.IntN(len(queries))])
	}
	n := 0
	for _, t := range items {
		if n++; n > 40 {
			break
		}
		queries = append(queries, t.name, string([]rune(t.name)[:3]))
	}
	queries = append(queries, "gmsfhm", "xm", "gmsf", "%", "_", "证", "信息", "不动产 抵押", "没有这个词", "a户b", "x")
	check := func() {
		for _, q := range queries {
			words := strings.Fields(q)
			if len(words) == 0 || len(words) > 8 {
				continue
			}
			for _, want := range []Status{StatusPublished, ""} {
				code := statusCode(want)
				if want == "" {
					code = 0
				}
				exp := naiveRank(items, status, words, want)
				for _, pg := range [][2]int{{0, 21}, {3, 5}, {0, 2000}} {
					got := ix.rank(words, code, pageAfter{}, pg[0], pg[1])
					gs := make([]string, len(got))
					for i, h := range got {
						gs[i] = fmt.Sprintf("%s:%d", ix.slots[h.id].code, h.score)
					}
					var es []string
					if pg[0] < len(exp) {
						es = exp[pg[0]:min(len(exp), pg[0]+pg[1])]
					}
					if !slices.Equal(gs, es) && !(len(gs) == 0 && len(es) == 0) {
						t.Fatalf("query %q status %q page %v:\n got  %v\n want %v", q, want, pg, gs, es)
					}
				}
				// A page after a given answer starts right after it.
				if len(exp) > 3 {
					code, score, _ := strings.Cut(exp[2], ":")
					n, _ := strconv.Atoi(score)
					got := ix.rank(words, code0(want), pageAfter{score: n, code: code}, 0, 5)
					gs := make([]string, len(got))
					for i, h := range got {
						gs[i] = fmt.Sprintf("%s:%d", ix.slots[h.id].code, h.score)
					}
					if es := exp[3:min(len(exp), 8)]; !slices.Equal(gs, es) {
						t.Fatalf("query %q status %q after %s:\n got  %v\n want %v", q, want, exp[2], gs, es)
					}
				}
			}
		}
	}
	check()
	// Updates: renamed items, new summaries, status changes.
	for i := 0; i < 150; i++ {
		j := r.IntN(len(gen))
		code := fmt.Sprintf("%s-%06d", gen[j].Classification(), j+1)
		c := gen[j].Content
		switch i % 3 {
		case 0:
			c.Name = gen[r.IntN(len(gen))].Name + "改"
		case 1:
			c.Summary = gen[r.IntN(len(gen))].Summary
		}
		put(code, &c, statuses[r.IntN(len(statuses))])
	}
	check()
}

func TestCodeKeyOrder(t *testing.T) {
	codes := []string{"101001-000001", "101001-000002", "1010010-000001", "1010011-000000", "101002-000000", "9999999999-999999", "101001-999999", "201001-000001", "1010019999-000001", "101001-00001x", "x"}
	for _, a := range codes {
		for _, b := range codes {
			ka, kb := codeKey(a), codeKey(b)
			if ka != kb && ka != math.MaxUint64 && kb != math.MaxUint64 && (ka < kb) != (a < b) {
				t.Errorf("codeKey(%q)=%d, codeKey(%q)=%d: order differs from the strings'", a, ka, b, kb)
			}
		}
	}
}

// TestMarkBytes: the byte-level mark gives what the rune-level one does.
func TestMarkBytes(t *testing.T) {
	texts := []string{"不动产登记信息", "全市不动产权属登记结果，包括不动产单元号、权利人。", "达标率100%名单 <b>&'\"", "aaa", "登记登记登记",
		strings.Repeat("人口信息登记", 30) + "不动产" + strings.Repeat("户籍", 40), "gdp统计 gdp2024", "x"}
	queries := [][]string{{"不动产"}, {"登记"}, {"登记", "信息"}, {"aa"}, {"%"}, {"<b>"}, {"'"}, {"没有"}, {"gdp"}, {"户籍", "不动产"}, {"x"}}
	for _, tx := range texts {
		for _, q := range queries {
			for _, win := range []int{0, 60, 5} {
				old := markRunes(tx, q, win)
				if got := markBytes(tx, q, win); got != old {
					t.Errorf("mark(%q, %q, %d) = %q, rune-level %q", tx, q, win, got, old)
				}
			}
		}
	}
}
