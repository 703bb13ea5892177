package exchange

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Share types (共享类型) as the catalogue spells them.
const (
	ShareUnconditional = "无条件共享"
	ShareConditional   = "有条件共享"
	ShareNone          = "不予共享"
)

// ShareItem is what the sharing workflow needs to know of a catalogue item.
type ShareItem struct {
	Code       string
	Name       string
	ProviderID string
	ShareType  string
	Published  bool
	Fields     []ShareField
	// KeyFields are the fields whose values make a record's key, as the
	// item's sync jobs define it.
	KeyFields []string
}

// ShareField is one field of a ShareItem.
type ShareField struct {
	Code     string
	Personal bool
}

// FieldCodes lists the item's field codes.
func (it *ShareItem) FieldCodes() []string {
	out := make([]string, len(it.Fields))
	for i, f := range it.Fields {
		out[i] = f.Code
	}
	return out
}

// ItemDirectory looks items up for the sharing workflow (the catalogue
// implements it; exchange does not import catalog).
type ItemDirectory interface {
	ShareItem(ctx context.Context, code string) (ShareItem, error)
}

// Sharing runs share applications and disputes. Build it with NewSharing.
type Sharing struct {
	ex    *Service
	items ItemDirectory
	cfg   SharingConfig
	flags flagCache
}

// SharingConfig tunes the workflow.
type SharingConfig struct {
	// AnswerDays is how many working days a provider has to answer an
	// application; default 10 (some provinces use 5).
	AnswerDays int
	// DisputeDays is how many working days a provider has to settle a
	// dispute; default 10.
	DisputeDays int
	// Holidays are extra non-working days (YYYY-MM-DD); weekends never count.
	Holidays []string
	// Workdays are weekend days that are working days (调休), YYYY-MM-DD.
	Workdays []string
}

// NewSharing returns the workflow over ex's database.
func NewSharing(ex *Service, items ItemDirectory, cfg SharingConfig) *Sharing {
	if cfg.AnswerDays <= 0 {
		cfg.AnswerDays = 10
	}
	if cfg.DisputeDays <= 0 {
		cfg.DisputeDays = 10
	}
	return &Sharing{ex: ex, items: items, cfg: cfg}
}

// AddWorkingDays returns the end (24:00 local) of the n-th working day after t.
func (sh *Sharing) AddWorkingDays(t time.Time, n int) time.Time {
	d := t.In(sh.ex.loc)
	day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, sh.ex.loc)
	for n > 0 {
		day = day.AddDate(0, 0, 1)
		if sh.working(day) {
			n--
		}
	}
	return day.AddDate(0, 0, 1).UTC()
}

func (sh *Sharing) working(day time.Time) bool {
	s := day.Format(time.DateOnly)
	if slices.Contains(sh.cfg.Workdays, s) {
		return true
	}
	if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	return !slices.Contains(sh.cfg.Holidays, s)
}

// Application kinds and statuses. A grant's Source is the kind of the
// application that made it ("admin" for one an admin made directly).
const (
	KindRegistration = "registration" // 无条件共享: registering the use grants at once
	KindApplication  = "application"  // 有条件共享: the provider decides

	AppPending  = "pending"
	AppApproved = "approved"
	AppRefused  = "refused"
)

// Application is a department's request to use an item's data. The
// item's provider now (CurrentProviderDepartmentID: the catalogue's, or the
// stored one for an item gone from it) decides it and lists it as
// provider, whoever provided the item when the consumer applied.
type Application struct {
	ID                          string     `json:"id"`
	Kind                        string     `json:"kind"`
	ItemCode                    string     `json:"item_code"`
	ProviderDepartmentID        string     `json:"provider_department_id"`         // the item's provider when the consumer applied
	CurrentProviderDepartmentID string     `json:"current_provider_department_id"` // its provider now, who decides
	ConsumerDepartmentID        string     `json:"consumer_department_id"`
	ApplicantID                 string     `json:"applicant_id"`
	Purpose                     string     `json:"purpose"`
	Scenario                    string     `json:"scenario"`
	Fields                      []string   `json:"fields"`
	ValidUntil                  time.Time  `json:"valid_until"`
	Status                      string     `json:"status"`
	Deadline                    time.Time  `json:"deadline"`
	Overdue                     bool       `json:"overdue"`
	DecidedBy                   string     `json:"decided_by,omitempty"`
	DecidedAt                   *time.Time `json:"decided_at,omitempty"`
	Reason                      string     `json:"reason,omitempty"`
	GrantedFields               []string   `json:"granted_fields,omitempty"`
	GrantedUntil                *time.Time `json:"granted_until,omitempty"`
	GrantID                     string     `json:"grant_id,omitempty"`
	CreatedAt                   time.Time  `json:"created_at"`
}

