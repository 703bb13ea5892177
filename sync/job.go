package datasync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Job pulls one source into one catalogue item's dataset.
type Job struct {
	ID        string    `json:"id"`
	ItemCode  string    `json:"item_code"`
	Name      string    `json:"name"`
	Spec      Spec      `json:"spec"`
	Paused    bool      `json:"paused"`
	Cursor    string    `json:"cursor,omitempty"` // incremental: reached by the last applied run
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewJob is what a data admin supplies.
type NewJob struct {
	ItemCode string `json:"item_code"`
	Name     string `json:"name"`
	Spec     Spec   `json:"spec"`
}

// CreateJob adds a job for a published item. Only data admins of the
// item's provider department, or hub admins, may. Errors: errs.Invalid
// (with every problem), errs.NotFound for the item, errs.Forbidden.
func (s *Service) CreateJob(ctx context.Context, p *exchange.Principal, nj NewJob) (Job, error) {
	nj.ItemCode, nj.Name = strings.TrimSpace(nj.ItemCode), strings.TrimSpace(nj.Name)
	it, fields, err := s.item(ctx, nj.ItemCode)
	if err != nil {
		return Job{}, err
	}
	if !catalog.CanChange(p, it.ProviderID) {
		return Job{}, errs.Forbidden("only data admins of department %s, or hub admins, may keep sync jobs for item %s", it.ProviderID, it.Code)
	}
	if err := checkJob(&nj.Name, &nj.Spec, it, fields); err != nil {
		return Job{}, err
	}
	now := s.nowUTC()
	j := Job{ID: newID("job"), ItemCode: it.Code, Name: nj.Name, Spec: nj.Spec, CreatedBy: p.ID, CreatedAt: now, UpdatedAt: now}
	_, err = s.db.W.ExecContext(ctx, `INSERT INTO sync_jobs (id, item_code, name, spec, paused, cursor_at, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 0, '', $5, $6, $7)`, j.ID, j.ItemCode, j.Name, s.specJSON(j.ID, j.Spec), j.CreatedBy, now.UnixMicro(), now.UnixMicro())
	if err != nil {
		return Job{}, db.Interpret(err, "sync job")
	}
	s.forgetItem(it.Code)
	s.reschedule()
	return j, nil
}

func checkJob(name *string, spec *Spec, it catalog.Item, fields []string) error {
	spec.fill()
	fe := spec.check(fields)
	if *name == "" || len([]rune(*name)) > 200 {
		fe = append(fe, errs.FieldError{Pointer: "/name", Reason: "required, at most 200 characters"})
	} else if strings.ContainsFunc(*name, unicode.IsControl) {
		fe = append(fe, errs.FieldError{Pointer: "/name", Reason: "must not hold control characters"})
	}
	if it.Status != catalog.StatusPublished {
		fe = append(fe, errs.FieldError{Pointer: "/item_code", Reason: "the item is not published", Value: it.Code})
	}
	if len(fe) > 0 {
		return errs.InvalidFields("sync job is not valid", fe...)
	}
	return nil
}

// JobUpdate replaces a job's name and spec.
type JobUpdate struct {
	Name string `json:"name"`
	Spec Spec   `json:"spec"`
}

// UpdateJob changes a job. A "***" token or DSN keeps the stored secret.
func (s *Service) UpdateJob(ctx context.Context, p *exchange.Principal, id string, u JobUpdate) (Job, error) {
	j, err := s.Job(ctx, id)
	if err != nil {
		return Job{}, err
	}
	it, fields, err := s.item(ctx, j.ItemCode)
	if err != nil {
		return Job{}, err
	}
	if !catalog.CanChange(p, it.ProviderID) {
		return Job{}, errs.Forbidden("only data admins of department %s, or hub admins, may keep sync jobs for item %s", it.ProviderID, it.Code)
	}
	if u.Spec.Source.Token == "***" {
		// A kept token goes only to the server it was given for: whoever
		// points the job elsewhere enters it again (they cannot read it).
		if j.Spec.Source.Token != "" && origin(u.Spec.Source.URL) != origin(j.Spec.Source.URL) {
			return Job{}, errs.InvalidFields("the job now points at another server: send its token again",
				errs.FieldError{Pointer: "/spec/source/token", Reason: `"***" keeps the stored token only while the URL's scheme, host and port stay the same`})
		}
		u.Spec.Source.Token = j.Spec.Source.Token
	}
	if u.Spec.Source.DSN == "***" {
		u.Spec.Source.DSN = j.Spec.Source.DSN
	}
	if u.Spec.Source.URL, err = keepURLSecret(j.Spec.Source.URL, u.Spec.Source.URL); err != nil {
		return Job{}, err
	}
	if b := j.Spec.Source.Blobs; b != "" && u.Spec.Source.Blobs == redactBlobs(b) {
		u.Spec.Source.Blobs = b // secret_key=*** with the rest unchanged
	}
	u.Name = strings.TrimSpace(u.Name)
	if err := checkJob(&u.Name, &u.Spec, it, fields); err != nil {
		return Job{}, err
	}
	q := `UPDATE sync_jobs SET name = $1, spec = $2, updated_at = $3 WHERE id = $4`
	if readsAnew(j.Spec, u.Spec) {
		// The cursor and an interrupted run's staged rows belong to the
		// old source, keys or cursor field: the next run starts over.
		unlock, ok, err := s.db.TryLock(ctx, jobLockKey(id))
		if err != nil {
			return Job{}, err
		}
		if !ok {
			return Job{}, errs.Conflict("sync job %s is running: change where or how it reads when the run has finished", id)
		}
		defer unlock()
		run, err := s.unfinishedRun(ctx, id)
		switch {
		case err == nil:
			if err := s.failRun(ctx, &run, errors.New("abandoned: the job's source, keys or cursor field changed; the next run starts over")); err != nil {
				return Job{}, err
			}
		case !errs.Is(err, errs.KindNotFound):
			return Job{}, err
		}
		q = `UPDATE sync_jobs SET name = $1, spec = $2, updated_at = $3, cursor_at = '' WHERE id = $4`
	}
	now := s.nowUTC()
	if _, err := s.db.W.ExecContext(ctx, q, u.Name, s.specJSON(id, u.Spec), now.UnixMicro(), id); err != nil {
		return Job{}, db.Interpret(err, "sync job")
	}
	s.forgetItem(j.ItemCode)
	s.reschedule()
	return s.Job(ctx, id)
}

// SetPaused pauses or resumes a job's schedule.
func (s *Service) SetPaused(ctx context.Context, p *exchange.Principal, id string, paused bool) (Job, error) {
	j, err := s.Job(ctx, id)
	if err != nil {
		return Job{}, err
	}
	it, err := s.catalog.Item(ctx, j.ItemCode)
	if err != nil {
		return Job{}, err
	}
	if !catalog.CanChange(p, it.ProviderID) {
		return Job{}, errs.Forbidden("only data admins of department %s, or hub admins, may pause or resume this job", it.ProviderID)
	}
	v := 0
	if paused {
		v = 1
	}
	if _, err := s.db.W.ExecContext(ctx, `UPDATE sync_jobs SET paused = $1, updated_at = $2 WHERE id = $3`, v, s.nowUTC().UnixMicro(), id); err != nil {
		return Job{}, db.Interpret(err, "sync job")
	}
	s.reschedule()
	return s.Job(ctx, id)
}

const jobCols = `id, item_code, name, spec, paused, cursor_at, created_by, created_at, updated_at`

func (s *Service) scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var (
		j        Job
		spec     string
		paused   int64
		cat, uat int64
	)
	if err := sc.Scan(&j.ID, &j.ItemCode, &j.Name, &spec, &paused, &j.Cursor, &j.CreatedBy, &cat, &uat); err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(spec), &j.Spec); err != nil {
		return j, err
	}
	if err := s.openSpec(j.ID, &j.Spec); err != nil {
		return j, err
	}
	j.Spec.fill()
	j.Paused, j.CreatedAt, j.UpdatedAt = paused != 0, fromMicros(cat), fromMicros(uat)
	return j, nil
}

