package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// ImportOptions tune an import.
type ImportOptions struct {
	// By is who imports. Rows that would create or change an item By may
	// not change are errors.
	By *exchange.Principal
	// Commit writes the file if it has no errors; without it the import is
	// a dry run that only reports.
	Commit bool
	// Publish publishes new and changed items (and unchanged drafts).
	Publish bool
	// UnzipSizeLimit caps an xlsx's unpacked size (sheet.DefaultUnzipSizeLimit).
	UnzipSizeLimit int64
	TempDir        string
	// Progress, when set, hears how far the import has come.
	Progress func(sheet.Progress)
	// Committed, when set, hears the codes of the existing items a
	// committed import changed: their grants may need a review.
	Committed func(updated []string)
}

// Import reads the catalogue file at path (xlsx or CSV) and, with
// opts.Commit and no errors, writes it in one transaction. The report lists
// every bad row (row, column, value, reason), the notes on what was
// normalised, and how many items are (or would be) created, updated and
// unchanged. A file that cannot be opened at all is an error; a file with
// bad rows is a report with errors (Report.Err gives the error to return).
func (s *Service) Import(ctx context.Context, path string, opts ImportOptions) (*sheet.Report, error) {
	spec, err := s.Spec(ctx)
	if err != nil {
		return nil, err
	}
	f, err := sheet.Open(path, spec, sheet.Options{UnzipSizeLimit: opts.UnzipSizeLimit, TempDir: opts.TempDir, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.ImportFile(ctx, f, opts)
}

// ImportCSV imports the items sheet (and, when fieldsPath is not empty, the
// fields sheet) from CSV files, as the demo catalogue in testdata is kept.
func (s *Service) ImportCSV(ctx context.Context, itemsPath, fieldsPath string, opts ImportOptions) (*sheet.Report, error) {
	spec, err := s.Spec(ctx)
	if err != nil {
		return nil, err
	}
	paths := map[string]string{SheetItems: itemsPath}
	if fieldsPath != "" {
		paths[SheetFields] = fieldsPath
	}
	f, err := sheet.OpenCSV(paths, spec, sheet.Options{Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.ImportFile(ctx, f, opts)
}

// fileItem is one item row of the file.
type fileItem struct {
	ref      sheet.Ref
	code     string // as given in the file
	version  int    // the item's version when the file was exported, 0 if not given
	content  Content
	fields   []int32 // the fields-sheet rows' lines, parallel to content.Fields (see fieldRef)
	bad      bool
	existing *existingItem
}

type existingItem struct {
	code, provider, name, hash, status string
	version                            int
}

// columnOf maps Content's JSON pointers to the items sheet's columns.
var columnOf = map[string]string{
	"/name": "name", "/lei": "lei", "/xiang": "xiang", "/mu": "mu", "/ximu": "ximu", "/provider_id": "provider",
	"/summary": "summary", "/format": "format", "/share_type": "share_type", "/share_condition": "share_condition",
	"/legal_basis": "legal_basis", "/share_method": "share_method", "/open_type": "open_type",
	"/update_cycle": "update_cycle", "/publish_date": "publish_date", "/libraries": "libraries", "/related": "related",
	"/fields": "", "/code": "code",
}

// ImportFile is Import over an opened file.
func (s *Service) ImportFile(ctx context.Context, f *sheet.File, opts ImportOptions) (*sheet.Report, error) {
	rep := sheet.NewReport()
	rep.DryRun = !opts.Commit
	progress := func(p sheet.Progress) {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	deps, err := s.departments(ctx)
	if err != nil {
		return nil, err
	}
	depByName, depByCode := map[string]string{}, map[string]string{}
	for _, d := range deps {
		n, _ := sheet.Clean(d.Name)
		depByName[n], depByCode[d.Code] = d.ID, d.ID
	}
	libs, err := s.Libraries(ctx)
	if err != nil {
		return nil, err
	}
	libByName := map[string]string{}
	for _, l := range libs {
		libByName[l.Name] = l.ID
	}

	// 1. Items sheet.
	var items []*fileItem
	err = f.Read(ctx, SheetItems, rep, func(r *sheet.Row) error {
		fi := &fileItem{ref: r.Ref, code: r.Get("code")}
		fi.version, _ = strconv.Atoi(r.Get("version"))
		c := &fi.content
		c.Name, c.Lei, c.Xiang, c.Mu, c.Ximu = r.Get("name"), r.Get("lei"), r.Get("xiang"), r.Get("mu"), r.Get("ximu")
		c.Summary, c.Format, c.ShareType = r.Get("summary"), r.Get("format"), r.Get("share_type")
		c.ShareCondition, c.LegalBasis, c.ShareMethod = r.Get("share_condition"), r.Get("legal_basis"), r.Get("share_method")
		c.OpenType, c.UpdateCycle, c.PublishDate = r.Get("open_type"), r.Get("update_cycle"), r.Get("publish_date")
		c.Related = r.List("related")
		c.Libraries = []string{}
		for _, n := range r.List("libraries") {
			if id, ok := libByName[n]; ok {
				c.Libraries = append(c.Libraries, id)
			}
		}
		c.Fields = []Field{}
		// Provider: by credit code, by name, or both (then they must agree).
		pname, pcode := r.Get("provider"), r.Get("provider_code")
		var byCode, byName string
		if pcode != "" && !r.Bad("provider_code") {
			norm, err := ident.NormalizeCreditCode(pcode)
			switch {
			case err != nil && allDigits(pcode) && len(pcode) >= 16:
				rep.Add(r, "provider_code", pcode, "not a valid 统一社会信用代码; an all-digit code typed into a number cell loses its last digits (Excel keeps 15): format the column as text and type it again")
			case err != nil:
				rep.Add(r, "provider_code", pcode, "not a valid 统一社会信用代码: "+err.Error())
			case depByCode[norm] == "":
				rep.Add(r, "provider_code", pcode, "no department of the hub has this code")
			default:
				byCode = depByCode[norm]
			}
		}
		if pname != "" {
			if byName = depByName[pname]; byName == "" {
				rep.Add(r, "provider", pname, "no department of the hub has this name")
			}
		}
		switch {
		case pname == "" && pcode == "":
			rep.Add(r, "provider", "", "required: the providing department's name or credit code")
		case byCode != "" && byName != "" && byCode != byName:
			rep.Add(r, "provider_code", pcode, "this code belongs to "+deps[byCode].Name+", not "+pname)
		case byCode != "":
			c.ProviderID = byCode
		default:
			c.ProviderID = byName
		}
		items = append(items, fi)
		return nil
	})
	if err != nil {
		return nil, err
	}
	byCode := map[string]*fileItem{}
	byKey := map[string]*fileItem{} // provider + name
	byName := map[string][]*fileItem{}
	for _, fi := range items {
		if fi.code != "" {
			if prev := byCode[fi.code]; prev != nil {
				rep.AddAt(fi.ref, "code", fi.code, fmt.Sprintf("duplicate code: row %d has it too", prev.ref.Line))
				fi.bad = true
			} else {
				byCode[fi.code] = fi
			}
		}
		if fi.content.ProviderID != "" && fi.content.Name != "" {
			k := fi.content.ProviderID + "\x00" + fi.content.Name
			if prev := byKey[k]; prev != nil {
				rep.AddAt(fi.ref, "name", fi.content.Name, fmt.Sprintf("duplicate: row %d has the same name from the same provider", prev.ref.Line))
				fi.bad = true
			} else {
				byKey[k] = fi
			}
		}
		if fi.content.Name != "" {
			byName[fi.content.Name] = append(byName[fi.content.Name], fi)
		}
	}

	// 2. Fields sheet, linked to item rows by code or by name. A row's
	// reference is kept as its line: fieldRef is any row's (the sheet and
	// its columns are the same for all).
	var fieldRef sheet.Ref
	fieldsGiven := f.Has(SheetFields)
	if fieldsGiven {
		err = f.Read(ctx, SheetFields, rep, func(r *sheet.Row) error {
			var owner *fileItem
			code, name := r.Get("item_code"), r.Get("item_name")
			switch {
			case code != "":
				if owner = byCode[code]; owner == nil {
					rep.Add(r, "item_code", code, "no row of sheet "+SheetItems+" has this code")
				}
			case name != "":
				switch cand := byName[name]; len(cand) {
				case 0:
					rep.Add(r, "item_name", name, "no row of sheet "+SheetItems+" has this name")
				case 1:
					owner = cand[0]
				default:
					rep.Add(r, "item_name", name, "several rows of sheet "+SheetItems+" have this name: give the 资源代码")
				}
			default:
				rep.Add(r, "item_code", "", "required: the item's 资源代码 or 信息资源名称")
			}
			if owner == nil {
				return nil
			}
			fl := Field{Name: r.Get("name"), Code: r.Get("code"), DataType: r.Get("data_type"), Description: r.Get("description"),
				Personal: r.Get("personal") == "true", Sensitive: r.Get("sensitive") == "true"}
			if l := r.Get("length"); l != "" {
				fl.Length, _ = strconv.Atoi(l)
			}
			owner.content.Fields = append(owner.content.Fields, fl)
			owner.fields = append(owner.fields, int32(r.Line))
			fieldRef = r.Ref
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	progress(sheet.Progress{Phase: "check", Total: len(items)})

	// 3. Each item on its own.
	for _, fi := range items {
		for _, fe := range fi.content.check() {
			fi.bad = true
			if strings.HasPrefix(fe.Pointer, "/fields/") {
				parts := strings.SplitN(strings.TrimPrefix(fe.Pointer, "/fields/"), "/", 2)
				i, _ := strconv.Atoi(parts[0])
				if i < len(fi.fields) && len(parts) == 2 {
					ref := fieldRef
					ref.Line = int(fi.fields[i])
					rep.AddAt(ref, parts[1], fe.Value, fe.Reason)
					continue
				}
			}
			key := fe.Pointer
			if j := strings.Index(key[1:], "/"); j >= 0 {
				key = key[:j+1]
			}
			col := columnOf[key]
			if col == "provider" {
				continue // a missing or unknown provider was reported while reading
			}
			rep.AddAt(fi.ref, col, fe.Value, fe.Reason)
		}
		if fi.code != "" {
			var e *errs.Error
			if err := checkCode(fi.code, &fi.content); errors.As(err, &e) {
				for _, fe := range e.Fields {
					rep.AddAt(fi.ref, "code", fe.Value, fe.Reason)
				}
				fi.bad = true
			}
		}
	}

	// 4. Against the database.
	existing, err := s.existing(ctx)
	if err != nil {
		return nil, err
	}
	exByKey := map[string]*existingItem{}
	for _, e := range existing {
		exByKey[e.provider+"\x00"+e.name] = e
	}
	for _, fi := range items {
		var same *existingItem
		if fi.content.ProviderID != "" {
			same = exByKey[fi.content.ProviderID+"\x00"+fi.content.Name]
		}
		if fi.code != "" {
			fi.existing = existing[fi.code]
			if same != nil && same.code != fi.code {
				rep.AddAt(fi.ref, "name", fi.content.Name, "duplicate: item "+same.code+" of the same provider already has this name")
				fi.bad = true
			}
		} else {
			fi.existing = same
			// Matched by name: the row may not move the item to another
			// classification, which its code is made of (as Update refuses).
			if cl := fi.content.Classification(); same != nil && reCode.MatchString(cl+"-000000") && !strings.HasPrefix(same.code, cl+"-") {
				rep.AddAt(fi.ref, "lei", cl, "item "+same.code+" of the same provider has this name: the classification is part of its resource code and cannot change; withdraw that item and create another")
				fi.bad = true
			}
		}
		for _, rc := range fi.content.Related {
			if existing[rc] == nil && byCode[rc] == nil && reCode.MatchString(rc) {
				rep.AddAt(fi.ref, "related", rc, "no item has this code, in the hub or in this file")
				fi.bad = true
			}
			if rc == fi.code && rc != "" {
				rep.AddAt(fi.ref, "related", rc, "an item cannot be related to itself")
				fi.bad = true
			}
		}
	}
	// Without a fields sheet, items keep the fields they have.
	var keepFields []string
	if !fieldsGiven {
		for _, fi := range items {
			if fi.existing != nil {
				keepFields = append(keepFields, fi.existing.code)
			}
		}
	}
	oldFields, err := s.itemsByCode(ctx, keepFields)
	if err != nil {
		return nil, err
	}

	// 5. Decide what changes, and whether By may change it.
	var changes []*fileItem
	for _, fi := range items {
		if fi.bad || fi.content.ProviderID == "" {
			continue
		}
		if old, ok := oldFields[codeOf(fi)]; ok {
			fi.content.Fields = old.Fields
		}
		fi.content.Normalize()
		_, hash := docOf(&fi.content)
		ex := fi.existing
		switch {
		case ex == nil:
			rep.Created++
		case ex.hash == hash && (!opts.Publish || ex.status != string(StatusDraft)):
			rep.Unchanged++
			continue
		case fi.version != 0 && fi.version != ex.version && ex.hash != hash:
			// The item changed after the file was exported: writing the
			// row would silently undo that change, which a PUT with a stale
			// version refuses too.
			rep.AddAt(fi.ref, "version", strconv.Itoa(fi.version), fmt.Sprintf("item %s was changed after this file was exported: it is at version %d, the file has version %d. Export it again and reapply your change, or clear this cell to overwrite it with this row",
				ex.code, ex.version, fi.version))
			continue
		default:
			rep.Updated++
		}
		if !CanChange(opts.By, fi.content.ProviderID) || ex != nil && !CanChange(opts.By, ex.provider) {
			rep.AddAt(fi.ref, "provider", fi.content.ProviderID, "you may not change this department's catalogue: only its data admins or hub admins may")
			continue
		}
		changes = append(changes, fi)
	}
	if !rep.OK() {
		rep.Created, rep.Updated, rep.Unchanged = 0, 0, 0
	}
	if !rep.OK() || !opts.Commit || len(changes) == 0 {
		rep.Committed = rep.OK() && opts.Commit
		return rep, nil
	}

	// 6. Commit, whole or nothing.
	var codes []string
	for _, fi := range changes {
		if fi.existing != nil {
			codes = append(codes, fi.existing.code)
		}
	}
	olds, err := s.itemsByCode(ctx, codes)
	if err != nil {
		return nil, err
	}
	ps := make([]*pending, 0, len(changes))
	for _, fi := range changes {
		p := &pending{item: Item{Code: fi.code, Content: fi.content, Status: StatusDraft}, action: "create", note: "import"}
		if fi.existing != nil {
			old := olds[fi.existing.code]
			if old.Version != fi.existing.version {
				// Changed since the rows were checked against it (step 4).
				return nil, errs.Conflict("item %s changed while this file was being imported: import it again", old.Code)
			}
			p.old, p.item, p.action = &old, old, "update"
			p.item.Content = fi.content
			if opts.Publish {
				p.item.Status = StatusPublished
			}
			p.changes = diff(Snapshot{old.Content, old.Status}, Snapshot{p.item.Content, p.item.Status})
			if len(p.changes) == 1 && p.changes[0].Field == "status" {
				p.action = "publish"
			}
		} else if opts.Publish {
			p.item.Status = StatusPublished
		}
		ps = append(ps, p)
	}
	by := ""
	if opts.By != nil {
		by = opts.By.ID
	}
	err = s.commitProgress(ctx, by, ps, func(done int) {
		progress(sheet.Progress{Phase: "commit", Done: done, Total: len(ps)})
	})
	if err != nil {
		return nil, err
	}
	progress(sheet.Progress{Phase: "commit", Done: len(ps), Total: len(ps)})
	rep.Committed = true
	if opts.Committed != nil {
		opts.Committed(codes)
	}
	return rep, nil
}

func codeOf(fi *fileItem) string {
	if fi.existing != nil {
		return fi.existing.code
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// existing returns every item's identity and content hash by code.
func (s *Service) existing(ctx context.Context) (map[string]*existingItem, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT code, provider_id, name, content_hash, version, status FROM catalog_items`)
	if err != nil {
		return nil, db.Interpret(err, "catalogue items")
	}
	defer rows.Close()
	out := map[string]*existingItem{}
	for rows.Next() {
		e := &existingItem{}
		if err := rows.Scan(&e.code, &e.provider, &e.name, &e.hash, &e.version, &e.status); err != nil {
			return nil, db.Interpret(err, "catalogue items")
		}
		out[e.code] = e
	}
	return out, db.Interpret(rows.Err(), "catalogue items")
}

// itemsByCode loads whole items, a batch of codes at a time.
func (s *Service) itemsByCode(ctx context.Context, codes []string) (map[string]Item, error) {
	out := map[string]Item{}
	const batch = 500
	for i := 0; i < len(codes); i += batch {
		part := codes[i:min(i+batch, len(codes))]
		args := make([]any, len(part))
		ph := make([]string, len(part))
		for j, c := range part {
			args[j], ph[j] = c, "$"+strconv.Itoa(j+1)
		}
		rows, err := s.db.R.QueryContext(ctx, `SELECT `+itemCols+itemFrom+` WHERE i.code IN (`+strings.Join(ph, ", ")+`)`, args...)
		if err != nil {
			return nil, db.Interpret(err, "catalogue items")
		}
		for rows.Next() {
			it, err := scanItem(rows)
			if err != nil {
				rows.Close()
				return nil, db.Interpret(err, "catalogue items")
			}
			out[it.Code] = it
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, db.Interpret(err, "catalogue items")
		}
	}
	return out, nil
}
