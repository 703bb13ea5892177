package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// sealIDEncoding keeps ids in time order when compared as strings.
var sealIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newSealID returns "seal_" and 16 characters: milliseconds since 1970
// then random bits, so ids sort by creation time.
func newSealID(now time.Time) string {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return "seal_" + sealIDEncoding.EncodeToString(b[:])
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const sealCols = `id, organisation_id, organisation_name, credit_code, name, kind, image_key, image_media_type, alg, valid_from, valid_until, status, created_by, created_at`

func scanSeal(sc interface{ Scan(...any) error }) (Seal, error) {
	var (
		s                      Seal
		from, until, createdAt int64
	)
	err := sc.Scan(&s.ID, &s.Organisation.ID, &s.Organisation.Name, &s.Organisation.CreditCode, &s.Name, &s.Kind,
		&s.ImageKey, &s.ImageMediaType, &s.Alg, &from, &until, &s.Status, &s.CreatedBy, &createdAt)
	s.ValidFrom, s.ValidUntil, s.CreatedAt = fromMicros(from), fromMicros(until), fromMicros(createdAt)
	return s, err
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func toMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// loadSeal reads one seal with its history and keys. Unknown: errs.NotFound.
func (s *Service) loadSeal(ctx context.Context, q queryer, id string) (Seal, error) {
	seal, err := scanSeal(q.QueryRowContext(ctx, `SELECT `+sealCols+` FROM seals WHERE id = $1`, id))
	if err != nil {
		return Seal{}, db.Interpret(err, "seal "+id)
	}
	seals := []Seal{seal}
	if err := fillSeals(ctx, q, seals); err != nil {
		return Seal{}, err
	}
	return seals[0], nil
}

// fillSeals reads the status histories and keys of seals.
func fillSeals(ctx context.Context, q queryer, seals []Seal) error {
	if len(seals) == 0 {
		return nil
	}
	idx := make(map[string]int, len(seals))
	args := make([]any, len(seals))
	for i := range seals {
		idx[seals[i].ID] = i
		args[i] = seals[i].ID
		seals[i].StatusHistory, seals[i].Keys = nil, nil
	}
	in := db.Placeholders(0, 1, len(seals)) // ($1, $2, ...)
	rows, err := q.QueryContext(ctx,
		`SELECT seal_id, status, at, reason, by_id FROM seal_status_events WHERE seal_id IN `+in+` ORDER BY seal_id, seq`, args...)
	if err != nil {
		return db.Interpret(err, "seal status")
	}
	for rows.Next() {
		var id string
		var c StatusChange
		var at int64
		if err := rows.Scan(&id, &c.Status, &at, &c.Reason, &c.By); err != nil {
			rows.Close()
			return db.Interpret(err, "seal status")
		}
		c.At = fromMicros(at)
		seals[idx[id]].StatusHistory = append(seals[idx[id]].StatusHistory, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.Interpret(err, "seal status")
	}
	rows, err = q.QueryContext(ctx,
		`SELECT seal_id, kid, alg, cert_der, thumbprint, created_at, retired_at FROM seal_keys WHERE seal_id IN `+in+` ORDER BY seal_id, created_at, kid`, args...)
	if err != nil {
		return db.Interpret(err, "seal keys")
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var k Key
		var at int64
		var retired sql.NullInt64
		if err := rows.Scan(&id, &k.Kid, &k.Alg, &k.Certificate, &k.Thumbprint, &at, &retired); err != nil {
			return db.Interpret(err, "seal keys")
		}
		s := &seals[idx[id]]
		k.CreatedAt = fromMicros(at)
		if retired.Valid {
			k.RetiredAt = fromMicros(retired.Int64)
		}
		s.Keys = append(s.Keys, k)
	}
	if err := rows.Err(); err != nil {
		return db.Interpret(err, "seal keys")
	}
	for i := range seals {
		if n := len(seals[i].StatusHistory); n > 0 {
			seals[i].Status = seals[i].StatusHistory[n-1].Status
		}
	}
	return nil
}

func (s *Service) sealOfKid(ctx context.Context, kid string) (string, error) {
	var id string
	err := s.db.R.QueryRowContext(ctx, `SELECT seal_id FROM seal_keys WHERE kid = $1`, kid).Scan(&id)
	return id, db.Interpret(err, "key")
}

func requireAdmin(by *exchange.Principal) error {
	switch {
	case by == nil:
		return errs.Unauthenticated("sign in to manage seals")
	case by.Disabled || !by.Has(exchange.RoleAdmin):
		return errs.Forbidden("only hub administrators manage seals")
	}
	return nil
}

// CreateSeal makes a seal for an organisation: it validates and stores the
// image, makes a key pair (encrypted under the master key) and has the hub
// CA certify it. Only administrators may (errs.Forbidden); bad fields are
// errs.Invalid; a second live seal with the same name in one organisation
// is errs.Conflict.
func (s *Service) CreateSeal(ctx context.Context, by *exchange.Principal, n NewSeal) (Seal, error) {
	if err := requireAdmin(by); err != nil {
		return Seal{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	if err := n.validate(now); err != nil {
		return Seal{}, err
	}
	mediaType, err := ValidateImage(n.Image)
	if err != nil {
		return Seal{}, err
	}
	if s.dir == nil || s.images == nil {
		return Seal{}, errs.Internal(nil, "seal: Config needs Directory and Images to create seals")
	}
	dep, err := s.dir.Department(ctx, n.OrganisationID)
	if errs.Is(err, errs.KindNotFound) {
		return Seal{}, errs.InvalidFields("seal is not valid", errs.FieldError{Pointer: "/organisation_id", Reason: "no such organisation", Value: n.OrganisationID})
	}
	if err != nil {
		return Seal{}, err
	}
	if err := ident.ValidateCreditCode(dep.Code); err != nil {
		return Seal{}, errs.InvalidFields("seal is not valid", errs.FieldError{Pointer: "/organisation_id", Reason: "the organisation's 统一社会信用代码 is not valid: " + err.Error(), Value: dep.Code})
	}
	ca, err := s.issuingCA(ctx)
	if err != nil {
		return Seal{}, err
	}
	info, err := s.images.Put(ctx, bytes.NewReader(n.Image), mediaType)
	if err != nil {
		return Seal{}, err
	}
	seal := Seal{
		ID:             newSealID(now),
		Organisation:   Organisation{ID: dep.ID, Name: dep.Name, CreditCode: dep.Code},
		Name:           n.Name,
		Kind:           n.Kind,
		ImageKey:       info.Key,
		ImageMediaType: mediaType,
		Alg:            n.Alg,
		ValidFrom:      n.ValidFrom,
		ValidUntil:     n.ValidUntil,
		Status:         StatusActive,
		StatusHistory:  []StatusChange{{Status: StatusActive, At: now, Reason: "created", By: by.ID}},
		CreatedAt:      now,
		CreatedBy:      by.ID,
	}
	k, err := s.newKey(ca, &seal, now)
	if err != nil {
		return Seal{}, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO seals (`+sealCols+`, status_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			seal.ID, seal.Organisation.ID, seal.Organisation.Name, seal.Organisation.CreditCode, seal.Name, string(seal.Kind),
			seal.ImageKey, seal.ImageMediaType, string(seal.Alg), seal.ValidFrom.UnixMicro(), seal.ValidUntil.UnixMicro(),
			string(seal.Status), seal.CreatedBy, now.UnixMicro(), now.UnixMicro())
		if err != nil {
			if db.IsUniqueViolation(err) {
				return errs.Conflict("%s already has a live seal named %q", dep.Name, seal.Name)
			}
			return err
		}
		if err := insertEvent(ctx, tx, seal.ID, 1, seal.StatusHistory[0]); err != nil {
			return err
		}
		return insertKey(ctx, tx, seal.ID, k)
	})
	if err != nil {
		return Seal{}, db.Interpret(err, "seal")
	}
	seal.Keys = []Key{k.Key}
	s.jwksCache.Store(nil)
	return seal, nil
}

// keyRow is a new key with its private parts encrypted.
type keyRow struct {
	Key
	pubDER  []byte
	privEnc []byte
	caID    string
}

func (s *Service) newKey(ca *authority, seal *Seal, at time.Time) (keyRow, error) {
	priv, err := generateKey(seal.Alg)
	if err != nil {
		return keyRow{}, errs.Internal(err, "seal key")
	}
	kid, err := keyID(priv.Public())
	if err != nil {
		return keyRow{}, errs.Internal(err, "seal key")
	}
	certDER, err := ca.issue(seal, priv.Public())
	if err != nil {
		return keyRow{}, errs.InvalidFields("seal is not valid", errs.FieldError{Pointer: "/valid_until", Reason: err.Error()})
	}
	pkcs8, err := marshalPrivate(priv)
	if err != nil {
		return keyRow{}, errs.Internal(err, "seal key")
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return keyRow{}, errs.Internal(err, "seal key")
	}
	enc := s.master.Seal(pkcs8, "seal_keys/"+kid)
	clear(pkcs8)
	return keyRow{
		Key:    Key{Kid: kid, Alg: seal.Alg, Thumbprint: certThumbprint(certDER), CreatedAt: at, Certificate: certDER},
		pubDER: pubDER, privEnc: enc, caID: ca.id,
	}, nil
}

func insertKey(ctx context.Context, tx *sql.Tx, sealID string, k keyRow) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO seal_keys (kid, seal_id, alg, public_key, private_enc, cert_der, thumbprint, ca_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.Kid, sealID, string(k.Alg), k.pubDER, k.privEnc, k.Certificate, k.Thumbprint, k.caID, k.CreatedAt.UnixMicro())
	return err
}

func insertEvent(ctx context.Context, tx *sql.Tx, sealID string, seq int64, c StatusChange) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO seal_status_events (seal_id, seq, status, at, reason, by_id) VALUES ($1, $2, $3, $4, $5, $6)`,
		sealID, seq, string(c.Status), c.At.UnixMicro(), c.Reason, c.By)
	return err
}

// Suspend stops a seal from signing until Reinstate. Signatures made
// before stay valid; the reason is kept in the seal's history. Only
// administrators may; a seal that is not active is errs.Conflict.
func (s *Service) Suspend(ctx context.Context, by *exchange.Principal, id, reason string) (Seal, error) {
	return s.transition(ctx, by, id, reason, StatusSuspended, StatusActive)
}

// Reinstate lets a suspended seal sign again (errs.Conflict otherwise).
func (s *Service) Reinstate(ctx context.Context, by *exchange.Principal, id, reason string) (Seal, error) {
	return s.transition(ctx, by, id, reason, StatusActive, StatusSuspended)
}

// Revoke ends a seal for good. Signatures made before the revocation stay
// valid; any claiming a later signing time do not. A seal already revoked
// is errs.Conflict.
func (s *Service) Revoke(ctx context.Context, by *exchange.Principal, id, reason string) (Seal, error) {
	return s.transition(ctx, by, id, reason, StatusRevoked, StatusActive, StatusSuspended)
}

func (s *Service) transition(ctx context.Context, by *exchange.Principal, id, reason string, to Status, from ...Status) (Seal, error) {
	if err := requireAdmin(by); err != nil {
		return Seal{}, err
	}
	reason = strings.TrimSpace(reason)
	if r := checkText(reason, MaxReason, true); r != "" {
		return Seal{}, errs.InvalidFields("a reason is needed", errs.FieldError{Pointer: "/reason", Reason: r})
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var cur Status
		var changed int64
		if err := tx.QueryRowContext(ctx, `SELECT status, status_changed_at FROM seals WHERE id = $1`, id).Scan(&cur, &changed); err != nil {
			return db.Interpret(err, "seal "+id)
		}
		allowed := false
		for _, f := range from {
			allowed = allowed || f == cur
		}
		if !allowed {
			return errs.Conflict("seal %s is %s", id, cur)
		}
		// History must stay in time order even if this replica's clock
		// is behind the one that made the last change.
		at := s.now().UTC().Truncate(time.Microsecond)
		if last := fromMicros(changed); !at.After(last) {
			at = last.Add(time.Microsecond)
		}
		res, err := tx.ExecContext(ctx, `UPDATE seals SET status = $1, status_changed_at = $2 WHERE id = $3 AND status = $4`,
			string(to), at.UnixMicro(), id, string(cur))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Conflict("seal %s changed at the same time; try again", id)
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM seal_status_events WHERE seal_id = $1`, id).Scan(&seq); err != nil {
			return err
		}
		return insertEvent(ctx, tx, id, seq+1, StatusChange{Status: to, At: at, Reason: reason, By: by.ID})
	})
	s.invalidate(id)
	if err != nil {
		return Seal{}, db.Interpret(err, "seal "+id)
	}
	return s.Get(ctx, id)
}