// Job returns one job (with its secrets; redact before showing it).
func (s *Service) Job(ctx context.Context, id string) (Job, error) {
	if !validText(id) { // PostgreSQL would refuse it: a 500, not a 404
		return Job{}, errs.NotFound("sync job %q not found", id)
	}
	j, err := s.scanJob(s.db.R.QueryRowContext(ctx, `SELECT `+jobCols+` FROM sync_jobs WHERE id = $1`, id))
	return j, db.Interpret(err, "sync job "+id)
}

// Jobs lists jobs, of one item when itemCode is not empty.
func (s *Service) Jobs(ctx context.Context, itemCode string) ([]Job, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if !validText(itemCode) {
		return []Job{}, nil // no item has such a code
	}
	if itemCode != "" {
		rows, err = s.db.R.QueryContext(ctx, `SELECT `+jobCols+` FROM sync_jobs WHERE item_code = $1 ORDER BY id`, itemCode)
	} else {
		rows, err = s.db.R.QueryContext(ctx, `SELECT `+jobCols+` FROM sync_jobs ORDER BY id`)
	}
	if err != nil {
		return nil, db.Interpret(err, "sync jobs")
	}
	defer rows.Close()
	out := []Job{}
	for rows.Next() {
		j, err := s.scanJob(rows)
		if err != nil {
			return nil, db.Interpret(err, "sync jobs")
		}
		out = append(out, j)
	}
	return out, db.Interpret(rows.Err(), "sync jobs")
}

