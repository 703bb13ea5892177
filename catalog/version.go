package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Change is one changed attribute between two versions of an item. Field
// is the JSON name ("share_type", "libraries"), or "fields/CODE" for one
// data item; Old and New are display values ("" when absent).
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Version is one recorded version of an item: who, when, what changed.
type Version struct {
	Code    string    `json:"code"`
	Version int       `json:"version"`
	Action  string    `json:"action"` // create, update, publish, withdraw
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Note    string    `json:"note,omitempty"`
	Changes []Change  `json:"changes"`
	// Item is the item as it was after this version (with ?full=true).
	Item *Snapshot `json:"item,omitempty"`
}

// Snapshot is an item's content and status at one version.
type Snapshot struct {
	Content
	Status Status `json:"status"`
}

type snapshot = Snapshot

func snapshotDoc(it Item) string {
	b, _ := json.Marshal(Snapshot{it.Content, it.Status})
	return string(b)
}

func list(l []string) string { return strings.Join(l, "；") }

func fieldText(f Field) string {
	s := fmt.Sprintf("%s %s %s", f.Name, f.Code, f.DataType)
	if f.Length > 0 {
		s += "(" + strconv.Itoa(f.Length) + ")"
	}
	if f.Personal {
		s += " 个人信息"
	}
	if f.Sensitive {
		s += " 敏感"
	}
	if f.Description != "" {
		s += " " + f.Description
	}
	return s
}

// diff lists what differs from a to b, in a fixed order.
func diff(a, b Snapshot) []Change {
	var out []Change
	cmp := func(field, x, y string) {
		if x != y {
			out = append(out, Change{Field: field, Old: x, New: y})
		}
	}
	cmp("name", a.Name, b.Name)
	cmp("lei", a.Lei, b.Lei)
	cmp("xiang", a.Xiang, b.Xiang)
	cmp("mu", a.Mu, b.Mu)
	cmp("ximu", a.Ximu, b.Ximu)
	cmp("provider_id", a.ProviderID, b.ProviderID)
	cmp("summary", a.Summary, b.Summary)
	cmp("format", a.Format, b.Format)
	cmp("share_type", a.ShareType, b.ShareType)
	cmp("share_condition", a.ShareCondition, b.ShareCondition)
	cmp("legal_basis", a.LegalBasis, b.LegalBasis)
	cmp("share_method", a.ShareMethod, b.ShareMethod)
	cmp("open_type", a.OpenType, b.OpenType)
	cmp("update_cycle", a.UpdateCycle, b.UpdateCycle)
	cmp("publish_date", a.PublishDate, b.PublishDate)
	cmp("libraries", list(a.Libraries), list(b.Libraries))
	cmp("related", list(a.Related), list(b.Related))
	old := map[string]Field{}
	for _, f := range a.Fields {
		old[f.Code] = f
	}
	seen := map[string]bool{}
	for _, f := range b.Fields {
		seen[f.Code] = true
		if o, ok := old[f.Code]; !ok {
			cmp("fields/"+f.Code, "", fieldText(f))
		} else if o != f {
			cmp("fields/"+f.Code, fieldText(o), fieldText(f))
		}
	}
	for _, f := range a.Fields {
		if !seen[f.Code] {
			cmp("fields/"+f.Code, fieldText(f), "")
		}
	}
	// Same fields in another order is a change too: templates and exports
	// keep the order.
	if len(out) == 0 || !hasFieldChange(out) {
		ao, bo := fieldOrder(a.Fields), fieldOrder(b.Fields)
		if ao != bo && len(a.Fields) == len(b.Fields) {
			cmp("fields", ao, bo)
		}
	}
	cmp("status", string(a.Status), string(b.Status))
	return out
}

func hasFieldChange(cs []Change) bool {
	for _, c := range cs {
		if strings.HasPrefix(c.Field, "fields/") {
			return true
		}
	}
	return false
}

func fieldOrder(fs []Field) string {
	codes := make([]string, len(fs))
	for i, f := range fs {
		codes[i] = f.Code
	}
	return strings.Join(codes, ",")
}

// Versions lists an item's versions, oldest first, without snapshots.
func (s *Service) Versions(ctx context.Context, code string) ([]Version, error) {
	if _, err := s.Item(ctx, code); err != nil {
		return nil, err
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT code, version, action, at, by_id, note, changes FROM catalog_versions WHERE code = $1 ORDER BY version`, code)
	if err != nil {
		return nil, db.Interpret(err, "versions")
	}
	defer rows.Close()
	out := []Version{}
	for rows.Next() {
		var (
			v  Version
			at int64
			ch string
		)
		if err := rows.Scan(&v.Code, &v.Version, &v.Action, &at, &v.By, &v.Note, &ch); err != nil {
			return nil, db.Interpret(err, "versions")
		}
		v.At = time.UnixMicro(at).UTC()
		if err := json.Unmarshal([]byte(ch), &v.Changes); err != nil {
			return nil, errs.Internal(err, "version %d of %s", v.Version, code)
		}
		out = append(out, v)
	}
	return out, db.Interpret(rows.Err(), "versions")
}

// VersionOf returns one version of an item with its snapshot.
func (s *Service) VersionOf(ctx context.Context, code string, n int) (Version, error) {
	var (
		v       Version
		at      int64
		ch, doc string
	)
	err := s.db.R.QueryRowContext(ctx, `SELECT code, version, action, at, by_id, note, changes, doc FROM catalog_versions WHERE code = $1 AND version = $2`, code, n).
		Scan(&v.Code, &v.Version, &v.Action, &at, &v.By, &v.Note, &ch, &doc)
	if err != nil {
		return v, db.Interpret(err, fmt.Sprintf("version %d of item %s", n, clip(code)))
	}
	v.At = time.UnixMicro(at).UTC()
	v.Item = &Snapshot{}
	if err := json.Unmarshal([]byte(ch), &v.Changes); err != nil {
		return v, errs.Internal(err, "version %d of %s", n, code)
	}
	if err := json.Unmarshal([]byte(doc), v.Item); err != nil {
		return v, errs.Internal(err, "version %d of %s", n, code)
	}
	return v, nil
}

// Diff compares two versions of an item: what changed from version from to
// version to (either order).
func (s *Service) Diff(ctx context.Context, code string, from, to int) ([]Change, error) {
	a, err := s.VersionOf(ctx, code, from)
	if err != nil {
		return nil, err
	}
	b, err := s.VersionOf(ctx, code, to)
	if err != nil {
		return nil, err
	}
	out := diff(*a.Item, *b.Item)
	if out == nil {
		out = []Change{}
	}
	return out, nil
}
