package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// NewItem is what a data admin supplies to create an item. Code is
// normally left empty and assigned from the classification; an import
// from another directory may keep its codes.
type NewItem struct {
	Code string `json:"code,omitempty"`
	Content
}

// ItemUpdate replaces an item's content. Version must be the version the
// caller read: a stale one is a conflict, so two editors do not silently
// overwrite each other.
type ItemUpdate struct {
	Version int    `json:"version"`
	Note    string `json:"note,omitempty"`
	Content
}

// pending is one item change about to be written.
type pending struct {
	item    Item  // the new state
	old     *Item // nil for a new item
	action  string
	note    string
	changes []Change
	texts   searchTexts
	seq     int64
	doc     string
	hash    string
}

func docOf(c *Content) (string, string) {
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return string(b), hex.EncodeToString(h[:])
}

// validate checks c against the database: its provider, libraries and
// related codes exist. self is the item's code ("" for a new item).
func (s *Service) validate(ctx context.Context, c *Content, self string) error {
	fe := c.check()
	if c.ProviderID != "" {
		if _, err := s.department(ctx, s.db.R, c.ProviderID); err != nil {
			if !errs.Is(err, errs.KindNotFound) {
				return err
			}
			fe = append(fe, errs.FieldError{Pointer: "/provider_id", Reason: "no such department", Value: c.ProviderID})
		}
	}
	libs, err := s.Libraries(ctx)
	if err != nil {
		return err
	}
	for i, l := range c.Libraries {
		if !slices.ContainsFunc(libs, func(x Library) bool { return x.ID == l }) {
			fe = append(fe, errs.FieldError{Pointer: "/libraries/" + strconv.Itoa(i), Reason: "no such library", Value: l})
		}
	}
	for i, r := range c.Related {
		if r == self {
			fe = append(fe, errs.FieldError{Pointer: "/related/" + strconv.Itoa(i), Reason: "an item cannot be related to itself", Value: r})
			continue
		}
		if !reCode.MatchString(r) {
			continue
		}
		var n int
		if err := s.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM catalog_items WHERE code = $1`, r).Scan(&n); err != nil {
			return db.Interpret(err, "related item")
		}
		if n == 0 {
			fe = append(fe, errs.FieldError{Pointer: "/related/" + strconv.Itoa(i), Reason: "no item has this code", Value: r})
		}
	}
	if len(fe) > 0 {
		return errs.InvalidFields("catalogue item is not valid", fe...)
	}
	return nil
}

// Create adds a draft item. Forbidden unless p may change the provider's
// items; invalid input lists every problem; a duplicate code, or a second
// item of the same name from the same provider, is a conflict.
func (s *Service) Create(ctx context.Context, p *exchange.Principal, in NewItem) (Item, error) {
	in.Content.Normalize()
	in.Code = strings.TrimSpace(in.Code)
	// No provider is invalid, not forbidden: validate names /provider_id
	// (a 403 would say only "data admins of department  may").
	if in.ProviderID != "" {
		if err := mayChange(p, in.ProviderID); err != nil {
			return Item{}, err
		}
	}
	if err := s.validate(ctx, &in.Content, in.Code); err != nil {
		return Item{}, err
	}
	if in.Code != "" {
		if err := checkCode(in.Code, &in.Content); err != nil {
			return Item{}, err
		}
	}
	pd := &pending{item: Item{Code: in.Code, Content: in.Content, Status: StatusDraft}, action: "create"}
	if err := s.commit(ctx, p.ID, []*pending{pd}); err != nil {
		return Item{}, err
	}
	return s.Item(ctx, pd.item.Code)
}

func checkCode(code string, c *Content) error {
	if !reCode.MatchString(code) {
		return errs.InvalidFields("catalogue item is not valid", errs.FieldError{Pointer: "/code", Reason: "a resource code: the classification digits, '-', then a 6-digit sequence, e.g. 101001-000001", Value: clip(code)})
	}
	if want := c.Classification() + "-"; !strings.HasPrefix(code, want) {
		return errs.InvalidFields("catalogue item is not valid", errs.FieldError{Pointer: "/code", Reason: "must start with the item's classification " + want, Value: code})
	}
	return nil
}

// Update replaces the content of an item and records a version with the
// changed fields. An update that changes nothing records nothing.
func (s *Service) Update(ctx context.Context, p *exchange.Principal, code string, u ItemUpdate) (Item, error) {
	old, err := s.Item(ctx, code)
	if err != nil {
		return Item{}, err
	}
	if err := mayChange(p, old.ProviderID); err != nil {
		return Item{}, err
	}
	u.Content.Normalize()
	u.Note, _ = sheet.Clean(u.Note)
	if tooLong(u.Note, MaxNote) {
		return Item{}, errNoteTooLong
	}
	if u.ProviderID != old.ProviderID && u.ProviderID != "" { // none is invalid: see Create
		if err := mayChange(p, u.ProviderID); err != nil {
			return Item{}, err
		}
	}
	if u.Version < 1 {
		// Left out: a 409 saying "read it again" could never be cured.
		return Item{}, errs.InvalidFields("catalogue item is not valid", errs.FieldError{Pointer: "/version", Reason: "required: the version of the item you read, so changes made meanwhile are not overwritten"})
	}
	if u.Classification() != "" && u.Classification() != old.Classification() {
		return Item{}, errs.InvalidFields("catalogue item is not valid", errs.FieldError{Pointer: "/lei", Reason: "the classification is part of the resource code and cannot change; withdraw this item and create another", Value: u.Classification()})
	}
	if err := s.validate(ctx, &u.Content, code); err != nil {
		return Item{}, err
	}
	if u.Version != old.Version {
		return Item{}, errs.Conflict("item %s is at version %d, not %d: read it again and reapply your change", code, old.Version, u.Version)
	}
	pd := &pending{item: old, old: &old, action: "update", note: u.Note}
	pd.item.Content = u.Content
	if pd.changes = diff(snapshot{old.Content, old.Status}, snapshot{u.Content, old.Status}); len(pd.changes) == 0 {
		return old, nil
	}
	if err := s.commit(ctx, p.ID, []*pending{pd}); err != nil {
		return Item{}, err
	}
	return s.Item(ctx, code)
}

// Publish makes an item visible to every department. Publishing a
// published item is a conflict.
func (s *Service) Publish(ctx context.Context, p *exchange.Principal, code, note string) (Item, error) {
	note, _ = sheet.Clean(note) // no NUL or other control characters: PostgreSQL refuses NUL
	if tooLong(note, MaxNote) {
		return Item{}, errNoteTooLong
	}
	return s.setStatus(ctx, p, code, StatusPublished, note)
}

// MaxNote is the longest note an update or a publication keeps in the
// item's history, in characters: as long as a withdrawal's reason.
const MaxNote = 500

var errNoteTooLong = errs.InvalidFields("the note is too long", errs.FieldError{Pointer: "/note", Reason: "at most 500 characters"})

// Withdraw takes an item out of the directory; it stays in history and can
// be published again. A reason is required.
func (s *Service) Withdraw(ctx context.Context, p *exchange.Principal, code, reason string) (Item, error) {
	reason, _ = sheet.Clean(reason)
	if reason == "" || tooLong(reason, MaxNote) {
		return Item{}, errs.InvalidFields("a withdrawal needs a reason", errs.FieldError{Pointer: "/reason", Reason: "required, at most 500 characters"})
	}
	return s.setStatus(ctx, p, code, StatusWithdrawn, reason)
}

func (s *Service) setStatus(ctx context.Context, p *exchange.Principal, code string, to Status, note string) (Item, error) {
	old, err := s.Item(ctx, code)
	if err != nil {
		return Item{}, err
	}
	if err := mayChange(p, old.ProviderID); err != nil {
		return Item{}, err
	}
	switch {
	case old.Status == to:
		return Item{}, errs.Conflict("item %s is already %s", code, to)
	case to == StatusWithdrawn && old.Status != StatusPublished:
		return Item{}, errs.Conflict("item %s is %s; only published items can be withdrawn", code, old.Status)
	}
	pd := &pending{item: old, old: &old, action: map[Status]string{StatusPublished: "publish", StatusWithdrawn: "withdraw"}[to], note: note}
	pd.item.Status = to
	pd.changes = []Change{{Field: "status", Old: string(old.Status), New: string(to)}}
	if err := s.commit(ctx, p.ID, []*pending{pd}); err != nil {
		return Item{}, err
	}
	return s.Item(ctx, code)
}

// commit writes the pending changes in one transaction: items, libraries,
// the search index and a version each. New items without a code get one.
func (s *Service) commit(ctx context.Context, by string, ps []*pending) error {
	return s.commitProgress(ctx, by, ps, nil)
}

func (s *Service) commitProgress(ctx context.Context, by string, ps []*pending, progress func(done int)) error {
	now := s.now().UTC().Truncate(time.Microsecond)
	for _, p := range ps {
		if p.old == nil {
			p.item.Version, p.item.CreatedAt = 1, now
		} else {
			p.item.Version = p.old.Version + 1
		}
		p.item.UpdatedAt, p.item.UpdatedBy = now, by
	}
	return s.tx(ctx, func(tx *sql.Tx, w *writer) error {
		if err := s.db.LockTx(ctx, tx, catalogLockKey); err != nil {
			return err
		}
		if err := s.assignCodes(ctx, tx, ps); err != nil {
			return err
		}
		// seq orders commits for the search index (index.go): this
		// transaction holds the catalogue lock, so no other can take
		// these numbers or commit a larger one first.
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM catalog_items`).Scan(&seq); err != nil {
			return db.Interpret(err, "catalogue items")
		}
		// A chunk at a time: each item's document, search texts and
		// version are made, written and dropped, so a large import does
		// not hold them all.
		const chunk = 500
		for i := 0; i < len(ps); i += chunk {
			part := ps[i:min(i+chunk, len(ps))]
			if err := s.commitChunk(ctx, tx, w, by, now, part, &seq); err != nil {
				return err
			}
			if progress != nil {
				progress(i + len(part))
			}
		}
		return nil
	})
}

