package api

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
	"github.com/xiangyang-gov/sharehub/licence"
)

type qrRequest struct {
	TTLSeconds int `json:"ttl_seconds,omitempty"`
}

type qrResponse struct {
	licence.QR
	PNGBase64 string `json:"png_base64"`
}

// lookupResponse is a holder lookup's answer: the licences the caller may
// see, and nothing about those it may not (not even how many there are).
type lookupResponse struct {
	Items []licence.View `json:"items"`
	// NextCursor, when set, gets the next page (?cursor=).
	NextCursor string `json:"next_cursor,omitempty"`
}

// TokenJWKSPath publishes the hub's QR token keys for offline verification.
const TokenJWKSPath = "/.well-known/licence-token-jwks.json"

func (s *Server) registerLicences() {
	if s.licences == nil {
		return
	}
	issuers := []exchange.Role{exchange.RoleIssuer}
	consumers := []exchange.Role{exchange.RoleApp, exchange.RoleIssuer}
	s.handle(route{Method: "GET", Path: "/v1/licence-types", Tag: "licences", Summary: "Licence types (证照类型) with their face fields.",
		Response: list[licence.Type]{}, Handler: func(c *gin.Context) {
			ts, err := s.licences.Types(c.Request.Context())
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(ts))
			ok(c, http.StatusOK, list[licence.Type]{Items: ts})
		}})
	s.handle(route{Method: "PUT", Path: "/v1/licence-types/:code", Tag: "licences", Summary: "Define or change a licence type.", Roles: []exchange.Role{exchange.RoleAdmin},
		Request: licence.Type{}, Response: licence.Type{}, Handler: func(c *gin.Context) {
			var t licence.Type
			if err := bindJSON(c, &t); err != nil {
				fail(c, err)
				return
			}
			if t.Code != c.Param("code") {
				fail(c, errs.InvalidFields("licence type is not valid", errs.FieldError{Pointer: "/code", Reason: "must match the path", Value: t.Code}))
				return
			}
			t, err := s.licences.SaveType(c.Request.Context(), principal(c), t)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "licence_type", t.Code)
			ok(c, http.StatusOK, t)
		}})

	s.handle(route{Method: "POST", Path: "/v1/licences", Tag: "licences", Summary: "Issue a licence (新发), sealed by the issuing department's seal.", Roles: issuers,
		Request: licence.NewLicence{}, Response: licence.Licence{}, Status: http.StatusCreated, Handler: func(c *gin.Context) {
			var n licence.NewLicence
			if err := bindJSON(c, &n); err != nil {
				fail(c, err)
				return
			}
			l, err := s.licences.Issue(c.Request.Context(), principal(c), n)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "licence", l.Key())
			ok(c, http.StatusCreated, l)
		}})
	s.handle(route{Method: "POST", Path: "/v1/licences/:id/events", Tag: "licences", Roles: issuers,
		Summary: "A lifecycle change as a new sealed version: amend (变更), renew (延续), suspend (暂扣), return (发还), revoke (撤销/吊销), cancel (注销).",
		Request: licence.Change{}, Response: licence.Licence{}, Handler: func(c *gin.Context) {
			var ch licence.Change
			if err := bindJSON(c, &ch); err != nil {
				fail(c, err)
				return
			}
			if _, err := s.ownLicenceID(c, "change"); err != nil {
				fail(c, err)
				return
			}
			l, err := s.licences.Apply(c.Request.Context(), principal(c), c.Param("id"), ch)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, l)
		}})
	s.handle(route{Method: "PUT", Path: "/v1/licences/:id/file", Tag: "licences", Roles: issuers, Upload: true,
		Summary:  "Attach the licence's file (raw body: PDF, OFD, PNG or JPEG, sniffed; size-limited) as a new sealed version.",
		Query:    []queryParam{{Name: "name", Description: "the file's name; its extension must match the content", Required: true}},
		Response: licence.Licence{}, Handler: func(c *gin.Context) {
			if _, err := s.ownLicenceID(c, "attach files to"); err != nil {
				fail(c, err)
				return
			}
			l, err := s.licences.AttachFile(c.Request.Context(), principal(c), c.Param("id"), c.Query("name"), c.Request.Body)
			if err != nil {
				fail(c, uploadError(err, s.cfg.MaxUploadBytes))
				return
			}
			ok(c, http.StatusOK, l)
		}})
	s.handle(route{Method: "GET", Path: "/v1/licences/:id/history", Tag: "licences", Roles: issuers,
		Summary: "Every sealed version of a licence (issuers of its department).", Response: list[licence.Version]{}, Handler: func(c *gin.Context) {
			if _, err := s.ownLicenceID(c, "read the history of"); err != nil {
				fail(c, err)
				return
			}
			l, err := s.licences.Get(c.Request.Context(), c.Param("id"))
			if err != nil {
				fail(c, err)
				return
			}
			if !licence.CanShow(principal(c), &l) {
				fail(c, errs.Forbidden("only issuers of %s read the history of its licences", l.IssuerID))
				return
			}
			h, err := s.licences.History(c.Request.Context(), l.ID)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(h))
			ok(c, http.StatusOK, list[licence.Version]{Items: h})
		}})

	s.handle(route{Method: "GET", Path: "/v1/licences/:id", Tag: "licences", Roles: consumers,
		Summary:  "A licence by identifier (any version's). Needs X-Purpose (用证事由, ≤200 characters) and a grant for its type; fields outside the grant are left out, id numbers masked unless granted.",
		Response: licence.View{}, Handler: func(c *gin.Context) {
			l, allows, err := s.readLicence(c, true)
			if err != nil {
				fail(c, err)
				return
			}
			v := licence.ViewOf(&l, allows, time.Now())
			if v.File != nil {
				if v.FileURL, _, err = s.licences.FileLink(c.Request.Context(), &l); err != nil {
					fail(c, err)
					return
				}
			}
			noteRows(c, 1)
			ok(c, http.StatusOK, v)
		}})
	s.handle(route{Method: "GET", Path: "/v1/licences", Tag: "licences", Roles: consumers,
		Summary: "Look licences up by holder id, 100 a page. Needs X-Purpose and a grant for a licence type (issuers: or licences of their own department); only licences the caller may see are returned, with no sign of others.",
		Query: []queryParam{{Name: "holder_id", Description: "持证主体代码", Required: true},
			{Name: "holder_id_type", Description: "111 居民身份证号 (default) or 001 统一社会信用代码"},
			{Name: "type_code", Description: "only this licence type"},
			{Name: "cursor", Description: "the next_cursor of the previous page"}},
		Response: lookupResponse{}, Handler: func(c *gin.Context) { s.lookupLicences(c) }})

	s.handle(route{Method: "POST", Path: "/v1/licences/:id/verify", Tag: "licences", Roles: consumers,
		Summary:  "Check the seal over the licence's current version (its issuing department's seal) and its file's digest. Needs the access GET /v1/licences/{id} needs: issuers of the licence's department, or a grant for its type.",
		Response: licence.Verification{}, Handler: func(c *gin.Context) {
			l, _, err := s.readLicence(c, false)
			if err != nil {
				fail(c, err)
				return
			}
			v, err := s.licences.Verify(c.Request.Context(), l.ID)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, v)
		}})
	s.handle(route{Method: "POST", Path: "/v1/licences/:id/qr", Tag: "licences", Roles: consumers,
		Summary: "A short-lived QR token (亮证) signed by the hub: JSON with the URL and a PNG, or the PNG alone with Accept: image/png. Issuers of the licence's department, or apps with a grant for its type.",
		Request: qrRequest{}, Response: qrResponse{}, Handler: func(c *gin.Context) { s.licenceQR(c) }})

	s.handle(route{Method: "POST", Path: "/v1/licence-imports", Tag: "licences", Upload: true,
		Roles:   []exchange.Role{exchange.RoleImporter, exchange.RoleAdmin},
		Summary: "Import licences from a CSV or xlsx (raw body): every bad cell reported; a dry run unless commit=true; rows already registered (same type and number, holder and issuer) are skipped and counted as unchanged, a dry run counting those a commit would skip; a row whose type and number are registered for another holder or issuer is an error.",
		Query: []queryParam{{Name: "commit", Description: "true: issue the licences, sealed in batches, if the file has no errors"},
			{Name: "filename", Description: "the file's name (.csv or .xlsx), for messages"},
			{Name: "problems", Description: "csv: a dry run that answers every error as CSV (sheet, row, cell, column, reason, value) instead of the JSON report, which lists the first 1,000"}},
		Response: importResponse{}, Handler: func(c *gin.Context) { s.importLicences(c) }})
	s.handle(route{Method: "POST", Path: "/v1/licence-attachments", Tag: "licences", Upload: true,
		Roles: []exchange.Role{exchange.RoleIssuer, exchange.RoleImporter, exchange.RoleAdmin},
		Summary: "Attach files in bulk from a zip archive (raw body): entry NUMBER.pdf (.ofd, .png, .jpg; content sniffed) goes to the licence of the type numbered NUMBER as a new sealed version. " +
			"Every entry is reported, attached or why not (path-like name, over the size limits, content not what the name says, no such licence); a bad entry does not stop the others. " +
			"Issuers attach to their own department's licences, importers and admins to any.",
		Query: []queryParam{{Name: "type_code", Description: "证照类型代码 of the licences", Required: true},
			{Name: "filename", Description: "the archive's name, for the report"}},
		Response: attachResponse{}, Handler: func(c *gin.Context) { s.attachLicenceFiles(c) }})
	s.handle(route{Method: "GET", Path: "/verify/:token", Tag: "licences", Public: true,
		Summary:  "Public check of a QR token: a Chinese page for people, JSON with Accept: application/json.",
		Response: licence.TokenCheck{}, Handler: func(c *gin.Context) { s.verifyPage(c) }})
	s.handle(route{Method: "GET", Path: TokenJWKSPath, Tag: "licences", Public: true,
		Summary: "The hub's QR token keys (JWK set, Ed25519) for offline verification.", Handler: func(c *gin.Context) {
			b, err := s.licences.TokenJWKS(c.Request.Context())
			if err != nil {
				fail(c, err)
				return
			}
			c.Header("Cache-Control", "public, max-age=300")
			s.writeAfterAudit(c, "application/jwk-set+json", b)
		}})
}

