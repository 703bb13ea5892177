package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"html"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// Search works the same on SQLite and PostgreSQL because it uses neither
// engine's full-text search: the index is a plain table, catalog_terms,
// written in the same transaction as the item.
//
// Texts (name, field names and codes, summary) are normalised with
// sheet.Clean and lower-cased. A run of Chinese characters is indexed as
// its character bigrams plus its last character alone ("不动产" → 不动,
// 动产, 产), so every character of the text starts some term. A run of
// letters and digits is indexed as one word.
//
//   - A two-character query is one bigram: its answers are read straight
//     from the index in rank order (rank_key, then code).
//   - A one-character query is a prefix range over the terms (every term
//     starting with the character).
//   - Longer queries need all their bigrams; the phrase itself is then
//     checked with LIKE on the stored normalised texts, so 登记不动 does
//     not match 不动产登记.
//
// Ranking is the same formula everywhere (see phraseScore): the name
// equal to the query 20, starting with it 12, containing it 8; a field
// name or code containing it 3; the summary 1. Ties go by code.

// Score weights.
const (
	scoreNameEqual  = 20
	scoreNamePrefix = 12
	scoreName       = 8
	scoreFields     = 3
	scoreSummary    = 1
)

// MaxQuery is the longest search query, in characters.
const MaxQuery = 100

