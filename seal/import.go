package seal

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// Bulk creation of seals through the spreadsheet pipeline
// (`sharehub import seals FILE`): one row per seal on the sheet 印章. The
// organisation is found by its 统一社会信用代码 (or the hub's department
// id); the picture is a PNG or SVG file named in the 印模文件 column,
// relative to ImportOptions.ImageDir, or, with GenerateImages, drawn by
// DemoImage when the cell is empty. Every row is checked before anything
// is written; with Commit and no errors the seals are created one by one
// (each with its own key pair and certificate). A row whose organisation
// already has a live seal of that name is unchanged, so a file can be
// imported again.

// SheetSeals is the seal import's sheet.
const SheetSeals = "印章"

// Algorithm names accepted in the 算法 column.
var importAlgs = []string{string(AlgEd25519), string(AlgES256)}

// ImportSpec describes the seal import file.
func ImportSpec() sheet.Spec {
	kinds := make([]string, len(Kinds))
	for i, k := range Kinds {
		kinds[i] = string(k)
	}
	return sheet.Spec{Sheets: []sheet.Sheet{{
		Name: SheetSeals, Aliases: []string{"seals", "电子印章"},
		Columns: []sheet.Column{
			{Key: "credit_code", Header: "统一社会信用代码", Aliases: []string{"机构统一社会信用代码"}, Kind: sheet.Code, Max: 18,
				Example: "11420600000000035G", Note: "印章所属机构的统一社会信用代码（或填写“机构编号”）", Width: 22},
			{Key: "org_id", Header: "机构编号", Aliases: []string{"organisation_id"}, Kind: sheet.Code, Max: 64, Example: "", Width: 14},
			{Key: "org_name", Header: "机构名称", Max: 200, Example: "襄阳市民政局", Note: "可选；填写时须与平台登记的名称一致", Width: 26},
			{Key: "name", Header: "印章名称", Required: true, Max: MaxSealName, Example: "襄阳市民政局合同专用章", Width: 30},
			{Key: "kind", Header: "印章类别", Required: true, Choices: kinds, Example: string(KindContract), Width: 14},
			{Key: "alg", Header: "算法", Choices: importAlgs, Example: string(AlgEd25519), Note: "默认 Ed25519", Width: 10},
			{Key: "valid_from", Header: "生效日期", Kind: sheet.Date, Example: "2026-01-01", Note: "默认为导入当天", Width: 12},
			{Key: "valid_until", Header: "失效日期", Kind: sheet.Date, Example: "2030-12-31", Note: "默认为生效后五年", Width: 12},
			{Key: "image", Header: "印模文件", Aliases: []string{"印章图片"}, Max: 255, Example: "mzj-contract.svg", Note: "PNG 或 SVG 文件名，相对于图片目录", Width: 24},
		},
	}}}
}

// ImportOptions tune a seal import.
type ImportOptions struct {
	// By is who imports; only administrators create seals.
	By *exchange.Principal
	// Commit creates the seals if the file has no errors; without it the
	// import is a dry run that only reports.
	Commit bool
	// ImageDir is where the 印模文件 names are looked up.
	ImageDir string
	// GenerateImages draws a picture (DemoImage of the organisation's
	// name) for rows that name none, instead of reporting them.
	GenerateImages bool
	// Departments, when set, lists the organisations; otherwise the
	// Service's Directory must list them (exchange.Service does).
	Departments    []exchange.Department
	UnzipSizeLimit int64
	TempDir        string
	Progress       func(sheet.Progress)
}

// maxImageFile bounds one seal picture read from ImageDir.
const maxImageFile = 4 << 20