// noteLicence names in the call's audit entry the licence whose identifier
// (of any version, already parsed) the path gives, by its key: as soon as
// it is known, so that a call refused or failing names it too, and the
// same for every version, so that an auditor's search by licence finds
// every call on it.
func noteLicence(c *gin.Context, id string) {
	noteResource(c, "licence", (&licence.Licence{ID: id}).Key())
}

// requirePurpose rejects a data call without a purpose (用证事由).
func requirePurpose(c *gin.Context) error {
	p := strings.TrimSpace(c.GetHeader("X-Purpose"))
	if p == "" {
		return errs.InvalidFields("a purpose of use (用证事由) is required", errs.FieldError{Pointer: "X-Purpose", Reason: "required, at most 200 characters"})
	}
	if len([]rune(p)) > 200 {
		return errs.InvalidFields("purpose is too long", errs.FieldError{Pointer: "X-Purpose", Reason: "at most 200 characters"})
	}
	return nil
}

// licenceAccess decides what the caller may see of licences of a type.
// Issuers of issuerID see everything without a grant; when issuerID is
// "" and the caller is an issuer, it returns nil, nil: decide once the
// licence (and so its issuer) is known. Everyone else needs a grant.
func (s *Server) licenceAccess(c *gin.Context, typeCode, issuerID string) (func(string) bool, error) {
	p := principal(c)
	if p.Has(exchange.RoleIssuer) {
		if issuerID == "" {
			return nil, nil
		}
		if p.DepartmentID == issuerID {
			notePurpose(c, clip(c.GetHeader("X-Purpose"), 200))
			return func(string) bool { return true }, nil
		}
	}
	a, err := s.authorize(c, exchange.Resource{Kind: exchange.ResourceLicenceType, ID: typeCode}, nil)
	if err != nil {
		return nil, err
	}
	return a.Allows, nil
}

