package api

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// dataRecord is one record as a consumer sees it: only granted fields,
// personal fields masked unless the grant names them.
type dataRecord struct {
	Key       string                     `json:"key"`
	Version   int64                      `json:"version"`
	UpdatedAt time.Time                  `json:"updated_at"`
	Deleted   bool                       `json:"deleted,omitempty"`
	Disputed  string                     `json:"disputed,omitempty"` // id of the open dispute flagging the record
	Data      map[string]json.RawMessage `json:"data"`
}

type dataResponse struct {
	ItemCode string   `json:"item_code"`
	GrantID  string   `json:"grant_id"`
	Fields   []string `json:"fields"`
	Masked   []string `json:"masked,omitempty"`
	// KeysHidden names the key fields the grant does not show in clear;
	// each record's key is then a reference ("~…") that stays the same
	// for the record and cannot be looked up by.
	KeysHidden []string     `json:"keys_hidden,omitempty"`
	Records    []dataRecord `json:"records"`
	NextCursor string       `json:"next_cursor,omitempty"`
	// NextChangedSince is where the next incremental pull resumes: pass
	// it as changed_since. No change to the item that this response does
	// not show is stamped before it (changes still being written, on
	// this replica or another, hold it back, and it stays a few seconds
	// behind the clock), so a pull from it misses nothing and repeats a
	// few records. Of a listing read in pages, take the first page's.
	NextChangedSince time.Time `json:"next_changed_since"`
}

// nextChangedSinceHeader carries a response's resume point
// (dataResponse.NextChangedSince) on the records list and the exports.
const nextChangedSinceHeader = "X-Next-Changed-Since"

// recordVersion is one version of a record as a consumer sees it.
type recordVersion struct {
	Version   int64     `json:"version"`
	ChangedAt time.Time `json:"changed_at"`
	Deleted   bool      `json:"deleted,omitempty"` // the version that marked the record gone from the source
	// Corrected: made by the provider's direct correction (a settled
	// dispute), not by a sync run.
	Corrected bool                       `json:"corrected,omitempty"`
	Data      map[string]json.RawMessage `json:"data"`
}

