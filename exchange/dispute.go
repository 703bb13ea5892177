package exchange

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Dispute statuses (异议): open while the provider checks the record;
// accepted (a correction follows) or rejected with a reason; archived once
// settled and the flag cleared.
const (
	DisputeOpen     = "open"
	DisputeAccepted = "accepted"
	DisputeRejected = "rejected"
	DisputeArchived = "archived"
)

// Dispute is a consumer's objection to one record of an item's dataset.
// While Flagged, every consumer reading the record sees the flag. The
// item's provider now (CurrentProviderDepartmentID: the catalogue's, or
// the stored one for an item gone from it) settles it and lists it as
// provider, whoever provided the item when it was raised.
type Dispute struct {
	ID                          string     `json:"id"`
	ItemCode                    string     `json:"item_code"`
	RecordKey                   string     `json:"record_key"`
	ProviderDepartmentID        string     `json:"provider_department_id"`         // the item's provider when the dispute was raised
	CurrentProviderDepartmentID string     `json:"current_provider_department_id"` // its provider now, who settles it
	ConsumerDepartmentID        string     `json:"consumer_department_id"`
	RaisedBy                    string     `json:"raised_by"`
	Reason                      string     `json:"reason"`
	Status                      string     `json:"status"`
	Flagged                     bool       `json:"flagged"`
	Deadline                    time.Time  `json:"deadline"`
	Overdue                     bool       `json:"overdue"`
	Resolution                  string     `json:"resolution,omitempty"`
	Correction                  string     `json:"correction,omitempty"`
	ResolvedBy                  string     `json:"resolved_by,omitempty"`
	ResolvedAt                  *time.Time `json:"resolved_at,omitempty"`
	ArchivedAt                  *time.Time `json:"archived_at,omitempty"`
	CreatedAt                   time.Time  `json:"created_at"`
}

// NewDispute is what a consumer submits.
type NewDispute struct {
	ItemCode string `json:"item_code"`
	// RecordKey is the record's key as the consumer's records showed it:
	// the api resolves a reference ("~…", shown when the grant hides a key
	// field) to the key before the dispute is raised.
	RecordKey string `json:"record_key"`
	Reason    string `json:"reason"`
}

// RaiseDispute records a dispute and flags the record. The caller's
// department must hold a grant in force on the item (it has seen the data).
func (sh *Sharing) RaiseDispute(ctx context.Context, p *Principal, nd NewDispute) (Dispute, error) {
	trimAll(&nd.ItemCode, &nd.RecordKey, &nd.Reason)
	var fe []errs.FieldError
	if nd.RecordKey == "" || len(nd.RecordKey) > 500 {
		fe = append(fe, errs.FieldError{Pointer: "/record_key", Reason: "required, at most 500 characters"})
	}
	if nd.Reason == "" || len([]rune(nd.Reason)) > 1000 {
		fe = append(fe, errs.FieldError{Pointer: "/reason", Reason: "required, at most 1000 characters"})
	}
	if len(fe) > 0 {
		return Dispute{}, errs.InvalidFields("dispute is not valid", fe...)
	}
	it, err := sh.items.ShareItem(ctx, nd.ItemCode)
	if err != nil {
		return Dispute{}, err
	}
	gs, err := sh.ex.Grants(ctx, GrantFilter{ConsumerDepartmentID: p.DepartmentID, ResourceKind: ResourceCatalogItem, ResourceID: it.Code, ActiveOnly: true})
	if err != nil {
		return Dispute{}, err
	}
	if len(gs) == 0 && p.DepartmentID != it.ProviderID {
		return Dispute{}, errs.Forbidden("department %s has no grant on item %s, so it cannot dispute its records", p.DepartmentID, it.Code)
	}
	now := sh.ex.now().UTC().Truncate(time.Microsecond)
	defer sh.flags.forget(nd.ItemCode)
	d := Dispute{ID: newID("dsp"), ItemCode: it.Code, RecordKey: nd.RecordKey, ProviderDepartmentID: it.ProviderID, CurrentProviderDepartmentID: it.ProviderID,
		ConsumerDepartmentID: p.DepartmentID, RaisedBy: p.ID, Reason: nd.Reason, Status: DisputeOpen, Flagged: true, Deadline: sh.AddWorkingDays(now, sh.cfg.DisputeDays), CreatedAt: now}
	_, err = sh.ex.db.W.ExecContext(ctx, `INSERT INTO disputes (id, item_code, record_key, provider_department_id, consumer_department_id, raised_by,
		reason, status, flagged, deadline, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10)`,
		d.ID, d.ItemCode, d.RecordKey, d.ProviderDepartmentID, d.ConsumerDepartmentID, d.RaisedBy, d.Reason, d.Status, d.Deadline.UnixMicro(), now.UnixMicro())
	return d, db.Interpret(err, "dispute")
}