// issuesLicence reports whether the caller is an issuer of the department
// whose credit code the identifier carries: the licence, if it exists, is
// its department's. Known from the identifier alone, it lets a route
// refuse everyone else before reading, so that the refusal is the same
// whether the licence exists or not.
func (s *Server) issuesLicence(c *gin.Context, p ident.LicenceID) (bool, error) {
	pr := principal(c)
	if !pr.Has(exchange.RoleIssuer) {
		return false, nil
	}
	d, err := s.ex.Department(c.Request.Context(), pr.DepartmentID)
	if err != nil {
		return false, err
	}
	return d.Code == p.IssuerCode, nil
}

// ownLicenceID parses the path's licence identifier for an issuer route
// and refuses (errs.Forbidden, before anything is read) a caller who is not
// an issuer of the department in it. what names the operation.
func (s *Server) ownLicenceID(c *gin.Context, what string) (ident.LicenceID, error) {
	p, err := ident.ParseLicenceID(c.Param("id"))
	if err != nil {
		return p, errs.InvalidFields("not a licence identifier", errs.FieldError{Pointer: "id", Reason: err.Error()})
	}
	noteLicence(c, c.Param("id"))
	own, err := s.issuesLicence(c, p)
	if err != nil {
		return p, err
	}
	if !own {
		return p, errs.Forbidden("only issuers of the department %s %s its licences", p.IssuerCode, what)
	}
	return p, nil
}

