package licence

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/seal"
)

// Bulk issue (import, demo). A batch's versions are sealed together: the
// issuer department's seal signs a manifest, the concatenated 32-byte
// SHA-256 digests of the batch's licence documents in order, and each
// version records its batch and index. Verifying one licence checks its
// document's digest, finds it at its index in the manifest and verifies
// the seal over the manifest: the same assurance as a seal per licence
// for one signature per BatchSize licences.

// BatchSize is the most licences one seal batch covers.
const BatchSize = 2000

// BatchMediaType is the media type of a sealed batch manifest.
const BatchMediaType = "application/vnd.sharehub.licence-batch"

// pending is a new licence ready to be written.
type pending struct {
	l   Licence
	doc []byte
	sum [32]byte
}

func newPending(l Licence) (pending, error) {
	doc, _, err := encode(&l)
	if err != nil {
		return pending{}, err
	}
	// The face fields live on in doc; the writer needs only the columns.
	// An import holds three chunks of pending licences, and the maps were
	// most of their memory.
	l.Face = nil
	return pending{l: l, doc: doc, sum: sha256.Sum256(doc)}, nil
}

// writeBatch writes new licences (see unregistered), sealing them in
// batches per issuing department.
func (s *Service) writeBatch(ctx context.Context, by *exchange.Principal, fresh []*pending, span *sqliteSpan) error {
	if len(fresh) == 0 {
		return nil
	}
	byIssuer := map[string][]*pending{}
	var order []string
	for _, p := range fresh {
		if _, ok := byIssuer[p.l.IssuerID]; !ok {
			order = append(order, p.l.IssuerID)
		}
		byIssuer[p.l.IssuerID] = append(byIssuer[p.l.IssuerID], p)
	}
	var batches []sealedBatch
	for _, dept := range order {
		group := byIssuer[dept]
		for len(group) > 0 {
			n := min(len(group), BatchSize)
			b, err := s.sealBatch(ctx, by, dept, group[:n])
			if err != nil {
				return err
			}
			batches = append(batches, b)
			group = group[n:]
		}
	}
	var err error
	switch {
	case s.db.Dialect == db.Postgres:
		err = s.copyBatches(ctx, by, batches)
	case span != nil:
		err = span.write(ctx, by, batches)
	default:
		err = s.insertBatches(ctx, by, batches)
	}
	if err != nil {
		if db.IsUniqueViolation(err) {
			return errs.Conflict("some of these licences were registered by someone else meanwhile; run the import again to skip them")
		}
		return db.Interpret(err, "licence import")
	}
	return nil
}

type sealedBatch struct {
	id       string
	manifest []byte
	jws      []byte
	items    []*pending
	at       time.Time
}

func (s *Service) sealBatch(ctx context.Context, by *exchange.Principal, dept string, items []*pending) (sealedBatch, error) {
	manifest := make([]byte, 0, len(items)*sha256.Size)
	for _, p := range items {
		manifest = append(manifest, p.sum[:]...)
	}
	sum := sha256.Sum256(manifest)
	var rnd [10]byte
	_, _ = rand.Read(rnd[:])
	id := "lsb_" + hex.EncodeToString(rnd[:])
	sealID, err := s.sealFor(ctx, dept)
	if err != nil {
		return sealedBatch{}, err
	}
	jws, err := s.cfg.Sealer.Sign(ctx, sealer(by, dept), sealID, seal.SignRequest{
		Document: seal.Document{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(manifest)), MediaType: BatchMediaType, Name: id},
		Purpose:  "电子证照批量签章",
	})
	if err != nil {
		s.forgetSeal(dept)
		return sealedBatch{}, err
	}
	return sealedBatch{id: id, manifest: manifest, jws: jws, items: items, at: s.now().UTC().Truncate(time.Microsecond)}, nil
}

// unregistered returns the items whose (type, number) is not yet taken. It
// reads through the reader pool, so that the import's reader goroutine,
// not its writer, pays for the probes; a licence registered between the
// probe and the write fails the write as a conflict.
func (s *Service) unregistered(ctx context.Context, items []pending) ([]*pending, error) {
	keys := make([]numberKey, len(items))
	for i := range items {
		keys[i] = numberKey{items[i].l.TypeCode, items[i].l.Number}
	}
	taken, err := s.registered(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]*pending, 0, len(items))
	seen := map[numberKey]bool{}
	for i := range items {
		k := keys[i]
		if _, ok := taken[k]; ok || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, &items[i])
	}
	return out, nil
}

// numberKey is a licence's type and number, unique in the registry.
type numberKey struct{ typeCode, number string }

// registeredAs is who holds and who issued a registered licence.
type registeredAs struct{ issuerID, idType, id string }