// searchNorm is the normal form of indexed and queried text.
func searchNorm(s string) string {
	s, _ = sheet.Clean(s)
	return strings.Map(unicode.ToLower, s)
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func isWord(r rune) bool { return (unicode.IsLetter(r) || unicode.IsDigit(r)) && !isHan(r) }

// tokens calls emit for each term of normalised text t.
func tokens(t string, emit func(term string)) {
	rs := []rune(t)
	for i := 0; i < len(rs); {
		switch {
		case isHan(rs[i]):
			j := i
			for j < len(rs) && isHan(rs[j]) {
				j++
			}
			for k := i; k+1 < j; k++ {
				emit(string(rs[k : k+2]))
			}
			emit(string(rs[j-1]))
			i = j
		case isWord(rs[i]):
			j := i
			for j < len(rs) && isWord(rs[j]) {
				j++
			}
			if j-i <= 32 {
				emit(string(rs[i:j]))
			}
			i = j
		default:
			i++
		}
	}
}

// searchTexts are an item's normalised searchable texts.
type searchTexts struct{ name, fields, summary string }

func textsOf(c *Content) searchTexts {
	var fb strings.Builder
	for i, f := range c.Fields {
		if i > 0 {
			fb.WriteByte('\n')
		}
		fb.WriteString(f.Name)
		fb.WriteByte('\n')
		fb.WriteString(f.Code)
	}
	return searchTexts{name: searchNorm(c.Name), fields: searchNorm(fb.String()), summary: searchNorm(c.Summary)}
}

// phraseScore is the ranking formula for one query word p.
func phraseScore(t searchTexts, p string) int {
	s := 0
	switch {
	case t.name == p:
		s += scoreNameEqual
	case strings.HasPrefix(t.name, p):
		s += scoreNamePrefix
	case strings.Contains(t.name, p):
		s += scoreName
	}
	if strings.Contains(t.fields, p) {
		s += scoreFields
	}
	if strings.Contains(t.summary, p) {
		s += scoreSummary
	}
	return s
}

// termsOf returns the item's index terms with their scores. For a bigram
// term the score equals phraseScore of the bigram, which is what lets a
// two-character query rank from the index alone.
func termsOf(t searchTexts) map[string]int {
	out := map[string]int{}
	seen := func(term string) {
		if _, ok := out[term]; !ok {
			out[term] = phraseScore(t, term)
		}
	}
	tokens(t.name, seen)
	tokens(t.fields, seen)
	tokens(t.summary, seen)
	return out
}

// SearchQuery is a search request.
type SearchQuery struct {
	Q string
	// Status limits answers to one status; empty means published only.
	Status Status
	// AnyStatus searches every status (for callers who may see drafts).
	AnyStatus bool
	Limit     int
	Cursor    string
}

// Hit is one search answer.
type Hit struct {
	Code         string `json:"code"`
	Name         string `json:"name"`
	ProviderID   string `json:"provider_id"`
	ProviderName string `json:"provider_name"`
	ShareType    string `json:"share_type"`
	Status       Status `json:"status"`
	Score        int    `json:"score"`
	// NameMarked is the name, HTML-escaped, with each match in <mark>.
	NameMarked string `json:"name_marked"`
	// SummaryMarked is a stretch of the summary around the first match.
	SummaryMarked string `json:"summary_marked,omitempty"`
	// Fields are the field names that matched, marked.
	Fields []string `json:"fields,omitempty"`
}

// SearchResult is a page of hits.
type SearchResult struct {
	Query      string `json:"query"` // the query as normalised
	Items      []Hit  `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// Search finds items whose name, field names or summary contain every word
// of the query, best first. Invalid: an empty query or one over MaxQuery
// characters.
func (s *Service) Search(ctx context.Context, q SearchQuery) (SearchResult, error) {
	norm := searchNorm(q.Q)
	res := SearchResult{Query: norm, Items: []Hit{}}
	switch {
	case norm == "":
		return res, errs.InvalidFields("search query is empty", errs.FieldError{Pointer: "?q", Reason: "required"})
	case utf8.RuneCountInString(norm) > MaxQuery:
		return res, errs.InvalidFields("search query is too long", errs.FieldError{Pointer: "?q", Reason: "at most 100 characters", Value: clip(norm)})
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	if limit > 100 {
		limit = 100
	}
	offset := 0
	if q.Cursor != "" {
		n, err := strconv.Atoi(q.Cursor)
		if err != nil || n < 0 || n > 100000 {
			return res, errs.InvalidFields("bad cursor", errs.FieldError{Pointer: "?cursor", Reason: "use the next_cursor of the previous page", Value: clip(q.Cursor)})
		}
		offset = n
	}
	words := strings.Fields(norm)
	if len(words) > 8 {
		return res, errs.InvalidFields("search query has too many words", errs.FieldError{Pointer: "?q", Reason: "at most 8 words"})
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	statusCond := ""
	switch {
	case q.AnyStatus:
	case q.Status != "":
		statusCond = " AND i.status = " + arg(string(q.Status))
	default:
		statusCond = " AND i.status = " + arg(string(StatusPublished))
	}
	var query string
	rs := []rune(words[0])
	if len(words) == 1 && len(rs) == 2 && isHan(rs[0]) && isHan(rs[1]) {
		// One bigram: rank straight from the index. CROSS JOIN keeps
		// SQLite from starting at the items (PostgreSQL plans it freely).
		query = `SELECT i.code, i.name, i.provider_id, COALESCE(d.name, ''), i.share_type, i.status, i.doc, -t.rank_key
			FROM catalog_terms t CROSS JOIN catalog_items i LEFT JOIN departments d ON d.id = i.provider_id
			WHERE i.code = t.code AND t.term = ` + arg(words[0]) + statusCond + `
			ORDER BY t.rank_key, t.code LIMIT ` + arg(limit+1) + ` OFFSET ` + arg(offset)
	} else {
		var sets, where, score []string
		for _, w := range words {
			var terms []string
			prefix := ""
			wr := []rune(w)
			if len(wr) == 1 && isHan(wr[0]) {
				prefix = w
			} else {
				queryTerms(w, func(t string) { terms = append(terms, t) })
			}
			if prefix != "" {
				sets = append(sets, `SELECT code FROM catalog_terms WHERE term >= `+arg(prefix)+` AND term < `+arg(string(wr[0]+1)))
			}
			for _, t := range terms {
				sets = append(sets, `SELECT code FROM catalog_terms WHERE term = `+arg(t))
			}
			e := escapeLike(w)
			eq, pre, con := arg(w), arg(e+"%"), arg("%"+e+"%")
			where = append(where, `(i.search_name LIKE `+con+` ESCAPE '\' OR i.search_fields LIKE `+con+` ESCAPE '\' OR i.search_summary LIKE `+con+` ESCAPE '\')`)
			score = append(score, `(CASE WHEN i.search_name = `+eq+` THEN 20 WHEN i.search_name LIKE `+pre+` ESCAPE '\' THEN 12 WHEN i.search_name LIKE `+con+` ESCAPE '\' THEN 8 ELSE 0 END`+
				` + CASE WHEN i.search_fields LIKE `+con+` ESCAPE '\' THEN 3 ELSE 0 END + CASE WHEN i.search_summary LIKE `+con+` ESCAPE '\' THEN 1 ELSE 0 END)`)
		}
		cand := ""
		if len(sets) > 0 {
			cand = ` AND i.code IN (` + strings.Join(sets, " INTERSECT ") + `)`
		}
		query = `SELECT i.code, i.name, i.provider_id, COALESCE(d.name, ''), i.share_type, i.status, i.doc, ` + strings.Join(score, " + ") + ` AS score
			FROM catalog_items i LEFT JOIN departments d ON d.id = i.provider_id
			WHERE ` + strings.Join(where, " AND ") + cand + statusCond + `
			ORDER BY score DESC, i.code LIMIT ` + arg(limit+1) + ` OFFSET ` + arg(offset)
	}
	rows, err := s.db.R.QueryContext(ctx, query, args...)
	if err != nil {
		return res, db.Interpret(err, "search")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h   Hit
			doc string
		)
		if err := rows.Scan(&h.Code, &h.Name, &h.ProviderID, &h.ProviderName, &h.ShareType, &h.Status, &doc, &h.Score); err != nil {
			return res, db.Interpret(err, "search")
		}
		var c Content
		_ = json.Unmarshal([]byte(doc), &c)
		h.NameMarked = mark(h.Name, words, 0)
		h.SummaryMarked = mark(c.Summary, words, 60)
		if !strings.Contains(h.SummaryMarked, "<mark>") {
			h.SummaryMarked = ""
		}
		for _, f := range c.Fields {
			if m := mark(f.Name, words, 0); strings.Contains(m, "<mark>") {
				h.Fields = append(h.Fields, m)
			} else if m := mark(f.Code, words, 0); strings.Contains(m, "<mark>") {
				h.Fields = append(h.Fields, m)
			}
		}
		res.Items = append(res.Items, h)
	}
	if err := rows.Err(); err != nil {
		return res, db.Interpret(err, "search")
	}
	if len(res.Items) > limit {
		res.Items = res.Items[:limit]
		res.NextCursor = strconv.Itoa(offset + limit)
	}
	return res, nil
}

