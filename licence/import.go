package licence

import (
	"context"
	"database/sql"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// ImportChunk is how many rows an import writes in one transaction (in
// seal batches of at most BatchSize); the CLI's import on SQLite commits
// spanChunks of them at a time. A variable so that tests can make chunks
// small.
var ImportChunk = 10000

// SheetName is the worksheet of a licence import file.
const SheetName = "电子证照"

// Spec is the import file format (GB/T 36902 field names as headers). The
// face fields (照面信息) are one JSON object per row, checked against the
// row's type.
var Spec = sheet.Spec{Sheets: []sheet.Sheet{{Name: SheetName, Aliases: []string{"证照", "licences"}, Columns: []sheet.Column{
	{Key: "type_code", Header: "证照类型代码", Required: true, Kind: sheet.Code, Max: 21, Example: "11420600000000027M001"},
	// A 证照编号 is a code: more than 15 digits typed into a number cell
	// come back rounded (4.20602E+17), which must be refused, not issued.
	{Key: "number", Header: "证照编号", Required: true, Kind: sheet.Code, Max: MaxNumber, Example: "420602202400001"},
	{Key: "issuer_code", Header: "颁发机构代码", Required: true, Kind: sheet.Code, Max: 18, Example: "11420600000000027M", Note: "颁发机构的统一社会信用代码"},
	{Key: "holder_name", Header: "持证主体", Required: true, Max: 100, Example: "张三"},
	{Key: "holder_id_type", Header: "持证主体代码类型", Choices: []string{HolderIDResident, HolderIDCredit}, Example: "111", Note: "111 居民身份证号，001 统一社会信用代码；空则按证照类型"},
	{Key: "holder_id", Header: "持证主体代码", Required: true, Kind: sheet.Code, Max: 18, Example: "420602198001010011"},
	{Key: "issued_on", Header: "颁发日期", Required: true, Kind: sheet.Date, Example: "2024-01-31"},
	{Key: "valid_from", Header: "有效期起始日期", Kind: sheet.Date, Example: "2024-01-31"},
	{Key: "valid_until", Header: "有效期截止日期", Kind: sheet.Date, Example: "2044-01-30", Note: "空则按证照类型的有效期计算；长期有效的证照留空"},
	{Key: "region", Header: "属地代码", Kind: sheet.Code, Max: 6, Example: "420602"},
	{Key: "face", Header: "照面信息", Max: 4000, Example: `{"gender":"男","ethnicity":"汉","birth_date":"1980-01-01","address":"湖北省襄阳市襄城区檀溪路1号"}`, Note: "JSON 对象，键为证照类型的照面字段代码"},
	{Key: "replaces", Header: "关联证照标识", Max: 100, Note: "本证照所替代的证照的证照标识（换发、补发）；须为本库已登记的同类型、同持证主体的证照；通常留空"},
}}}}

// ImportOptions tune Import.
type ImportOptions struct {
	By *exchange.Principal
	// Commit writes the file when it has no errors; otherwise a dry run.
	Commit   bool
	Progress func(sheet.Progress)
	// OnError, when set, is given every bad cell or row as it is found,
	// also those beyond the sheet.DefaultMaxProblems the report lists
	// (sheet.Report.OnError): rows with a bad cell in file order (rows
	// whose type and number are registered as another licence after the
	// bad cells of their chunk of ImportChunk rows), then rows that repeat
	// an earlier row's type and number.
	OnError func(sheet.Problem)
	// TempDir and UnzipSizeLimit are passed to the spreadsheet reader.
	TempDir        string
	UnzipSizeLimit int64
	// DeferSync (SQLite) commits the import's transactions without an
	// fsync each and makes them durable with one at the end, before
	// Import returns: a power cut midway loses only transactions that a
	// rerun, skipping what is registered, writes again. Only for a caller
	// whose writer connection is its own (the CLI): in the server it is
	// shared with the audit log, whose every commit must reach the disk.
	DeferSync bool
}

// Import reads a licence file (xlsx or CSV, streamed), checks every row
// and reports each bad cell; with Commit and no errors it reads the file
// again and issues its licences in sealed batches. A file with any bad
// row is refused whole: nothing is issued. A commit cut short midway (a
// crash, the database going away) keeps the batches already committed;
// rows whose (type, number) is already registered are skipped
// (Report.Unchanged) when they are the same licence (holder and issuer),
// so running the same file again completes it, and importing a file twice
// is harmless; a row whose type and number are registered for another
// holder or issuer is a bad row. A dry run counts in Report.Unchanged the
// rows a commit would skip.
// The caller needs the importer or admin role (errs.Forbidden); each
// row's issuer must be a department that issues its type and has an
// active seal to seal it with (a bad row otherwise, in a dry run too).
func (s *Service) Import(ctx context.Context, path string, opts ImportOptions) (*sheet.Report, error) {
	if opts.By == nil {
		return nil, errs.Unauthenticated("sign in to import licences")
	}
	if opts.By.Disabled || !opts.By.Has(exchange.RoleImporter, exchange.RoleAdmin) {
		return nil, errs.Forbidden("importing licences needs the importer or admin role")
	}
	f, err := sheet.Open(path, Spec, sheet.Options{UnzipSizeLimit: opts.UnzipSizeLimit, TempDir: opts.TempDir, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := sheet.NewReport()
	rep.DryRun = !opts.Commit
	rep.OnError = opts.OnError
	rc, err := s.newRowChecker(ctx)
	if err != nil {
		return nil, err
	}
	// Pass 1: check every row; remember (type, number) hashes to find
	// duplicates within the file without keeping the rows.
	seed := maphash.MakeSeed()
	type seen struct {
		h    uint64
		line int32
	}
	var keys []seen
	// Rows already registered (same type and number) are skipped by a
	// commit when they are the same licence, and bad rows when they name
	// another holder or issuer: probed a chunk at a time.
	var (
		probe     []registeredRow
		unchanged int
	)
	flush := func() error {
		n, err := s.checkRegistered(ctx, probe, rep)
		unchanged += n
		probe = probe[:0]
		return err
	}
	err = f.Read(ctx, SheetName, rep, func(r *sheet.Row) error {
		l, ok := rc.check(r, rep)
		if !ok {
			return nil
		}
		keys = append(keys, seen{maphash.String(seed, r.Get("type_code")+"\x00"+r.Get("number")), int32(r.Line)})
		probe = append(probe, registeredRow{ref: r.Ref, key: numberKey{l.TypeCode, l.Number}, as: registeredAs{l.IssuerID, l.Holder.IDType, l.Holder.ID}})
		if len(probe) >= ImportChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return rep, err
	}
	slices.SortFunc(keys, func(a, b seen) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return int(a.line - b.line)
	})
	var dups []seen
	for i := 1; i < len(keys); i++ {
		if keys[i].h == keys[i-1].h {
			dups = append(dups, seen{h: uint64(keys[i-1].line), line: keys[i].line})
		}
	}
	keys = nil
	slices.SortFunc(dups, func(a, b seen) int { return int(a.line - b.line) })
	for _, d := range dups {
		rep.AddProblem(sheet.Problem{Sheet: SheetName, Row: int(d.line), Column: "证照编号",
			Reason: "the same licence type and number as row " + strconv.Itoa(int(d.h))})
	}
	if !opts.Commit {
		rep.Unchanged = unchanged // what a commit would skip
	}
	if !opts.Commit || !rep.OK() {
		return rep, nil
	}
	if s.db.Dialect == db.SQLite {
		// The holder index takes inserts at random places; with SQLite's
		// default 2 MB page cache most of them read pages back from the
		// OS. A bigger cache (64 MB) on the one writer connection, for
		// the import. And each transaction dirties thousands of that
		// index's pages: with the default checkpoint every 1,000 WAL
		// pages, each of them was copied back into the database after
		// every transaction; letting the WAL grow to 100,000 pages (400
		// MB) copies a page once for many transactions (measured: a
		// third less CPU, half the system time). Both are put back after.
		if _, err := s.db.W.ExecContext(ctx, `PRAGMA cache_size = -65536`); err == nil {
			defer s.db.W.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000`)
		}
		if opts.DeferSync {
			// Each commit's fsync of tens of MB of WAL was a third of
			// the import's wall time.
			if _, err := s.db.W.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err == nil {
				defer s.db.W.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`)
			}
		}
		if _, err := s.db.W.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 100000`); err == nil {
			defer func() {
				ctx := context.WithoutCancel(ctx)
				s.db.W.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 1000`)
				// Best effort: shrink the WAL now rather than leave 400 MB.
				s.db.W.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
			}()
		}
	}
	// Pass 2: build, seal and write. The reader (parsing, checking, JSON,
	// hashing) runs ahead of the writer (sealing, database) by a chunk or
	// two, so the two overlap on two cores.
	total := rep.Rows[SheetName]
	type chunk struct {
		fresh   []*pending
		skipped int
	}
	chunks := make(chan chunk, 1)
	werr := make(chan error, 1)
	go func() {
		var span *sqliteSpan
		if s.db.Dialect == db.SQLite && opts.DeferSync {
			span = &sqliteSpan{s: s}
		}
		// Rows written but not yet committed, counted when they are.
		var created, unchanged int
		commit := func() error {
			if span != nil {
				if err := span.commit(); err != nil {
					return err
				}
			}
			rep.Created += created
			rep.Unchanged += unchanged
			created, unchanged = 0, 0
			return nil
		}
		done := 0
		var err error
		for c := range chunks {
			if err != nil {
				continue // drain
			}
			err = s.writeBatch(ctx, opts.By, c.fresh, span)
			if err == nil {
				created += len(c.fresh)
				unchanged += c.skipped
				if span == nil || span.chunks >= spanChunks {
					err = commit()
				}
			}
			done += len(c.fresh) + c.skipped
			if err == nil && opts.Progress != nil {
				opts.Progress(sheet.Progress{Phase: "commit", Sheet: SheetName, Done: done, Total: total})
			}
		}
		if err == nil {
			err = commit()
		}
		if err != nil && span != nil {
			span.rollback()
		}
		werr <- err
	}()
	send := func(batch []pending) error {
		fresh, err := s.unregistered(ctx, batch)
		if err != nil {
			return err
		}
		chunks <- chunk{fresh, len(batch) - len(fresh)}
		return nil
	}
	batch := make([]pending, 0, ImportChunk)
	pass2 := sheet.NewReport()
	err = f.Read(ctx, SheetName, pass2, func(r *sheet.Row) error {
		l, ok := rc.check(r, pass2)
		if !ok {
			return errs.Conflict("row %d changed between the check and the commit", r.Line)
		}
		p, err := newPending(l)
		if err != nil {
			return err
		}
		batch = append(batch, p)
		if len(batch) >= ImportChunk {
			if err := send(batch); err != nil {
				return err
			}
			batch = make([]pending, 0, ImportChunk)
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = send(batch)
	}
	close(chunks)
	if e := <-werr; err == nil {
		err = e
	}
	if s.db.Dialect == db.SQLite && opts.DeferSync && (err == nil || rep.Created > 0) {
		// Also when the import failed partway: the transactions it did
		// commit, which the report counts as created, were written
		// without an fsync and must not be lost to a power cut after the
		// CLI has said so.
		if e := s.syncNow(context.WithoutCancel(ctx)); err == nil {
			err = e
		}
	}
	if err != nil {
		return rep, err
	}
	rep.Committed = true
	if s.db.Dialect == db.Postgres && rep.Created >= analyzeAfter {
		// Statistics for the planner now, not when autovacuum gets to
		// it: without them PostgreSQL judged the freshly loaded table
		// small and combined the holder-key index with the type index,
		// scanning every licence of a type per holder lookup (31
		// lookups/s instead of thousands on 2.4 M licences). The data
		// is committed; a failure here only leaves that to autovacuum.
		if _, err := s.db.W.ExecContext(ctx, `ANALYZE licences, licence_versions`); err != nil {
			s.cfg.Logger.Warn("licence import: ANALYZE failed; autovacuum will update the statistics", "err", err)
		}
	}
	return rep, nil
}

// spanChunks is how many chunks the CLI's import on SQLite writes in one
// transaction (see sqliteSpan). 2.4 M licences on this 2-core machine,
// one run each: one chunk a transaction 212-221 s, five 172 s, eight
// 180 s, twelve 148-167 s in five runs of six (one took 194 s). Twelve
// hold SQLite's write lock for about eight seconds at a time, inside the
// ten-second busy timeout of a hub serving the same file.
const spanChunks = 12

// analyzeAfter is how many new rows an import must write before it
// refreshes PostgreSQL's statistics itself.
const analyzeAfter = 50000

// rowChecker validates import rows against the registry's types and
// departments, held in memory for the whole file.
type rowChecker struct {
	s       *Service
	types   map[string]*Type
	issuers map[string]exchange.Department // by credit code
	now     time.Time
	today   string
	// replaced says what is wrong with the licence a row replaces.
	replaced func(*Licence) string
	// sealCheck says why department dept cannot seal licences now ("" when
	// it can).
	sealCheck func(dept string) string
	// unsealed says, by department id, why the department cannot seal
	// its licences ("" when it can), once per file.
	unsealed map[string]string
}

func (s *Service) newRowChecker(ctx context.Context) (*rowChecker, error) {
	ts, err := s.Types(ctx)
	if err != nil {
		return nil, err
	}
	rc := &rowChecker{s: s, types: map[string]*Type{}, issuers: map[string]exchange.Department{}, unsealed: map[string]string{},
		now: s.now().UTC().Truncate(time.Microsecond)}
	rc.today = today(rc.now)
	rc.sealCheck = func(dept string) string {
		_, err := s.sealFor(ctx, dept)
		switch {
		case err == nil:
			return ""
		case errs.Is(err, errs.KindConflict):
			return s.shownReason(ctx, err, "seal of "+dept)
		}
		return "could not be checked now: " + s.shownReason(ctx, err, "seal of "+dept)
	}
	rc.replaced = func(l *Licence) string {
		why, err := s.replacesProblem(ctx, l, "") // importers and admins see every licence
		if err != nil {
			return "could not be checked now: " + s.shownReason(ctx, err, "replaces "+l.Replaces)
		}
		return why
	}
	for i := range ts {
		rc.types[ts[i].Code] = &ts[i]
		for _, id := range ts[i].IssuerIDs {
			d, err := s.department(ctx, id)
			if err != nil {
				return nil, err
			}
			rc.issuers[d.Code] = d
		}
	}
	return rc, nil
}

// pointerColumn maps NewLicence field pointers to import columns.
var pointerColumn = map[string]string{
	"/type_code": "type_code", "/number": "number", "/holder/name": "holder_name", "/holder/id_type": "holder_id_type",
	"/holder/id": "holder_id", "/issued_on": "issued_on", "/valid_from": "valid_from", "/valid_until": "valid_until",
	"/region": "region", "/replaces": "replaces",
}

// check validates one row and returns the licence it issues.
func (rc *rowChecker) check(r *sheet.Row, rep *sheet.Report) (Licence, bool) {
	bad := false
	add := func(key, value, reason string) {
		if r.Bad(key) {
			return
		}
		rep.AddProblem(r.Problem(key, sheet.ClipValue(value), reason))
		bad = true
	}
	for _, k := range []string{"type_code", "number", "issuer_code", "holder_name", "holder_id_type", "holder_id", "issued_on", "valid_from", "valid_until", "region", "face", "replaces"} {
		if r.Bad(k) {
			bad = true
		}
	}
	t := rc.types[r.Get("type_code")]
	if t == nil {
		if v := r.Get("type_code"); v != "" {
			add("type_code", v, "no such licence type")
		}
		return Licence{}, false
	}
	dep, ok := rc.issuers[r.Get("issuer_code")]
	if !ok || !slices.Contains(t.IssuerIDs, dep.ID) {
		add("issuer_code", r.Get("issuer_code"), "not a department that issues "+t.Name)
		return Licence{}, false
	}
	// A commit seals each row with its issuer's seal: a department that
	// has none is a bad row now, not a commit that fails partway.
	why, checked := rc.unsealed[dep.ID]
	if !checked {
		why = rc.sealCheck(dep.ID)
		rc.unsealed[dep.ID] = why
	}
	if why != "" {
		add("issuer_code", r.Get("issuer_code"), why)
	}
	var face map[string]string
	if v := r.Get("face"); v != "" {
		var err error
		if face, err = parseFace(v); err != nil {
			add("face", v, `not a JSON object of strings, e.g. {"gender":"男"}`)
			return Licence{}, false
		}
	}
	n := NewLicence{TypeCode: t.Code, Number: r.Get("number"), IssuerID: dep.ID,
		Holder:   Holder{Name: r.Get("holder_name"), IDType: r.Get("holder_id_type"), ID: r.Get("holder_id")},
		IssuedOn: r.Get("issued_on"), ValidFrom: r.Get("valid_from"), ValidUntil: r.Get("valid_until"), Region: r.Get("region"), Face: face,
		Replaces: r.Get("replaces")}
	if n.Number == "" {
		return Licence{}, false
	}
	l, fe := n.validate(t, rc.today)
	for _, e := range fe {
		col, ok := pointerColumn[e.Pointer]
		reason := e.Reason
		if !ok {
			col = "face"
			reason = strings.TrimPrefix(e.Pointer, "/face/") + ": " + e.Reason
		}
		add(col, e.Value, reason)
	}
	if l.Replaces != "" && !hasPointer(fe, "/replaces") {
		if why := rc.replaced(&l); why != "" {
			add("replaces", l.Replaces, why)
		}
	}
	if bad {
		return Licence{}, false
	}
	l.IssuerID, l.IssuerName, l.IssuerCode = dep.ID, dep.Name, dep.Code
	id, err := newIDFor(l.TypeCode, dep.Code, l.Number)
	if err != nil {
		add("number", l.Number, err.Error())
		return Licence{}, false
	}
	l.ID, l.UpdatedAt = id, rc.now
	return l, true
}

// registeredRow is a checked import row, to probe for a registered licence
// with its type and number.
type registeredRow struct {
	ref sheet.Ref
	key numberKey
	as  registeredAs
}

// checkRegistered finds which of rows are already registered: the same
// licence (same holder and issuer), which it counts, or another one,
// which it reports as a bad row.
func (s *Service) checkRegistered(ctx context.Context, rows []registeredRow, rep *sheet.Report) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	keys := make([]numberKey, len(rows))
	for i := range rows {
		keys[i] = rows[i].key
	}
	taken, err := s.registered(ctx, keys)
	if err != nil {
		return 0, err
	}
	same := 0
	for _, r := range rows {
		as, ok := taken[r.key]
		switch {
		case !ok:
		case as.idType != r.as.idType || as.id != r.as.id:
			rep.AddProblem(r.ref.Problem("number", sheet.ClipValue(r.key.number),
				"a licence of this type and number is registered for another holder; a registered licence is not imported again"))
		case as.issuerID != r.as.issuerID:
			rep.AddProblem(r.ref.Problem("number", sheet.ClipValue(r.key.number),
				"a licence of this type and number is registered as issued by another department ("+as.issuerID+"); a registered licence is not imported again"))
		default:
			same++
		}
	}
	return same, nil
}

// syncNow makes every transaction committed on the SQLite writer
// connection durable: one write committed with synchronous=FULL fsyncs
// the WAL, and with it every frame before its own.
func (s *Service) syncNow(ctx context.Context) error {
	if _, err := s.db.W.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
		return db.Interpret(err, "sync")
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var v int64
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.FormatInt(v, 10))
		return err
	})
}