type recordVersionsResponse struct {
	ItemCode   string          `json:"item_code"`
	Key        string          `json:"key"`
	GrantID    string          `json:"grant_id"`
	Fields     []string        `json:"fields"`
	Masked     []string        `json:"masked,omitempty"`
	Disputed   string          `json:"disputed,omitempty"` // id of the open dispute flagging the record
	Versions   []recordVersion `json:"versions"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// projection decides, per field, whether a caller sees it and how.
type projection struct {
	fields []string        // in item order
	masked map[string]bool // personal fields shown masked
	// hiddenKeys are the item's key fields the caller does not see in
	// clear (not granted, or granted masked). A record's key is made of
	// their values, so then it is shown as a reference (keyRef), and
	// neither looked up by nor paged with in clear.
	hiddenKeys []string
}

func newProjection(it exchange.ShareItem, a exchange.Access) projection {
	p := projection{masked: map[string]bool{}}
	for _, f := range it.Fields {
		if !a.Allows(f.Code) {
			continue
		}
		p.fields = append(p.fields, f.Code)
		// "*" does not unmask: personal fields are shown in clear only
		// when the grant names them.
		if f.Personal && !slices.Contains(a.Grant.Fields, f.Code) {
			p.masked[f.Code] = true
		}
	}
	for _, k := range it.KeyFields {
		if !slices.Contains(p.fields, k) || p.masked[k] {
			p.hiddenKeys = append(p.hiddenKeys, k)
		}
	}
	return p
}

// errKeysHidden refuses a lookup by key to a caller who does not see the
// key fields in clear: it would tell whether a person is in the dataset.
func (p projection) errKeysHidden(item string) error {
	return errs.Forbidden("records of item %s are keyed by %s, which the grant does not show in clear: look records up with filters on fields it does, or ask for %s by name in the grant",
		item, strings.Join(p.hiddenKeys, ", "), strings.Join(p.hiddenKeys, ", "))
}

// keyRef is what a caller who does not see the key fields in clear gets
// for a record's key: the same for the same record of the item, and
// nothing to read the key from. It is the key encrypted deterministically
// (AES-GCM under a nonce that is an HMAC of item and key, a synthetic IV),
// so that the hub, and only the hub, can tell which record a reference
// names: a consumer disputes a record by the reference it was shown
// (openKeyRef), and can still not look up a key of its own choosing.
func (s *Server) keyRef(item, key string) string {
	aead := s.dataAEAD("key-ref-aead")
	nonce := s.keyRefNonce(item, key, aead.NonceSize())
	return "~" + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(key), []byte(item)))
}

// openKeyRef is the key of the record of item that ref names; ok is false
// when ref is not a reference keyRef made for a record of item.
func (s *Server) openKeyRef(item, ref string) (key string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(ref, "~"))
	aead := s.dataAEAD("key-ref-aead")
	n := aead.NonceSize()
	if err != nil || !strings.HasPrefix(ref, "~") || len(b) < n {
		return "", false
	}
	k, err := aead.Open(nil, b[:n], b[n:], []byte(item))
	if err != nil || !hmac.Equal(b[:n], s.keyRefNonce(item, string(k), n)) {
		return "", false
	}
	return string(k), true
}

func (s *Server) keyRefNonce(item, key string, size int) []byte {
	m := hmac.New(sha256.New, s.dataSecret("key-ref"))
	m.Write([]byte(item + "\x00" + key))
	return m.Sum(nil)[:size]
}

// sealCursor and openCursor carry a page's last key, which such a caller
// must not read (nor choose: a cursor of its own would probe the keys'
// order), sealed with AES-GCM.
// withResume appends a listing's resume point (next_changed_since) to its
// next cursor, as "@" and base-36 unix microseconds: every page of one
// listing then answers the first page's resume point. A later page's own
// would be later than changes committed while the pages were read, and a
// pull resuming from it would miss them.
func withResume(resume time.Time, next string) string {
	if next == "" {
		return ""
	}
	return next + "@" + strconv.FormatInt(resume.UnixMicro(), 36)
}

// splitResume undoes withResume: the resume point (zero when the cursor
// has none, as on a first page) and the cursor. The last "@" splits: a
// record key in a cursor may hold one, base-36 digits never do.
func splitResume(cur string) (time.Time, string) {
	if i := strings.LastIndexByte(cur, '@'); i >= 0 {
		if us, err := strconv.ParseInt(cur[i+1:], 36, 64); err == nil && us > 0 {
			return time.UnixMicro(us).UTC(), cur[:i]
		}
	}
	return time.Time{}, cur
}

func (s *Server) sealCursor(item, key string) string {
	if key == "" {
		return ""
	}
	aead := s.dataAEAD("cursor")
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return "~" + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(key), []byte(item)))
}

func (s *Server) openCursor(item, cur string) (string, error) {
	bad := errs.InvalidFields("bad cursor", errs.FieldError{Pointer: "?cursor", Reason: "next_cursor of the previous page"})
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(cur, "~"))
	aead := s.dataAEAD("cursor")
	if err != nil || !strings.HasPrefix(cur, "~") || len(b) < aead.NonceSize() {
		return "", bad
	}
	key, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(item))
	if err != nil {
		return "", bad
	}
	return string(key), nil
}

// dataAEAD is AES-256-GCM under the data secret for purpose.
func (s *Server) dataAEAD(purpose string) cipher.AEAD {
	block, _ := aes.NewCipher(s.dataSecret(purpose))
	aead, _ := cipher.NewGCM(block)
	return aead
}

// dataSecret derives a 32-byte secret for purpose from the hub's link
// secret (the same on every replica).
func (s *Server) dataSecret(purpose string) []byte {
	m := hmac.New(sha256.New, s.cfg.LinkSecret)
	m.Write([]byte("sharehub/data/" + purpose))
	return m.Sum(nil)
}

func (p projection) apply(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(p.fields))
	for _, f := range p.fields {
		v, ok := all[f]
		if !ok {
			continue
		}
		if p.masked[f] {
			// UseNumber: a number over 2^53 (an 18-digit 身份证号 stored
			// as a number) decoded as float64 would be masked from rounded
			// digits.
			var x any
			d := json.NewDecoder(bytes.NewReader(v))
			d.UseNumber()
			if err := d.Decode(&x); err != nil {
				return nil, err
			}
			v = must(json.Marshal(maskValue(f, x)))
		}
		out[f] = v
	}
	return out, nil
}

func (p projection) maskedList() []string {
	var out []string
	for _, f := range p.fields {
		if p.masked[f] {
			out = append(out, f)
		}
	}
	return out
}

// reResidentIDShape is the shape of a 身份证号, check character unchecked.
var reResidentIDShape = regexp.MustCompile(`^[0-9]{17}[0-9Xx]$`)

func maskValue(field string, v any) any {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return nil
		}
		s = strings.Trim(string(must(json.Marshal(v))), `"`)
	}
	// An 18-digit number whose check character is wrong is still masked
	// as a 身份证号; nothing else is, for that rule shows the first 6
	// characters too (of an e-mail address, a name in pinyin).
	if ident.Validate(ident.KindResidentID, s) == nil || reResidentIDShape.MatchString(s) {
		return ident.Mask(ident.KindResidentID, s)
	}
	if ident.Validate(ident.KindCreditCode, s) == nil {
		return ident.Mask(ident.KindCreditCode, s)
	}
	return ident.Mask("", s)
}