// queryTerms are the index terms a query word needs: its bigrams and words,
// without the run-final characters (a query's last character need not end
// a run in the text).
func queryTerms(w string, emit func(string)) {
	rs := []rune(w)
	for i := 0; i < len(rs); {
		switch {
		case isHan(rs[i]):
			j := i
			for j < len(rs) && isHan(rs[j]) {
				j++
			}
			// A lone Chinese character inside a longer word has no bigram:
			// the LIKE check covers it.
			for k := i; k+1 < j; k++ {
				emit(string(rs[k : k+2]))
			}
			i = j
		case isWord(rs[i]):
			j := i
			for j < len(rs) && isWord(rs[j]) {
				j++
			}
			// A word may continue in the text ("gdp" in "gdp2024"), so it is
			// only a term when it is the whole query word; otherwise LIKE decides.
			if i == 0 && j == len(rs) && j-i <= 32 {
				emit(string(rs[i:j]))
			}
			i = j
		default:
			i++
		}
	}
}

// mark HTML-escapes text and wraps every match of any word in <mark>. With
// window > 0 it returns about window characters around the first match.
func mark(text string, words []string, window int) string {
	if text == "" {
		return ""
	}
	rs := []rune(text)
	low := []rune(strings.Map(unicode.ToLower, text))
	if len(low) != len(rs) {
		low = rs
	}
	hit := make([]bool, len(rs))
	first := -1
	for _, w := range words {
		wr := []rune(w)
		if len(wr) == 0 {
			continue
		}
		for i := 0; i+len(wr) <= len(low); i++ {
			if string(low[i:i+len(wr)]) == w {
				for k := i; k < i+len(wr); k++ {
					hit[k] = true
				}
				if first < 0 || i < first {
					first = i
				}
			}
		}
	}
	from, to := 0, len(rs)
	if window > 0 && len(rs) > window {
		if first < 0 {
			first = 0
		}
		from = max(0, first-window/3)
		to = min(len(rs), from+window)
	}
	var b strings.Builder
	if from > 0 {
		b.WriteString("…")
	}
	in := false
	for i := from; i < to; i++ {
		if hit[i] && !in {
			b.WriteString("<mark>")
			in = true
		} else if !hit[i] && in {
			b.WriteString("</mark>")
			in = false
		}
		b.WriteString(html.EscapeString(string(rs[i])))
	}
	if in {
		b.WriteString("</mark>")
	}
	if to < len(rs) {
		b.WriteString("…")
	}
	return b.String()
}

// writeTerms inserts the terms of the given items, sorted so the index
// B-tree is written in order.
func (s *Service) writeTerms(ctx context.Context, tx *sql.Tx, codes []string, texts []searchTexts) error {
	type row struct {
		term string
		rank int
		code string
	}
	var rows []row
	for i, code := range codes {
		for term, score := range termsOf(texts[i]) {
			rows = append(rows, row{term, -score, code})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		if a.term != b.term {
			return a.term < b.term
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.code < b.code
	})
	err := s.insertRows(ctx, tx, `INSERT INTO catalog_terms (term, rank_key, code) VALUES `, 3, len(rows), func(i int) []any {
		return []any{rows[i].term, rows[i].rank, rows[i].code}
	})
	return db.Interpret(err, "search index")
}

// deleteTerms removes an item's terms by their exact keys, recomputed from
// the texts they were made from.
func (s *Service) deleteTerms(ctx context.Context, tx *sql.Tx, code string, t searchTexts) error {
	terms := termsOf(t)
	args := make([]any, 0, 3*len(terms))
	for term, score := range terms {
		args = append(args, term, -score, code)
	}
	const batch = 1000
	for i := 0; i < len(args); i += 3 * batch {
		part := args[i:min(i+3*batch, len(args))]
		var b strings.Builder
		for r := 0; r < len(part)/3; r++ {
			if r > 0 {
				b.WriteString(", ")
			}
			if s.db.Dialect == db.SQLite {
				b.WriteString("(?, ?, ?)")
			} else {
				// PostgreSQL types a VALUES list's parameters as text unless told.
				fmt.Fprintf(&b, "($%d, CAST($%d AS BIGINT), $%d)", 3*r+1, 3*r+2, 3*r+3)
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM catalog_terms WHERE (term, rank_key, code) IN (VALUES `+b.String()+`)`, part...)
		if err != nil {
			return db.Interpret(err, "search index")
		}
	}
	return nil
}