// origin is the scheme, host and port of an upstream URL ("" when it does
// not parse), case-insensitive as URLs compare.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// keepURLSecret puts the stored URL's secrets back into an edited URL
// that carries them as Redacted shows them ("***"): the stored URL itself
// when nothing else changed, else the edited one with the stored user
// information and the stored values of its secret query parameters, only
// while it points at the same server (like a kept token).
func keepURLSecret(stored, edited string) (string, error) {
	if edited == redactURL(stored) {
		return stored, nil
	}
	eu, err := url.Parse(edited)
	if err != nil {
		return edited, nil
	}
	keepUser, keepQuery := eu.User != nil && redactedUser(eu.User), redactedQuery(edited)
	if !keepUser && !keepQuery {
		return edited, nil
	}
	su, err := url.Parse(stored)
	if err != nil || origin(stored) != origin(edited) || redactURL(stored) == stored {
		return "", errs.InvalidFields("the job now points at another server: send the URL's secrets again",
			errs.FieldError{Pointer: "/spec/source/url", Reason: `"***" keeps a stored password or secret query parameter only while the URL's scheme, host and port stay the same`})
	}
	if keepUser {
		if su.User == nil || eu.User.Username() != "***" && eu.User.Username() != su.User.Username() {
			return "", errs.InvalidFields("the job now points at another server or user: send the URL's password again",
				errs.FieldError{Pointer: "/spec/source/url", Reason: `"***" keeps the stored password only while the URL's user, scheme, host and port stay the same`})
		}
		eu.User = su.User
	}
	if keepQuery {
		q, _, missing := keepQuerySecrets(su.RawQuery, eu.RawQuery)
		if missing != "" {
			return "", errs.InvalidFields("no stored value to keep: send the parameter's value",
				errs.FieldError{Pointer: "/spec/source/url", Reason: `"***" keeps a stored value of query parameter ` + strconv.Quote(missing) + `; the stored URL has none`})
		}
		eu.RawQuery = q
	}
	return eu.String(), nil
}

// readsAnew reports whether a job changed from a to b reads other records
// or keys them otherwise, so that what it reached under a means nothing
// under b.
func readsAnew(a, b Spec) bool {
	as, bs := a.Source, b.Source
	return a.Mode != b.Mode || a.CursorField != b.CursorField || !slices.Equal(a.KeyFields, b.KeyFields) ||
		as.Kind != bs.Kind || as.URL != bs.URL || as.SinceParam != bs.SinceParam || as.DSN != bs.DSN || as.Query != bs.Query ||
		as.Blobs != bs.Blobs || as.Prefix != bs.Prefix
}