func must(b []byte, _ error) []byte { return b }

// limitQuery reads ?limit (1–1000); 0 when absent.
func limitQuery(c *gin.Context) (int, error) {
	l := c.Query("limit")
	if l == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 1000 {
		return 0, errs.InvalidFields("bad limit", errs.FieldError{Pointer: "?limit", Reason: "1–1000", Value: l})
	}
	return n, nil
}

// dataAccess runs the checks every data route shares: a purpose, a grant
// covering the fields, the quota. It notes the item and the grant. scope,
// if not nil, is the route's own check of the call against what a grant
// would show; it runs before the quota is taken, on each grant that could
// serve the call, so that a call refused for what the grant does not allow
// does not use the quota.
func (s *Server) dataAccess(c *gin.Context, scope func(exchange.ShareItem, projection) error) (exchange.ShareItem, exchange.Access, projection, error) {
	code := c.Param("code")
	noteResource(c, exchange.ResourceCatalogItem, code)
	if strings.TrimSpace(c.GetHeader("X-Purpose")) == "" {
		return exchange.ShareItem{}, exchange.Access{}, projection{}, errs.InvalidFields("a purpose is required",
			errs.FieldError{Pointer: "X-Purpose", Reason: "state the purpose of use (用途) in the X-Purpose header"})
	}
	var fields []string
	for _, f := range strings.Split(c.Query("fields"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			fields = append(fields, f)
		}
	}
	ctx := c.Request.Context()
	it, err := s.sync.CachedShareItem(ctx, code)
	if err != nil {
		return it, exchange.Access{}, projection{}, err
	}
	// A grant made before the item was withdrawn or turned 不予共享 no
	// longer fits: refuse at once, before ReviewGrants revokes it.
	if !it.Published || it.ShareType == exchange.ShareNone {
		return it, exchange.Access{}, projection{}, errs.Forbidden("item %s is no longer shared (%s)", code, map[bool]string{true: it.ShareType, false: "not published"}[it.Published])
	}
	codes := it.FieldCodes()
	for _, f := range fields {
		if !slices.Contains(codes, f) {
			return it, exchange.Access{}, projection{}, errs.InvalidFields("unknown field", errs.FieldError{Pointer: "?fields", Reason: "not a field of item " + code, Value: f})
		}
	}
	var scopes []exchange.Scope
	if scope != nil {
		scopes = append(scopes, func(a exchange.Access) error { return scope(it, newProjection(it, a)) })
	}
	a, err := s.authorize(c, exchange.Resource{Kind: exchange.ResourceCatalogItem, ID: code}, fields, scopes...)
	if err != nil {
		return it, a, projection{}, err
	}
	return it, a, newProjection(it, a), nil
}