// accessBeforeReading decides, from the identifier alone, whether the
// caller may read the licence: issuers of the department in it may (nil:
// what they see is settled once the licence is read); anyone else needs a
// grant for its type, checked now (errs.Forbidden otherwise).
func (s *Server) accessBeforeReading(c *gin.Context, p ident.LicenceID) (func(string) bool, error) {
	own, err := s.issuesLicence(c, p)
	if err != nil || own {
		return nil, err
	}
	a, err := s.authorize(c, exchange.Resource{Kind: exchange.ResourceLicenceType, ID: p.TypeCode}, nil)
	if err != nil {
		return nil, err
	}
	return a.Allows, nil
}

// readLicence reads the licence named by the path's id for a caller who
// may see it, and what of it the caller may see: issuers of its department
// see it whole; everyone else needs a grant for its type, checked (and
// refused, errs.Forbidden) before anything is read, so that a refusal says
// nothing of whether the licence exists. needPurpose requires X-Purpose.
func (s *Server) readLicence(c *gin.Context, needPurpose bool) (licence.Licence, func(string) bool, error) {
	id := c.Param("id")
	p, err := ident.ParseLicenceID(id)
	if err != nil {
		return licence.Licence{}, nil, errs.InvalidFields("not a licence identifier", errs.FieldError{Pointer: "id", Reason: err.Error()})
	}
	noteLicence(c, id)
	if needPurpose {
		if err := requirePurpose(c); err != nil {
			return licence.Licence{}, nil, err
		}
	}
	allows, err := s.accessBeforeReading(c, p)
	if err != nil {
		return licence.Licence{}, nil, err
	}
	l, err := s.licences.Get(c.Request.Context(), id)
	if err != nil {
		return licence.Licence{}, nil, err
	}
	if allows == nil {
		if allows, err = s.licenceAccess(c, l.TypeCode, l.IssuerID); err != nil {
			return licence.Licence{}, nil, err
		}
	}
	return l, allows, nil
}