// NewApplication is what a consumer department submits.
type NewApplication struct {
	ItemCode   string    `json:"item_code"`
	Purpose    string    `json:"purpose"`
	Scenario   string    `json:"scenario"`
	Fields     []string  `json:"fields"` // empty for a registration: every field
	ValidUntil time.Time `json:"valid_until"`
}

// Apply submits an application for p's department. For a 无条件共享 item it
// is a registration of use and the grant is made at once; for 有条件共享 it
// waits for the provider, with a deadline of AnswerDays working days.
// Errors: errs.Forbidden for a 不予共享 item or a caller without the app or
// data-admin role; errs.Invalid with every problem; errs.NotFound.
func (sh *Sharing) Apply(ctx context.Context, p *Principal, na NewApplication) (Application, error) {
	if !p.Has(RoleApp, RoleDataAdmin) {
		return Application{}, errs.Forbidden("only department apps and data admins apply for data")
	}
	trimAll(&na.ItemCode, &na.Purpose, &na.Scenario)
	it, err := sh.items.ShareItem(ctx, na.ItemCode)
	if err != nil {
		return Application{}, err
	}
	switch {
	case !it.Published:
		return Application{}, errs.Forbidden("item %s is not published", it.Code)
	case it.ShareType == ShareNone:
		return Application{}, errs.Forbidden("item %s is %s: it cannot be applied for", it.Code, ShareNone)
	case it.ProviderID == p.DepartmentID:
		return Application{}, errs.Invalid("department %s provides item %s; it needs no application", p.DepartmentID, it.Code)
	}
	now := sh.ex.now().UTC().Truncate(time.Microsecond)
	var fe []errs.FieldError
	if na.Purpose == "" || len([]rune(na.Purpose)) > MaxPurposeLen {
		fe = append(fe, errs.FieldError{Pointer: "/purpose", Reason: "required, at most 200 characters"})
	}
	kind := KindRegistration
	if it.ShareType == ShareConditional {
		kind = KindApplication
		if na.Scenario == "" {
			fe = append(fe, errs.FieldError{Pointer: "/scenario", Reason: "required for 有条件共享 items"})
		}
		if len(na.Fields) == 0 {
			fe = append(fe, errs.FieldError{Pointer: "/fields", Reason: "name the fields wanted"})
		}
	}
	if len([]rune(na.Scenario)) > 1000 {
		fe = append(fe, errs.FieldError{Pointer: "/scenario", Reason: "at most 1000 characters"})
	}
	codes := it.FieldCodes()
	for i, f := range na.Fields {
		if !slices.Contains(codes, f) {
			fe = append(fe, errs.FieldError{Pointer: "/fields/" + strconv.Itoa(i), Reason: "not a field of the item", Value: f})
		}
	}
	if len(na.Fields) == 0 {
		na.Fields = []string{AllFields}
	}
	if na.ValidUntil.IsZero() || !na.ValidUntil.After(now) || na.ValidUntil.After(now.AddDate(5, 0, 0)) {
		fe = append(fe, errs.FieldError{Pointer: "/valid_until", Reason: "required, in the future and at most 5 years away"})
	}
	if len(fe) > 0 {
		return Application{}, errs.InvalidFields("application is not valid", fe...)
	}
	a := Application{ID: newID("app"), Kind: kind, ItemCode: it.Code, ProviderDepartmentID: it.ProviderID, CurrentProviderDepartmentID: it.ProviderID, ConsumerDepartmentID: p.DepartmentID,
		ApplicantID: p.ID, Purpose: na.Purpose, Scenario: na.Scenario, Fields: na.Fields, ValidUntil: na.ValidUntil.UTC().Truncate(time.Microsecond),
		Status: AppPending, Deadline: sh.AddWorkingDays(now, sh.cfg.AnswerDays), CreatedAt: now}
	if kind == KindApplication {
		if err := insertApp(ctx, sh.ex.db.W, a); err != nil {
			return Application{}, err
		}
		return a, nil
	}
	// A registration is recorded, granted and approved in one
	// transaction: a failure leaves neither the registration nor a grant
	// behind (the caller may simply register again).
	ap, err := sh.approval(ctx, p, a, Decision{}, now)
	if err != nil {
		return Application{}, err
	}
	err = sh.ex.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := insertApp(ctx, tx, a); err != nil {
			return err
		}
		return sh.approveTx(ctx, tx, p, a.ID, ap, now)
	})
	sh.ex.grantCache.clear()
	if err != nil {
		return Application{}, err
	}
	return sh.Application(ctx, a.ID)
}