func (s *Server) registerData() {
	// Grants are the consumer department's; of its principals, its
	// applications and data admins use them. An auditor reviews the log,
	// a seal user seals and an importer loads files: none reads records.
	readers := []exchange.Role{exchange.RoleApp, exchange.RoleDataAdmin}
	s.handle(route{Method: "GET", Path: "/v1/data/:code/records", Tag: "data", Roles: readers,
		Summary: "Read an item's records by key or by field filters: only granted fields, personal fields masked unless granted by name; needs X-Purpose; audited with the row count; counts against the grant's quota, except a call refused with a 400 (the request's fault) or a 403 (what the grant does not allow: a filter on a field it shows masked, a lookup by a key it hides).",
		Query: []queryParam{{Name: "key", Description: "record key (key field values joined by |); repeatable, at most 100; the other conditions still apply"},
			{Name: "fields", Description: "comma-separated field codes; default: every granted field"},
			{Name: "f.FIELD", Description: "filter: records whose FIELD equals the value; one value, on a field granted in clear (not masked)"},
			{Name: "changed_since", Description: "RFC 3339: records changed at or after the time; for incremental pulls pass the next_changed_since of the previous pull (every page of a listing answers its first page's), not the time of the pull: a change committed after a pull may be stamped before it"},
			{Name: "include_deleted", Description: "true: also records gone from the source"},
			{Name: "cursor"}, {Name: "limit", Description: "1–1000, default 100"}},
		Response: dataResponse{}, Handler: func(c *gin.Context) {
			// What is wrong with the request itself is said before the
			// grant is checked: a refused call does not use the quota.
			q := datasync.RecordQuery{Filters: map[string]string{}}
			// A later page carries the first page's resume point in its
			// cursor and answers it again (see withResume).
			firstResume, cursor := splitResume(c.Query("cursor"))
			q.Cursor = cursor
			var err error
			if q.IncludeDeleted, err = queryBool(c, "include_deleted"); err != nil {
				fail(c, err)
				return
			}
			if q.Limit, err = limitQuery(c); err != nil {
				fail(c, err)
				return
			}
			if cs := c.Query("changed_since"); cs != "" {
				t, err := parseQueryTime(cs)
				if err != nil {
					fail(c, errs.InvalidFields("bad time", errs.FieldError{Pointer: "?changed_since", Reason: "RFC 3339", Value: cs}))
					return
				}
				q.ChangedSince = t
			}
			for k, vs := range c.Request.URL.Query() {
				if strings.HasPrefix(k, "f.") && len(vs) > 1 {
					fail(c, errs.InvalidFields("repeated filter", errs.FieldError{Pointer: "?" + k, Reason: "one value per filter"}))
					return
				}
			}
			if len(c.QueryArray("key")) > 100 {
				fail(c, errs.InvalidFields("too many keys", errs.FieldError{Pointer: "?key", Reason: "at most 100 keys per call"}))
				return
			}
			// What the grant does not allow (a lookup by a key it hides, a
			// filter on a field it does not show in clear) is refused
			// before the quota is taken too: plan runs on each grant
			// Authorize weighs, then again on the one it chose.
			keys, query := c.QueryArray("key"), c.Request.URL.Query()
			plan := func(it exchange.ShareItem, proj projection) (datasync.RecordQuery, error) {
				pq := q
				pq.Filters = map[string]string{}
				// A lookup by key keeps the call's other conditions
				// (filters, changed_since): they are checked and applied
				// with it, not dropped.
				if len(keys) > 0 {
					if len(proj.hiddenKeys) > 0 {
						return pq, proj.errKeysHidden(it.Code)
					}
					pq.Keys = keys
				}
				// A sealed cursor is opened for a caller who sees the keys
				// too: its previous page may have been served under a grant
				// that hid them, and "~…" read as a key sorts after every
				// record, ending the listing early. A plain key that
				// starts with "~" does not open, and stays a key.
				if pq.Cursor != "" {
					key, err := s.openCursor(it.Code, pq.Cursor)
					switch {
					case err == nil:
						pq.Cursor = key
					case len(proj.hiddenKeys) > 0:
						return pq, err
					}
				}
				for k, vs := range query {
					f, ok := strings.CutPrefix(k, "f.")
					if !ok {
						continue
					}
					// Not a field of the item at all: the request's fault,
					// said with the parameter, not as a field not granted.
					if !slices.Contains(it.FieldCodes(), f) {
						return pq, errs.InvalidFields("unknown filter", errs.FieldError{Pointer: "?" + k, Reason: "not a field of item " + it.Code, Value: f})
					}
					if !slices.Contains(proj.fields, f) {
						return pq, errs.Forbidden("filter on field %s, which is not granted", f)
					}
					// A filter on a field shown masked would tell its value
					// (is this 身份证号 in the dataset?): only the fields the
					// grant names are seen in clear, so only those filter.
					if proj.masked[f] {
						return pq, errs.Forbidden("filter on field %s, which is granted masked: a filter needs the field named in the grant", f)
					}
					pq.Filters[f] = vs[0]
				}
				return pq, nil
			}
			it, a, proj, err := s.dataAccess(c, func(it exchange.ShareItem, proj projection) error {
				_, err := plan(it, proj)
				return err
			})
			if err != nil {
				fail(c, err)
				return
			}
			if q, err = plan(it, proj); err != nil {
				fail(c, err)
				return
			}
			ctx := c.Request.Context()
			// The resume point is read before the records: a change it
			// does not cover is then in the records read after it.
			resume, err := s.sync.ResumePoint(ctx, it.Code)
			if err != nil {
				fail(c, err)
				return
			}
			if !firstResume.IsZero() {
				resume = firstResume
			}
			recs, next, err := s.sync.Records(ctx, it.Code, q)
			if err != nil {
				fail(c, err)
				return
			}
			if len(proj.hiddenKeys) > 0 {
				next = s.sealCursor(it.Code, next)
			}
			next = withResume(resume, next)
			found := make([]string, len(recs))
			for i, r := range recs {
				found[i] = r.Key
			}
			flags, err := s.sharing.Flagged(ctx, it.Code, found)
			if err != nil {
				fail(c, err)
				return
			}
			resp := dataResponse{ItemCode: it.Code, GrantID: a.Grant.ID, Fields: proj.fields, Masked: proj.maskedList(), KeysHidden: proj.hiddenKeys,
				Records: make([]dataRecord, 0, len(recs)), NextCursor: next, NextChangedSince: resume}
			for _, r := range recs {
				data, err := proj.apply(r.Data)
				if err != nil {
					fail(c, errs.Internal(err, "record %s", r.Key))
					return
				}
				key := r.Key
				if len(proj.hiddenKeys) > 0 {
					key = s.keyRef(it.Code, r.Key)
				}
				resp.Records = append(resp.Records, dataRecord{Key: key, Version: r.Version, UpdatedAt: r.UpdatedAt, Deleted: r.Deleted, Disputed: flags[r.Key], Data: data})
			}
			noteRows(c, len(resp.Records))
			c.Header(nextChangedSinceHeader, resume.Format(time.RFC3339Nano))
			ok(c, http.StatusOK, resp)
		}})

	s.handle(route{Method: "GET", Path: "/v1/data/:code/records/:key/versions", Tag: "data", Roles: readers,
		Summary: "A record's versions, oldest first: its content after each sync change, deletion (keeping the last content) or provider correction. Same rules as reading the record: only granted fields, personal fields masked unless granted by name; needs X-Purpose; audited with the row count; counts against the grant's quota, except a call refused with a 400 (the request's fault) or a 403 (what the grant does not allow, such as a key it hides).",
		Query: []queryParam{{Name: "fields", Description: "comma-separated field codes; default: every granted field"},
			{Name: "cursor", Description: "next_cursor of the previous page"}, {Name: "limit", Description: "1–1000, default 100"}},
		Response: recordVersionsResponse{}, Handler: func(c *gin.Context) {
			// The request's own faults first: a refused call does not use the quota.
			limit, err := limitQuery(c)
			if err != nil {
				fail(c, err)
				return
			}
			var after int64
			if cur := c.Query("cursor"); cur != "" {
				if after, err = strconv.ParseInt(cur, 10, 64); err != nil || after < 0 {
					fail(c, errs.InvalidFields("bad cursor", errs.FieldError{Pointer: "?cursor", Reason: "next_cursor of the previous page", Value: cur}))
					return
				}
			}
			// No lookup by a key the grant hides: refused before the quota
			// is taken, like the request's own faults.
			it, a, proj, err := s.dataAccess(c, func(it exchange.ShareItem, proj projection) error {
				if len(proj.hiddenKeys) > 0 {
					return proj.errKeysHidden(it.Code)
				}
				return nil
			})
			if err != nil {
				fail(c, err)
				return
			}
			key := c.Param("key")
			ctx := c.Request.Context()
			vs, next, err := s.sync.RecordVersions(ctx, it.Code, key, after, limit)
			if err != nil {
				fail(c, err)
				return
			}
			flags, err := s.sharing.Flagged(ctx, it.Code, []string{key})
			if err != nil {
				fail(c, err)
				return
			}
			resp := recordVersionsResponse{ItemCode: it.Code, Key: key, GrantID: a.Grant.ID, Fields: proj.fields, Masked: proj.maskedList(),
				Disputed: flags[key], Versions: make([]recordVersion, 0, len(vs)), NextCursor: next}
			for _, v := range vs {
				data, err := proj.apply(v.Data)
				if err != nil {
					fail(c, errs.Internal(err, "record %s version %d", key, v.Version))
					return
				}
				resp.Versions = append(resp.Versions, recordVersion{Version: v.Version, ChangedAt: v.UpdatedAt, Deleted: v.Deleted,
					Corrected: strings.HasPrefix(v.RunID, datasync.CorrectionRunPrefix), Data: data})
			}
			noteRows(c, len(resp.Versions))
			ok(c, http.StatusOK, resp)
		}})

	s.handle(route{Method: "GET", Path: "/v1/data/:code/export", Tag: "data", Roles: readers,
		Summary: "Export every live record of an item a grant covers, as csv or xlsx (granted fields only, personal fields masked unless granted by name); needs X-Purpose; audited with the row count. The X-Next-Changed-Since header is where incremental pulls of the records (changed_since) resume after this export: they miss no change it does not hold.",
		Query:   []queryParam{{Name: "format", Description: "csv (default) or xlsx"}, {Name: "fields"}},
		Handler: func(c *gin.Context) {
			format := c.DefaultQuery("format", "csv")
			if format != "csv" && format != "xlsx" {
				fail(c, errs.InvalidFields("bad format", errs.FieldError{Pointer: "?format", Reason: "csv or xlsx", Value: format}))
				return
			}
			it, _, proj, err := s.dataAccess(c, nil)
			if err != nil {
				fail(c, err)
				return
			}
			// Read before the records, as on the records list.
			resume, err := s.sync.ResumePoint(c.Request.Context(), it.Code)
			if err != nil {
				fail(c, err)
				return
			}
			tmp, err := os.CreateTemp("", "sharehub-export-*")
			if err != nil {
				fail(c, errs.Internal(err, "export"))
				return
			}
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			n, err := writeExport(c, s, it.Code, proj, format, tmp)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, n)
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				fail(c, errs.Internal(err, "export"))
				return
			}
			if err := s.streamAfterAudit(c, http.StatusOK); err != nil {
				fail(c, err)
				return
			}
			mt := "text/csv; charset=utf-8"
			if format == "xlsx" {
				mt = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
			}
			c.Header("Content-Type", mt)
			c.Header("Content-Disposition", `attachment; filename="`+it.Code+`.`+format+`"`)
			c.Header(nextChangedSinceHeader, resume.Format(time.RFC3339Nano))
			c.Status(http.StatusOK)
			_, _ = io.Copy(c.Writer, tmp)
		}})
}