// AcceptDispute says the record is wrong. correction describes the fix
// (it flows in with the next sync, or was made directly); the record stays
// flagged until ClearDispute. Provider data admins only.
func (sh *Sharing) AcceptDispute(ctx context.Context, p *Principal, id, resolution, correction string) (Dispute, error) {
	return sh.settle(ctx, p, id, DisputeAccepted, resolution, correction, nil)
}

// AcceptDisputeWith is AcceptDispute with write (a correction of the
// record) in the acceptance's transaction: it runs once the open dispute
// is claimed, and its error undoes the acceptance, as a failed acceptance
// (a dispute settled meanwhile, a failed write) undoes write. write must
// use only tx: on SQLite tx holds the one writer connection, and another
// write or a read through the writer pool would wait for it forever.
func (sh *Sharing) AcceptDisputeWith(ctx context.Context, p *Principal, id, resolution, correction string, write func(*sql.Tx) error) (Dispute, error) {
	return sh.settle(ctx, p, id, DisputeAccepted, resolution, correction, write)
}

// RejectDispute says the record is right, with a reason, and clears the flag.
func (sh *Sharing) RejectDispute(ctx context.Context, p *Principal, id, reason string) (Dispute, error) {
	return sh.settle(ctx, p, id, DisputeRejected, reason, "", nil)
}

// CheckAccept returns the dispute when p may accept it now with the
// resolution, and otherwise the error AcceptDispute would return: so that
// a correction is checked only for an acceptance that can be recorded
// (AcceptDisputeWith then writes both in one transaction).
func (sh *Sharing) CheckAccept(ctx context.Context, p *Principal, id, resolution string) (Dispute, error) {
	d, _, err := sh.checkSettle(ctx, p, id, DisputeAccepted, resolution)
	return d, err
}

// checkSettle checks that p may settle dispute id with status and text now
// and returns it with the trimmed text.
func (sh *Sharing) checkSettle(ctx context.Context, p *Principal, id, status, text string) (Dispute, string, error) {
	d, err := sh.Dispute(ctx, id)
	if err != nil {
		return d, "", err
	}
	if err := sh.provider(ctx, p, d); err != nil {
		return d, "", err
	}
	text = strings.TrimSpace(text)
	if text == "" || len([]rune(text)) > 1000 {
		pointer := "/reason"
		if status == DisputeAccepted {
			pointer = "/resolution"
		}
		return d, "", errs.InvalidFields("answer is not valid", errs.FieldError{Pointer: pointer, Reason: "required, at most 1000 characters"})
	}
	if d.Status != DisputeOpen {
		return d, "", errs.Conflict("dispute %s is %s, not open", id, d.Status)
	}
	return d, text, nil
}