// RotateKey gives a seal a new key pair and certificate. The old key is
// retired: it signs no more, but stays published and everything it signed
// stays verifiable. Only administrators may; a revoked or expired seal is
// errs.Conflict.
func (s *Service) RotateKey(ctx context.Context, by *exchange.Principal, id string) (Seal, error) {
	if err := requireAdmin(by); err != nil {
		return Seal{}, err
	}
	seal, err := s.Get(ctx, id)
	if err != nil {
		return Seal{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	switch {
	case seal.Status == StatusRevoked:
		return Seal{}, errs.Conflict("seal %s is revoked", id)
	case !now.Before(seal.ValidUntil):
		return Seal{}, errs.Conflict("seal %s expired on %s", id, seal.ValidUntil.Format(time.DateOnly))
	}
	ca, err := s.issuingCA(ctx)
	if err != nil {
		return Seal{}, err
	}
	k, err := s.newKey(ca, &seal, now)
	if err != nil {
		return Seal{}, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// Touching the seal row serialises rotations of one seal on
		// PostgreSQL (SQLite's single writer already does).
		res, err := tx.ExecContext(ctx, `UPDATE seals SET status = status WHERE id = $1 AND status <> 'revoked'`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Conflict("seal %s is revoked", id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE seal_keys SET retired_at = $1 WHERE seal_id = $2 AND retired_at IS NULL`, now.UnixMicro(), id); err != nil {
			return err
		}
		return insertKey(ctx, tx, id, k)
	})
	s.invalidate(id)
	if err != nil {
		return Seal{}, db.Interpret(err, "seal key")
	}
	return s.Get(ctx, id)
}

// ListFilter selects seals for List. Zero fields do not filter.
type ListFilter struct {
	OrganisationID string
	Status         Status
	Kind           Kind
	// After is the cursor: the Next of the previous page.
	After string
	// Limit is the page size: default 50, at most 500.
	Limit int
}

// List returns seals in creation order, a page at a time; next is the
// cursor for the following page, "" after the last.
func (s *Service) List(ctx context.Context, f ListFilter) (seals []Seal, next string, err error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 500 {
		return nil, "", errs.InvalidFields("bad page size", errs.FieldError{Pointer: "?limit", Reason: "at most 500"})
	}
	var w db.Where
	add := w.Add
	if f.OrganisationID != "" {
		add("organisation_id = ?", f.OrganisationID)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.Kind != "" {
		add("kind = ?", string(f.Kind))
	}
	if f.After != "" {
		add("id > ?", f.After)
	}
	q := `SELECT ` + sealCols + ` FROM seals` + w.SQL() + ` ORDER BY id LIMIT ` + strconv.Itoa(f.Limit+1)
	rows, err := s.db.R.QueryContext(ctx, q, w.Args...)
	if err != nil {
		return nil, "", db.Interpret(err, "seals")
	}
	defer rows.Close()
	for rows.Next() {
		seal, err := scanSeal(rows)
		if err != nil {
			return nil, "", db.Interpret(err, "seals")
		}
		seals = append(seals, seal)
	}
	if err := rows.Err(); err != nil {
		return nil, "", db.Interpret(err, "seals")
	}
	rows.Close()
	if len(seals) > f.Limit {
		seals = seals[:f.Limit]
		next = seals[len(seals)-1].ID
	}
	if err := fillSeals(ctx, s.db.R, seals); err != nil {
		return nil, "", err
	}
	return seals, next, nil
}