// insertApp writes a new application through ex (the pool, or a
// transaction).
func insertApp(ctx context.Context, ex execer, a Application) error {
	fields, _ := json.Marshal(a.Fields)
	_, err := ex.ExecContext(ctx, `INSERT INTO share_applications (id, kind, item_code, provider_department_id, consumer_department_id,
		applicant_id, purpose, scenario, fields, valid_until, status, deadline, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		a.ID, a.Kind, a.ItemCode, a.ProviderDepartmentID, a.ConsumerDepartmentID, a.ApplicantID, a.Purpose, a.Scenario, string(fields),
		a.ValidUntil.UnixMicro(), a.Status, a.Deadline.UnixMicro(), a.CreatedAt.UnixMicro())
	return db.Interpret(err, "application")
}

// Decision is a provider's answer. Fields and ValidUntil may narrow what
// was asked (never widen it); zero values keep what was asked.
type Decision struct {
	Fields     []string  `json:"fields,omitempty"`
	ValidUntil time.Time `json:"valid_until,omitempty"`
	DailyQuota int64     `json:"daily_quota,omitempty"`
	Reason     string    `json:"reason,omitempty"`
}

// Approve grants a pending application, possibly narrower than asked. Only
// data admins of the item's provider department may. Errors: errs.Forbidden,
// errs.Conflict when it was already decided, errs.Invalid for a widening.
func (sh *Sharing) Approve(ctx context.Context, p *Principal, id string, d Decision) (Application, error) {
	return sh.decide(ctx, p, id, d, true)
}

// Refuse turns a pending application down; the reason is required.
func (sh *Sharing) Refuse(ctx context.Context, p *Principal, id, reason string) (Application, error) {
	return sh.decide(ctx, p, id, Decision{Reason: reason}, false)
}

// decide records a decision on application id. Decisions, on a
// registration too (Apply approves the registrations it makes itself), are
// the provider's data admins'.
func (sh *Sharing) decide(ctx context.Context, p *Principal, id string, d Decision, approve bool) (Application, error) {
	a, err := sh.Application(ctx, id)
	if err != nil {
		return a, err
	}
	// The item as it is now, not as it was when the consumer applied: an
	// item handed to another department is that department's to decide,
	// and one withdrawn or turned 不予共享 meanwhile is not granted (the
	// grant review run at that change cannot see a grant made after it).
	// An item gone from the catalogue leaves its stored provider to
	// refuse.
	provider := a.ProviderDepartmentID
	it, err := sh.items.ShareItem(ctx, a.ItemCode)
	switch {
	case err == nil:
		provider = it.ProviderID
	case !errs.Is(err, errs.KindNotFound):
		return a, err
	}
	if !(p.Has(RoleDataAdmin) && p.DepartmentID == provider) {
		return a, errs.Forbidden("only data admins of department %s, the provider of item %s, decide this application", provider, a.ItemCode)
	}
	if a.Status != AppPending {
		return a, errs.Conflict("application %s is already %s", a.ID, a.Status)
	}
	if approve {
		switch {
		case err != nil:
			return a, errs.Conflict("item %s is no longer in the catalogue: refuse application %s", a.ItemCode, a.ID)
		case !it.Published:
			return a, errs.Conflict("item %s is not published: refuse application %s, or publish the item first", a.ItemCode, a.ID)
		case it.ShareType == ShareNone:
			return a, errs.Conflict("item %s is now %s: refuse application %s", a.ItemCode, ShareNone, a.ID)
		case provider == a.ConsumerDepartmentID:
			return a, errs.Conflict("department %s, the applicant, now provides item %s and needs no grant: refuse application %s", provider, a.ItemCode, a.ID)
		}
	}
	now := sh.ex.now().UTC().Truncate(time.Microsecond)
	d.Reason = strings.TrimSpace(d.Reason)
	if !approve {
		if d.Reason == "" || len([]rune(d.Reason)) > 1000 {
			return a, errs.InvalidFields("refusal is not valid", errs.FieldError{Pointer: "/reason", Reason: "a refusal must give its reasons (at most 1000 characters)"})
		}
		res, err := sh.ex.db.W.ExecContext(ctx, `UPDATE share_applications SET status = $1, decided_by = $2, decided_at = $3, reason = $4 WHERE id = $5 AND status = $6`,
			AppRefused, p.ID, now.UnixMicro(), d.Reason, id, AppPending)
		if err != nil {
			return a, db.Interpret(err, "application")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return a, errs.Conflict("application %s was decided meanwhile", id)
		}
		return sh.Application(ctx, id)
	}
	ap, err := sh.approval(ctx, p, a, d, now)
	if err != nil {
		return a, err
	}
	err = sh.ex.db.Tx(ctx, func(tx *sql.Tx) error { return sh.approveTx(ctx, tx, p, id, ap, now) })
	// After the commit (or the rollback): a reader that loaded the grants
	// meanwhile does not cache what it read.
	sh.ex.grantCache.clear()
	if err != nil {
		return a, err
	}
	return sh.Application(ctx, id)
}

// approved is an approval checked and ready to write: what is granted,
// and the grant that grants it.
type approved struct {
	fields []string
	until  time.Time
	reason string
	grant  Grant
}

// approval checks decision d on pending application a, decided by p at
// now, and returns what it grants; nothing is written.
func (sh *Sharing) approval(ctx context.Context, p *Principal, a Application, d Decision, now time.Time) (approved, error) {
	fields := a.Fields
	if len(d.Fields) > 0 {
		for i, f := range d.Fields {
			if !slices.Contains(a.Fields, AllFields) && !slices.Contains(a.Fields, f) {
				return approved{}, errs.InvalidFields("approval is not valid", errs.FieldError{Pointer: "/fields/" + strconv.Itoa(i), Reason: "not asked for: an approval may only narrow", Value: f})
			}
		}
		fields = d.Fields
	}
	until := a.ValidUntil
	if !until.After(now) {
		return approved{}, errs.Conflict("application %s asked for use until %s, which has passed: refuse it; the consumer may apply again", a.ID, until.Format(time.RFC3339))
	}
	if !d.ValidUntil.IsZero() {
		if d.ValidUntil.After(a.ValidUntil) || !d.ValidUntil.After(now) {
			return approved{}, errs.InvalidFields("approval is not valid", errs.FieldError{Pointer: "/valid_until", Reason: "in the future and not later than asked"})
		}
		until = d.ValidUntil.UTC().Truncate(time.Microsecond)
	}
	if d.DailyQuota < 0 {
		return approved{}, errs.InvalidFields("approval is not valid", errs.FieldError{Pointer: "/daily_quota", Reason: "0 (unlimited) or positive"})
	}
	if len([]rune(d.Reason)) > 1000 {
		return approved{}, errs.InvalidFields("approval is not valid", errs.FieldError{Pointer: "/reason", Reason: "at most 1000 characters"})
	}
	source := KindApplication
	if a.Kind == KindRegistration {
		source = KindRegistration
	}
	g, err := sh.ex.newGrant(ctx, p, NewGrant{ConsumerDepartmentID: a.ConsumerDepartmentID, ResourceKind: ResourceCatalogItem, ResourceID: a.ItemCode,
		Fields: fields, Purpose: a.Purpose, ValidUntil: until, DailyQuota: d.DailyQuota, Source: source})
	if err != nil {
		return approved{}, err
	}
	return approved{fields: fields, until: until, reason: d.Reason, grant: g}, nil
}

// approveTx writes the approval ap of application id by p in tx: the
// grant, then the decision naming it, which claims the application only
// while it is pending — of two approvers racing, the second finds it
// decided (a conflict) and its grant goes with its rollback. The caller
// clears the grant cache after the transaction.
func (sh *Sharing) approveTx(ctx context.Context, tx *sql.Tx, p *Principal, id string, ap approved, now time.Time) error {
	if err := insertGrant(ctx, tx, ap.grant); err != nil {
		return err
	}
	fj, _ := json.Marshal(ap.fields)
	res, err := tx.ExecContext(ctx, `UPDATE share_applications SET status = $1, decided_by = $2, decided_at = $3, reason = $4,
		granted_fields = $5, granted_until = $6, grant_id = $7 WHERE id = $8 AND status = $9`,
		AppApproved, p.ID, now.UnixMicro(), ap.reason, string(fj), ap.until.UnixMicro(), ap.grant.ID, id, AppPending)
	if err != nil {
		return db.Interpret(err, "application")
	}
	if n, err := res.RowsAffected(); err != nil {
		return db.Interpret(err, "application")
	} else if n == 0 {
		return errs.Conflict("application %s was decided meanwhile", id)
	}
	return nil
}

var appCols = `id, kind, item_code, provider_department_id, ` + currentProviderOf("share_applications") + `, consumer_department_id, applicant_id,
	purpose, scenario, fields, valid_until, status, deadline, decided_by, decided_at, reason, granted_fields, granted_until, grant_id, created_at`

// The provider lists and the current provider of an application or a
// dispute go by the catalogue's provider of the item, read from
// catalog_items in the same query: a list filtered after the query, item
// by item through the ItemDirectory, could not page. Items are never
// deleted from the catalogue (they are withdrawn); a row whose item is not
// there at all keeps its stored provider, as decide and settle do.

// currentProviderOf is the SQL of the current provider of a row of table
// (share_applications or disputes).
func currentProviderOf(table string) string {
	return `COALESCE((SELECT ci.provider_id FROM catalog_items ci WHERE ci.code = ` + table + `.item_code), ` + table + `.provider_department_id)`
}

// whereCurrentProvider narrows w to the rows of table whose item department
// provides now. Written as two index-friendly halves rather than as
// currentProviderOf(table) = department, which would read every row.
func whereCurrentProvider(w *db.Where, table, department string) {
	n := "$" + strconv.Itoa(w.Next())
	w.Args = append(w.Args, department)
	w.Raw(`(` + table + `.item_code IN (SELECT code FROM catalog_items WHERE provider_id = ` + n + `) OR (` + table + `.provider_department_id = ` + n +
		` AND NOT EXISTS (SELECT 1 FROM catalog_items ci WHERE ci.code = ` + table + `.item_code)))`)
}

func (sh *Sharing) scanApp(sc interface{ Scan(...any) error }) (Application, error) {
	var (
		a                        Application
		fields, granted          string
		until, deadline, created int64
		decidedAt, grantedUntil  sql.NullInt64
	)
	err := sc.Scan(&a.ID, &a.Kind, &a.ItemCode, &a.ProviderDepartmentID, &a.CurrentProviderDepartmentID, &a.ConsumerDepartmentID, &a.ApplicantID, &a.Purpose, &a.Scenario,
		&fields, &until, &a.Status, &deadline, &a.DecidedBy, &decidedAt, &a.Reason, &granted, &grantedUntil, &a.GrantID, &created)
	if err != nil {
		return a, err
	}
	_ = json.Unmarshal([]byte(fields), &a.Fields)
	_ = json.Unmarshal([]byte(granted), &a.GrantedFields)
	a.ValidUntil, a.Deadline, a.CreatedAt = fromMicros(until), fromMicros(deadline), fromMicros(created)
	if decidedAt.Valid {
		t := fromMicros(decidedAt.Int64)
		a.DecidedAt = &t
	}
	if grantedUntil.Valid {
		t := fromMicros(grantedUntil.Int64)
		a.GrantedUntil = &t
	}
	a.Overdue = a.Status == AppPending && sh.ex.now().After(a.Deadline)
	return a, nil
}

// Application returns one application.
func (sh *Sharing) Application(ctx context.Context, id string) (Application, error) {
	a, err := sh.scanApp(sh.ex.db.W.QueryRowContext(ctx, `SELECT `+appCols+` FROM share_applications WHERE id = $1`, id))
	return a, db.Interpret(err, "application "+id)
}

// ApplicationFilter narrows Applications.
type ApplicationFilter struct {
	// ProviderDepartmentID keeps the applications for items the department
	// provides now, whoever provided them when the consumer applied.
	ProviderDepartmentID string
	ConsumerDepartmentID string
	ItemCode             string
	Status               string
	OverdueOnly          bool   // pending past their deadline
	Limit                int    // default 100, at most 1000
	Cursor               string // the next cursor of the page before
}

// Applications lists applications, oldest deadline first, a page at a
// time: next is the cursor of the page after, "" after the last.
func (sh *Sharing) Applications(ctx context.Context, f ApplicationFilter) (_ []Application, next string, err error) {
	var w db.Where
	add := w.Add
	if f.ProviderDepartmentID != "" {
		whereCurrentProvider(&w, "share_applications", f.ProviderDepartmentID)
	}
	if f.ConsumerDepartmentID != "" {
		add("consumer_department_id = ?", f.ConsumerDepartmentID)
	}
	if f.ItemCode != "" {
		add("item_code = ?", f.ItemCode)
	}
	if f.OverdueOnly {
		f.Status = AppPending
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
	rows, err := sh.ex.db.R.QueryContext(ctx, `SELECT `+appCols+` FROM share_applications`+w.SQL()+` ORDER BY deadline, id LIMIT `+strconv.Itoa(f.Limit+1), w.Args...)
	as, err := db.Collect(rows, err, "applications", sh.scanApp)
	if err != nil || len(as) <= f.Limit {
		return as, "", err
	}
	last := as[f.Limit-1]
	return as[:f.Limit], deadlineCursor(last.Deadline, last.ID), nil
}

// deadlineCursor is the cursor after a row of a list in (deadline, id)
// order.
func deadlineCursor(deadline time.Time, id string) string {
	return strconv.FormatInt(deadline.UnixMicro(), 10) + "." + id
}

// afterDeadlineCursor narrows w to the rows after cursor ("" for the first
// page).
func afterDeadlineCursor(w *db.Where, cursor string) error {
	if cursor == "" {
		return nil
	}
	d, id, ok := strings.Cut(cursor, ".")
	at, err := strconv.ParseInt(d, 10, 64)
	if !ok || err != nil || id == "" {
		return errs.InvalidFields("bad cursor", errs.FieldError{Pointer: "?cursor", Reason: "next_cursor of the page before"})
	}
	n := w.Next()
	w.Args = append(w.Args, at, id)
	w.Raw("(deadline > $" + strconv.Itoa(n) + " OR (deadline = $" + strconv.Itoa(n) + " AND id > $" + strconv.Itoa(n+1) + "))")
	return nil
}

// GrantMisfit is a grant that no longer fits its item.
type GrantMisfit struct {
	Grant  Grant    `json:"grant"`
	Reason string   `json:"reason"`
	Gone   []string `json:"gone_fields,omitempty"`
}

// ReviewGrants checks the grants on an item after its share type or
// fields changed, every one not revoked and not expired, those dated to
// start later too (they would otherwise come into force on an item that
// no longer allows them): grants on a withdrawn or 不予共享 item are revoked; on a
// 有条件共享 item, grants made by registering the use (the 无条件共享
// path, with no provider's approval) are revoked, the consumer has to
// apply, while grants from approved applications and those an admin made
// stay; grants naming fields the item no longer has are narrowed (revoked
// and re-made with the remaining fields, or revoked when none remain). It
// returns what it did, and finds nothing to do when run again.
func (sh *Sharing) ReviewGrants(ctx context.Context, by *Principal, itemCode string) ([]GrantMisfit, error) {
	it, err := sh.items.ShareItem(ctx, itemCode)
	if err != nil {
		return nil, err
	}
	gs, err := sh.ex.Grants(ctx, GrantFilter{ResourceKind: ResourceCatalogItem, ResourceID: itemCode, Unexpired: true})
	if err != nil {
		return nil, err
	}
	codes := it.FieldCodes()
	out := []GrantMisfit{}
	for _, g := range gs {
		if it.ShareType == ShareNone || !it.Published {
			if _, err := sh.ex.RevokeGrant(ctx, by, g.ID, "item "+itemCode+" is no longer shared"); err != nil {
				return out, err
			}
			out = append(out, GrantMisfit{Grant: g, Reason: "revoked: the item is no longer shared"})
			continue
		}
		if it.ShareType == ShareConditional && g.Source == KindRegistration {
			if _, err := sh.ex.RevokeGrant(ctx, by, g.ID, "item "+itemCode+" is now "+ShareConditional+": a registration no longer grants it; apply instead"); err != nil {
				return out, err
			}
			out = append(out, GrantMisfit{Grant: g, Reason: "revoked: the item is now " + ShareConditional + ", which needs an approved application"})
			continue
		}
		var keep, gone []string
		for _, f := range g.Fields {
			if f == AllFields || slices.Contains(codes, f) {
				keep = append(keep, f)
			} else {
				gone = append(gone, f)
			}
		}
		if len(gone) == 0 {
			continue
		}
		reason := goneReason(gone, itemCode)
		m := GrantMisfit{Grant: g, Gone: gone, Reason: "revoked: no granted field remains"}
		if len(keep) == 0 {
			if _, err := sh.ex.RevokeGrant(ctx, by, g.ID, reason); err != nil {
				return out, err
			}
			out = append(out, m)
			continue
		}
		ng, err := sh.narrow(ctx, by, g, keep, reason)
		if err != nil {
			return out, err
		}
		m.Reason = "narrowed to " + strings.Join(keep, ", ") + " as grant " + ng.ID
		out = append(out, m)
	}
	return out, nil
}

// goneReason is the reason to revoke or narrow a grant whose fields gone
// left item code: "fields A, B left item CODE", naming as many fields as
// fit in a reason and counting the rest ("fields A, B and 7 more left item
// CODE"), so that a review is not refused for the length of its own
// reason.
func goneReason(gone []string, code string) string {
	tail := " left item " + code
	if all := "fields " + strings.Join(gone, ", ") + tail; utf8.RuneCountInString(all) <= maxReasonRunes {
		return all
	}
	// Each field named lengthens the reason by more than the count of the
	// rest shortens it: name them in order while the reason fits.
	named, n := "", 0
	for i, f := range gone {
		next := named
		if i > 0 {
			next += ", "
		}
		next += f
		if utf8.RuneCountInString("fields "+next+" and "+strconv.Itoa(len(gone)-i-1)+" more"+tail) > maxReasonRunes {
			break
		}
		named, n = next, i+1
	}
	if n > 0 {
		return "fields " + named + " and " + strconv.Itoa(len(gone)-n) + " more" + tail
	}
	return clipRunes(strconv.Itoa(len(gone))+" fields"+tail, maxReasonRunes)
}

// narrow revokes grant g for reason and makes a grant of the fields keep
// in its place, in one transaction: a failure leaves g in force (a later
// review narrows it) rather than the consumer without any grant. The new
// grant starts now, or when g would have started if that is later: a
// narrowing never brings a grant forward.
func (sh *Sharing) narrow(ctx context.Context, by *Principal, g Grant, keep []string, reason string) (Grant, error) {
	reason, err := revokeReason(reason)
	if err != nil {
		return Grant{}, err
	}
	var from time.Time
	if g.ValidFrom.After(sh.ex.now()) {
		from = g.ValidFrom
	}
	ng, err := sh.ex.newGrant(ctx, by, NewGrant{ConsumerDepartmentID: g.ConsumerDepartmentID, ResourceKind: g.ResourceKind, ResourceID: g.ResourceID,
		Fields: keep, Purpose: g.Purpose, ValidFrom: from, ValidUntil: g.ValidUntil, DailyQuota: g.DailyQuota, Source: g.Source})
	if err != nil {
		return Grant{}, err
	}
	err = sh.ex.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := sh.ex.revoke(ctx, tx, by, g.ID, reason)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.Conflict("grant %s is already revoked", g.ID)
		}
		return insertGrant(ctx, tx, ng)
	})
	sh.ex.grantCache.clear()
	if err != nil {
		return Grant{}, err
	}
	return ng, nil
}