// Import reads the seal file at path (xlsx, or CSV of the 印章 sheet) and,
// with opts.Commit and no errors, creates its seals. The report says, for
// each bad row, the cell and why; Created counts new seals and Unchanged
// rows whose seal exists already.
func (s *Service) Import(ctx context.Context, path string, opts ImportOptions) (*sheet.Report, error) {
	if err := requireAdmin(opts.By); err != nil {
		return nil, err
	}
	f, err := sheet.Open(path, ImportSpec(), sheet.Options{UnzipSizeLimit: opts.UnzipSizeLimit, TempDir: opts.TempDir, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.ImportFile(ctx, f, opts)
}

type departmentLister interface {
	Departments(ctx context.Context) ([]exchange.Department, error)
}

// ImportFile is Import over an opened file.
func (s *Service) ImportFile(ctx context.Context, f *sheet.File, opts ImportOptions) (*sheet.Report, error) {
	if err := requireAdmin(opts.By); err != nil {
		return nil, err
	}
	deps := opts.Departments
	if deps == nil {
		dl, ok := s.dir.(departmentLister)
		if !ok {
			return nil, errs.Internal(nil, "seal import: the directory cannot list organisations")
		}
		var err error
		if deps, err = dl.Departments(ctx); err != nil {
			return nil, err
		}
	}
	byCode, byID := map[string]exchange.Department{}, map[string]exchange.Department{}
	for _, d := range deps {
		byCode[strings.ToUpper(d.Code)], byID[d.ID] = d, d
	}
	live, err := s.liveSealNames(ctx)
	if err != nil {
		return nil, err
	}

	rep := sheet.NewReport()
	rep.DryRun = !opts.Commit
	now := s.now().UTC()
	caUntil, err := s.caValidUntil(ctx, now)
	if err != nil {
		return nil, err
	}
	type pending struct {
		ref sheet.Ref
		n   NewSeal
	}
	var todo []pending
	inFile := map[string]int{} // org id + name → line
	err = f.Read(ctx, SheetSeals, rep, func(r *sheet.Row) error {
		var dep exchange.Department
		code, id := strings.ToUpper(r.Get("credit_code")), r.Get("org_id")
		switch {
		case code == "" && id == "":
			if !r.Bad("credit_code") && !r.Bad("org_id") {
				rep.AddProblem(r.Problem("credit_code", "", "give the organisation's 统一社会信用代码 or 机构编号"))
			}
			return nil
		case code != "":
			d, ok := byCode[code]
			if !ok {
				rep.AddProblem(r.Problem("credit_code", code, "no organisation with this 统一社会信用代码 is registered on the hub"))
				return nil
			}
			if id != "" && id != d.ID {
				rep.AddProblem(r.Problem("org_id", id, "is not the organisation with 统一社会信用代码 "+code+" ("+d.ID+")"))
				return nil
			}
			dep = d
		default:
			d, ok := byID[id]
			if !ok {
				rep.AddProblem(r.Problem("org_id", id, "no such organisation"))
				return nil
			}
			dep = d
		}
		if on := r.Get("org_name"); on != "" {
			if want, _ := sheet.Clean(dep.Name); on != want {
				rep.AddProblem(r.Problem("org_name", on, "the organisation is registered as "+dep.Name))
			}
		}
		n := NewSeal{OrganisationID: dep.ID, Name: r.Get("name"), Kind: Kind(r.Get("kind")), Alg: Alg(r.Get("alg"))}
		if v := r.Get("valid_from"); v != "" {
			n.ValidFrom, _ = time.ParseInLocation(time.DateOnly, v, cst)
		}
		if v := r.Get("valid_until"); v != "" {
			t, _ := time.ParseInLocation(time.DateOnly, v, cst)
			n.ValidUntil = t.Add(24*time.Hour - time.Second) // through the end of that day
		}
		// The picture.
		switch img := r.Get("image"); {
		case img != "":
			b, err := readImageFile(opts.ImageDir, img)
			if err != nil {
				rep.AddProblem(r.Problem("image", img, err.Error()))
				break
			}
			if _, err := ValidateImage(b); err != nil {
				rep.AddProblem(r.Problem("image", img, errText(err)))
				break
			}
			n.Image = b
		case opts.GenerateImages:
			n.Image = DemoImage(dep.Name)
		default:
			if !r.Bad("image") {
				rep.AddProblem(r.Problem("image", "", "required: a PNG or SVG file name (or import with --generate-images)"))
			}
		}
		key := dep.ID + "\x00" + n.Name
		if line, dup := inFile[key]; dup {
			rep.AddProblem(r.Problem("name", n.Name, "the same organisation's seal of this name is on row "+strconv.Itoa(line)+" already"))
			return nil
		}
		inFile[key] = r.Line
		if live[key] {
			rep.Unchanged++
			return nil
		}
		if len(n.Image) == 0 {
			return nil
		}
		// The model's own checks, field by field.
		if err := n.validate(now); err != nil {
			var e *errs.Error
			if errors.As(err, &e) {
				for _, fe := range e.Fields {
					if col := importColumn[fe.Pointer]; col != "" && !r.Bad(col) {
						rep.AddProblem(r.Problem(col, fe.Value, fe.Reason))
					}
				}
			}
			return nil
		}
		// What CreateSeal would refuse at commit, found by the dry run.
		if n.ValidUntil.After(caUntil) {
			rep.AddProblem(r.Problem("valid_until", r.Get("valid_until"), "ends after the hub CA's validity ("+caUntil.In(cst).Format(time.DateOnly)+")"))
			return nil
		}
		todo = append(todo, pending{ref: r.Ref, n: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		rep.Created = 0
		return rep, nil
	}
	if !opts.Commit {
		rep.Created = len(todo)
		return rep, nil
	}
	for i, p := range todo {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if _, err := s.CreateSeal(ctx, opts.By, p.n); err != nil {
			if errs.Is(err, errs.KindInvalid) || errs.Is(err, errs.KindConflict) {
				rep.AddProblem(p.ref.Problem("name", p.n.Name, errText(err)))
				continue
			}
			return rep, err
		}
		rep.Created++
		if opts.Progress != nil && (i%sheet.ProgressEvery == 0 || i == len(todo)-1) {
			opts.Progress(sheet.Progress{Phase: "commit", Sheet: SheetSeals, Done: i + 1, Total: len(todo)})
		}
	}
	rep.Committed = rep.OK() // a seal refused at commit (a name taken meanwhile) is in the report
	return rep, nil
}

// caValidUntil is when the certificates the hub CA issues must end by: the
// current CA's expiry, or for a hub with no CA yet, that of the CA the
// first seal will create.
func (s *Service) caValidUntil(ctx context.Context, now time.Time) (time.Time, error) {
	var id string
	var der []byte
	err := s.db.R.QueryRowContext(ctx, `SELECT id, cert_der FROM seal_ca WHERE retired_at IS NULL ORDER BY created_at DESC, id LIMIT 1`).Scan(&id, &der)
	if errors.Is(err, sql.ErrNoRows) {
		return now.Add(CAValidity).Truncate(time.Second), nil
	}
	if err != nil {
		return time.Time{}, db.Interpret(err, "seal CA")
	}
	a, err := newAuthority(id, der)
	if err != nil {
		return time.Time{}, errs.Internal(err, "seal CA")
	}
	return a.cert.NotAfter, nil
}

// cst is China Standard Time, in which the file's dates are meant.
var cst = time.FixedZone("CST", 8*3600)

// importColumn maps NewSeal's JSON pointers to the sheet's columns.
var importColumn = map[string]string{
	"/organisation_id": "credit_code", "/name": "name", "/kind": "kind", "/alg": "alg",
	"/valid_from": "valid_from", "/valid_until": "valid_until", "/image": "image",
}

// liveSealNames returns organisation id + "\x00" + name of every seal not revoked.
func (s *Service) liveSealNames(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT organisation_id, name FROM seals WHERE status <> 'revoked'`)
	if err != nil {
		return nil, db.Interpret(err, "seals")
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var org, name string
		if err := rows.Scan(&org, &name); err != nil {
			return nil, db.Interpret(err, "seals")
		}
		out[org+"\x00"+name] = true
	}
	return out, db.Interpret(rows.Err(), "seals")
}

// readImageFile reads a picture named in the file, which must stay inside dir.
func readImageFile(dir, name string) ([]byte, error) {
	if dir == "" {
		return nil, errors.New("no image directory given (--images DIR)")
	}
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, errors.New("must be a file name inside the image directory")
	}
	f, err := os.Open(filepath.Join(dir, clean))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("no such file in the image directory")
		}
		return nil, errors.New("cannot be read")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, errors.New("is not a regular file")
	}
	if st.Size() > maxImageFile {
		return nil, errors.New("is over 4 MiB")
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, errors.New("cannot be read")
	}
	return b, nil
}

func errText(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		msg := e.Message
		for _, fe := range e.Fields {
			msg += "; " + strings.TrimPrefix(fe.Pointer, "/") + ": " + fe.Reason
		}
		return msg
	}
	return err.Error()
}