// registered returns, of keys, those already registered, with their
// holders and issuers.
func (s *Service) registered(ctx context.Context, keys []numberKey) (map[numberKey]registeredAs, error) {
	taken := map[numberKey]registeredAs{}
	if s.db.Dialect == db.Postgres {
		return taken, s.takenPostgres(ctx, keys, taken)
	}
	return taken, s.takenSQLite(ctx, keys, taken)
}

// takenSQLite fills taken with the keys already registered: per type, IN
// lists of up to 500 numbers with "?" parameters (SQLite parses numbered
// ones in time quadratic in their count).
func (s *Service) takenSQLite(ctx context.Context, keys []numberKey, taken map[numberKey]registeredAs) error {
	byType := map[string][]string{}
	for _, k := range keys {
		byType[k.typeCode] = append(byType[k.typeCode], k.number)
	}
	for tc, ns := range byType {
		for len(ns) > 0 {
			n := min(len(ns), 500)
			args := make([]any, 0, n+1)
			args = append(args, tc)
			var q strings.Builder
			q.WriteString(`SELECT number, issuer_id, holder_id_type, holder_id FROM licences WHERE type_code = ? AND number IN (`)
			for i, num := range ns[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				args = append(args, num)
				q.WriteString("?")
			}
			q.WriteString(")")
			rows, err := s.db.R.QueryContext(ctx, q.String(), args...)
			if err != nil {
				return db.Interpret(err, "licences")
			}
			for rows.Next() {
				var (
					num string
					as  registeredAs
				)
				if err := rows.Scan(&num, &as.issuerID, &as.idType, &as.id); err != nil {
					rows.Close()
					return db.Interpret(err, "licences")
				}
				taken[numberKey{tc, num}] = as
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return db.Interpret(err, "licences")
			}
			ns = ns[n:]
		}
	}
	return nil
}