func writeExport(c *gin.Context, s *Server, item string, proj projection, format string, out io.Writer) (int, error) {
	header := append([]string{"key"}, proj.fields...)
	n := 0
	row := func(r datasync.DatasetRecord) ([]string, error) {
		data, err := proj.apply(r.Data)
		if err != nil {
			return nil, errs.Internal(err, "record %s", r.Key)
		}
		vals := make([]string, 0, len(header))
		if len(proj.hiddenKeys) > 0 {
			vals = append(vals, s.keyRef(item, r.Key))
		} else {
			vals = append(vals, r.Key)
		}
		for _, f := range proj.fields {
			var x any
			if v, ok := data[f]; ok {
				_ = json.Unmarshal(v, &x)
			}
			switch x := x.(type) {
			case nil:
				vals = append(vals, "")
			case string:
				vals = append(vals, x)
			default:
				vals = append(vals, string(must(json.Marshal(x))))
			}
		}
		return vals, nil
	}
	ctx := c.Request.Context()
	if format == "csv" {
		// A byte order mark first, as the problem CSVs have: Excel on
		// Chinese Windows reads a CSV without one as GBK and garbles every
		// Chinese cell.
		_, _ = io.WriteString(out, "\ufeff")
		w := csv.NewWriter(out)
		_ = w.Write(header)
		err := s.sync.EachRecord(ctx, item, datasync.RecordQuery{}, func(r datasync.DatasetRecord) error {
			vals, err := row(r)
			if err != nil {
				return err
			}
			for i, v := range vals {
				vals[i] = sheet.InertCell(v)
			}
			n++
			return w.Write(vals)
		})
		w.Flush()
		if err == nil {
			err = w.Error()
		}
		return n, err
	}
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return 0, errs.Internal(err, "export")
	}
	cells := func(vals []string) []any {
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = v
		}
		return out
	}
	if err := sw.SetRow("A1", cells(header)); err != nil {
		return 0, errs.Internal(err, "export")
	}
	err = s.sync.EachRecord(ctx, item, datasync.RecordQuery{}, func(r datasync.DatasetRecord) error {
		vals, err := row(r)
		if err != nil {
			return err
		}
		n++
		if n > 1_048_575 { // and the header: a sheet's 1,048,576 rows
			return errs.Invalid("an xlsx sheet holds at most 1,048,575 records; export csv instead")
		}
		for i, v := range vals {
			// excelize would cut it short without a word.
			if utf8.RuneCountInString(v) > excelize.TotalCellChars {
				// vals[0]: the record as the caller sees it, a reference
				// when the grant hides the key.
				return errs.Invalid("record %s: field %s holds more than an xlsx cell's %d characters; export csv instead", vals[0], header[i], excelize.TotalCellChars)
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, n+1)
		return sw.SetRow(cell, cells(vals))
	})
	if err != nil {
		return n, err
	}
	if err := sw.Flush(); err != nil {
		return n, errs.Internal(err, "export")
	}
	_, err = f.WriteTo(out)
	return n, err
}
