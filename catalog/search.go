package catalog

import (
	"context"
	"html"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// Search works the same on SQLite and PostgreSQL because it uses neither
// engine's full-text search: the texts are normalised in Go, stored with
// the item (search_name, search_fields, search_summary, written in the same
// transaction as the item) and indexed in memory (see index.go).
//
// Texts (name, field names and codes, summary) are normalised with
// sheet.Clean and lower-cased. Every Chinese character and every bigram of
// a run of Chinese characters is a term; a run of letters and digits (at
// most 32) is one word term. Each posting carries the item's score for the
// term, so:
//
//   - a one- or two-character Chinese query, or a query that is one word
//     of letters and digits, ranks straight from its postings;
//   - longer queries (and several words) take the items holding all their
//     bigrams, then check the phrase itself in the texts, so 登记不动
//     does not match 不动产登记.
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
	// The cursor is the last answer of the previous page (score:code),
	// not a count of answers: items published or withdrawn while a caller
	// pages would shift an offset, showing answers twice or skipping them.
	var from pageAfter
	if q.Cursor != "" {
		sc, code, _ := strings.Cut(q.Cursor, ":")
		n, err := strconv.Atoi(sc)
		if err != nil || n < 0 || !ValidCode(code) {
			return res, errs.InvalidFields("bad cursor", errs.FieldError{Pointer: "?cursor", Reason: "use the next_cursor of the previous page", Value: clip(q.Cursor)})
		}
		from = pageAfter{score: n, code: code}
	}
	words := strings.Fields(norm)
	if len(words) > 8 {
		return res, errs.InvalidFields("search query has too many words", errs.FieldError{Pointer: "?q", Reason: "at most 8 words"})
	}
	want := statusCode(StatusPublished)
	switch {
	case q.AnyStatus:
		want = 0
	case q.Status != "":
		want = statusCode(q.Status)
	}
	ix, done, err := s.currentIndex(ctx)
	if err != nil {
		return res, err
	}
	top := ix.rank(words, want, from, 0, limit+1)
	codes := make([]string, len(top))
	shows := make([]*hitDoc, len(top))
	statuses := make([]Status, len(top))
	for i, r := range top {
		sl := &ix.slots[r.id]
		codes[i], shows[i], statuses[i] = sl.code, sl.show, sl.status
	}
	done()
	var ids []string
	for _, c := range shows {
		if !slices.Contains(ids, c.ProviderID) {
			ids = append(ids, c.ProviderID)
		}
	}
	depName, err := s.departmentNames(ctx, ids)
	if err != nil {
		return res, err
	}
	for i, code := range codes {
		c := shows[i]
		h := Hit{Code: code, Name: c.Name, ProviderID: c.ProviderID, ProviderName: depName[c.ProviderID], ShareType: c.ShareType, Status: statuses[i], Score: top[i].score}
		h.NameMarked = mark(h.Name, words, 0)
		if marks(c.Summary, words) {
			h.SummaryMarked = mark(c.Summary, words, 60)
		}
		for _, f := range c.Fields {
			if marks(f.Name, words) {
				h.Fields = append(h.Fields, mark(f.Name, words, 0))
			} else if marks(f.Code, words) {
				h.Fields = append(h.Fields, mark(f.Code, words, 0))
			}
		}
		res.Items = append(res.Items, h)
	}
	if len(res.Items) > limit {
		res.Items = res.Items[:limit]
		last := res.Items[limit-1]
		res.NextCursor = strconv.Itoa(last.Score) + ":" + last.Code
	}
	return res, nil
}

// hitDoc is the part of an item's document a hit shows (kept in the
// index, so a hit is shown as the item was when it was ranked).
type hitDoc struct {
	Name       string `json:"name"`
	ProviderID string `json:"provider_id"`
	ShareType  string `json:"share_type"`
	Summary    string `json:"summary"`
	Fields     []struct {
		Name string `json:"name"`
		Code string `json:"code"`
	} `json:"fields"`
}

// marks reports whether mark would mark anything in text.
func marks(text string, words []string) bool {
	if !utf8.ValidString(text) {
		return strings.Contains(mark(text, words, 0), "<mark>")
	}
	for _, w := range words {
		if strings.Contains(text, w) { // w is lower-case: it is in the lower-cased text too
			return true
		}
	}
	if !hasUpper(text) {
		return false
	}
	low := strings.Map(unicode.ToLower, text)
	if utf8.RuneCountInString(low) != utf8.RuneCountInString(text) {
		low = text
	}
	for _, w := range words {
		if strings.Contains(low, w) {
			return true
		}
	}
	return false
}

// hasUpper reports whether lower-casing changes text.
func hasUpper(text string) bool {
	for _, r := range text {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				return true
			}
		} else if (r < 0x3000 || r > 0x9fff) && unicode.ToLower(r) != r { // CJK characters and punctuation have no case
			return true
		}
	}
	return false
}

// mark HTML-escapes text and wraps every match of any word in <mark>. With
// window > 0 it returns about window characters around the first match.
func mark(text string, words []string, window int) string {
	if text == "" {
		return ""
	}
	if utf8.ValidString(text) && !hasUpper(text) {
		return markBytes(text, words, window)
	}
	return markRunes(text, words, window)
}

// markRunes is mark for any text.
func markRunes(text string, words []string, window int) string {
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
			if low[i] == wr[0] && slices.Equal(low[i:i+len(wr)], wr) {
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

// markBytes is mark for valid UTF-8 text that lower-casing leaves alone:
// the same output, found with strings.Index on the bytes.
func markBytes(text string, words []string, window int) string {
	var hit []bool // by byte
	first := -1    // byte offset of the first match
	for _, w := range words {
		if w == "" {
			continue
		}
		for p := 0; p+len(w) <= len(text); {
			j := strings.Index(text[p:], w)
			if j < 0 {
				break
			}
			j += p
			if hit == nil {
				hit = make([]bool, len(text))
			}
			for k := j; k < j+len(w); k++ {
				hit[k] = true
			}
			if first < 0 || j < first {
				first = j
			}
			_, size := utf8.DecodeRuneInString(text[j:])
			p = j + size
		}
	}
	fromB, toB := 0, len(text)
	var b strings.Builder
	b.Grow(len(text) + 32)
	suffix := false
	if window > 0 {
		if n := utf8.RuneCountInString(text); n > window {
			firstR := 0
			if first >= 0 {
				firstR = utf8.RuneCountInString(text[:first])
			}
			from := max(0, firstR-window/3)
			to := min(n, from+window)
			fromB = runeOffset(text, 0, from)
			toB = runeOffset(text, fromB, to-from)
			if from > 0 {
				b.WriteString("…")
			}
			suffix = to < n
		}
	}
	in := false
	for i := fromB; i < toB; {
		_, size := utf8.DecodeRuneInString(text[i:])
		h := hit != nil && hit[i]
		if h && !in {
			b.WriteString("<mark>")
			in = true
		} else if !h && in {
			b.WriteString("</mark>")
			in = false
		}
		switch text[i] {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\'':
			b.WriteString("&#39;")
		case '"':
			b.WriteString("&#34;")
		default:
			b.WriteString(text[i : i+size])
		}
		i += size
	}
	if in {
		b.WriteString("</mark>")
	}
	if suffix {
		b.WriteString("…")
	}
	return b.String()
}

// runeOffset returns the byte offset n runes after byte offset at.
func runeOffset(s string, at, n int) int {
	for ; n > 0 && at < len(s); n-- {
		_, size := utf8.DecodeRuneInString(s[at:])
		at += size
	}
	return at
}
