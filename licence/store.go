package licence

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// versionRow is a version about to be written.
type versionRow struct {
	l      *Licence
	event  Event
	by     string
	reason string
	doc    []byte
	digest string
	jws    []byte
	batch  string
	index  int
}

// holderKey is the indexed key of a holder (migration 0011): lookups find
// candidate rows by it and compare the full id.
func holderKey(idType, id string) int64 { return db.Key64(idType + ":" + id) }

// insertLicence writes a new licence and its first version.
func insertLicence(ctx context.Context, tx *sql.Tx, v *versionRow) error {
	l := v.l
	_, err := tx.ExecContext(ctx, `INSERT INTO licences (id, type_code, number, issuer_id, holder_name, holder_id_type, holder_id, status, version, valid_until, updated_at, holder_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		l.Key(), l.TypeCode, l.Number, l.IssuerID, l.Holder.Name, l.Holder.IDType, l.Holder.ID, string(l.Status), l.Version, l.ValidUntil, l.UpdatedAt.UnixMicro(),
		holderKey(l.Holder.IDType, l.Holder.ID))
	if err != nil {
		if db.IsUniqueViolation(err) {
			return errs.Conflict("a %s numbered %q already exists", l.TypeName, l.Number)
		}
		return err
	}
	return insertVersion(ctx, tx, v)
}

func insertVersion(ctx context.Context, tx *sql.Tx, v *versionRow) error {
	var jws, batch, index any
	if v.jws != nil {
		jws = string(v.jws)
	}
	if v.batch != "" {
		batch, index = v.batch, int64(v.index)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO licence_versions (licence_id, version, event, at, by_id, reason, digest, doc, seal_jws, batch_id, batch_index)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		v.l.Key(), v.l.Version, string(v.event), v.l.UpdatedAt.UnixMicro(), v.by, v.reason, v.digest, string(v.doc), jws, batch, index)
	return err
}

// updateLicence writes a new version of an existing licence; it fails with
// errs.Conflict if someone else wrote a version since prev was read.
func updateLicence(ctx context.Context, tx *sql.Tx, v *versionRow, prev int) error {
	l := v.l
	res, err := tx.ExecContext(ctx, `UPDATE licences SET holder_name = $3, status = $4, version = $5, valid_until = $6, updated_at = $7
		WHERE id = $1 AND version = $2`,
		l.Key(), prev, l.Holder.Name, string(l.Status), l.Version, l.ValidUntil, l.UpdatedAt.UnixMicro())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.Conflict("licence %s changed while this change was made; read it again and retry", l.Key())
	}
	if err := insertVersion(ctx, tx, v); err != nil {
		if db.IsUniqueViolation(err) {
			return errs.Conflict("licence %s changed while this change was made; read it again and retry", l.Key())
		}
		return err
	}
	return nil
}

// Get returns the current version of a licence. id may be the identifier
// of any of its versions; its check character must be right (errs.Invalid).
// An unknown licence, or a version it has not reached, is errs.NotFound.
func (s *Service) Get(ctx context.Context, id string) (Licence, error) {
	p, err := ident.ParseLicenceID(id)
	if err != nil {
		return Licence{}, errs.InvalidFields("not a licence identifier", errs.FieldError{Pointer: "id", Reason: err.Error(), Value: clip(id, 100)})
	}
	l, err := s.getKey(ctx, keyOf(id))
	if err == nil && p.Version > l.Version {
		return Licence{}, errs.NotFound("licence %s has no version %s", l.Key(), pad3(p.Version))
	}
	return l, err
}

func (s *Service) getKey(ctx context.Context, key string) (Licence, error) {
	var doc string
	if err := s.db.QueryRow(ctx, `SELECT v.doc FROM licences l JOIN licence_versions v ON v.licence_id = l.id AND v.version = l.version WHERE l.id = $1`, key).Scan(&doc); err != nil {
		return Licence{}, db.Interpret(err, "licence "+key)
	}
	return decode(doc)
}

func decode(doc string) (Licence, error) {
	var l Licence
	if err := json.Unmarshal([]byte(doc), &l); err != nil {
		return Licence{}, errs.Internal(err, "licence document")
	}
	return l, nil
}

// MaxLookup is the most licences one holder lookup returns: one page.
const MaxLookup = 100

// Lookup returns the first page of the licences of a holder (LookupPage),
// optionally of one type.
func (s *Service) Lookup(ctx context.Context, idType, id, typeCode string) ([]Licence, error) {
	ls, _, err := s.LookupPage(ctx, LookupQuery{IDType: idType, ID: id, TypeCode: typeCode})
	return ls, err
}

// LookupQuery is a holder lookup.
type LookupQuery struct {
	IDType, ID string
	// TypeCode, when set, is the only licence type looked at.
	TypeCode string
	// Scope, when set, leaves out the licences its caller may not see.
	Scope *LookupScope
	// After is the key of the last licence of the previous page (the
	// next key LookupPage returned); "" for the first page.
	After string
}

// LookupScope is which of a holder's licences a caller may see: those of
// Types (the licence types it holds grants for) and, when IssuerID is set,
// those its department issued.
type LookupScope struct {
	Types    []string
	IssuerID string
}

// LookupPage returns one page of the licences of a holder, current
// versions ordered by identifier, at most MaxLookup, and the key to pass
// as After for the next page ("" after the last). Licences outside
// q.Scope are left out before the page is cut, so that they neither
// take a page's room nor push the caller's own out of it. The holder id
// is validated (errs.Invalid); a small x as a check digit is read as X.
func (s *Service) LookupPage(ctx context.Context, q LookupQuery) ([]Licence, string, error) {
	idType, id := strings.TrimSpace(q.IDType), strings.ToUpper(strings.TrimSpace(q.ID))
	if err := ValidateHolderID(idType, id); err != nil {
		return nil, "", errs.InvalidFields("not a valid holder id", errs.FieldError{Pointer: "?holder_id", Reason: err.Error()})
	}
	var w db.Where
	w.Add("l.holder_key = ?", holderKey(idType, id))
	w.Add("l.holder_id = ?", id)
	w.Add("l.holder_id_type = ?", idType)
	if q.TypeCode != "" {
		w.Add("l.type_code = ?", q.TypeCode)
	}
	if sc := q.Scope; sc != nil {
		var either []string
		if len(sc.Types) > 0 {
			in := make([]string, len(sc.Types))
			for i, t := range sc.Types {
				w.Args = append(w.Args, t)
				in[i] = "$" + strconv.Itoa(len(w.Args))
			}
			either = append(either, "l.type_code IN ("+strings.Join(in, ", ")+")")
		}
		if sc.IssuerID != "" {
			w.Args = append(w.Args, sc.IssuerID)
			either = append(either, "l.issuer_id = $"+strconv.Itoa(len(w.Args)))
		}
		if len(either) == 0 {
			return nil, "", nil
		}
		w.Raw("(" + strings.Join(either, " OR ") + ")")
	}
	if q.After != "" {
		w.Add("l.id > ?", q.After)
	}
	// The key begins with the type code: ordered by key is ordered by
	// type, then issuer and serial.
	rows, err := s.db.Query(ctx, `SELECT l.id, v.doc FROM licences l JOIN licence_versions v ON v.licence_id = l.id AND v.version = l.version`+
		w.SQL()+` ORDER BY l.id LIMIT `+strconv.Itoa(MaxLookup+1), w.Args...)
	if err != nil {
		return nil, "", db.Interpret(err, "licences")
	}
	defer rows.Close()
	var (
		out        []Licence
		last, next string
	)
	for rows.Next() {
		if len(out) == MaxLookup {
			next = last
			break
		}
		var doc string
		if err := rows.Scan(&last, &doc); err != nil {
			return nil, "", db.Interpret(err, "licences")
		}
		l, err := decode(doc)
		if err != nil {
			return nil, "", err
		}
		out = append(out, l)
	}
	return out, next, db.Interpret(rows.Err(), "licences")
}

// History returns every version of a licence, oldest first.
func (s *Service) History(ctx context.Context, id string) ([]Version, error) {
	if _, err := ident.ParseLicenceID(id); err != nil {
		return nil, errs.InvalidFields("not a licence identifier", errs.FieldError{Pointer: "id", Reason: err.Error(), Value: clip(id, 100)})
	}
	key := keyOf(id)
	rows, err := s.db.R.QueryContext(ctx, `SELECT v.version, v.event, v.at, v.by_id, v.reason, v.digest, v.doc, COALESCE(v.seal_jws, b.seal_jws, ''), COALESCE(v.batch_id, ''), COALESCE(v.batch_index, 0)
		FROM licence_versions v LEFT JOIN licence_seal_batches b ON b.id = v.batch_id WHERE v.licence_id = $1 ORDER BY v.version`, key)
	if err != nil {
		return nil, db.Interpret(err, "licence history")
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var (
			v   Version
			at  int64
			doc string
			ev  string
		)
		if err := rows.Scan(&v.Version, &ev, &at, &v.By, &v.Reason, &v.Digest, &doc, &v.SealJWS, &v.BatchID, &v.BatchIndex); err != nil {
			return nil, db.Interpret(err, "licence history")
		}
		v.Event, v.At = Event(ev), time.UnixMicro(at).UTC()
		if v.Licence, err = decode(doc); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, db.Interpret(err, "licence history")
	}
	if len(out) == 0 {
		return nil, errs.NotFound("licence %s not found", key)
	}
	return out, nil
}

// version reads one stored version with its document and seal.
func (s *Service) version(ctx context.Context, key string, n int) (Version, []byte, []byte, error) {
	var (
		v        Version
		doc, jws string
		manifest []byte
	)
	err := s.db.R.QueryRowContext(ctx, `SELECT v.digest, v.doc, COALESCE(v.seal_jws, b.seal_jws, ''), COALESCE(v.batch_id, ''), COALESCE(v.batch_index, 0), b.manifest
		FROM licence_versions v LEFT JOIN licence_seal_batches b ON b.id = v.batch_id WHERE v.licence_id = $1 AND v.version = $2`, key, n).
		Scan(&v.Digest, &doc, &jws, &v.BatchID, &v.BatchIndex, &manifest)
	if err != nil {
		return v, nil, nil, db.Interpret(err, "licence "+key+" version "+strconv.Itoa(n))
	}
	v.Version, v.SealJWS = n, jws
	return v, []byte(doc), manifest, nil
}