// takenPostgres fills taken with the keys already registered: one query
// for the whole chunk, joining two arrays to the unique index. It is
// planned for its own arguments each time (QueryExecModeExec, an unnamed
// statement): a plan cached while the table was small scanned it whole
// for every probe once it had grown, which made an import of millions
// crawl at a thousand rows a second.
func (s *Service) takenPostgres(ctx context.Context, keys []numberKey, taken map[numberKey]registeredAs) error {
	types := make([]string, len(keys))
	numbers := make([]string, len(keys))
	for i, k := range keys {
		types[i], numbers[i] = k.typeCode, k.number
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT l.type_code, l.number, l.issuer_id, l.holder_id_type, l.holder_id FROM licences l
		JOIN unnest($1::text[], $2::text[]) AS k(type_code, number) ON l.type_code = k.type_code AND l.number = k.number`,
		pgx.QueryExecModeExec, types, numbers)
	if err != nil {
		return db.Interpret(err, "licences")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k  numberKey
			as registeredAs
		)
		if err := rows.Scan(&k.typeCode, &k.number, &as.issuerID, &as.idType, &as.id); err != nil {
			return db.Interpret(err, "licences")
		}
		taken[k] = as
	}
	return db.Interpret(rows.Err(), "licences")
}

// sqliteRows is how many licences one SQLite INSERT statement writes.
const sqliteRows = 64

// insertBatches writes on SQLite, in one transaction: multi-row INSERTs of
// sqliteRows rows with "?" parameters (numbered ones make SQLite's parser
// quadratic), prepared once per transaction and size. They are INSERT OR
// ROLLBACK: a conflict ends the whole transaction, which is what a failed
// batch does anyway, and so SQLite needs no statement journal to undo
// half a statement. Measured on 1,000,000 licences against one prepared
// single-row INSERT per row: see BENCHMARKS.md.
func (s *Service) insertBatches(ctx context.Context, by *exchange.Principal, batches []sealedBatch) error {
	sp := &sqliteSpan{s: s}
	if err := sp.write(ctx, by, batches); err != nil {
		sp.rollback()
		return err
	}
	return sp.commit()
}

// sqliteSpan is one SQLite transaction that may hold several chunks of an
// import, with its prepared statements. The CLI's import commits every
// few chunks rather than every chunk: holders arrive in random order, so
// each transaction rewrites most pages of the holder index into the WAL,
// and fewer transactions write them fewer times (BENCHMARKS.md,
// Licences). The server's import commits every chunk: its one writer
// connection also carries the audit log.
type sqliteSpan struct {
	s      *Service
	tx     *sql.Tx
	stmts  map[int][2]*sql.Stmt
	chunks int // written since the last commit
}

// write adds the batches to the open transaction, beginning one if none is.
func (sp *sqliteSpan) write(ctx context.Context, by *exchange.Principal, batches []sealedBatch) error {
	if sp.tx == nil {
		tx, err := sp.s.db.W.BeginTx(ctx, nil)
		if err != nil {
			return db.Interpret(err, "begin")
		}
		sp.tx, sp.stmts = tx, map[int][2]*sql.Stmt{}
	}
	sp.chunks++
	tx, stmts := sp.tx, sp.stmts
	prepared := func(n int) ([2]*sql.Stmt, error) {
		if st, ok := stmts[n]; ok {
			return st, nil
		}
		l, err := tx.PrepareContext(ctx, `INSERT OR ROLLBACK INTO licences (id, type_code, number, issuer_id, holder_name, holder_id_type, holder_id, status, version, valid_until, updated_at, holder_key)
			VALUES `+repeatRow("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", n))
		if err != nil {
			return [2]*sql.Stmt{}, err
		}
		v, err := tx.PrepareContext(ctx, `INSERT OR ROLLBACK INTO licence_versions (licence_id, version, event, at, by_id, reason, digest, doc, seal_jws, batch_id, batch_index)
			VALUES `+repeatRow("(?, 1, 'issue', ?, ?, '', ?, ?, NULL, ?, ?)", n))
		if err != nil {
			l.Close()
			return [2]*sql.Stmt{}, err
		}
		stmts[n] = [2]*sql.Stmt{l, v}
		return stmts[n], nil
	}
	lArgs := make([]any, 0, sqliteRows*12)
	vArgs := make([]any, 0, sqliteRows*7)
	for _, b := range batches {
		if _, err := tx.ExecContext(ctx, `INSERT INTO licence_seal_batches (id, manifest, seal_jws, created_at) VALUES (?, ?, ?, ?)`,
			b.id, b.manifest, string(b.jws), b.at.UnixMicro()); err != nil {
			return err
		}
		for start := 0; start < len(b.items); start += sqliteRows {
			part := b.items[start:min(start+sqliteRows, len(b.items))]
			lArgs, vArgs = lArgs[:0], vArgs[:0]
			for i, p := range part {
				l := &p.l
				key := l.Key()
				lArgs = append(lArgs, key, l.TypeCode, l.Number, l.IssuerID, l.Holder.Name, l.Holder.IDType, l.Holder.ID,
					string(l.Status), int64(l.Version), l.ValidUntil, l.UpdatedAt.UnixMicro(), holderKey(l.Holder.IDType, l.Holder.ID))
				vArgs = append(vArgs, key, l.UpdatedAt.UnixMicro(), by.ID, hex.EncodeToString(p.sum[:]), string(p.doc), b.id, int64(start+i))
			}
			st, err := prepared(len(part))
			if err != nil {
				return err
			}
			if _, err := st[0].ExecContext(ctx, lArgs...); err != nil {
				return err
			}
			if _, err := st[1].ExecContext(ctx, vArgs...); err != nil {
				return err
			}
		}
	}
	return nil
}

func (sp *sqliteSpan) closeStmts() {
	for _, st := range sp.stmts {
		st[0].Close()
		st[1].Close()
	}
	sp.tx, sp.stmts, sp.chunks = nil, nil, 0
}

// commit commits the open transaction, if any.
func (sp *sqliteSpan) commit() error {
	if sp.tx == nil {
		return nil
	}
	err := sp.tx.Commit()
	sp.closeStmts()
	return db.Interpret(err, "commit")
}

// rollback abandons the open transaction, if any (INSERT OR ROLLBACK may
// have ended it already).
func (sp *sqliteSpan) rollback() {
	if sp.tx != nil {
		_ = sp.tx.Rollback()
		sp.closeStmts()
	}
}

// repeatRow is row, n times, comma-separated.
func repeatRow(row string, n int) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// copyBatches writes on PostgreSQL with COPY, in one transaction.
func (s *Service) copyBatches(ctx context.Context, by *exchange.Principal, batches []sealedBatch) error {
	conn, err := s.db.W.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		var bRows, lRows, vRows [][]any
		for _, b := range batches {
			bRows = append(bRows, []any{b.id, b.manifest, string(b.jws), b.at.UnixMicro()})
			for i, p := range b.items {
				l := &p.l
				key := l.Key()
				lRows = append(lRows, []any{key, l.TypeCode, l.Number, l.IssuerID, l.Holder.Name, l.Holder.IDType, l.Holder.ID,
					string(l.Status), int64(l.Version), l.ValidUntil, l.UpdatedAt.UnixMicro(), holderKey(l.Holder.IDType, l.Holder.ID)})
				vRows = append(vRows, []any{key, int64(1), string(EventIssue), l.UpdatedAt.UnixMicro(), by.ID, "", hex.EncodeToString(p.sum[:]),
					string(p.doc), b.id, int64(i)})
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"licence_seal_batches"}, []string{"id", "manifest", "seal_jws", "created_at"}, pgx.CopyFromRows(bRows)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"licences"}, []string{"id", "type_code", "number", "issuer_id", "holder_name", "holder_id_type", "holder_id",
			"status", "version", "valid_until", "updated_at", "holder_key"}, pgx.CopyFromRows(lRows)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"licence_versions"}, []string{"licence_id", "version", "event", "at", "by_id", "reason", "digest",
			"doc", "batch_id", "batch_index"}, pgx.CopyFromRows(vRows)); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}