func (s *Server) lookupLicences(c *gin.Context) {
	id, idType, typeCode := strings.TrimSpace(c.Query("holder_id")), strings.TrimSpace(c.Query("holder_id_type")), strings.TrimSpace(c.Query("type_code"))
	if idType == "" {
		idType = licence.HolderIDResident
	}
	if id == "" {
		fail(c, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?holder_id", Reason: "required"}))
		return
	}
	// A wrong id type is refused as such: checked with the id, it read as
	// a wrong holder_id.
	if idType != licence.HolderIDResident && idType != licence.HolderIDCredit {
		fail(c, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?holder_id_type", Reason: "111 (居民身份证号) or 001 (统一社会信用代码)", Value: clip(idType, 20)}))
		return
	}
	if err := licence.ValidateHolderID(idType, strings.ToUpper(id)); err != nil {
		fail(c, errs.InvalidFields("not a valid holder id", errs.FieldError{Pointer: "?holder_id", Reason: err.Error()}))
		return
	}
	id = strings.ToUpper(id)
	// A cursor is sealed for the holder it pages through.
	cursorFor := "licence-lookup:" + idType + ":" + id
	var after string
	if cur := c.Query("cursor"); cur != "" {
		var err error
		if after, err = s.openCursor(cursorFor, cur); err != nil {
			fail(c, err)
			return
		}
	}
	if err := requirePurpose(c); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	// What the caller may see, by type (by type and issuer for issuers,
	// who see their own department's licences whole). One grant check,
	// and one call off the quota, per type. The answer must not depend on
	// licences the caller may not see: those are left out without a
	// trace (and before the page is cut, so that they take none of its
	// room), and a caller who may see none is refused before anything
	// is read.
	issuerCaller := principal(c).Has(exchange.RoleIssuer)
	access := map[string]func(string) bool{}
	var scope *licence.LookupScope
	switch {
	case typeCode != "" && !issuerCaller:
		allows, err := s.licenceAccess(c, typeCode, "")
		if err != nil {
			fail(c, err)
			return
		}
		access[typeCode] = allows
	default:
		types, err := s.grantedLicenceTypes(c)
		if err != nil {
			fail(c, err)
			return
		}
		if len(types) == 0 && !issuerCaller {
			fail(c, errs.Forbidden("department %s has no grant for any licence type", principal(c).DepartmentID))
			return
		}
		scope = &licence.LookupScope{Types: types}
		if issuerCaller {
			scope.IssuerID = principal(c).DepartmentID
		}
	}
	ls, next, err := s.licences.LookupPage(ctx, licence.LookupQuery{IDType: idType, ID: id, TypeCode: typeCode, Scope: scope, After: after})
	if err != nil {
		fail(c, err)
		return
	}
	out := lookupResponse{Items: []licence.View{}, NextCursor: s.sealCursor(cursorFor, next)}
	now := time.Now()
	for i := range ls {
		l := &ls[i]
		// By type: the grant decides, once per type (one call off the
		// quota); an issuer's own department's licences are keyed apart,
		// since it sees those whole without a grant.
		key := l.TypeCode
		if issuerCaller && l.IssuerID == principal(c).DepartmentID {
			key += "|own"
		}
		allows, seen := access[key]
		if !seen {
			allows, err = s.licenceAccess(c, l.TypeCode, l.IssuerID)
			if errs.Is(err, errs.KindForbidden) {
				allows, err = nil, nil // not the caller's to see
			}
			if err != nil {
				fail(c, err)
				return
			}
			access[key] = allows
		}
		if allows == nil {
			continue
		}
		out.Items = append(out.Items, licence.ViewOf(l, allows, now))
		noteResource(c, "licence", l.Key())
	}
	noteRows(c, len(out.Items))
	ok(c, http.StatusOK, out)
}

// grantedLicenceTypes returns the licence types the caller's department
// holds a grant in force for.
func (s *Server) grantedLicenceTypes(c *gin.Context) ([]string, error) {
	gs, err := s.ex.Grants(c.Request.Context(), exchange.GrantFilter{ConsumerDepartmentID: principal(c).DepartmentID, ResourceKind: exchange.ResourceLicenceType, ActiveOnly: true})
	if err != nil {
		return nil, err
	}
	var types []string
	for _, g := range gs {
		if !slices.Contains(types, g.ResourceID) {
			types = append(types, g.ResourceID)
		}
	}
	return types, nil
}

func (s *Server) licenceQR(c *gin.Context) {
	var req qrRequest
	if c.Request.ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			fail(c, err)
			return
		}
	}
	// Checked in seconds: a count of seconds that overflows a Duration
	// wraps round to some other lifetime, which IssueQR would accept.
	if req.TTLSeconds < 0 || req.TTLSeconds > int(licence.MaxQRTTL/time.Second) {
		fail(c, errs.InvalidFields("bad token lifetime", errs.FieldError{Pointer: "/ttl_seconds", Reason: "1 second to 24 hours", Value: strconv.Itoa(req.TTLSeconds)}))
		return
	}
	ctx := c.Request.Context()
	p, err := ident.ParseLicenceID(c.Param("id"))
	if err != nil {
		fail(c, errs.InvalidFields("not a licence identifier", errs.FieldError{Pointer: "id", Reason: err.Error()}))
		return
	}
	noteLicence(c, c.Param("id"))
	granted, err := s.accessBeforeReading(c, p)
	if err != nil {
		fail(c, err)
		return
	}
	l, err := s.licences.Get(ctx, c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if granted == nil && !licence.CanShow(principal(c), &l) {
		if _, err := s.authorize(c, exchange.Resource{Kind: exchange.ResourceLicenceType, ID: l.TypeCode}, nil); err != nil {
			fail(c, err)
			return
		}
	}
	qr, err := s.licences.IssueQR(ctx, &l, time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		fail(c, err)
		return
	}
	png, err := qrcode.Encode(qr.URL, qrcode.Medium, 320)
	if err != nil {
		fail(c, errs.Internal(err, "QR code"))
		return
	}
	c.Header("Cache-Control", "no-store")
	if strings.Contains(c.GetHeader("Accept"), "image/png") {
		c.Header("X-Verify-URL", qr.URL)
		c.Data(http.StatusOK, "image/png", png)
		return
	}
	ok(c, http.StatusOK, qrResponse{QR: qr, PNGBase64: base64.StdEncoding.EncodeToString(png)})
}

func (s *Server) importLicences(c *gin.Context) {
	name := c.Query("filename")
	ext := strings.ToLower(filepath.Ext(name))
	if ext != ".csv" && ext != ".xlsx" {
		ext = ""
	}
	commit, err := queryBool(c, "commit")
	if err != nil {
		fail(c, err)
		return
	}
	asCSV := c.Query("problems") == "csv"
	if asCSV && commit {
		fail(c, errs.InvalidFields("problems=csv lists the errors of a dry run", errs.FieldError{Pointer: "?problems", Reason: "not with commit=true: run the dry run for the list, then commit", Value: "csv"}))
		return
	}
	path, remove, err := sheet.SaveTemp(c.Request.Body, "", ext, s.cfg.MaxUploadBytes)
	if err != nil {
		fail(c, uploadError(err, s.cfg.MaxUploadBytes))
		return
	}
	defer remove()
	opts := licence.ImportOptions{By: principal(c), Commit: commit}
	var all problemFile
	defer all.close()
	if asCSV {
		opts.OnError = all.add
	}
	rep, err := s.licences.Import(c.Request.Context(), path, opts)
	if err != nil {
		if rep != nil && rep.Created > 0 {
			// A commit cut short keeps the chunks it committed: sealed,
			// live licences this call issued. Its answer and its audit
			// entry must say so, not read as if nothing was written.
			noteResource(c, "licence_import", strconv.Itoa(rep.Created))
			noteRows(c, rep.Created)
			p := problemFor(err)
			p.Detail += "; the import stopped after issuing " + strconv.Itoa(rep.Created) + " licence(s) of the file: run it again, it skips those registered"
			failWith(c, err, p)
			return
		}
		fail(c, err)
		return
	}
	rep.File = clip(name, 200)
	if asCSV {
		noteRows(c, rep.ErrorCount)
		s.sendProblems(c, &all, rep)
		return
	}
	out := importResponse{Report: rep}
	if rep.ErrorCount > len(rep.Errors) {
		out.AllErrors = allErrorsHint
	}
	if commit && !rep.OK() {
		var e *errs.Error
		if out.AllErrors != "" && errors.As(rep.Err(), &e) {
			e.Message += "; " + allErrorsHint
			fail(c, e)
			return
		}
		fail(c, rep.Err())
		return
	}
	noteResource(c, "licence_import", strconv.Itoa(rep.Created))
	noteRows(c, rep.Created)
	ok(c, http.StatusOK, out)
}

// allErrorsHint says how to get every error when a report lists only the
// first of them.
const allErrorsHint = "a dry run of the same file with problems=csv answers every error as CSV"

// importResponse is a licence import's report and, when it lists only the
// first errors, how to get them all.
type importResponse struct {
	*sheet.Report
	// AllErrors is set when the report lists only the first errors: send
	// the same file with problems=csv for every one of them.
	AllErrors string `json:"all_errors,omitempty"`
}

// sendProblems answers a dry run made with problems=csv: every error, one
// row each (sheet.ProblemHeader columns), streamed from the temporary file
// once the call's audit entry is committed. Nothing is kept afterwards:
// the rows name the file's holders.
func (s *Server) sendProblems(c *gin.Context, all *problemFile, rep *sheet.Report) {
	if all.pc == nil && all.err == nil { // no error at all: the header alone
		all.start()
	}
	if all.err == nil {
		all.err = all.pc.Flush()
	}
	if all.err == nil {
		_, all.err = all.f.Seek(0, io.SeekStart)
	}
	if all.err != nil {
		fail(c, errs.Internal(all.err, "import problem list"))
		return
	}
	if err := s.streamAfterAudit(c, http.StatusOK); err != nil {
		fail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="licence-import-problems.csv"`)
	h.Set("X-Error-Count", strconv.Itoa(rep.ErrorCount))
	h.Set("Cache-Control", "no-store")
	c.Writer.WriteHeader(http.StatusOK)
	if _, err := io.Copy(c.Writer, all.f); err != nil {
		s.log.Warn("problem list not sent whole", "request_id", requestID(c), "err", err)
	}
}

// problemFile collects every error of an import in a temporary CSV file
// (mode 0600, removed by close), made at the first error; an error writing
// it is kept for the caller.
type problemFile struct {
	f   *os.File
	pc  *sheet.ProblemCSV
	err error
}

func (pf *problemFile) start() {
	if pf.f, pf.err = os.CreateTemp("", "sharehub-problems-*.csv"); pf.err == nil {
		pf.pc = sheet.NewProblemCSV(pf.f)
	}
}

func (pf *problemFile) add(p sheet.Problem) {
	if pf.f == nil && pf.err == nil {
		pf.start()
	}
	if pf.pc != nil {
		pf.pc.Add(p)
	}
}

func (pf *problemFile) close() {
	if pf.f != nil {
		pf.f.Close()
		os.Remove(pf.f.Name())
	}
}

// attachResponse reports a bulk attach: each entry of the archive, attached
// or not and why.
type attachResponse struct {
	File        string                 `json:"file,omitempty"`
	Attached    int                    `json:"attached"`
	NotAttached int                    `json:"not_attached"`
	Items       []licence.AttachResult `json:"items"`
}

func (s *Server) attachLicenceFiles(c *gin.Context) {
	ctx := c.Request.Context()
	code := strings.TrimSpace(c.Query("type_code"))
	if code == "" {
		fail(c, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?type_code", Reason: "required"}))
		return
	}
	// Refuse before receiving the upload.
	if err := s.licences.CheckAttachZip(ctx, principal(c), code); err != nil {
		fail(c, err)
		return
	}
	path, remove, err := sheet.SaveTemp(c.Request.Body, "", ".zip", s.cfg.MaxUploadBytes)
	if err != nil {
		fail(c, uploadError(err, s.cfg.MaxUploadBytes))
		return
	}
	defer remove()
	f, err := os.Open(path)
	if err != nil {
		fail(c, errs.Internal(err, "upload"))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fail(c, errs.Internal(err, "upload"))
		return
	}
	res, err := s.licences.AttachZip(ctx, principal(c), code, f, st.Size())
	if err != nil {
		fail(c, err)
		return
	}
	out := attachResponse{File: clip(c.Query("filename"), 200), Items: res}
	noteResource(c, "licence_type", code)
	for _, r := range res {
		if !r.Attached {
			out.NotAttached++
			continue
		}
		out.Attached++
		noteResource(c, "licence", (&licence.Licence{ID: r.Licence}).Key())
	}
	noteRows(c, out.Attached)
	ok(c, http.StatusOK, out)
}