func (s *Service) commitChunk(ctx context.Context, tx *sql.Tx, w *writer, by string, now time.Time, ps []*pending, seq *int64) error {
	var creates, updates []*pending
	for _, p := range ps {
		*seq++
		p.seq = *seq
		p.doc, p.hash = docOf(&p.item.Content)
		p.texts = textsOf(&p.item.Content)
		if p.old == nil {
			if p.changes == nil {
				p.changes = diff(snapshot{Content{}, ""}, snapshot{p.item.Content, p.item.Status})
			}
			creates = append(creates, p)
		} else {
			updates = append(updates, p)
		}
	}
	defer func() {
		for _, p := range ps {
			p.doc, p.texts, p.changes = "", searchTexts{}, nil
		}
	}()
	if err := s.insertItems(ctx, w, creates); err != nil {
		return err
	}
	for _, p := range updates {
		if err := s.updateItem(ctx, tx, p); err != nil {
			return err
		}
		if !slices.Equal(p.old.Libraries, p.item.Libraries) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_item_libraries WHERE code = $1`, p.item.Code); err != nil {
				return db.Interpret(err, "item libraries")
			}
		}
	}
	var libRows [][2]string
	for _, p := range ps {
		if p.old == nil || !slices.Equal(p.old.Libraries, p.item.Libraries) {
			for _, l := range p.item.Libraries {
				libRows = append(libRows, [2]string{p.item.Code, l})
			}
		}
	}
	if err := w.insert(ctx, "catalog_item_libraries", []string{"code", "library_id"}, len(libRows), func(i int) []any {
		return []any{libRows[i][0], libRows[i][1]}
	}); err != nil {
		return db.Interpret(err, "item libraries")
	}
	if err := w.insert(ctx, "catalog_versions", []string{"code", "version", "action", "at", "by_id", "note", "changes", "doc"}, len(ps), func(i int) []any {
		p := ps[i]
		ch, _ := json.Marshal(p.changes)
		return []any{p.item.Code, p.item.Version, p.action, now.UnixMicro(), by, p.note, string(ch), snapshotDoc(p.item)}
	}); err != nil {
		return db.Interpret(err, "item versions")
	}
	return nil
}

// assignCodes gives each new item without a code the next sequence number
// of its classification.
func (s *Service) assignCodes(ctx context.Context, tx *sql.Tx, ps []*pending) error {
	next := map[string]int{}
	for _, p := range ps {
		if p.old != nil || p.item.Code != "" {
			continue
		}
		prefix := p.item.Classification()
		n, ok := next[prefix]
		if !ok {
			var max sql.NullString
			if err := tx.QueryRowContext(ctx, `SELECT MAX(code) FROM catalog_items WHERE code > $1 AND code < $2`, prefix+"-", prefix+".").Scan(&max); err != nil {
				return db.Interpret(err, "item codes")
			}
			if max.Valid {
				n, _ = strconv.Atoi(strings.TrimPrefix(max.String, prefix+"-"))
			}
			// Codes given in the same batch count too.
			for _, q := range ps {
				if q.item.Code != "" && strings.HasPrefix(q.item.Code, prefix+"-") {
					if m, err := strconv.Atoi(strings.TrimPrefix(q.item.Code, prefix+"-")); err == nil && m > n {
						n = m
					}
				}
			}
		}
		n++
		if n > 999999 {
			return errs.Conflict("classification %s has no free sequence numbers left", prefix)
		}
		next[prefix] = n
		p.item.Code = fmt.Sprintf("%s-%06d", prefix, n)
	}
	return nil
}

var itemInsertCols = []string{"code", "name", "provider_id", "status", "version", "share_type", "format", "update_cycle", "doc", "content_hash",
	"search_name", "search_fields", "search_summary", "created_at", "updated_at", "updated_by", "seq"}

func (s *Service) insertItems(ctx context.Context, w *writer, ps []*pending) error {
	err := w.insert(ctx, "catalog_items", itemInsertCols, len(ps), func(i int) []any {
		p := ps[i]
		it := &p.item
		return []any{it.Code, it.Name, it.ProviderID, string(it.Status), int64(it.Version), it.ShareType, it.Format, it.UpdateCycle, p.doc, p.hash,
			p.texts.name, p.texts.fields, p.texts.summary, it.CreatedAt.UnixMicro(), it.UpdatedAt.UnixMicro(), it.UpdatedBy, p.seq}
	})
	if db.IsUniqueViolation(err) {
		return errs.Conflict("an item with the same code, or the same name from the same provider, already exists")
	}
	return db.Interpret(err, "catalogue items")
}

func (s *Service) updateItem(ctx context.Context, tx *sql.Tx, p *pending) error {
	it := &p.item
	r, err := tx.ExecContext(ctx, `UPDATE catalog_items SET name = $1, provider_id = $2, status = $3, version = $4, share_type = $5, format = $6,
		update_cycle = $7, doc = $8, content_hash = $9, search_name = $10, search_fields = $11, search_summary = $12, updated_at = $13, updated_by = $14, seq = $15
		WHERE code = $16 AND version = $17`,
		it.Name, it.ProviderID, string(it.Status), it.Version, it.ShareType, it.Format, it.UpdateCycle, p.doc, p.hash,
		p.texts.name, p.texts.fields, p.texts.summary, it.UpdatedAt.UnixMicro(), it.UpdatedBy, p.seq, it.Code, p.old.Version)
	if db.IsUniqueViolation(err) {
		return errs.Conflict("provider %s already has an item named %q", it.ProviderID, it.Name)
	}
	if err != nil {
		return db.Interpret(err, "catalogue item "+it.Code)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return errs.Conflict("item %s changed while this change was being made: read it again", it.Code)
	}
	return nil
}

const itemCols = `i.code, i.status, i.version, i.doc, i.created_at, i.updated_at, i.updated_by, COALESCE(d.name, '')`
const itemFrom = ` FROM catalog_items i LEFT JOIN departments d ON d.id = i.provider_id`

func scanItem(sc interface{ Scan(...any) error }) (Item, error) {
	var (
		it       Item
		doc      string
		cat, uat int64
	)
	if err := sc.Scan(&it.Code, &it.Status, &it.Version, &doc, &cat, &uat, &it.UpdatedBy, &it.ProviderName); err != nil {
		return it, err
	}
	if err := json.Unmarshal([]byte(doc), &it.Content); err != nil {
		return it, fmt.Errorf("item %s: stored document: %w", it.Code, err)
	}
	it.CreatedAt, it.UpdatedAt = time.UnixMicro(cat).UTC(), time.UnixMicro(uat).UTC()
	return it, nil
}

// Item returns one item by its resource code.
func (s *Service) Item(ctx context.Context, code string) (Item, error) {
	if !ValidCode(code) {
		// Not looked up: no item has such a code, and PostgreSQL would
		// refuse a NUL or invalid UTF-8 in it (a 500, not a 404).
		return Item{}, errs.NotFound("catalogue item %s not found", clip(strings.ToValidUTF8(code, "\uFFFD")))
	}
	it, err := scanItem(s.db.R.QueryRowContext(ctx, `SELECT `+itemCols+itemFrom+` WHERE i.code = $1`, code))
	return it, db.Interpret(err, "catalogue item "+clip(code))
}

// Filter selects items to list or export. Empty fields do not filter.
type Filter struct {
	Library     string
	Department  string // provider department id
	ShareType   string
	Format      string
	UpdateCycle string
	Status      Status // empty: every status
	// Cursor is the last code of the previous page.
	Cursor string
	Limit  int
}

// Items lists items in code order, a page at a time; next is the cursor of
// the next page, empty on the last one.
func (s *Service) Items(ctx context.Context, f Filter) (items []Item, next string, err error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 500 {
		f.Limit = 500
	}
	items = []Item{}
	err = s.EachItem(ctx, f, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if len(items) > f.Limit {
		items = items[:f.Limit]
		next = items[len(items)-1].Code
	}
	return items, next, err
}

// EachItem calls fn for every item the filter selects, in code order;
// with f.Limit > 0 it stops after Limit+1 items.
func (s *Service) EachItem(ctx context.Context, f Filter, fn func(Item) error) error {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Library != "" {
		add("i.code IN (SELECT code FROM catalog_item_libraries WHERE library_id = ?)", f.Library)
	}
	if f.Department != "" {
		add("i.provider_id = ?", f.Department)
	}
	if f.ShareType != "" {
		add("i.share_type = ?", f.ShareType)
	}
	if f.Format != "" {
		add("i.format = ?", f.Format)
	}
	if f.UpdateCycle != "" {
		add("i.update_cycle = ?", f.UpdateCycle)
	}
	if f.Status != "" {
		add("i.status = ?", string(f.Status))
	}
	if f.Cursor != "" {
		add("i.code > ?", f.Cursor)
	}
	q := `SELECT ` + itemCols + itemFrom
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY i.code`
	if f.Limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(f.Limit+1)
	}
	rows, err := s.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return db.Interpret(err, "catalogue items")
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return db.Interpret(err, "catalogue items")
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return db.Interpret(rows.Err(), "catalogue items")
}
