package licence

import (
	"archive/zip"
	"context"
	"errors"
	"io"
	"iter"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Bulk attach: files are matched to licences of one type by number
// (420602202400001.pdf goes to the licence numbered 420602202400001) and
// each attachment is a new sealed version (see attach). The files come
// from a directory (AttachDir) or a zip archive (AttachZip); both are a
// sequence of bulkFile fed to one loop, attachAll.

// AttachResult is the outcome for one file of a bulk attach.
type AttachResult struct {
	// File is the file's name in the directory, or the entry's full name
	// in the archive.
	File string `json:"file"`
	// Attached says whether the file was attached. Licence is then the
	// identifier of the licence's new version; otherwise Error says why
	// the file was not attached.
	Attached bool   `json:"attached"`
	Licence  string `json:"licence,omitempty"`
	Error    string `json:"error,omitempty"`
}

// bulkFile is one file offered to attachAll.
type bulkFile struct {
	name string // as reported (AttachResult.File)
	base string // the plain file name, matched to a licence number
	open func() (io.ReadCloser, error)
	// refused says why the file is not attached without reading it.
	refused error
}

// AttachDir attaches the files in dir to licences of type typeCode,
// matched by number: 420602202400001.pdf goes to the licence numbered
// 420602202400001. Sub-directories and other non-regular files are
// ignored. Importers and admins may (errs.Forbidden otherwise). Each
// file's outcome is reported; a bad file does not stop the others.
func (s *Service) AttachDir(ctx context.Context, by *exchange.Principal, typeCode, dir string) ([]AttachResult, error) {
	if by == nil || by.Disabled || !by.Has(exchange.RoleImporter, exchange.RoleAdmin) {
		return nil, errs.Forbidden("attaching files in bulk needs the importer or admin role")
	}
	t, err := s.bulkType(ctx, typeCode)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errs.Invalid("%v", err)
	}
	files := func(yield func(bulkFile) bool) {
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			name := e.Name()
			open := func() (io.ReadCloser, error) { return os.Open(filepath.Join(dir, name)) }
			if !yield(bulkFile{name: name, base: name, open: open}) {
				return
			}
		}
	}
	return s.attachAll(ctx, by, &t, "", files)
}

// CheckAttachZip makes the checks AttachZip makes before it reads the
// archive, so that an upload can be refused before it is received: by
// must be an importer or admin, or an issuer of a department that issues
// the type (errs.Forbidden); the type must exist (errs.Invalid).
func (s *Service) CheckAttachZip(ctx context.Context, by *exchange.Principal, typeCode string) error {
	_, _, err := s.zipScope(ctx, by, typeCode)
	return err
}

// zipScope checks who may attach an archive's files to licences of a
// type and returns the type and the department whose licences by may
// attach to, "" for any.
func (s *Service) zipScope(ctx context.Context, by *exchange.Principal, typeCode string) (Type, string, error) {
	switch {
	case by == nil:
		return Type{}, "", errs.Unauthenticated("sign in to attach licence files")
	case by.Disabled || !by.Has(exchange.RoleImporter, exchange.RoleAdmin, exchange.RoleIssuer):
		return Type{}, "", errs.Forbidden("attaching licence files in bulk needs the issuer, importer or admin role")
	}
	t, err := s.bulkType(ctx, typeCode)
	if err != nil {
		return Type{}, "", err
	}
	if by.Has(exchange.RoleImporter, exchange.RoleAdmin) {
		return t, "", nil
	}
	if err := requireIssuer(by, &t); err != nil {
		return Type{}, "", err
	}
	return t, by.DepartmentID, nil
}