// settle records dispute id as status with text (and correction), then
// runs write, if any, in the same transaction.
func (sh *Sharing) settle(ctx context.Context, p *Principal, id, status, text, correction string, write func(*sql.Tx) error) (Dispute, error) {
	d, text, err := sh.checkSettle(ctx, p, id, status, text)
	if err != nil {
		return d, err
	}
	flag := 1
	if status == DisputeRejected {
		flag = 0
	}
	err = sh.ex.db.Tx(ctx, func(tx *sql.Tx) error {
		// The claim comes first: a dispute settled since checkSettle
		// read it is a conflict before write changes anything.
		res, err := tx.ExecContext(ctx, `UPDATE disputes SET status = $1, resolution = $2, correction = $3, resolved_by = $4, resolved_at = $5, flagged = $6
			WHERE id = $7 AND status = $8`, status, text, clipRunes(correction, 4000), p.ID, sh.ex.now().UnixMicro(), flag, id, DisputeOpen)
		if err != nil {
			return db.Interpret(err, "dispute")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			cur := d.Status
			_ = tx.QueryRowContext(ctx, `SELECT status FROM disputes WHERE id = $1`, id).Scan(&cur)
			return errs.Conflict("dispute %s is %s, not open", id, cur)
		}
		if write != nil {
			return write(tx)
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	sh.flags.forget(d.ItemCode)
	return sh.Dispute(ctx, id)
}

// ClearDispute removes the flag of an accepted dispute once the correction
// is in.
func (sh *Sharing) ClearDispute(ctx context.Context, p *Principal, id string) (Dispute, error) {
	d, err := sh.Dispute(ctx, id)
	if err != nil {
		return d, err
	}
	if err := sh.provider(ctx, p, d); err != nil {
		return d, err
	}
	if d.Status != DisputeAccepted || !d.Flagged {
		return d, errs.Conflict("dispute %s is %s and %s; only a flagged accepted dispute is cleared", id, d.Status, map[bool]string{true: "flagged", false: "not flagged"}[d.Flagged])
	}
	_, err = sh.ex.db.W.ExecContext(ctx, `UPDATE disputes SET flagged = 0 WHERE id = $1`, id)
	sh.flags.forget(d.ItemCode)
	if err != nil {
		return d, db.Interpret(err, "dispute")
	}
	return sh.Dispute(ctx, id)
}

// ArchiveDispute files a settled, unflagged dispute away.
func (sh *Sharing) ArchiveDispute(ctx context.Context, p *Principal, id string) (Dispute, error) {
	d, err := sh.Dispute(ctx, id)
	if err != nil {
		return d, err
	}
	if err := sh.provider(ctx, p, d); err != nil {
		return d, err
	}
	res, err := sh.ex.db.W.ExecContext(ctx, `UPDATE disputes SET status = $1, archived_at = $2 WHERE id = $3 AND flagged = 0 AND status IN ($4, $5)`,
		DisputeArchived, sh.ex.now().UnixMicro(), id, DisputeAccepted, DisputeRejected)
	if err != nil {
		return d, db.Interpret(err, "dispute")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return d, errs.Conflict("dispute %s is %s (flagged %v): settle and clear it before archiving", id, d.Status, d.Flagged)
	}
	return sh.Dispute(ctx, id)
}

// provider checks that p is a data admin of the item's provider as it is
// now: an item handed to another department is that department's to
// answer for (only it may correct the records), not the one that provided
// it when the dispute was raised. An item gone from the catalogue leaves
// its stored provider.
func (sh *Sharing) provider(ctx context.Context, p *Principal, d Dispute) error {
	prov := d.ProviderDepartmentID
	if it, err := sh.items.ShareItem(ctx, d.ItemCode); err == nil {
		prov = it.ProviderID
	} else if !errs.Is(err, errs.KindNotFound) {
		return err
	}
	if !(p.Has(RoleDataAdmin) && p.DepartmentID == prov) {
		return errs.Forbidden("only data admins of department %s, the provider of item %s, settle its disputes", prov, d.ItemCode)
	}
	return nil
}

var disputeCols = `id, item_code, record_key, provider_department_id, ` + currentProviderOf("disputes") + `, consumer_department_id, raised_by,
	reason, status, flagged, deadline, resolution, correction, resolved_by, resolved_at, archived_at, created_at`

func (sh *Sharing) scanDispute(sc interface{ Scan(...any) error }) (Dispute, error) {
	var (
		d                  Dispute
		flagged            int64
		deadline, created  int64
		resolved, archived sql.NullInt64
	)
	err := sc.Scan(&d.ID, &d.ItemCode, &d.RecordKey, &d.ProviderDepartmentID, &d.CurrentProviderDepartmentID, &d.ConsumerDepartmentID, &d.RaisedBy, &d.Reason, &d.Status,
		&flagged, &deadline, &d.Resolution, &d.Correction, &d.ResolvedBy, &resolved, &archived, &created)
	if err != nil {
		return d, err
	}
	d.Flagged, d.Deadline, d.CreatedAt = flagged != 0, fromMicros(deadline), fromMicros(created)
	if resolved.Valid {
		t := fromMicros(resolved.Int64)
		d.ResolvedAt = &t
	}
	if archived.Valid {
		t := fromMicros(archived.Int64)
		d.ArchivedAt = &t
	}
	d.Overdue = d.Status == DisputeOpen && sh.ex.now().After(d.Deadline)
	return d, nil
}

// Dispute returns one dispute.
func (sh *Sharing) Dispute(ctx context.Context, id string) (Dispute, error) {
	d, err := sh.scanDispute(sh.ex.db.W.QueryRowContext(ctx, `SELECT `+disputeCols+` FROM disputes WHERE id = $1`, id))
	return d, db.Interpret(err, "dispute "+id)
}

// DisputeFilter narrows Disputes.
type DisputeFilter struct {
	ItemCode string
	// ProviderDepartmentID keeps the disputes on items the department
	// provides now, whoever provided them when the dispute was raised.
	ProviderDepartmentID string
	ConsumerDepartmentID string
	Status               string
	OverdueOnly          bool
	Limit                int    // default 100, at most 1000
	Cursor               string // the next cursor of the page before
}

// Disputes lists disputes, oldest deadline first, a page at a time: next
// is the cursor of the page after, "" after the last.
func (sh *Sharing) Disputes(ctx context.Context, f DisputeFilter) (_ []Dispute, next string, err error) {
	var w db.Where
	add := w.Add
	if f.ItemCode != "" {
		add("item_code = ?", f.ItemCode)
	}
	if f.ProviderDepartmentID != "" {
		whereCurrentProvider(&w, "disputes", f.ProviderDepartmentID)
	}
	if f.ConsumerDepartmentID != "" {
		add("consumer_department_id = ?", f.ConsumerDepartmentID)
	}
	if f.OverdueOnly {
		f.Status = DisputeOpen
		add("deadline < ?", sh.ex.now().UnixMicro())
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if err := afterDeadlineCursor(&w, f.Cursor); err != nil {
		return nil, "", err
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rows, err := sh.ex.db.R.QueryContext(ctx, `SELECT `+disputeCols+` FROM disputes`+w.SQL()+` ORDER BY deadline, id LIMIT `+strconv.Itoa(f.Limit+1), w.Args...)
	ds, err := db.Collect(rows, err, "disputes", sh.scanDispute)
	if err != nil || len(ds) <= f.Limit {
		return ds, "", err
	}
	last := ds[f.Limit-1]
	return ds[:f.Limit], deadlineCursor(last.Deadline, last.ID), nil
}

// Flagged returns, of the given record keys of an item, those under an
// open check, with the dispute ids. One query for a page of records.
func (sh *Sharing) Flagged(ctx context.Context, itemCode string, keys []string) (map[string]string, error) {
	out := map[string]string{}
	if len(keys) == 0 {
		return out, nil
	}
	if has, err := sh.flags.anyFlagged(ctx, sh, itemCode); err != nil || !has {
		return out, err
	}
	if len(keys) == 1 {
		var id string
		err := sh.ex.db.QueryRow(ctx, `SELECT id FROM disputes WHERE item_code = $1 AND record_key = $2 AND flagged = 1 LIMIT 1`, itemCode, keys[0]).Scan(&id)
		if err == sql.ErrNoRows {
			return out, nil
		}
		if err != nil {
			return nil, db.Interpret(err, "disputes")
		}
		out[keys[0]] = id
		return out, nil
	}
	args := []any{itemCode}
	ph := make([]string, len(keys))
	for i, k := range keys {
		args = append(args, k)
		ph[i] = "$" + strconv.Itoa(i+2)
	}
	rows, err := sh.ex.db.R.QueryContext(ctx, `SELECT record_key, id FROM disputes WHERE item_code = $1 AND flagged = 1 AND record_key IN (`+strings.Join(ph, ", ")+`)`, args...)
	if err != nil {
		return nil, db.Interpret(err, "disputes")
	}
	defer rows.Close()
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			return nil, db.Interpret(err, "disputes")
		}
		out[k] = id
	}
	return out, db.Interpret(rows.Err(), "disputes")
}

// flagCache remembers for a short while whether an item has any flagged
// record, so the data path skips the dispute lookup for the (many) items
// with none. Changes made here apply at once; other replicas' within the TTL.
type flagCache struct {
	mu sync.Mutex
	m  map[string]flagState
}

type flagState struct {
	any    bool
	loaded time.Time
}

const flagCacheTTL = time.Second

func (c *flagCache) anyFlagged(ctx context.Context, sh *Sharing, item string) (bool, error) {
	now := time.Now()
	c.mu.Lock()
	st, ok := c.m[item]
	c.mu.Unlock()
	if ok && now.Sub(st.loaded) < flagCacheTTL {
		return st.any, nil
	}
	var n int64
	if err := sh.ex.db.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM disputes WHERE item_code = $1 AND flagged = 1 LIMIT 1) f`, item).Scan(&n); err != nil {
		return false, db.Interpret(err, "disputes")
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10_000 {
		c.m = map[string]flagState{}
	}
	c.m[item] = flagState{any: n > 0, loaded: now}
	c.mu.Unlock()
	return n > 0, nil
}

func (c *flagCache) forget(item string) {
	c.mu.Lock()
	delete(c.m, item)
	c.mu.Unlock()
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