// AttachZip attaches the files in a zip archive (r, size bytes) to
// licences of type typeCode, matched by number as AttachDir does; an
// entry in a folder (scans/420602202400001.pdf) is matched by its base
// name. Folders, and the metadata macOS and Windows add (__MACOSX/,
// .DS_Store, Thumbs.db), are ignored.
//
// Entries are read one at a time and never written to disk under their
// names. Each entry's outcome is reported and a bad entry does not stop
// the others. An entry is not attached when its name is path-like (../,
// absolute, backslashes, a drive letter), when it inflates to more than
// Config.MaxFileSize bytes, when the archive has inflated to more than
// Config.MaxZipBytes in all (that entry and every later one), when its
// content, which is sniffed, is not what its extension says, or when no
// live licence of the type has its number. Both limits count the bytes
// actually inflated, not the sizes the archive claims.
//
// Importers and admins may attach files to any licence of the type;
// issuers of a department that issues the type to that department's
// licences only (reported per entry); anyone else is errs.Forbidden. An
// unknown type or data that is not a zip archive is errs.Invalid; an
// archive of more than Config.MaxZipEntries entries is errs.TooLarge.
func (s *Service) AttachZip(ctx context.Context, by *exchange.Principal, typeCode string, r io.ReaderAt, size int64) ([]AttachResult, error) {
	t, dept, err := s.zipScope(ctx, by, typeCode)
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, &errs.Error{Kind: errs.KindInvalid, Message: "the archive cannot be read",
			Fields: []errs.FieldError{{Pointer: "file", Reason: "not a zip archive, or a damaged one"}}, Err: err}
	}
	if len(zr.File) > s.cfg.MaxZipEntries {
		return nil, errs.TooLarge("the archive has %d entries; at most %d are accepted at once", len(zr.File), s.cfg.MaxZipEntries)
	}
	return s.attachAll(ctx, by, &t, dept, zipFiles(zr, &zipBudget{limit: s.cfg.MaxZipBytes}))
}

// bulkType returns the type of a bulk attach; an unknown one is errs.Invalid.
func (s *Service) bulkType(ctx context.Context, code string) (Type, error) {
	t, err := s.Type(ctx, strings.TrimSpace(code))
	if errs.Is(err, errs.KindNotFound) || code == "" {
		return Type{}, errs.InvalidFields("no such licence type", errs.FieldError{Pointer: "?type_code", Reason: "a licence type code (证照类型代码)", Value: clip(code, 40)})
	}
	return t, err
}

// attachAll attaches each of files to the licence of type t its name
// names, and reports each. dept, when not "", is the only department
// whose licences may be attached to.
func (s *Service) attachAll(ctx context.Context, by *exchange.Principal, t *Type, dept string, files iter.Seq[bulkFile]) ([]AttachResult, error) {
	out := []AttachResult{}
	done := map[string]string{} // licence number → the file attached to it in this run
	for f := range files {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		res := AttachResult{File: clip(f.name, 255)}
		l, err := s.attachBulk(ctx, by, t, dept, f, done)
		if err == nil {
			res.Attached, res.Licence = true, l.ID
			done[l.Number] = res.File
		} else {
			res.Error = s.shownReason(ctx, err, "bulk attach of "+res.File+" to a "+t.Code)
		}
		out = append(out, res)
	}
	return out, nil
}

// shownReason is err as a reason reported for one item of a bulk
// operation (a file, a row): the causes of errors are logged, not shown,
// and an internal error reads as one. what names the item in the log.
func (s *Service) shownReason(ctx context.Context, err error, what string) string {
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind == errs.KindInternal {
		s.cfg.Logger.ErrorContext(ctx, "licence: "+what, "err", err)
		return "an internal error (logged)"
	}
	if e.Err != nil {
		s.cfg.Logger.WarnContext(ctx, "licence: "+what, "err", err)
	}
	shown := *e
	shown.Err = nil
	return shown.Error()
}

// attachBulk attaches one file of a bulk attach.
func (s *Service) attachBulk(ctx context.Context, by *exchange.Principal, t *Type, dept string, f bulkFile, done map[string]string) (Licence, error) {
	if f.refused != nil {
		return Licence{}, f.refused
	}
	want, err := CheckFileName(f.base)
	if err != nil {
		return Licence{}, err
	}
	number := strings.TrimSuffix(f.base, path.Ext(f.base))
	if prev, ok := done[number]; ok {
		return Licence{}, errs.Conflict("licence numbered %s got its file from %s already", number, prev)
	}
	var key string
	if dept == "" {
		err = s.db.R.QueryRowContext(ctx, `SELECT id FROM licences WHERE type_code = $1 AND number = $2`, t.Code, number).Scan(&key)
		err = db.Interpret(err, "licence numbered "+number)
	} else {
		// Issuers see only their department's licences: another
		// department's licence reads as missing.
		err = s.db.R.QueryRowContext(ctx, `SELECT id FROM licences WHERE type_code = $1 AND number = $2 AND issuer_id = $3`, t.Code, number, dept).Scan(&key)
		err = db.Interpret(err, "licence numbered "+number+" issued by "+dept)
	}
	if err != nil {
		return Licence{}, err
	}
	l, err := s.getKey(ctx, key)
	if err != nil {
		return Licence{}, err
	}
	rc, err := f.open()
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			return Licence{}, e
		}
		return Licence{}, errs.Invalid("%v", err)
	}
	defer rc.Close()
	return s.attach(ctx, &exchange.Principal{ID: by.ID, Name: by.Name, DepartmentID: l.IssuerID, Roles: []exchange.Role{exchange.RoleIssuer}}, l, f.base, want, rc)
}

// zipFiles yields the entries of an archive to attach, in archive order.
func zipFiles(zr *zip.Reader, budget *zipBudget) iter.Seq[bulkFile] {
	return func(yield func(bulkFile) bool) {
		for _, zf := range zr.File {
			name, base, ignore, err := zipEntry(zf)
			if ignore {
				continue
			}
			f := bulkFile{name: name, base: base, refused: err}
			switch {
			case err != nil:
			case budget.spent():
				f.refused = budget.exceeded()
			default:
				f.open = func() (io.ReadCloser, error) {
					rc, err := zf.Open()
					if err != nil {
						return nil, errs.Invalid("the entry cannot be read: %v", err)
					}
					return &budgetReader{rc: rc, b: budget}, nil
				}
			}
			if !yield(f) {
				return
			}
		}
	}
}

// zipEntry checks an archive entry: it returns the name to report, the
// base name to match, whether to ignore the entry (a folder, OS
// metadata) and why it is refused.
func zipEntry(zf *zip.File) (name, base string, ignore bool, err error) {
	name = zf.Name
	if !utf8.ValidString(name) {
		// Archives made on Chinese Windows name entries in GBK without
		// saying so.
		if d, derr := simplifiedchinese.GB18030.NewDecoder().String(name); derr == nil && utf8.ValidString(d) {
			name = d
		} else {
			name = strings.ToValidUTF8(name, "\uFFFD")
		}
	}
	if strings.HasSuffix(name, "/") || zf.Mode().IsDir() {
		return name, "", true, nil
	}
	bad := func(reason string) (string, string, bool, error) {
		return name, "", false, errs.InvalidFields("entry not attached", errs.FieldError{Pointer: "name", Reason: reason, Value: clip(name, 80)})
	}
	switch {
	case strings.Contains(name, `\`):
		return bad("a path with backslashes; entries are matched by plain file names")
	case strings.HasPrefix(name, "/") || len(name) >= 2 && name[1] == ':':
		return bad("an absolute path")
	case hasControl(name):
		return bad("a name with control characters")
	}
	for _, el := range strings.Split(name, "/") {
		switch el {
		case "..":
			return bad("a path that climbs out of the archive (../)")
		case "", ".":
			return bad("not a plain relative path")
		}
	}
	base = path.Base(name)
	if strings.HasPrefix(name, "__MACOSX/") || base == ".DS_Store" || strings.EqualFold(base, "Thumbs.db") {
		return name, "", true, nil
	}
	if !zf.Mode().IsRegular() {
		return bad("a link or special file, not a file")
	}
	if zf.Flags&0x1 != 0 {
		return bad("an encrypted entry; archives must not be password-protected")
	}
	return name, base, false, nil
}

// zipBudget counts the bytes inflated from one archive against its limit.
type zipBudget struct {
	limit, used int64
}

func (b *zipBudget) spent() bool { return b.used > b.limit }

func (b *zipBudget) exceeded() error {
	return errs.TooLarge("not attached: the archive inflates to more than %d bytes, the limit for one archive; this entry and those after it were not read", b.limit)
}

// budgetReader reads an entry, counting what it inflates in its budget;
// it reads at most one byte past the limit.
type budgetReader struct {
	rc io.ReadCloser
	b  *zipBudget
}

func (r *budgetReader) Read(p []byte) (int, error) {
	if r.b.spent() {
		return 0, r.b.exceeded()
	}
	if room := r.b.limit - r.b.used + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := r.rc.Read(p)
	r.b.used += int64(n)
	if r.b.spent() {
		return n, r.b.exceeded()
	}
	if err != nil && err != io.EOF {
		// zip.ErrFormat, zip.ErrChecksum, a flate error: among them an
		// entry inflating past the size its headers claim.
		return n, errs.Invalid("the entry is damaged or does not inflate to what the archive says (%v)", err)
	}
	return n, err
}

func (r *budgetReader) Close() error { return r.rc.Close() }
